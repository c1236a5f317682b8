"""Epochs whose interactions do not fit the device budget (README, "Scale").

When the training arrays (user, item, target and mask: 16 bytes a row) exceed
``TrainConfig.device_data_mib``, they stay in host memory and each epoch sends
them to the device in chunks of whole batches, double-buffered: chunk c + 1 is
gathered and its transfer started while the device trains on chunk c (JAX
dispatches both asynchronously). The steps, their batches and their dropout
keys are those of the in-memory scanned epoch for the same order, so the
result is the same. With sampled negatives, each epoch's positives and
negatives are drawn by the same compiled sampler on the host CPU and streamed
likewise (``train.fit``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hybridrec_jax.model.sharding import DATA_AXIS
from hybridrec_jax.train.step import Batch, epoch_step_keys

#: Bytes per training row on the device: user, item (int32), target, mask (f32).
ROW_BYTES = 16


def chunk_batches(budget_mib: float, batch_size: int) -> int:
    """Batches per chunk: two chunks (the one training, the one arriving) fit
    the budget; at least one batch."""
    return max(1, int(budget_mib * 2**20 // (2 * ROW_BYTES * batch_size)))


def host_chunks(
    data: tuple[np.ndarray, ...], order: np.ndarray, batch_size: int,
    chunk_batches: int,
):  # fmt: skip
    """The epoch of :func:`make_train_epoch` as host chunks of whole batches.

    Yields (first batch index, Batch of (k, B) numpy arrays): the rows of
    ``order`` in turn, ``chunk_batches`` batches at a time, the last batch
    padded with row 0 and masked exactly as :func:`epoch_batches` does.
    """
    users, items, targets = data
    n = order.shape[0]
    n_batches = -(-n // batch_size)
    padded = np.concatenate([order, np.zeros(n_batches * batch_size - n, np.int32)])
    mask = (np.arange(n_batches * batch_size) < n).astype(np.float32)
    for first in range(0, n_batches, chunk_batches):
        last = min(first + chunk_batches, n_batches)
        rows = padded[first * batch_size : last * batch_size]
        shape = (last - first, batch_size)
        yield first, Batch(
            users[rows].reshape(shape), items[rows].reshape(shape),
            targets[rows].reshape(shape),
            mask[first * batch_size : last * batch_size].reshape(shape),
        )  # fmt: skip


def streamed_epoch(
    chunk_fn, params, opt_state, data, features, order: np.ndarray,
    key: jax.Array, batch_size: int, budget_mib: float, mesh: Mesh | None = None,
):  # fmt: skip
    """One epoch from host memory: ``make_train_chunk``'s program chunk by chunk.

    Args:
        chunk_fn: ``train.step.make_train_chunk(...)``.
        params, opt_state: donated to the first chunk, as to the epoch.
        data: host (users, items, targets) numpy arrays, (n,) each.
        features: the content tables on the device.
        order: (n,) int32 the epoch's row order (``train.step.epoch_order``).
        key: the epoch's dropout key (split per batch as the epoch does).
        batch_size: B.
        budget_mib: the device budget (:func:`chunk_batches`).
        mesh: each batch split across its ``data`` axis, as in the epoch.

    Returns:
        (params, opt_state, losses (n_batches,)), as the scanned epoch.
    """
    keys = epoch_step_keys(key, order.shape[0], batch_size)
    placement = None if mesh is None else NamedSharding(
        mesh, PartitionSpec(None, DATA_AXIS))  # fmt: skip
    chunks = host_chunks(data, order, batch_size, chunk_batches(budget_mib, batch_size))

    def send(chunk):
        if chunk is None:
            return None
        first, batches = chunk
        return first, jax.device_put(batches, placement)  # asynchronous

    pending, losses = send(next(chunks)), []
    while pending is not None:
        first, batches = pending
        pending = send(next(chunks, None))  # the next chunk travels meanwhile
        n = batches.mask.shape[0]
        params, opt_state, chunk_losses = chunk_fn(
            params, opt_state, batches, features, keys[first : first + n]
        )
        losses.append(chunk_losses)
    return params, opt_state, jnp.concatenate(losses)

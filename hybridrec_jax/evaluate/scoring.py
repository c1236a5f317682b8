"""Scoring in bounded memory: pairs (:func:`predict`) and users x items
(:func:`score_all`), both through one chunking helper (:func:`map_chunks`).

:func:`score_all` uses the factorised first layer of ``model.score_block``
(z^1_ui = h_u + h_i): the item side is computed once per call and the user side
once per chunk of users, so scoring all I items for a user costs a broadcast add
and the layers after the first instead of I full first-layer products.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.model import (
    Features,
    Params,
    forward,
    item_side,
    score_block,
    side_preactivation,
)
from hybridrec_jax.model.sharding import batch_sharding, mesh_of

#: Upper bound on the elements of the (chunk, I, D_1) block scored at once.
CHUNK_ELEMENTS = 1 << 22


def device_features(dataset: Dataset) -> Features:
    """The content tables as float32 device arrays, {"user": (U, F_u), "item":
    (I, F_i)}."""
    return {
        "user": jnp.asarray(dataset.user_features, jnp.float32),
        "item": jnp.asarray(dataset.item_features, jnp.float32),
    }


def map_chunks(
    fn: Callable, arrays: tuple[np.ndarray, ...], chunk_size: int, multiple: int = 1
):
    """``fn`` over fixed-size chunks of the leading axis of ``arrays``.

    Every array (n, ...) is cut into chunks of ``min(chunk_size, n)`` rows; the
    last chunk is padded with copies of row 0, so every call of ``fn`` sees one
    shape (a jitted ``fn`` compiles once) and memory stays bounded by a chunk.
    Calls are dispatched asynchronously; the outputs (a pytree of arrays whose
    leading axis is the chunk) are concatenated on the device and the padding cut.

    Args:
        fn: ``fn(*chunks) -> pytree`` of arrays with a leading chunk axis.
        arrays: host arrays with the same leading length n >= 1.
        chunk_size: rows per call (>= 1).
        multiple: chunks are a multiple of this many rows (the devices of a
            mesh, which each take an equal share of a chunk).

    Returns:
        The pytree of ``fn``'s outputs, each with leading axis n.

    >>> out = map_chunks(lambda a: a * 2, (np.arange(5),), chunk_size=2)
    >>> np.asarray(out).tolist()
    [0, 2, 4, 6, 8]
    """
    n = len(arrays[0])
    if n == 0:
        raise ValueError("map_chunks needs at least one row")
    size = max(1, min(int(chunk_size), n))
    size = -(-size // multiple) * multiple
    n_chunks = -(-n // size)
    pad = n_chunks * size - n
    padded = [
        np.concatenate([a, np.repeat(a[:1], pad, axis=0)]) if pad else a
        for a in map(np.asarray, arrays)
    ]
    outputs = [fn(*(a[c * size : (c + 1) * size] for a in padded))
               for c in range(n_chunks)]  # fmt: skip
    return jax.tree.map(lambda *parts: jnp.concatenate(parts)[:n], *outputs)


def check_indices(indices, n: int, what: str) -> np.ndarray:
    """``indices`` as an int64 array, refused if any lies outside 0..n-1.

    JAX's gather clamps an index out of range to the last row, silently, so
    every public function taking user or item indices checks them here, outside
    jit.

    Args:
        indices: (N,) integer indices.
        n: the number of rows (users U or items I).
        what: "user" or "item", for the message.

    Returns:
        (N,) int64.

    Raises:
        ValueError: naming the first bad index and its position.

    >>> check_indices(np.array([0, 5]), 3, "user")
    Traceback (most recent call last):
    ...
    ValueError: user index 5 (position 1) is outside 0..2: the model has 3 users
    """
    values = np.asarray(indices)
    if values.size and values.dtype.kind not in "iu":
        raise ValueError(f"{what} indices must be integers, got dtype {values.dtype}")
    bad = (values < 0) | (values >= n)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} index {int(values[at])} (position {at}) is outside "
            f"0..{n - 1}: the model has {n} {what}s"
        )
    return values.astype(np.int64)


@partial(jax.jit, static_argnames=("cfg",))
def _forward(params, cfg, users, items, features):
    return forward(params, cfg, users, items, features)


def predict(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: np.ndarray,
    items: np.ndarray,
    *,
    chunk_size: int = 8192,
    clip: tuple[float, float] | None = None,
) -> np.ndarray:
    """y_hat (or the logit) for every (users[n], items[n]) pair, float32 (N,).

    Args:
        params, cfg, features: the model and its content tables.
        users, items: (N,) int indices.
        chunk_size: pairs per compiled call.
        clip: (low, high) clips rating predictions to the scale, as every
            published MovieLens RMSE does.

    Raises:
        ValueError: an index outside 0..U-1 or 0..I-1 (named).
    """
    users = check_indices(users, features["user"].shape[0], "user")
    items = check_indices(items, features["item"].shape[0], "item")
    if len(users) != len(items):
        raise ValueError(f"{len(users)} users but {len(items)} items: one per pair")
    if len(users) == 0:
        return np.zeros((0,), np.float32)
    out = map_chunks(
        lambda u, i: _forward(params, cfg, jnp.asarray(u, jnp.int32),
                              jnp.asarray(i, jnp.int32), features),
        (np.asarray(users), np.asarray(items)), chunk_size,
    )  # fmt: skip
    prediction = np.array(out)  # a writable host copy
    if clip is not None:
        prediction = np.clip(prediction, clip[0], clip[1])
    return prediction


_item_side = jax.jit(item_side, static_argnames=("cfg",))
_score_block = jax.jit(score_block, static_argnames=("cfg",))


def score_all(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: np.ndarray,
    items: np.ndarray | None = None,
    *,
    chunk_size: int | None = None,
) -> jax.Array:
    """y_hat (or the logit) of every item for each user, float32 (n, n_items).

    Equal to ``model.forward`` on every (user, item) pair (without dropout), via
    the factorised first layer (``model.score_block``). Users are processed in
    chunks of ``chunk_size`` (one compile serves every chunk), which bounds
    memory to chunk_size * n_items * D_1 activations. With parameters on a
    mesh (``model.sharding``) each chunk is split by users across its devices.

    Args:
        params, cfg, features: the model and its content tables.
        users: (n,) user indices.
        items: (n_items,) item indices to score; None scores all I items.
        chunk_size: users per chunk; None picks one from :data:`CHUNK_ELEMENTS`.

    Raises:
        ValueError: an index outside 0..U-1 or 0..I-1 (named).

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> score_all(p, ModelConfig.tiny(), feats, np.array([0, 4])).shape
    (2, 7)
    """
    n_all_items = params["embeddings"]["item"].shape[0]
    users = check_indices(users, features["user"].shape[0], "user")
    if items is not None:
        items = check_indices(items, n_all_items, "item")
    items = jnp.arange(n_all_items) if items is None else jnp.asarray(items)
    side = _item_side(params, cfg, features, items)  # (h_i, q_i), once per call
    if users.shape[0] == 0:
        return jnp.zeros((0, items.shape[0]), jnp.float32)
    if chunk_size is None:
        chunk_size = CHUNK_ELEMENTS // max(items.shape[0] * side[0].shape[1], 1)
    mesh = mesh_of(params)
    return map_chunks(
        lambda chunk: _score_block(params, cfg, features,
                                   on_mesh(np.asarray(chunk, np.int32), mesh),
                                   items, side),
        (users,), chunk_size, mesh.size if mesh else 1,
    )  # fmt: skip


def on_mesh(array, mesh):
    """``array`` split by its leading axis (users) across the mesh's devices,
    or as a device array when there is no mesh: a chunk of users is scored and
    ranked on all devices at once when the parameters are sharded."""
    if mesh is None:
        return jnp.asarray(array)
    return jax.device_put(array, batch_sharding(mesh))


@partial(jax.jit, static_argnames=("cfg",))
def score_all_plain(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: jax.Array,
    items: jax.Array | None = None,
) -> jax.Array:
    """The slow reference: ``model.forward`` on all n * I pairs, shape (n, I).

    Args as :func:`score_all` (``users`` and ``items`` as device arrays).

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> score_all_plain(p, ModelConfig.tiny(), feats, jnp.array([0, 4])).shape
    (2, 7)
    """
    if items is None:
        items = jnp.arange(params["embeddings"]["item"].shape[0])
    n, n_items = users.shape[0], items.shape[0]
    pair_users = jnp.repeat(users, n_items)  # (n * I,)
    pair_items = jnp.tile(items, n)  # (n * I,)
    return forward(params, cfg, pair_users, pair_items, features).reshape(n, n_items)


@partial(jax.jit, static_argnames=("cfg",))
def user_item_tables(
    params: Params, cfg: ModelConfig, features: Features
) -> tuple[jax.Array, jax.Array]:
    """h_user = P W_P + X_U W_U (U, D_1) and h_item = Q W_Q + X_I W_I + b^0 (I, D_1).

    Without hidden layers W^0 is the head (w as a (D_0, 1) matrix, b^0 its bias)
    and D_1 = 1.

    Args:
        params, cfg: the model.
        features: {"user": (U, F_u), "item": (I, F_i)} float32.

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> [t.shape for t in user_item_tables(p, ModelConfig.tiny(), feats)]
    [(5, 8), (7, 8)]
    """
    emb = params["embeddings"]
    return tuple(
        side_preactivation(params, cfg, features, side, jnp.arange(emb[side].shape[0]))
        for side in ("user", "item")
    )

"""The objective, one jit-compiled step and a scanned epoch (README, "The model").

The objective for a batch B of interactions (padding rows masked out) is

    J(theta) = (1/|B|) sum_{(u,i,y) in B} [ l(y, y_hat_ui) + lambda_e R_ui ]
               + lambda_w sum_l ||W^l||^2,

with l the squared error (ratings) or the binary cross-entropy from logits
(implicit feedback), R_ui the squared norms of the embedding rows of u and i
(:func:`model.embedding_rows_penalty`). Gradients come from ``jax.grad``; the
update is optax's SGD (theta <- theta - eta * g, optionally with momentum) or Adam.

Compiled once per configuration: :func:`make_optimizer` and
:func:`make_train_epoch` are cached on the fields of the configuration that
change the compiled program (:func:`step_config`), so a second ``fit`` with the
same shapes and configuration compiles nothing, whatever its seed or epochs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.dropout import id_dropout
from hybridrec_jax.losses import (
    masked_mean,
    sigmoid_binary_cross_entropy,
    squared_error,
)
from hybridrec_jax.model import (
    Features,
    Params,
    Rows,
    dense_weights_penalty,
    embedding_rows,
    embedding_rows_penalty,
    forward,
)
from hybridrec_jax.model.sharding import batch_sharding, constrain
from hybridrec_jax.train.sparse import RowSparseOptimizer, apply_row_updates

#: The per-element loss l(y, output) of each ``TrainConfig.loss`` (losses.py).
LOSS_FUNCTIONS = {"mse": squared_error, "bce": sigmoid_binary_cross_entropy}
#: fold_in data of the id-dropout key; the hidden layers fold in 0..L-1.
ID_DROPOUT_STREAM = 0x1D0D
#: The TrainConfig fields the compiled step depends on.
STEP_FIELDS = ("loss", "optimizer", "learning_rate", "momentum", "l2_embedding",
               "l2_dense", "batch_size", "embedding_updates")  # fmt: skip


class Batch(NamedTuple):
    """B interactions; ``mask`` is 1 for real rows and 0 for padding."""

    users: jax.Array  # (B,) int32
    items: jax.Array  # (B,) int32
    targets: jax.Array  # (B,) float32
    mask: jax.Array  # (B,) float32


def step_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with every field outside :data:`STEP_FIELDS` at its default.

    Two configurations that differ only in the seed, the epochs, the stopping
    rule or the sampler compile to the same step, so they share one cache entry.
    """
    kept = {name: getattr(cfg, name) for name in STEP_FIELDS}
    return TrainConfig(**kept, metric="")


def objective(
    params: Params,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    batch: Batch,
    features: Features,
    dropout_key: jax.Array | None = None,
    rows: Rows | None = None,
) -> jax.Array:
    """J(theta) of the module docstring for one batch, a float32 scalar.

    Args:
        params: the pytree of ``model.init_params``.
        model_cfg: the network.
        train_cfg: gives the loss, lambda_e (``l2_embedding``) and lambda_w
            (``l2_dense``).
        batch: B interactions (:class:`Batch`).
        features: {"user": (U, F_u), "item": (I, F_i)} float32.
        dropout_key: switches dropout on (training) when given: hidden
            dropout and ``dropout.id_dropout`` (the penalty stays on the rows
            as they are).
        rows: the batch's id rows (``model.embedding_rows``) if already
            gathered: the row-sparse step differentiates J with respect to
            them instead of the tables.
    """
    if rows is None:  # gathered once, shared by the forward pass and the penalty
        rows = embedding_rows(params, batch.users, batch.items)
    shown = rows  # id dropout: a share of the batch sees cold (zero) id rows
    if dropout_key is not None:
        id_key = jax.random.fold_in(dropout_key, ID_DROPOUT_STREAM)
        shown = id_dropout(rows, id_key, model_cfg.id_dropout_user,
                           model_cfg.id_dropout_item)  # fmt: skip
    output = forward(
        params, model_cfg, batch.users, batch.items, features, dropout_key, shown
    )
    per_example = LOSS_FUNCTIONS[train_cfg.loss](output, batch.targets)  # (B,)
    if train_cfg.l2_embedding:
        penalty = embedding_rows_penalty(rows)  # (B,)
        per_example = per_example + train_cfg.l2_embedding * penalty
    loss = masked_mean(per_example, batch.mask)
    if train_cfg.l2_dense:
        loss = loss + train_cfg.l2_dense * dense_weights_penalty(params)
    return loss


def _optax(cfg: TrainConfig) -> optax.GradientTransformation:
    if cfg.optimizer == "adam":
        return optax.adam(cfg.learning_rate)
    if cfg.optimizer == "adagrad":
        return optax.adagrad(cfg.learning_rate)
    return optax.sgd(cfg.learning_rate, momentum=cfg.momentum or None)


@functools.lru_cache(maxsize=64)
def _optimizer(cfg: TrainConfig):
    cfg = cfg.resolved(None, None)
    if cfg.embedding_updates == "dense":
        return _optax(cfg)
    momentum = cfg.momentum if cfg.optimizer == "sgd" else 0.0
    return RowSparseOptimizer(_optax(cfg), cfg.optimizer, cfg.learning_rate, momentum)


def make_optimizer(
    cfg: TrainConfig,
) -> optax.GradientTransformation | RowSparseOptimizer:
    """The optimiser of ``cfg.optimizer``: optax.adam(eta), optax.adagrad(eta) or
    optax.sgd(eta, momentum) (momentum 0: the paper's SGD).

    With ``cfg.embedding_updates="dense"`` that optax transformation updates the
    whole pytree; with "row_sparse" it updates ``params["dense"]`` and the id
    tables get the matching row rule of ``train.sparse`` (Adam: lazy Adam), so
    a step costs the same whatever the number of users and items. "auto" is
    "row_sparse" here (no table sizes); ``fit`` resolves it by the sizes
    (``TrainConfig.resolved``).
    The same object for every configuration with the same :func:`step_config`,
    so that the compiled epoch that closes over it is reused.
    """
    return _optimizer(step_config(cfg))


def make_train_step(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    optimizer: optax.GradientTransformation,
):
    """step(params, opt_state, batch, features, key) -> (params, opt_state, loss).

    Pure and unjitted; :func:`make_jit_train_step` and :func:`make_train_epoch`
    compile it. It prints and logs nothing. ``key`` is the dropout key (unused
    when ``model_cfg.dropout`` is 0).

    Args:
        model_cfg: the network.
        train_cfg: the objective's loss and penalties.
        optimizer: an optax ``GradientTransformation`` (or the hand-written
            ones of ``paper.hand_optim``, same signature).
    """
    use_dropout = model_cfg.uses_training_key
    if isinstance(optimizer, RowSparseOptimizer):
        return _row_sparse_step(model_cfg, train_cfg, optimizer)

    def step(params, opt_state, batch: Batch, features: Features, key):
        loss, grads = jax.value_and_grad(objective)(
            params, model_cfg, train_cfg, batch, features, key if use_dropout else None
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def _row_sparse_step(model_cfg, train_cfg, optimizer: RowSparseOptimizer):
    """The step of :func:`make_train_step` for a :class:`RowSparseOptimizer`.

    J is differentiated with respect to the dense parameters and the gathered
    rows (B, ...) of the id tables, never the tables: no table-shaped gradient
    exists, and ``train.sparse.apply_row_updates`` writes the touched rows.
    """
    use_dropout = model_cfg.uses_training_key

    def step(params, opt_state, batch: Batch, features: Features, key):
        embeddings = params["embeddings"]

        def objective_of(dense, rows):
            return objective(
                {"embeddings": embeddings, "dense": dense}, model_cfg, train_cfg,
                batch, features, key if use_dropout else None, rows,
            )  # fmt: skip

        rows = embedding_rows(params, batch.users, batch.items)
        loss, (dense_grads, row_grads) = jax.value_and_grad(
            objective_of, argnums=(0, 1)
        )(params["dense"], rows)
        updates, dense_state = optimizer.dense.update(
            dense_grads, opt_state["dense"], params["dense"]
        )
        embeddings, row_state = apply_row_updates(
            optimizer, embeddings, opt_state["rows"], row_grads,
            {"user": batch.users, "item": batch.items}, batch.mask, rows,
        )  # fmt: skip
        params = {"embeddings": embeddings,
                  "dense": optax.apply_updates(params["dense"], updates)}  # fmt: skip
        return params, {"dense": dense_state, "rows": row_state}, loss

    return step


def make_jit_train_step(model_cfg, train_cfg, optimizer):
    """The step of :func:`make_train_step`, jit-compiled, with params and
    optimiser state donated (arguments as there)."""
    return jax.jit(
        make_train_step(model_cfg, train_cfg, optimizer), donate_argnums=(0, 1)
    )


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the n training rows: a uniform
    random permutation, int32 (n,), drawn on the host from the seed sequence
    (seed, epoch).

    Drawn with numpy, not ``jax.random.permutation``: XLA shuffles by sorting
    random keys (two rounds of a sort for 10^5 rows), which on a CPU costs about
    a fifth of an epoch of the default model; numpy's Fisher-Yates shuffle costs
    a millisecond.

    Args:
        seed: ``TrainConfig.seed``.
        epoch: the 1-based epoch.
        n: the number of training rows.
    """
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)


def epoch_batches(order: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """An epoch's row order as (n_batches, B) row indices and a (n_batches, B) mask.

    The order is padded with row 0 to a whole number of batches and the padding
    masked, so every batch has one shape and the step compiles once.
    """
    n = order.shape[0]
    n_batches = -(-n // batch_size)
    padded = jnp.concatenate(
        [order, jnp.zeros(n_batches * batch_size - n, order.dtype)]
    )
    mask = (jnp.arange(n_batches * batch_size) < n).astype(jnp.float32)
    shape = (n_batches, batch_size)
    return padded.reshape(shape), mask.reshape(shape)


def make_train_epoch(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    optimizer: optax.GradientTransformation | None = None,
    mesh: Mesh | None = None,
):
    """The scanned epoch, jit-compiled, params and optimiser state donated:

        epoch(params, opt_state, data, features, order, key)
            -> (params, opt_state, losses)

    ``data`` is (users, items, targets) for the whole training set on the
    device, ``order`` the (n,) int32 permutation of its rows to visit
    (:func:`epoch_order`) and ``key`` the dropout key. One ``lax.scan`` runs
    every batch of the epoch inside one compiled program, with no host round
    trip per batch; ``losses`` holds each batch's loss (n_batches,).

    Args:
        model_cfg: the network.
        train_cfg: the objective and batch size.
        optimizer: defaults to :func:`make_optimizer`. The function is cached
            per (model_cfg, :func:`step_config`, optimizer, mesh), so equal
            configurations share one compile.
        mesh: split every batch across the mesh's ``data`` axis (the
            parameters and tables are placed by ``model.sharding.shard``);
            None runs on one device.
    """
    optimizer = optimizer or make_optimizer(train_cfg)
    return _train_epoch(model_cfg, step_config(train_cfg), optimizer, mesh)


@functools.lru_cache(maxsize=64)
def _train_epoch(model_cfg, train_cfg, optimizer, mesh):
    step = make_train_step(model_cfg, train_cfg, optimizer)

    def epoch(params, opt_state, data, features, order, key):
        users, items, targets = data
        rows, mask = epoch_batches(order, train_cfg.batch_size)
        step_keys = jax.random.split(key, rows.shape[0])

        def batch_of(xs):  # gathered on the device, one batch at a time
            batch_rows, batch_mask = xs
            return Batch(
                users[batch_rows], items[batch_rows], targets[batch_rows], batch_mask
            )

        return _scan_steps(step, mesh, params, opt_state, (rows, mask), batch_of,
                           features, step_keys)  # fmt: skip

    return jax.jit(epoch, donate_argnums=(0, 1))


def _scan_steps(step, mesh, params, opt_state, xs, batch_of, features, step_keys):
    """One ``lax.scan`` of ``step`` over the batches ``batch_of(xs[b])``."""

    def body(carry, x):
        params, opt_state = carry
        inputs, step_key = x
        batch = batch_of(inputs)
        if mesh is not None:  # data parallel: each device a slice of the batch
            batch = jax.lax.with_sharding_constraint(batch, batch_sharding(mesh))
        params, opt_state, loss = step(params, opt_state, batch, features, step_key)
        if mesh is not None:  # the carry keeps the layout it came in with
            params, opt_state = constrain((params, opt_state), mesh)
        return (params, opt_state), loss

    (params, opt_state), losses = jax.lax.scan(
        body, (params, opt_state), (xs, step_keys)
    )
    return params, opt_state, losses


def epoch_step_keys(key: jax.Array, n_rows: int, batch_size: int) -> jax.Array:
    """The dropout key of each batch of an epoch, as the scanned epoch draws them:
    ``jax.random.split(key, n_batches)``."""
    return jax.random.split(key, -(-n_rows // batch_size))


def make_train_chunk(model_cfg, train_cfg, optimizer=None, mesh=None):
    """The scanned epoch's steps over batches gathered on the host, jit-compiled,
    params and optimiser state donated:

        chunk(params, opt_state, batches, features, step_keys)
            -> (params, opt_state, losses)

    ``batches`` is a :class:`Batch` of (k, B) arrays (from
    ``train.streaming.host_chunks``) and ``step_keys`` their k dropout keys (a
    slice of :func:`epoch_step_keys`): run chunk after chunk, the steps are
    those of :func:`make_train_epoch` for the same order, so the result is the
    same. Cached as that function.
    """
    optimizer = optimizer or make_optimizer(train_cfg)
    return _train_chunk(model_cfg, step_config(train_cfg), optimizer, mesh)


@functools.lru_cache(maxsize=64)
def _train_chunk(model_cfg, train_cfg, optimizer, mesh):
    step = make_train_step(model_cfg, train_cfg, optimizer)

    def chunk(params, opt_state, batches, features, step_keys):
        return _scan_steps(step, mesh, params, opt_state, batches, lambda b: b,
                           features, step_keys)  # fmt: skip

    return jax.jit(chunk, donate_argnums=(0, 1))

"""Training: the objective, one jit-compiled step, a scanned epoch, and ``fit``.

The objective for a batch B of interactions (padding rows masked out) is

    J(theta) = (1/|B|) sum_{(u,i,y) in B} [ l(y, y_hat_ui) + lambda_e R_ui ]
               + lambda_w sum_l ||W^l||^2,

with l the squared error (ratings) or the binary cross-entropy from logits
(implicit feedback), R_ui the squared norms of the embedding rows of u and i
(:func:`model.embedding_rows_penalty`). Gradients come from ``jax.grad``; the
update is optax's SGD (theta <- theta - eta * g, optionally with momentum) or Adam.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.splits import random_split
from hybridrec_jax.evaluate.ratings import device_features, evaluate_ratings
from hybridrec_jax.losses import (
    masked_mean,
    sigmoid_binary_cross_entropy,
    squared_error,
)
from hybridrec_jax.model import (
    Features,
    Params,
    dense_weights_penalty,
    embedding_rows,
    embedding_rows_penalty,
    forward,
    init_params,
)


class Batch(NamedTuple):
    """B interactions; ``mask`` is 1 for real rows and 0 for padding."""

    users: jax.Array  # (B,) int32
    items: jax.Array  # (B,) int32
    targets: jax.Array  # (B,) float32
    mask: jax.Array  # (B,) float32


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite."""


def objective(
    params: Params,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    batch: Batch,
    features: Features,
    dropout_key: jax.Array | None = None,
) -> jax.Array:
    """J(theta) of the module docstring for one batch (a scalar)."""
    rows = embedding_rows(params, batch.users, batch.items)  # shared by both terms
    output = forward(
        params, model_cfg, batch.users, batch.items, features, dropout_key, rows
    )
    if train_cfg.loss == "mse":
        per_example = squared_error(output, batch.targets)
    else:
        per_example = sigmoid_binary_cross_entropy(output, batch.targets)
    if train_cfg.l2_embedding:
        per_example = per_example + train_cfg.l2_embedding * embedding_rows_penalty(rows)
    loss = masked_mean(per_example, batch.mask)
    if train_cfg.l2_dense:
        loss = loss + train_cfg.l2_dense * dense_weights_penalty(params)
    return loss


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """optax.adam(eta) or optax.sgd(eta, momentum) (momentum 0: the paper's SGD)."""
    if cfg.optimizer == "adam":
        return optax.adam(cfg.learning_rate)
    return optax.sgd(cfg.learning_rate, momentum=cfg.momentum or None)


def make_train_step(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    optimizer: optax.GradientTransformation,
):
    """step(params, opt_state, batch, features, key) -> (params, opt_state, loss).

    Pure and unjitted; :func:`make_jit_train_step` and :func:`make_train_epoch`
    compile it. It prints and logs nothing.
    """
    use_dropout = model_cfg.dropout > 0

    def step(params, opt_state, batch: Batch, features: Features, key):
        loss, grads = jax.value_and_grad(objective)(
            params, model_cfg, train_cfg, batch, features, key if use_dropout else None
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def make_jit_train_step(model_cfg, train_cfg, optimizer):
    """The step, jit-compiled, with params and optimiser state donated."""
    return jax.jit(
        make_train_step(model_cfg, train_cfg, optimizer), donate_argnums=(0, 1)
    )


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the n training rows: a uniform
    random permutation, drawn on the host from the seed sequence (seed, epoch).

    Drawn with numpy, not ``jax.random.permutation``: XLA shuffles by sorting
    random keys (two rounds of a sort for 10^5 rows), which on a CPU costs about
    a fifth of an epoch of the default model; numpy's Fisher-Yates shuffle costs
    a millisecond.
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


def make_train_epoch(model_cfg, train_cfg, optimizer):
    """epoch(params, opt_state, data, features, order, key) -> (params, opt_state,
    losses).

    ``data`` is (users, items, targets) for the whole training set on the device,
    ``order`` the (n,) permutation of its rows to visit (:func:`epoch_order`) and
    ``key`` the dropout key. One ``lax.scan`` runs every batch of the epoch inside
    one compiled program, with no host round trip per batch; ``losses`` holds
    each batch's loss (n_batches,).
    """
    step = make_train_step(model_cfg, train_cfg, optimizer)

    def epoch(params, opt_state, data, features, order, key):
        users, items, targets = data
        rows, mask = epoch_batches(order, train_cfg.batch_size)
        step_keys = jax.random.split(key, rows.shape[0])

        def body(carry, xs):
            params, opt_state = carry
            batch_rows, batch_mask, step_key = xs
            batch = Batch(
                users[batch_rows], items[batch_rows], targets[batch_rows], batch_mask
            )
            params, opt_state, loss = step(params, opt_state, batch, features, step_key)
            return (params, opt_state), loss

        (params, opt_state), losses = jax.lax.scan(
            body, (params, opt_state), (rows, mask, step_keys)
        )
        return params, opt_state, losses

    return jax.jit(epoch, donate_argnums=(0, 1))


class TrainingState(NamedTuple):
    """Everything needed to resume: the parameters and optimiser state after
    ``epoch`` epochs (the per-epoch keys derive from ``TrainConfig.seed``)."""

    params: Params
    opt_state: optax.OptState
    epoch: int


@dataclass
class FitResult:
    """What ``fit`` returns: the best parameters (by validation RMSE), the
    optimiser state that went with them, the last state and how training went."""

    params: Params
    opt_state: optax.OptState
    state: TrainingState | None = None
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    train_seconds: float = 0.0
    examples_per_second: float = 0.0
    n_train: int = 0


def check_finite(losses: np.ndarray, epoch: int, cfg: TrainConfig) -> None:
    """Stop with a message naming the step if a batch loss is NaN or infinite."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        step = int(bad[0])
        raise TrainingDiverged(
            f"training diverged: the loss became {losses[step]} at epoch {epoch}, "
            f"batch {step} (global step {(epoch - 1) * len(losses) + step}). "
            f"Try a lower learning rate (now {cfg.learning_rate}), a smaller "
            f"batch, or a stronger L2 penalty."
        )


def fit(
    train: Dataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    validation: Dataset | None = None,
    *,
    progress: bool = False,
    params: Params | None = None,
    state: TrainingState | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> FitResult:
    """Train on ``train``; stop early on the validation RMSE, keep the best params.

    If ``validation`` is None and ``train_cfg.validation_fraction`` > 0, that share
    of ``train`` is held out (seeded) for early stopping. ``params`` starts from
    given parameters with a fresh optimiser; ``state`` (``FitResult.state`` or a
    checkpoint's params, opt_state and epoch) resumes after ``state.epoch``
    epochs. Epoch e's row order and dropout key derive from (seed, e), so
    training resumed after epoch e gives the parameters of training straight
    through; early stopping counts from the resumed epoch. ``optimizer``
    replaces the optax one of :func:`make_optimizer` (e.g.
    ``hand_optim.hand_optimizer(cfg)``). The caller's arrays are copied, not
    donated to the compiled epoch.
    """
    if params is not None and state is not None:
        raise ValueError("pass params (a warm start) or state (a resume), not both")
    first_epoch = 1 if state is None else state.epoch + 1
    if first_epoch > train_cfg.epochs:
        raise ValueError(
            f"the state is after epoch {state.epoch}, so epochs="
            f"{train_cfg.epochs} leaves nothing to train: raise TrainConfig.epochs"
        )
    start = time.perf_counter()
    if validation is None and train_cfg.validation_fraction > 0:
        fit_rows, val_rows = random_split(
            train.n_interactions, train_cfg.validation_fraction, train_cfg.seed
        )
        train, validation = train.subset(fit_rows), train.subset(val_rows)
    key = jax.random.key(train_cfg.seed)
    init_key, key = jax.random.split(key)
    features = device_features(train)
    if state is not None:
        params = state.params
    if params is None:
        params = init_params(
            init_key, model_cfg, train.n_users, train.n_items,
            train.user_features.shape[1], train.item_features.shape[1],
            global_mean=float(np.mean(train.rating)),
        )  # fmt: skip
    optimizer = optimizer or make_optimizer(train_cfg)
    opt_state = optimizer.init(params) if state is None else state.opt_state
    # Copies: the epoch donates its inputs, and the caller keeps theirs.
    params, opt_state = jax.tree.map(jnp.array, (params, opt_state))
    epoch_fn = make_train_epoch(model_cfg, train_cfg, optimizer)
    data = (
        jnp.asarray(train.user, jnp.int32),
        jnp.asarray(train.item, jnp.int32),
        jnp.asarray(train.rating, jnp.float32),
    )
    # Host copies: the device buffers are donated to the first epoch.
    result = FitResult(
        *jax.device_get((params, opt_state)), n_train=train.n_interactions
    )
    best_rmse, epochs_since_best, step_seconds = np.inf, 0, 0.0
    epochs = range(first_epoch, train_cfg.epochs + 1)
    bar = tqdm(epochs, disable=not progress, unit="epoch")
    for epoch in bar:
        epoch_start = time.perf_counter()
        order = epoch_order(train_cfg.seed, epoch, train.n_interactions)
        params, opt_state, losses = epoch_fn(
            params, opt_state, data, features, order, jax.random.fold_in(key, epoch)
        )
        losses = np.asarray(losses)  # one sync per epoch
        epoch_seconds = time.perf_counter() - epoch_start
        if epoch > first_epoch:  # the first epoch includes the compile
            step_seconds += epoch_seconds
        check_finite(losses, epoch, train_cfg)
        # Copy to the host: the device buffers are donated to the next epoch.
        result.state = TrainingState(*jax.device_get((params, opt_state)), epoch)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                  "seconds": epoch_seconds}  # fmt: skip
        if validation is not None and validation.n_interactions:
            metrics = evaluate_ratings(params, model_cfg, validation, features)
            record.update({f"val_{k}": v for k, v in metrics.items()})
        result.history.append(record)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch"})
        score = record.get("val_rmse", -epoch)  # no validation: keep the last
        if score < best_rmse:
            best_rmse, epochs_since_best, result.best_epoch = score, 0, epoch
            result.params, result.opt_state = result.state[:2]
        else:
            epochs_since_best += 1
            if train_cfg.patience and epochs_since_best >= train_cfg.patience:
                break
    result.params = jax.tree.map(jnp.asarray, result.params)
    result.train_seconds = time.perf_counter() - start
    timed_epochs = len(result.history) - 1
    if timed_epochs > 0:
        result.examples_per_second = train.n_interactions * timed_epochs / step_seconds
    else:
        result.examples_per_second = train.n_interactions / result.history[0]["seconds"]
    return result

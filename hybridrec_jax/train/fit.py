"""``fit``: the one training loop, for ratings and for implicit feedback.

What differs between the two is configuration (``TrainConfig``):

- ratings (``loss="mse"``, ``negatives=0``): every epoch visits the training
  interactions (u, i, y) in a fresh order; early stopping watches the RMSE of a
  seeded random validation share;
- implicit feedback (``loss="bce"``, ``negatives=k``): every training
  interaction is a positive (u, i, 1); each epoch draws k negatives (u, j, 0)
  per positive on the device (``train.negatives``), P (1 + k) rows of one shape
  so one compile serves every epoch; early stopping watches a ranking metric
  (HR@10 by default) of each user's held-out latest interaction, ranked against
  the full catalogue with the user's training items masked.

Epoch e's row order and keys derive from (seed, e), so training resumed after
epoch e from its :class:`TrainingState` gives the parameters of training
straight through; with ``checkpoint=CheckpointConfig(...)`` the loop also
saves the early-stopping bookkeeping (``train.checkpoints``), so that a killed
run resumes to the very model and figures of an uninterrupted one. Besides a
NaN or infinite loss, an exploding loss and a model worse than the global mean
stop training (``train.divergence``). Parameters and optimiser state stay on
the device from the first epoch to the last; only the best parameters are
copied (on the device) when the validation metric improves, and host copies
are made only when a checkpoint is written.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from tqdm.auto import tqdm

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.interactions import interaction_columns
from hybridrec_jax.data.splits import leave_one_out, random_split
from hybridrec_jax.evaluate.protocols import evaluate_full_ranking, evaluate_ratings
from hybridrec_jax.evaluate.scoring import device_features
from hybridrec_jax.model import Params, init_params, zero_entity_rows
from hybridrec_jax.model.sharding import (
    make_mesh,
    pad_rows,
    replicated,
    shard,
    unpad_rows,
)
from hybridrec_jax.train.checkpoints import (
    CheckpointConfig,
    Tracker,
    TrainingCheckpoints,
    fingerprint,
)
from hybridrec_jax.train.distributed import gather
from hybridrec_jax.train.divergence import (
    check_finite,
    check_progress,
    require_float32,
)
from hybridrec_jax.train.negatives import (
    make_cdf,
    make_epoch_data,
    positive_keys,
    sampling_weights,
)
from hybridrec_jax.train.step import (
    epoch_order,
    make_optimizer,
    make_train_chunk,
    make_train_epoch,
)
from hybridrec_jax.train.streaming import streamed_epoch


class TrainingState(NamedTuple):
    """Everything needed to resume: the parameters and optimiser state after
    ``epoch`` epochs (the per-epoch keys derive from ``TrainConfig.seed``)."""

    params: Params
    opt_state: optax.OptState
    epoch: int


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        params: the best parameters by the validation metric (the last ones
            without validation).
        state: the last :class:`TrainingState` (resume from it).
        history: one record per epoch: "epoch", "train_loss", "seconds", the
            validation figures "val_<metric>" and what ``on_epoch`` added.
        best_epoch: the epoch of ``params`` (1-based).
        metric: the name of the validation metric (``TrainConfig.metric``).
        best_metric: its value at ``best_epoch`` (NaN without validation).
        train_seconds: wall time of the whole call.
        examples_per_second: training rows per second of the epochs after the
            first (which includes the compile).
        n_train: training rows per epoch (positives and negatives).
        embedding_updates: how the id tables were updated, "dense" or
            "row_sparse" (``TrainConfig.embedding_updates``, "auto" resolved).
        streamed: whether the epochs streamed the interactions from host
            memory (``train.streaming``; they exceeded
            ``TrainConfig.device_data_mib``).
        refit_epochs: epochs of the final training on every row
            (:func:`refit`); 0 when ``params`` are the early-stopped ones.
    """

    params: Params
    state: TrainingState
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    metric: str = ""
    best_metric: float = float("nan")
    train_seconds: float = 0.0
    examples_per_second: float = 0.0
    n_train: int = 0
    streamed: bool = False
    embedding_updates: str = ""
    refit_epochs: int = 0


def refit(
    train: Dataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    selected: FitResult,
    **fit_options,
) -> FitResult:
    """Train again on every row of ``train`` for the epochs early stopping chose.

    Early stopping spends a share of the training rows on validation (on the
    time split the latest ones, in implicit feedback each user's latest
    interaction: the rows most like the test). Once the number of epochs T =
    ``selected.best_epoch`` is chosen, the model is trained afresh, from the same
    seed, on all of ``train`` for T epochs, without validation (as
    ``benchmarks/ranking.py`` and the NCF paper's protocol do). Nothing is
    refitted when ``train_cfg.refit`` is off or ``selected`` was not validated.

    Args:
        train: every training row, the validation rows included.
        model_cfg: the network of ``selected``.
        train_cfg: the configuration of ``selected`` (its ``refit``).
        selected: the early-stopped :func:`fit` on part of ``train``.
        fit_options: passed to :func:`fit` (``allowed_items``, ``mesh``,
            ``progress``, ``params``...; no ``validation``, no ``checkpoint``:
            the refit is short and deterministic, a resumed job runs it again).

    Returns:
        The refitted :class:`FitResult`: its params and state, with the
        selection's ``history``, ``best_epoch`` and ``best_metric``,
        ``refit_epochs`` = T and ``train_seconds`` of both trainings; or
        ``selected`` itself when nothing is refitted.
    """
    validated = any(key.startswith("val_") for r in selected.history for key in r)
    if not train_cfg.refit or not validated:
        return selected
    epochs = max(selected.best_epoch, 1)
    again = fit(
        train, model_cfg,
        train_cfg.replace(validation_fraction=0.0, epochs=epochs, patience=0),
        **fit_options,
    )  # fmt: skip
    return dataclasses.replace(
        again,
        history=selected.history,
        best_epoch=selected.best_epoch,
        metric=selected.metric,
        best_metric=selected.best_metric,
        train_seconds=selected.train_seconds + again.train_seconds,
        refit_epochs=epochs,
    )


def _pairs(data: Dataset | tuple) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, Dataset):
        return np.asarray(data.user), np.asarray(data.item)
    return np.asarray(data[0]), np.asarray(data[1])


class _EpochData:
    """The rows of each epoch: the fixed targets, or positives plus negatives."""

    def __init__(self, train: Dataset, cfg: TrainConfig, allowed_items, key):
        self.cfg, self.key, self.streaming = cfg, key, False
        if not cfg.negatives:
            targets = np.asarray(train.rating, np.float32)
            if cfg.loss == "bce" and not np.isin(targets, (0.0, 1.0)).all():
                raise ValueError(
                    "loss='bce' needs 0/1 targets, and these are ratings in "
                    f"[{targets.min():g}, {targets.max():g}]: use loss='mse' for "
                    "ratings, or negatives=k >= 1 to treat every interaction as a "
                    "positive and sample k negatives per positive (implicit feedback)"
                )
            host = (np.asarray(train.user, np.int32), np.asarray(train.item, np.int32),
                    targets)  # fmt: skip
            self.n = train.n_interactions
            # Interactions beyond the device budget stay on the host and stream.
            self.streaming = 16 * self.n > cfg.device_data_mib * 2**20
            self.fixed = host if self.streaming else tuple(map(jnp.asarray, host))
            return
        # The distinct positives, from their sorted keys u * I + i.
        self.sorted_keys = positive_keys(train.user, train.item, train.n_items)
        self.users = self.sorted_keys // train.n_items  # (P,) int32
        self.items = self.sorted_keys % train.n_items
        self.cdf = make_cdf(sampling_weights(
            train.item, train.n_items, cfg.sampler,
            exponent=cfg.popularity_exponent, allowed=allowed_items,
        ))  # fmt: skip
        self.build = make_epoch_data(cfg.negatives, cfg.negative_retries)
        self.n = int(self.sorted_keys.shape[0]) * (1 + cfg.negatives)
        self.streaming = 16 * self.n > cfg.device_data_mib * 2**20
        if self.streaming:
            # Positives and each epoch's negatives live in host memory: the
            # same compiled sampler runs on the host CPU (the same counter-based
            # draws as on an accelerator), and the epoch streams from there.
            self.host = jax.devices("cpu")[0]
            self.users, self.items, self.sorted_keys, self.cdf = jax.device_put(
                (self.users, self.items, self.sorted_keys, self.cdf), self.host
            )

    def __call__(self, epoch: int):
        """(data, dropout key) of epoch ``epoch``; host numpy arrays when the
        epoch streams (``train.streaming``)."""
        epoch_key = jax.random.fold_in(self.key, epoch)
        if not self.cfg.negatives:
            return self.fixed, epoch_key
        sample_key, step_key = jax.random.split(epoch_key)
        if self.streaming:  # the sampler runs where the positives are
            sample_key = jax.device_put(sample_key, self.host)
        data = self.build(sample_key, self.users, self.items, self.sorted_keys,
                          self.cdf)  # fmt: skip
        if self.streaming:
            data = tuple(np.asarray(a) for a in data)
        return data, step_key


def untrained_entities(train: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) with no interaction in ``train``, int arrays.

    Their id rows (embeddings and biases) are zero in the parameters ``fit``
    starts from and returns, so that such a cold user or item is scored through
    the content path alone, wherever it is evaluated, saved or recommended
    (with sampled negatives an item without a positive is still drawn as a
    negative during training; its rows are zeroed in the result).
    """
    users = np.flatnonzero(np.bincount(train.user, minlength=train.n_users) == 0)
    items = np.flatnonzero(np.bincount(train.item, minlength=train.n_items) == 0)
    return users, items


def _validation_split(train: Dataset, cfg: TrainConfig):
    """(train, validation) with the held-out share of ``cfg``, or (train, None)."""
    if cfg.validation_fraction <= 0:
        return train, None
    if cfg.negatives:  # each user's latest interaction, the next-item target
        kept, held = leave_one_out(train, seed=cfg.seed)
    else:
        kept, held = random_split(
            train.n_interactions, cfg.validation_fraction, cfg.seed
        )
    return train.subset(kept), train.subset(held)


def validate(
    params: Params,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    features,
    train: Dataset,
    validation: Dataset | tuple,
    allowed_items: np.ndarray | None = None,
) -> dict[str, float]:
    """The validation figures early stopping reads, keyed "val_<name>".

    Ratings (mse): RMSE and MAE of the clipped predictions on ``validation``.
    Implicit feedback (bce): full-catalogue ranking metrics at K = 10 (and the
    K of ``train_cfg.metric``) of the validation pairs (with 0/1 targets, of
    those labelled 1), each user's training items masked.

    Args:
        params, model_cfg: the model.
        train_cfg: the loss, negatives and metric.
        features: {"user": (U, F_u), "item": (I, F_i)} on the device.
        train: the training interactions (masked as seen when ranking).
        validation: a Dataset, or (users, items) positives.
        allowed_items: (I,) bool, the only candidates when ranking.
    """
    if train_cfg.loss == "mse":
        metrics = evaluate_ratings(params, model_cfg, validation, features)
    else:
        users, items = _pairs(validation)
        if train_cfg.negatives == 0 and isinstance(validation, Dataset):
            positive = np.asarray(validation.rating) == 1
            users, items = users[positive], items[positive]
        cutoff = train_cfg.metric.partition("@")[2]
        ks = tuple(sorted({10, int(cutoff)} if cutoff else {10}))
        metrics = evaluate_full_ranking(
            params, model_cfg, features, _pairs(train), (users, items), ks=ks,
            allowed_items=allowed_items,
        )  # fmt: skip
    return {f"val_{name}": value for name, value in metrics.items()}


def _baseline_rmse(train: Dataset, validation) -> float | None:
    """RMSE on ``validation`` of predicting the training mean (ratings only)."""
    if not isinstance(validation, Dataset):
        return None
    mean = np.mean(np.asarray(train.rating, np.float64))
    return float(np.sqrt(np.mean((np.asarray(validation.rating) - mean) ** 2)))


def _data_fingerprint(train: Dataset, validation, allowed_items) -> str:
    """What a checkpoint must have been trained on to be resumed here."""
    parts = [train.user, train.item, train.rating, train.user_features,
             train.item_features, np.array([train.n_users, train.n_items])]  # fmt: skip
    if validation is not None:
        parts += list(_pairs(validation))
        if isinstance(validation, Dataset):
            parts.append(validation.rating)
    return fingerprint(*parts, allowed_items)


def _check_opt_state(opt_state, optimizer, params: Params, cfg: TrainConfig) -> None:
    """Refuse a resumed optimiser state of another optimiser (e.g. of the other
    ``embedding_updates``), which would fail deep inside the compiled step."""
    expected = jax.tree.structure(jax.eval_shape(optimizer.init, params))
    if jax.tree.structure(opt_state) != expected:
        raise ValueError(
            "the state's optimiser state does not fit this optimiser "
            f"(optimizer={cfg.optimizer!r}, embedding_updates="
            f"{cfg.embedding_updates!r}): resume with the TrainConfig the state "
            "was trained with, or warm-start from its parameters (params=)"
        )


def fit(
    train: Dataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    validation: Dataset | tuple[np.ndarray, np.ndarray] | None = None,
    *,
    params: Params | None = None,
    state: TrainingState | None = None,
    optimizer: optax.GradientTransformation | None = None,
    allowed_items: np.ndarray | None = None,
    on_epoch=None,
    progress: bool = False,
    checkpoint: CheckpointConfig | None = None,
    mesh: Mesh | None = None,
) -> FitResult:
    """Train on ``train``; stop early on the validation metric, keep the best params.

    Args:
        train: the training interactions; with ``train_cfg.negatives`` > 0 each
            (user, item) is a positive and its rating is ignored.
        model_cfg: the network (e.g. ``ModelConfig()`` or ``VARIANTS["mf"]``).
        train_cfg: loss, optimiser, batch size, epochs, early stopping, seed,
            negative sampling (see ``TrainConfig``).
        validation: held-out data for early stopping: a Dataset, or (users,
            items) positives for implicit feedback. None holds out
            ``validation_fraction`` of ``train`` (seeded; implicit feedback: each
            user's latest interaction) when that is > 0.
        params: start from these parameters with a fresh optimiser.
        state: resume after ``state.epoch`` epochs (``FitResult.state``, or a
            checkpoint's params, opt_state and epoch); early stopping counts
            from the resumed epoch.
        optimizer: replaces :func:`train.step.make_optimizer`'s optax one (e.g.
            ``paper.hand_optimizer(cfg)``).
        allowed_items: (I,) bool; only these items are drawn as negatives and
            ranked in validation (e.g. to keep cold-start items unseen).
        on_epoch: ``on_epoch(epoch, params) -> dict`` adds figures to each
            epoch's history record (e.g. test metrics for a learning curve).
        progress: show a progress bar over epochs.
        checkpoint: write checkpoints (every ``checkpoint.every`` epochs, at
            each new best epoch and at the end) and, with
            ``checkpoint.resume``, continue from the newest one: the result is
            that of the uninterrupted run (``train.checkpoints``). A run that stopped
            early (or has no epochs left) returns its result without training.
        mesh: train on this device mesh (a ``data`` axis; ``model.sharding``)
            instead of the one of ``train_cfg.devices``. Batches are split
            across its devices, the id and content tables sharded by rows; the
            returned parameters have U and I rows, as on one device.

    Returns:
        A :class:`FitResult`. The caller's ``params``/``state`` arrays are
        copied, never donated to the compiled epoch.

    Raises:
        ValueError: ``params`` and ``state`` together; a state with no epochs
            left; ``loss="bce"`` on targets that are not 0/1 without negatives;
            JAX_ENABLE_X64 set; a batch size that is not a multiple of the
            number of devices; a state whose optimiser state is not of this
            optimiser (another ``optimizer`` or ``embedding_updates``).
        TypeError: (users, items) validation pairs for ratings.
        TrainingDiverged: a batch loss became NaN or infinite, the training
            loss exploded, or the model stayed worse than the global mean
            (``train.divergence``).
        CheckpointError: a checkpoint to resume is corrupt or of another run,
            or the folder holds checkpoints and ``checkpoint.resume`` is off.
    """
    require_float32()
    mesh = mesh if mesh is not None else make_mesh(train_cfg.devices)
    if mesh is not None and train_cfg.batch_size % mesh.size:
        raise ValueError(
            f"batch_size={train_cfg.batch_size} must be a multiple of the "
            f"{mesh.size} devices of the mesh, which each take an equal share"
        )
    if params is not None and state is not None:
        raise ValueError("pass params (a warm start) or state (a resume), not both")
    first_epoch = 1 if state is None else state.epoch + 1
    if first_epoch > train_cfg.epochs:
        raise ValueError(
            f"the state is after epoch {state.epoch}, so epochs="
            f"{train_cfg.epochs} leaves nothing to train: raise TrainConfig.epochs"
        )
    start = time.perf_counter()
    if validation is None:
        train, validation = _validation_split(train, train_cfg)
    if train_cfg.loss == "mse" and not isinstance(validation, Dataset | None):
        raise TypeError(
            "rating validation needs a Dataset with ratings, got "
            f"{type(validation).__name__}: pass train.subset(rows)"
        )
    if validation is not None and len(_pairs(validation)[0]) == 0:
        validation = None
    train_cfg = train_cfg.resolved(train.n_users, train.n_items)
    init_key, key = jax.random.split(jax.random.key(train_cfg.seed))
    features = device_features(train)
    if model_cfg.id_dropout_user or model_cfg.id_dropout_item:
        # An id-dropped example hides its interaction columns too (model.content).
        masks = interaction_columns(train)
        features |= {name: jnp.asarray(mask) for name, mask in masks.items()}
    epoch_data = _EpochData(train, train_cfg, allowed_items, key)
    untrained = untrained_entities(train)
    from_caller = params is not None or state is not None
    if state is not None:
        params = state.params
    if params is None:
        mean = float(np.mean(train.rating)) if train_cfg.loss == "mse" else 0.0
        params = init_params(
            init_key, model_cfg, train.n_users, train.n_items,
            train.user_features.shape[1], train.item_features.shape[1],
            global_mean=mean,
        )  # fmt: skip
        params = zero_entity_rows(params, *untrained)  # exact zeros from the start
    optimizer = optimizer or make_optimizer(train_cfg)
    opt_state = optimizer.init(params) if state is None else state.opt_state
    if state is not None:
        _check_opt_state(opt_state, optimizer, params, train_cfg)
    tracker, finished, saver = Tracker(), False, None
    if checkpoint is not None:
        saver = TrainingCheckpoints(checkpoint, model_cfg, train_cfg,
                                    _data_fingerprint(train, validation,
                                                      allowed_items))  # fmt: skip
        restored = saver.restore(params, optimizer) if checkpoint.resume else None
        if restored is not None:
            params, opt_state, done, tracker, stopped = restored
            first_epoch, finished = done + 1, stopped or done >= train_cfg.epochs
            from_caller = False
    if from_caller:  # copies: the epoch donates its inputs, the caller keeps theirs
        params, opt_state = jax.tree.map(jnp.array, (params, opt_state))
    train_features = features
    if mesh is not None:  # rows padded to a multiple of the devices, then sharded
        params, opt_state, train_features = shard(
            pad_rows((params, opt_state, features), mesh.size), mesh
        )

    def view(tree):
        """What the world outside the loop sees: U and I rows; with several
        processes, full copies on every process (validation, checkpoints and
        the result then work as on one host)."""
        if mesh is None:
            return tree
        tree = unpad_rows(tree, train.n_users, train.n_items)
        return gather(tree) if jax.process_count() > 1 else tree

    epoch_fn = make_train_epoch(model_cfg, train_cfg, optimizer, mesh)
    chunk_fn = make_train_chunk(model_cfg, train_cfg, optimizer, mesh)
    baseline = _baseline_rmse(train, validation) if train_cfg.loss == "mse" else None
    sign = 1.0 if train_cfg.minimise else -1.0  # early stopping minimises sign * m
    step_seconds, timed, epoch = 0.0, 0, first_epoch - 1
    last_epoch = epoch if finished else train_cfg.epochs
    # Counted by hand: an iterating bar would not count the epoch it breaks in.
    bar = tqdm(total=last_epoch - first_epoch + 1, disable=not progress,
               unit="epoch")  # fmt: skip
    for epoch in range(first_epoch, last_epoch + 1):
        epoch_start = time.perf_counter()
        data, step_key = epoch_data(epoch)
        order = epoch_order(train_cfg.seed, epoch, epoch_data.n)
        if epoch_data.streaming:
            params, opt_state, losses = streamed_epoch(
                chunk_fn, params, opt_state, data, train_features, order, step_key,
                train_cfg.batch_size, train_cfg.device_data_mib, mesh,
            )  # fmt: skip
        else:
            if mesh is not None:  # every device reads its batch rows from a copy
                data, order = jax.device_put((data, order), replicated(mesh))
            params, opt_state, losses = epoch_fn(
                params, opt_state, data, train_features, order, step_key
            )
        losses = np.asarray(losses)  # one sync per epoch
        seconds = time.perf_counter() - epoch_start
        if epoch > first_epoch:  # the first epoch includes the compile
            step_seconds, timed = step_seconds + seconds, timed + 1
        check_finite(losses, epoch, train_cfg)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                  "seconds": seconds}  # fmt: skip
        validating = validation is not None and epoch % train_cfg.eval_every == 0
        # One unpadded (on several hosts: gathered) copy per epoch, if any.
        params_view = functools.cache(lambda: view(params))  # noqa: B023
        if validating:
            record.update(validate(params_view(), model_cfg, train_cfg, features,
                                   train, validation, allowed_items))  # fmt: skip
        if on_epoch is not None:
            record.update(on_epoch(epoch, params_view()))
        tracker.history.append(record)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch"})
        check_progress(tracker.history, train_cfg, baseline)
        stop, improved = False, False
        if validating:  # without validation the last epoch is the best: no copy
            score = sign * record[f"val_{train_cfg.metric}"]
            stop = tracker.update(epoch, score, params_view(), train_cfg.patience)
            improved = tracker.best_epoch == epoch
        finished = stop or epoch == train_cfg.epochs
        if saver is not None and saver.due(epoch, improved, finished):
            # Every process gathers (a collective); one process writes.
            saved = params_view(), view(opt_state)
            if jax.process_index() == 0:
                saver.save(epoch, *saved, tracker, stopped_early=stop)
        bar.update()
        if stop:
            bar.total = bar.n  # early stopping: the bar ends full, at the epochs run
            break
    bar.close()
    if tracker.best_epoch == 0:  # no epoch was validated: keep the last
        tracker.best_params, tracker.best_epoch = view(params), epoch
    result = FitResult(
        params=zero_entity_rows(tracker.best_params, *untrained),
        state=TrainingState(view(params), view(opt_state), epoch),
        history=tracker.history,
        best_epoch=tracker.best_epoch,
        metric=train_cfg.metric,
        n_train=epoch_data.n,
        streamed=epoch_data.streaming,
        embedding_updates=train_cfg.embedding_updates,
    )
    if validation is not None and np.isfinite(tracker.best_score):
        result.best_metric = float(sign * tracker.best_score)
    result.train_seconds = time.perf_counter() - start
    seconds = [h["seconds"] for h in result.history]
    if timed:
        result.examples_per_second = epoch_data.n * timed / step_seconds
    elif seconds:
        result.examples_per_second = epoch_data.n / seconds[-1]
    return result

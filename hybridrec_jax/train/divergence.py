"""When training has gone wrong: stop with the epoch named and what to try.

Three rules, checked after every epoch, for every optimiser:

- a batch loss is NaN or infinite (:func:`check_finite`);
- the training loss explodes: an epoch's mean loss exceeds
  :data:`LOSS_GROWTH` times that of the run's first epoch;
- ratings: from epoch :data:`GRACE_EPOCHS` on, the best validation RMSE so far
  is still worse than :data:`BASELINE_MARGIN` times that of predicting the
  training mean for every rating (the global-mean baseline), so the model has
  learnt less than a constant. Overfitting after a good epoch is left to early
  stopping.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import TrainConfig

LOSS_GROWTH = 4.0
GRACE_EPOCHS = 3
BASELINE_MARGIN = 1.5


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN, infinite or exploded, or the model is
    worse than the global-mean baseline."""


def _advice(cfg: TrainConfig) -> str:
    return (
        f"Try a lower learning rate (now {cfg.learning_rate:g} with "
        f"{cfg.optimizer}), a smaller batch, or a stronger L2 penalty."
    )


def check_finite(losses: np.ndarray, epoch: int, cfg: TrainConfig) -> None:
    """Stop with a message naming the step if a batch loss is NaN or infinite.

    Args:
        losses: (n_batches,) the batch losses of epoch ``epoch`` (1-based).
        epoch: the epoch they belong to.
        cfg: the training configuration (named in the advice).

    Raises:
        TrainingDiverged: naming the epoch, the batch and what to try.
    """
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        step = int(bad[0])
        raise TrainingDiverged(
            f"training diverged: the loss became {losses[step]} at epoch {epoch}, "
            f"batch {step} (global step {(epoch - 1) * len(losses) + step}). "
            + _advice(cfg)
        )


def check_progress(
    history: list[dict], cfg: TrainConfig, baseline_rmse: float | None = None
) -> None:
    """Stop when the latest epoch of ``history`` shows an exploding loss or a
    model worse than the global mean (module docstring).

    Args:
        history: ``FitResult.history`` so far, the latest epoch last.
        cfg: the training configuration (named in the advice).
        baseline_rmse: the validation RMSE of the global mean (None: no
            baseline rule).

    Raises:
        TrainingDiverged: naming the epoch, what went wrong and what to try.

    >>> cfg = TrainConfig()
    >>> check_progress([{"epoch": 1, "train_loss": 1.0},
    ...                 {"epoch": 2, "train_loss": 0.5}], cfg)
    >>> check_progress([{"epoch": 1, "train_loss": 1.0},
    ...                 {"epoch": 2, "train_loss": 9.0}], cfg)
    Traceback (most recent call last):
    ...
    hybridrec_jax.train.divergence.TrainingDiverged: training diverged: ...
    """
    first, last = history[0], history[-1]
    if last["train_loss"] > LOSS_GROWTH * first["train_loss"]:
        raise TrainingDiverged(
            f"training diverged: the training loss of epoch {last['epoch']} "
            f"({last['train_loss']:.4g}) is more than {LOSS_GROWTH:g} times that "
            f"of epoch {first['epoch']} ({first['train_loss']:.4g}). " + _advice(cfg)
        )
    if baseline_rmse is None or last["epoch"] < GRACE_EPOCHS:
        return
    rmses = [h["val_rmse"] for h in history if "val_rmse" in h]
    if rmses and min(rmses) > BASELINE_MARGIN * baseline_rmse:
        raise TrainingDiverged(
            f"training diverged: after epoch {last['epoch']} the best validation "
            f"RMSE ({min(rmses):.4f}) is more than {BASELINE_MARGIN:g} times that of "
            f"predicting the training mean for every rating ({baseline_rmse:.4f}). "
            + _advice(cfg)
        )


def require_float32() -> None:
    """Refuse to train under ``JAX_ENABLE_X64``: the parameters are float32.

    Raises:
        ValueError: saying to unset JAX_ENABLE_X64.
    """
    if jnp.asarray(1.0).dtype != jnp.float32:
        raise ValueError(
            "JAX_ENABLE_X64 is set, and hybridrec_jax trains float32 parameters "
            "(float64 would double the memory for no gain in accuracy): unset "
            "JAX_ENABLE_X64 (or set it to 0) and run again"
        )

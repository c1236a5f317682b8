"""Training: the objective, the jitted step and scanned epoch, and ``fit``."""

from hybridrec_jax.train.fit import (
    Batch,
    FitResult,
    TrainingDiverged,
    TrainingState,
    epoch_order,
    fit,
    make_jit_train_step,
    make_optimizer,
    make_train_epoch,
    make_train_step,
    objective,
)

__all__ = [
    "Batch",
    "FitResult",
    "TrainingDiverged",
    "TrainingState",
    "epoch_order",
    "fit",
    "make_jit_train_step",
    "make_optimizer",
    "make_train_epoch",
    "make_train_step",
    "objective",
]

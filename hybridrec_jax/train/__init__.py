"""Training: the objective, the jitted step and scanned epoch, and ``fit``, the
one training loop for ratings and implicit feedback (sampled negatives)."""

from hybridrec_jax.train.fit import (
    FitResult,
    TrainingDiverged,
    TrainingState,
    fit,
    validate,
)
from hybridrec_jax.train.negatives import sample_negatives
from hybridrec_jax.train.pretrain import neumf_from_pretrained
from hybridrec_jax.train.step import (
    Batch,
    epoch_order,
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
    "neumf_from_pretrained",
    "objective",
    "sample_negatives",
    "validate",
]

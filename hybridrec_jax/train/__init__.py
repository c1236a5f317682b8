"""Training: the objective, the jitted step and scanned epoch, and ``fit``, the
one training loop for ratings and implicit feedback (sampled negatives), with
checkpoints (``checkpoints``) and divergence checks (``divergence``)."""

from hybridrec_jax.train.checkpoints import CheckpointConfig
from hybridrec_jax.train.divergence import TrainingDiverged, require_float32
from hybridrec_jax.train.fit import (
    FitResult,
    TrainingState,
    fit,
    refit,
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
    "CheckpointConfig",
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
    "refit",
    "sample_negatives",
    "validate",
    "require_float32",
]

"""The paper's equations by hand."""

from hybridrec_jax.paper.backprop import hand_grad, hand_value_and_grad
from hybridrec_jax.paper.hand_optim import hand_optimizer

__all__ = ["hand_grad", "hand_optimizer", "hand_value_and_grad"]

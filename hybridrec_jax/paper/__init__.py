"""The paper's math by hand, each piece tested equal to the production path.

Training uses JAX's autodiff and optax; this package is the executable statement
of the math behind them (README, "The paper's math by hand"):

- :mod:`hybridrec_jax.paper.math`: sigma'(z) of each activation, dl/d output of
  each loss, and the paper's probability form of the cross-entropy;
- :mod:`hybridrec_jax.paper.backprop`: the backward pass of the whole model,
  delta^l = (delta^{l+1} W^{l T}) * sigma'(z^l), as :func:`hand_value_and_grad`
  and :func:`hand_grad` (equal to autodiff, float64, rtol 1e-10);
- :mod:`hybridrec_jax.paper.hand_optim`: SGD and Adam with optax's ``(init,
  update)`` signature, :func:`hand_optimizer` and :func:`make_hand_train_step`
  (equal to optax over 100 steps);
- :mod:`hybridrec_jax.paper.flax_model`: :class:`HybridModel`, a Flax nnx twin of
  ``model.forward``, and the converters :func:`params_to_flax` and
  :func:`flax_to_params`.

>>> from hybridrec_jax.paper import hand_optimizer
>>> from hybridrec_jax.config import TrainConfig
>>> hand_optimizer(TrainConfig(optimizer="sgd", momentum=0.0)).init({})
EmptyState()
"""

from __future__ import annotations

from hybridrec_jax.paper import math
from hybridrec_jax.paper.backprop import hand_grad, hand_value_and_grad
from hybridrec_jax.paper.flax_model import HybridModel, flax_to_params, params_to_flax
from hybridrec_jax.paper.hand_optim import (
    adam,
    hand_optimizer,
    make_hand_train_step,
    sgd,
)

__all__ = [
    "HybridModel",
    "adam",
    "flax_to_params",
    "hand_grad",
    "hand_optimizer",
    "hand_value_and_grad",
    "make_hand_train_step",
    "math",
    "params_to_flax",
    "sgd",
]

"""The paper's equations by hand: the derivatives behind back-propagation.

Training uses JAX's autodiff; this module and :mod:`hybridrec_jax.paper.backprop`
are the executable statement of the math behind it, and the tests hold the two
equal (gradients in float64 to rtol 1e-10). Notation (README, "The model") for
a batch of m rows:

    a^0     = [P_u ; Q_i ; x_u ; x_i]                 (m, D_0)
    z^{l+1} = a^l W^l + b^l               (m, D_{l+1}), W^l of shape (D_l, D_{l+1})
    a^{l+1} = sigma(z^{l+1})
    y_hat   = a^L w + b + b_u + b_i + <p, q>,   p = P'_u + x_u V_U, q = Q'_i + x_i V_I

The paper writes a layer as sigma(W a + b) for one column vector a; a batch here
is a stack of rows, so the same layer reads ``a @ W + b``
(:func:`hybridrec_jax.model.dense_layer`, re-exported here as ``dense_layer``).

Each function the model uses is defined once, where the model defines it: the
activations sigma are ``model.ACTIVATION_FUNCTIONS`` and the per-element losses
are :mod:`hybridrec_jax.losses`. This module adds what the paper's derivation
needs on top: sigma'(z), dl/d output, and the probability form of the
cross-entropy, which the paper prints (with a typo) and training never uses.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from hybridrec_jax.losses import sigmoid_binary_cross_entropy, squared_error
from hybridrec_jax.model import ACTIVATION_FUNCTIONS, dense_layer

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "binary_cross_entropy",
    "binary_cross_entropy_derivative",
    "binary_cross_entropy_from_logit",
    "binary_cross_entropy_logit_derivative",
    "dense_layer",
    "identity_derivative",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "squared_error",
    "squared_error_derivative",
    "tanh_derivative",
]

#: sigma(z) = 1 / (1 + exp(-z)), the model's (``model.ACTIVATION_FUNCTIONS``).
sigmoid = ACTIVATION_FUNCTIONS["sigmoid"]
#: l(z, y) of the logit z: :func:`hybridrec_jax.losses.sigmoid_binary_cross_entropy`
#: under the name that pairs it with :func:`binary_cross_entropy`.
binary_cross_entropy_from_logit = sigmoid_binary_cross_entropy

# ---------------------------------------------------------------- activations


def relu_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) of sigma(z) = max(z, 0): 1 if z > 0 else 0.

    0 at z = 0, as ``jax.nn.relu`` defines its derivative there.

    Args:
        z: pre-activations z^l, any shape, float.

    Returns:
        sigma'(z), the shape and dtype of ``z``.

    >>> relu_derivative(jnp.array([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    return (z > 0).astype(z.dtype)


def sigmoid_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = sigma(z) (1 - sigma(z)) of sigma(z) = 1 / (1 + exp(-z)).

    Args:
        z: pre-activations z^l, any shape, float.

    Returns:
        sigma'(z), the shape and dtype of ``z``.

    >>> float(sigmoid_derivative(jnp.array(0.0)))
    0.25
    """
    s = sigmoid(z)
    return s * (1 - s)


def tanh_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = 1 - tanh(z)^2 of sigma(z) = tanh(z).

    Args:
        z: pre-activations z^l, any shape, float.

    Returns:
        sigma'(z), the shape and dtype of ``z``.

    >>> float(tanh_derivative(jnp.array(0.0)))
    1.0
    """
    return 1 - ACTIVATION_FUNCTIONS["tanh"](z) ** 2


def identity_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = 1 of sigma(z) = z (a linear layer).

    Args:
        z: pre-activations z^l, any shape, float.

    Returns:
        ones, the shape and dtype of ``z``.

    >>> identity_derivative(jnp.array([3.0, -1.0])).tolist()
    [1.0, 1.0]
    """
    return jnp.ones_like(z)


_DERIVATIVES = {
    "relu": relu_derivative,
    "sigmoid": sigmoid_derivative,
    "tanh": tanh_derivative,
    "identity": identity_derivative,
}
#: activation name -> (sigma, sigma'), the names of ``ModelConfig.activation``;
#: sigma is the model's own function.
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    name: (sigma, _DERIVATIVES[name]) for name, sigma in ACTIVATION_FUNCTIONS.items()
}

# ---------------------------------------------------------------- losses


def squared_error_derivative(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """dl/dy_hat = 2 (y_hat - y) of l = (y - y_hat)^2 (``losses.squared_error``).

    Of the mean, dMSE/dy_hat_n = 2 (y_hat_n - y_n) / N.

    Args:
        y_hat: predictions, any shape, float.
        y: targets, broadcastable to ``y_hat``.

    Returns:
        dl/dy_hat per element, the broadcast shape.

    >>> float(squared_error_derivative(jnp.array(3.0), jnp.array(5.0)))
    -4.0
    """
    return 2 * (y_hat - y)


def binary_cross_entropy(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """l = -[y log y_hat + (1 - y) log(1 - y_hat)] of a probability y_hat.

    The paper prints ``y log log(y) + (1-y) log log(1-y)``: a typo (a double log,
    of the target instead of the prediction, and no minus sign). This is the
    correct loss in the paper's form, for exposition; training uses the same
    function of the logit, :func:`hybridrec_jax.losses.sigmoid_binary_cross_entropy`
    (l(sigmoid(z), y) there), which never takes log(0).

    Args:
        y_hat: probabilities in (0, 1), any shape, float.
        y: targets in [0, 1], broadcastable to ``y_hat``.

    Returns:
        l per element, the broadcast shape; inf where y_hat is exactly 0 or 1
        against the other label.

    >>> round(float(binary_cross_entropy(jnp.array(0.5), jnp.array(1.0))), 6)
    0.693147
    """
    return -(y * jnp.log(y_hat) + (1 - y) * jnp.log1p(-y_hat))


def binary_cross_entropy_derivative(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """dl/dy_hat = (y_hat - y) / (y_hat (1 - y_hat)) of :func:`binary_cross_entropy`.

    Args:
        y_hat: probabilities in (0, 1), any shape, float.
        y: targets in [0, 1], broadcastable to ``y_hat``.

    Returns:
        dl/dy_hat per element, the broadcast shape.

    >>> float(binary_cross_entropy_derivative(jnp.array(0.5), jnp.array(1.0)))
    -2.0
    """
    return (y_hat - y) / (y_hat * (1 - y_hat))


def binary_cross_entropy_logit_derivative(z: jax.Array, y: jax.Array) -> jax.Array:
    """dl/dz = sigmoid(z) - y of l(sigmoid(z), y), the BCE of the logit z.

    The chain rule dl/dz = dl/dy_hat sigma'(z) with sigma'(z) = y_hat (1 - y_hat)
    cancels the denominator of :func:`binary_cross_entropy_derivative`.

    Args:
        z: logits, any shape, float.
        y: targets in [0, 1], broadcastable to ``z``.

    Returns:
        dl/dz per element, the broadcast shape.

    >>> float(binary_cross_entropy_logit_derivative(jnp.array(0.0), jnp.array(1.0)))
    -0.5
    """
    return sigmoid(z) - y


#: loss name -> (l(output, y), dl/d output), the names of ``TrainConfig.loss``;
#: l is the per-element loss of :mod:`hybridrec_jax.losses` that training uses.
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "mse": (squared_error, squared_error_derivative),
    "bce": (sigmoid_binary_cross_entropy, binary_cross_entropy_logit_derivative),
}

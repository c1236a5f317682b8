"""The paper's equations by hand: layers, activations and losses with their
derivatives.

Training uses JAX's autodiff; this module and :mod:`backprop` are the executable
statement of the math behind it, and the tests hold the two equal (gradients
in float64 to rtol 1e-10). Back-propagation through the whole model is in
:mod:`backprop`, SGD and Adam by hand in :mod:`hand_optim`. Notation (DESIGN.md
section 1) for a batch of m rows:

    a^0     = [P_u ; Q_i ; x_u ; x_i]                 (m, D_0)
    z^{l+1} = a^l W^l + b^l               (m, D_{l+1}), W^l of shape (D_l, D_{l+1})
    a^{l+1} = sigma(z^{l+1})
    y_hat   = a^L w + b + b_u + b_i + <p, q>,   p = P'_u + x_u V_U, q = Q'_i + x_i V_I

The paper writes a layer as sigma(W a + b) for one column vector a; a batch here
is a stack of rows, so the same layer reads ``a @ W + b``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

# ---------------------------------------------------------------- layers


def dense_layer(a: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """z = a W + b, the paper's W a + b for a batch of row vectors.

    Args:
        a: (m, D_in) activations a^l, one example per row.
        W: (D_in, D_out) weights W^l.
        b: (D_out,) bias b^l.

    >>> dense_layer(jnp.array([[1.0, 2.0]]), jnp.eye(2), jnp.array([0.5, 0.0])).tolist()
    [[1.5, 2.0]]
    """
    return a @ W + b


def relu(z: jax.Array) -> jax.Array:
    """sigma(z) = max(z, 0).

    >>> relu(jnp.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return jnp.maximum(z, 0.0)


def relu_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = 1 if z > 0 else 0 (0 at z = 0, as ``jax.nn.relu`` defines it).

    >>> relu_derivative(jnp.array([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    return (z > 0).astype(z.dtype)


def sigmoid(z: jax.Array) -> jax.Array:
    """sigma(z) = 1 / (1 + exp(-z)).

    >>> float(sigmoid(jnp.array(0.0)))
    0.5
    """
    return jax.nn.sigmoid(z)


def sigmoid_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = sigma(z) (1 - sigma(z)).

    >>> float(sigmoid_derivative(jnp.array(0.0)))
    0.25
    """
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z: jax.Array) -> jax.Array:
    """sigma(z) = tanh(z) = (e^z - e^-z) / (e^z + e^-z).

    >>> float(tanh(jnp.array(0.0)))
    0.0
    """
    return jnp.tanh(z)


def tanh_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = 1 - tanh(z)^2.

    >>> float(tanh_derivative(jnp.array(0.0)))
    1.0
    """
    return 1 - jnp.tanh(z) ** 2


def identity(z: jax.Array) -> jax.Array:
    """sigma(z) = z (a linear layer).

    >>> float(identity(jnp.array(3.0)))
    3.0
    """
    return z


def identity_derivative(z: jax.Array) -> jax.Array:
    """sigma'(z) = 1.

    >>> identity_derivative(jnp.array([3.0, -1.0])).tolist()
    [1.0, 1.0]
    """
    return jnp.ones_like(z)


#: activation name -> (sigma, sigma'), the names of ``ModelConfig.activation``.
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "identity": (identity, identity_derivative),
}

# ---------------------------------------------------------------- losses


def squared_error(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """l = (y - y_hat)^2 per element; MSE = (1/N) sum l (the paper's loss).

    >>> float(squared_error(jnp.array(3.0), jnp.array(5.0)))
    4.0
    """
    return (y - y_hat) ** 2


def squared_error_derivative(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """dl/dy_hat = 2 (y_hat - y); dMSE/dy_hat_n = 2 (y_hat_n - y_n) / N.

    >>> float(squared_error_derivative(jnp.array(3.0), jnp.array(5.0)))
    -4.0
    """
    return 2 * (y_hat - y)


def binary_cross_entropy(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """l = -[y log y_hat + (1 - y) log(1 - y_hat)] from a probability y_hat.

    The paper prints ``y log log(y) + (1-y) log log(1-y)``: a typo (a double log,
    of the target instead of the prediction, and no minus sign). This is the
    correct loss; train with :func:`binary_cross_entropy_from_logit`, which is
    the same function of the logit but never takes log(0).

    >>> round(float(binary_cross_entropy(jnp.array(0.5), jnp.array(1.0))), 6)
    0.693147
    """
    return -(y * jnp.log(y_hat) + (1 - y) * jnp.log1p(-y_hat))


def binary_cross_entropy_derivative(y_hat: jax.Array, y: jax.Array) -> jax.Array:
    """dl/dy_hat = (y_hat - y) / (y_hat (1 - y_hat)).

    >>> float(binary_cross_entropy_derivative(jnp.array(0.5), jnp.array(1.0)))
    -2.0
    """
    return (y_hat - y) / (y_hat * (1 - y_hat))


def binary_cross_entropy_from_logit(z: jax.Array, y: jax.Array) -> jax.Array:
    """l = -[y log sigmoid(z) + (1 - y) log sigmoid(-z)], y_hat = sigmoid(z).

    This corrects the paper's ``y log log(y)`` typo (see
    :func:`binary_cross_entropy`). log(1 - sigmoid(z)) = log sigmoid(-z), and
    log-sigmoid is evaluated stably, so large |z| neither rounds sigmoid(z) to
    0 or 1 nor reaches log(0).

    >>> round(float(binary_cross_entropy_from_logit(jnp.array(0.0), 1.0)), 6)
    0.693147
    """
    return -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))


def binary_cross_entropy_logit_derivative(z: jax.Array, y: jax.Array) -> jax.Array:
    """dl/dz = sigmoid(z) - y (the chain rule folds sigma'(z) into dl/dy_hat).

    >>> float(binary_cross_entropy_logit_derivative(jnp.array(0.0), jnp.array(1.0)))
    -0.5
    """
    return sigmoid(z) - y


#: loss name -> (l(output, y), dl/d output), the names of ``TrainConfig.loss``.
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "mse": (squared_error, squared_error_derivative),
    "bce": (binary_cross_entropy_from_logit, binary_cross_entropy_logit_derivative),
}

"""Losses, per element: the caller reduces (mean over a mask) and adds penalties.

The paper prints the cross-entropy as ``y log log(y) + (1-y) log log(1-y)``: that
is a typo. The correct binary cross-entropy is

    L = -(1/n) sum [ y log y_hat + (1 - y) log(1 - y_hat) ],  y_hat = sigmoid(z),

implemented from the logit z (see :func:`sigmoid_binary_cross_entropy`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def squared_error(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """(y - y_hat)^2 per element; its mean over N is the paper's MSE.

    >>> float(squared_error(jnp.array(3.0), jnp.array(5.0)))
    4.0
    """
    return (target - prediction) ** 2


def sigmoid_binary_cross_entropy(logit: jax.Array, target: jax.Array) -> jax.Array:
    """-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] per element.

    Written with log-sigmoid, since log(1 - sigmoid(z)) = log_sigmoid(-z): this
    never evaluates log(0) and stays exact for large |z|, where computing
    sigmoid(z) first would round to 0 or 1.

    >>> round(float(sigmoid_binary_cross_entropy(jnp.array(0.0), jnp.array(1.0))), 6)
    0.693147
    """
    return -(
        target * jax.nn.log_sigmoid(logit) + (1 - target) * jax.nn.log_sigmoid(-logit)
    )


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """sum(mask * values) / max(sum(mask), 1): padding rows do not count."""
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)

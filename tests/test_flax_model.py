"""The Flax nnx twin computes model.forward; the converters round-trip.

The oracle is ``model.forward`` on every flag combination (no MLP, deep, no dot
branch or biases, no features), with every bias non-zero so that each term of
y_hat counts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hybridrec_jax import ModelConfig, device_features, forward, init_params
from hybridrec_jax.paper import HybridModel, flax_to_params, params_to_flax

CONFIGS = {
    "tiny": ModelConfig.tiny(),
    "no_mlp": ModelConfig.tiny().replace(hidden_dims=()),
    "deep_tanh": ModelConfig.tiny().replace(hidden_dims=(8, 6, 4), activation="tanh"),
    "no_dot_no_biases": ModelConfig.tiny().replace(dot_dim=0, use_biases=False),
    "no_features": ModelConfig.tiny().replace(use_features=False),
}


def sizes(data):
    return (data.n_users, data.n_items, data.user_features.shape[1],
            data.item_features.shape[1])  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_twin_equals_forward(name, tiny_data):
    cfg = CONFIGS[name]
    params = init_params(jax.random.key(0), cfg, *sizes(tiny_data), global_mean=3.5)
    rng = np.random.default_rng(0)  # non-zero biases b_u, b_i, b^l
    params = jax.tree.map(
        lambda x: jnp.asarray(x + 0.1 * rng.normal(size=x.shape), jnp.float32),
        params,
    )
    features = device_features(tiny_data)
    users, items = jnp.asarray(tiny_data.user[:33]), jnp.asarray(tiny_data.item[:33])
    model = params_to_flax(params, cfg)
    expected = forward(params, cfg, users, items, features)
    np.testing.assert_allclose(
        model(users, items, features), expected, rtol=1e-6, atol=1e-6
    )


def test_converters_round_trip_both_ways(tiny_data):
    cfg = ModelConfig.tiny()
    params = init_params(jax.random.key(1), cfg, *sizes(tiny_data))
    back = flax_to_params(params_to_flax(params, cfg))
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    # A freshly initialised module converts to a pytree of init_params' shapes,
    # and its forward pass through model.forward equals its own call.
    model = HybridModel(cfg, *sizes(tiny_data), global_mean=3.0, rngs=nnx.Rngs(2))
    converted = flax_to_params(model)
    shapes = jax.tree.map(jnp.shape, params)
    assert jax.tree.map(jnp.shape, converted) == shapes
    features = device_features(tiny_data)
    users, items = jnp.asarray(tiny_data.user[:9]), jnp.asarray(tiny_data.item[:9])
    np.testing.assert_allclose(
        model(users, items, features),
        forward(converted, cfg, users, items, features),
        rtol=1e-6,
        atol=1e-6,
    )

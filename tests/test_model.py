"""Model: shapes, purity, jit equals eager, dropout only with a key."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import ModelConfig, device_features, forward, init_params
from hybridrec_jax.model import input_width


@pytest.fixture(scope="module")
def setup(tiny_data):
    cfg = ModelConfig(embedding_dim=4, hidden_dims=(8, 6), dot_dim=3, dropout=0.3)
    params = init_params(
        jax.random.key(1), cfg, tiny_data.n_users, tiny_data.n_items,
        tiny_data.user_features.shape[1], tiny_data.item_features.shape[1],
        global_mean=3.5,
    )  # fmt: skip
    users = jnp.asarray(tiny_data.user[:17])
    items = jnp.asarray(tiny_data.item[:17])
    return cfg, params, users, items, device_features(tiny_data)


def test_parameter_shapes(setup, tiny_data):
    cfg, params, *_ = setup
    f_u, f_i = tiny_data.user_features.shape[1], tiny_data.item_features.shape[1]
    emb, dense = params["embeddings"], params["dense"]
    assert emb["user"].shape == (tiny_data.n_users, 4)
    assert emb["item_dot"].shape == (tiny_data.n_items, 3)
    assert emb["user_bias"].shape == (tiny_data.n_users,)
    assert dense["layers"][0]["W"].shape == (8 + f_u + f_i, 8)
    assert dense["layers"][1]["W"].shape == (8, 6)
    assert dense["head"]["w"].shape == (6,)
    assert dense["user_feature_dot"].shape == (f_u, 3)
    assert float(dense["head"]["b"]) == 3.5
    assert input_width(cfg, f_u, f_i) == 8 + f_u + f_i


def test_forward_shape_and_jit_equals_eager(setup):
    cfg, params, users, items, features = setup
    eager = forward(params, cfg, users, items, features)
    jitted = jax.jit(forward, static_argnums=1)(params, cfg, users, items, features)
    assert eager.shape == (17,)
    np.testing.assert_allclose(eager, jitted, rtol=1e-5, atol=1e-6)


def test_forward_matches_explicit_formula(setup):
    cfg, params, users, items, features = setup
    emb, dense = params["embeddings"], params["dense"]
    u, i = int(users[0]), int(items[0])
    a = np.concatenate([emb["user"][u], emb["item"][i],
                        features["user"][u], features["item"][i]])  # fmt: skip
    for layer in dense["layers"]:
        a = np.maximum(np.asarray(layer["W"]).T @ a + np.asarray(layer["b"]), 0)
    pu = emb["user_dot"][u] + features["user"][u] @ dense["user_feature_dot"]
    qi = emb["item_dot"][i] + features["item"][i] @ dense["item_feature_dot"]
    expected = (a @ dense["head"]["w"] + dense["head"]["b"] + emb["user_bias"][u]
                + emb["item_bias"][i] + pu @ qi)  # fmt: skip
    got = forward(params, cfg, users, items, features)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dropout_only_with_a_key(setup):
    cfg, params, users, items, features = setup
    plain = forward(params, cfg, users, items, features)
    again = forward(params, cfg, users, items, features)
    dropped = forward(params, cfg, users, items, features, jax.random.key(5))
    np.testing.assert_array_equal(plain, again)
    assert not np.allclose(plain, dropped)


def test_variants_without_features_mlp_or_dot(tiny_data, key):
    f_u, f_i = tiny_data.user_features.shape[1], tiny_data.item_features.shape[1]
    features = device_features(tiny_data)
    users, items = jnp.arange(3), jnp.arange(3)
    for cfg in (ModelConfig(hidden_dims=(), dot_dim=4, embedding_dim=0),
                ModelConfig(use_features=False, dot_dim=0),
                ModelConfig(activation="tanh", use_biases=False)):  # fmt: skip
        params = init_params(key, cfg, tiny_data.n_users, tiny_data.n_items, f_u, f_i)
        assert forward(params, cfg, users, items, features).shape == (3,)


def test_init_is_deterministic_by_key(tiny_data):
    cfg = ModelConfig.tiny()
    shape = (tiny_data.n_users, tiny_data.n_items, 3, 2)
    a = init_params(jax.random.key(7), cfg, *shape)
    b = init_params(jax.random.key(7), cfg, *shape)
    c = init_params(jax.random.key(8), cfg, *shape)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))
    assert not np.array_equal(a["embeddings"]["user"], c["embeddings"]["user"])


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="activation"):
        ModelConfig(activation="swishy")
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.0)


def test_blockwise_first_layer_equals_the_concatenated_product(setup):
    from hybridrec_jax.model import first_preactivation, input_layer

    cfg, params, users, items, features = setup
    layer = params["dense"]["layers"][0]
    whole = input_layer(params, cfg, users, items, features) @ layer["W"] + layer["b"]
    blocks = first_preactivation(params, cfg, users, items, features)
    np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-6)

"""Model: shapes, purity, jit equals eager, dropout only with a key."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import ModelConfig, device_features, forward, init_params
from hybridrec_jax.model import input_width
from tests.reference import plain_input_layer


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
    configs = (ModelConfig(hidden_dims=(), dot_dim=4, embedding_dim=0),
               ModelConfig(use_features=False, dot_dim=0),
               ModelConfig(activation="tanh", use_biases=False))  # fmt: skip
    for cfg, cfg_key in zip(configs, jax.random.split(key, 3), strict=True):
        n_users, n_items = tiny_data.n_users, tiny_data.n_items
        params = init_params(cfg_key, cfg, n_users, n_items, f_u, f_i)
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


@pytest.mark.parametrize("use_features", [True, False])
def test_first_preactivation_equals_the_concatenated_product(
    setup, tiny_data, use_features
):
    from hybridrec_jax.model import content, first_layer, first_layer_weights

    cfg, params, users, items, features = setup
    cfg = cfg.replace(use_features=use_features)
    if not use_features:
        n_users, n_items = tiny_data.n_users, tiny_data.n_items
        params = init_params(jax.random.key(2), cfg, n_users, n_items, 0, 0)
    layer = params["dense"]["layers"][0]
    a0 = plain_input_layer(params, cfg, users, items, features)
    whole = a0 @ layer["W"] + layer["b"][None, :]
    emb = params["embeddings"]
    embedded = jnp.concatenate([emb["user"][users], emb["item"][items]], axis=-1)
    x = jnp.concatenate([content(cfg, features, "user", users),
                         content(cfg, features, "item", items)], axis=-1)  # fmt: skip
    z = first_layer(embedded, x, *first_layer_weights(params))
    np.testing.assert_allclose(z, whole, rtol=1e-5, atol=1e-6)


def test_first_layer_backward_equals_autodiff_of_the_product():
    """The written-out backward pass of ``first_layer`` gives autodiff's gradient
    with respect to all four inputs, the unused dJ/dx included (float64)."""
    from hybridrec_jax.model import first_layer

    def plain(e, x, W, b):
        return jnp.concatenate([e, x], axis=-1) @ W + b[None, :]

    keys = jax.random.split(jax.random.key(5), 5)
    with jax.enable_x64(True):
        e = jax.random.normal(keys[0], (7, 4), jnp.float64)
        x = jax.random.normal(keys[1], (7, 3), jnp.float64)
        W = jax.random.normal(keys[2], (7, 5), jnp.float64)
        b = jax.random.normal(keys[3], (5,), jnp.float64)
        target = jax.random.normal(keys[4], (7, 5), jnp.float64)

        def loss(layer):
            return lambda *args: jnp.sum(jnp.tanh(layer(*args)) * target)

        ours = jax.grad(loss(first_layer), argnums=(0, 1, 2, 3))(e, x, W, b)
        theirs = jax.grad(loss(plain), argnums=(0, 1, 2, 3))(e, x, W, b)
        for a, c in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, c, rtol=1e-12)
        np.testing.assert_allclose(first_layer(e, x, W, b), plain(e, x, W, b))


def test_dropout_rate_and_mean():
    """Over 2^20 units, the share dropped is the rate within 5 standard errors,
    kept units are scaled by 1 / (1 - rate), so the mean is kept too."""
    from hybridrec_jax.dropout import dropout

    a = jnp.ones((1024, 1024))
    for rate in (0.1, 0.2, 0.5):
        out = np.asarray(dropout(a, rate, jax.random.key(3)))
        dropped = np.mean(out == 0)
        stderr = np.sqrt(rate * (1 - rate) / out.size)
        assert abs(dropped - rate) < 5 * stderr
        np.testing.assert_allclose(out[out != 0], 1 / (1 - rate), rtol=1e-6)
        assert abs(out.mean() - 1) < 5 * stderr / (1 - rate)


def test_counter_bits_look_uniform_and_independent():
    """Each of the 32 bits is set half the time; bytes pass a chi-square test;
    masks of neighbouring units, and of two keys, are uncorrelated."""
    from hybridrec_jax.dropout import counter_bits

    words = np.asarray(counter_bits(jax.random.key(0), (1 << 18,)))
    bits = (words[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    n = len(words)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 5 * 0.5 / np.sqrt(n))
    counts = np.bincount((words & 0xFF).astype(np.int64), minlength=256)
    expected = n / 256
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 255 + 6 * np.sqrt(2 * 255)  # chi-square(255): mean 255, sd 22.6
    uniform = words / 2.0**32
    neighbours = np.corrcoef(uniform[:-1], uniform[1:])[0, 1]
    other_key = np.asarray(counter_bits(jax.random.key(1), (n,))) / 2.0**32
    assert abs(neighbours) < 5 / np.sqrt(n)
    assert abs(np.corrcoef(uniform, other_key)[0, 1]) < 5 / np.sqrt(n)
    assert len(np.unique(words)) == n  # a bijection of the counter


def test_shared_rows_give_the_same_objective_and_gradient(setup, tiny_data):
    """The objective gathers the id rows once; gathering them separately for the
    forward pass and the L2 penalty gives the same value and gradient."""
    from hybridrec_jax import TrainConfig
    from hybridrec_jax.model import embedding_rows, embedding_rows_penalty
    from hybridrec_jax.train import Batch, objective

    cfg, params, users, items, features = setup
    train_cfg = TrainConfig(l2_embedding=0.1, l2_dense=0.01)
    batch = Batch(users, items, jnp.full(users.shape, 4.0), jnp.ones(users.shape))

    def separate(p):
        output = forward(p, cfg, users, items, features)
        per_example = (output - batch.targets) ** 2 + 0.1 * embedding_rows_penalty(
            embedding_rows(p, users, items)
        )
        dense = p["dense"]
        penalty = sum(jnp.sum(layer["W"] ** 2) for layer in dense["layers"])
        penalty += jnp.sum(dense["head"]["w"] ** 2)
        penalty += jnp.sum(dense["user_feature_dot"] ** 2)
        penalty += jnp.sum(dense["item_feature_dot"] ** 2)
        return jnp.mean(per_example) + 0.01 * penalty

    value, grads = jax.value_and_grad(objective)(
        params, cfg, train_cfg, batch, features
    )
    value_ref, grads_ref = jax.value_and_grad(separate)(params)
    np.testing.assert_allclose(value, value_ref, rtol=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
        grads, grads_ref,
    )  # fmt: skip

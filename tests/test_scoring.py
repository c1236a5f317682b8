"""The factorised scorer equals model.forward on every (user, item) pair."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import ModelConfig, device_features, init_params
from hybridrec_jax.evaluate.scoring import (
    _score_block,
    score_all,
    score_all_plain,
    user_item_tables,
)
from tests.reference import plain_input_layer

CONFIGS = {
    "tiny": ModelConfig.tiny(),
    "no_mlp": ModelConfig.tiny().replace(hidden_dims=()),
    "deep_tanh": ModelConfig.tiny().replace(hidden_dims=(8, 6, 4), activation="tanh"),
    "no_dot": ModelConfig.tiny().replace(dot_dim=0),
    "no_features": ModelConfig.tiny().replace(use_features=False),
    "no_biases_sigmoid": ModelConfig.tiny().replace(
        use_biases=False, activation="sigmoid"
    ),
}


def make_params(cfg, data, seed=0):
    params = init_params(
        jax.random.key(seed), cfg, data.n_users, data.n_items,
        data.user_features.shape[1], data.item_features.shape[1], global_mean=3.5,
    )  # fmt: skip
    # Non-zero biases, so that their broadcasting is checked too.
    emb = params["embeddings"]
    rng = np.random.default_rng(seed)
    emb["user_bias"] = jnp.asarray(rng.normal(size=data.n_users), jnp.float32)
    emb["item_bias"] = jnp.asarray(rng.normal(size=data.n_items), jnp.float32)
    return params


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_score_all_equals_forward(name, tiny_data):
    cfg = CONFIGS[name]
    params, features = make_params(cfg, tiny_data), device_features(tiny_data)
    users = jnp.array([0, 5, 5, tiny_data.n_users - 1, 17, 3, 9])  # repeats too
    fast = score_all(params, cfg, features, users, chunk_size=3)  # padded chunk
    plain = score_all_plain(params, cfg, features, users)
    assert fast.shape == (7, tiny_data.n_items)
    np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-5)


def test_score_all_on_chosen_items_and_default_chunks(tiny_data):
    cfg = ModelConfig.tiny()
    params, features = make_params(cfg, tiny_data, 1), device_features(tiny_data)
    users = jnp.arange(tiny_data.n_users)
    items = jnp.array([3, 1, 40, 1])
    fast = score_all(params, cfg, features, users, items)
    plain = score_all_plain(params, cfg, features, users, items)
    assert fast.shape == (tiny_data.n_users, 4)
    np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-5)
    assert score_all(params, cfg, features, jnp.zeros(0, jnp.int32)).shape == (
        0,
        tiny_data.n_items,
    )


def test_tables_sum_to_the_first_layer(tiny_data):
    cfg = ModelConfig.tiny()
    params, features = make_params(cfg, tiny_data, 2), device_features(tiny_data)
    h_user, h_item = user_item_tables(params, cfg, features)
    users, items = jnp.array([0, 4, 4]), jnp.array([7, 7, 2])
    layer = params["dense"]["layers"][0]
    a0 = plain_input_layer(params, cfg, users, items, features)
    z1 = a0 @ layer["W"] + layer["b"][None, :]
    np.testing.assert_allclose(h_user[users] + h_item[items], z1, rtol=1e-5, atol=1e-5)


def test_score_all_compiles_once_per_chunk_shape(tiny_data):
    cfg = ModelConfig.tiny().replace(hidden_dims=(5,))
    params, features = make_params(cfg, tiny_data, 3), device_features(tiny_data)
    score_all(params, cfg, features, jnp.arange(8), chunk_size=4)
    before = _score_block._cache_size()
    score_all(params, cfg, features, jnp.arange(3, 14), chunk_size=4)  # 3 chunks
    assert _score_block._cache_size() == before

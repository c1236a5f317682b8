"""Implicit training: epoch data, variants, learning, early stopping, resuming."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import SyntheticConfig, TrainConfig, init_params, load_synthetic
from hybridrec_jax.model import forward
from hybridrec_jax.train.implicit import (
    VARIANTS,
    ImplicitConfig,
    TrainingState,
    fit_implicit,
    leave_one_out,
    make_epoch_data,
    neumf_from_pretrained,
)
from hybridrec_jax.train.negatives import make_cdf, positive_keys

TRAIN = TrainConfig(
    batch_size=256,
    epochs=4,
    patience=0,
    learning_rate=1e-2,
    l2_embedding=0.0,
    validation_fraction=0.0,
)
SMALL = {
    name: cfg.replace(
        embedding_dim=min(cfg.embedding_dim, 4),
        dot_dim=min(cfg.dot_dim, 8),
        hidden_dims=cfg.hidden_dims[:1] and (8,),
    )
    for name, cfg in VARIANTS.items()
}


@pytest.fixture(scope="module")
def implicit_data():
    data = load_synthetic(SyntheticConfig.tiny())
    return dataclasses.replace(data, rating=np.ones_like(data.rating))


def test_leave_one_out_holds_the_latest_item_per_user():
    users = np.array([0, 0, 0, 1, 2, 2])
    times = np.array([5, 9, 1, 3, 2, 2])
    kept, held = leave_one_out(users, times, seed=0)
    assert held[:1].tolist() == [1]  # user 0's latest
    assert len(held) == 2  # user 1 has a single interaction: kept
    assert sorted(kept.tolist() + held.tolist()) == list(range(6))


def test_epoch_data_has_fixed_shape_and_labels():
    users, items = np.array([0, 0, 1, 2]), np.array([1, 2, 0, 3])
    keys = positive_keys(users, items, 5)
    build = make_epoch_data(n_negatives=3, n_retries=5)
    u, i, y = build(
        jax.random.key(0),
        jnp.asarray(users),
        jnp.asarray(items),
        keys,
        make_cdf(np.ones(5)),
    )
    assert u.shape == i.shape == y.shape == (16,)
    assert np.asarray(y).tolist() == [1.0] * 4 + [0.0] * 12
    assert np.asarray(u[4:]).tolist() == np.repeat(users, 3).tolist()
    pairs = set(zip(users.tolist(), items.tolist(), strict=True))
    negatives = set(
        zip(np.asarray(u[4:]).tolist(), np.asarray(i[4:]).tolist(), strict=True)
    )
    assert not pairs & negatives
    build(
        jax.random.key(1),
        jnp.asarray(users),
        jnp.asarray(items),
        keys,
        make_cdf(np.ones(5)),
    )
    assert build._cache_size() == 1  # resampling does not recompile


def test_variants_are_the_documented_models():
    assert not VARIANTS["mf"].hidden_dims and VARIANTS["mf"].use_biases
    assert VARIANTS["gmf"].dot_dim > 0 and not VARIANTS["gmf"].use_biases
    assert VARIANTS["mlp"].dot_dim == 0 and not VARIANTS["mlp"].use_features
    assert VARIANTS["neumf"].dot_dim > 0 and VARIANTS["neumf"].hidden_dims
    assert VARIANTS["hybrid_mlp"].use_features and VARIANTS["hybrid_mlp"].dot_dim == 0
    assert (
        VARIANTS["hybrid_mlp_dot"].use_features and VARIANTS["hybrid_mlp_dot"].dot_dim
    )
    # MF without biases is the GMF logit <p_u, q_i> + b (h fixed to ones).
    cfg = SMALL["gmf"]
    params = init_params(jax.random.key(0), cfg, 3, 4, 2, 2)
    features = {"user": jnp.zeros((3, 2)), "item": jnp.zeros((4, 2))}
    users, items = jnp.array([0, 2]), jnp.array([1, 3])
    emb = params["embeddings"]
    expected = jnp.sum(emb["user_dot"][users] * emb["item_dot"][items], axis=-1)
    np.testing.assert_allclose(
        forward(params, cfg, users, items, features),
        expected + params["dense"]["head"]["b"],
        rtol=1e-6,
    )


@pytest.mark.parametrize("variant", ["mf", "hybrid_mlp_dot"])
def test_training_learns_to_rank(implicit_data, variant):
    result = fit_implicit(
        implicit_data,
        SMALL[variant],
        TRAIN.replace(validation_fraction=0.1),
        ImplicitConfig(n_negatives=2),
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    # 80 items: a random ranking puts the held-out item in the top 10 w.p. ~1/8.
    assert result.best_metric > 0.3
    assert result.best_epoch == 1 + int(
        np.argmax([h["val_hr@10"] for h in result.history])
    )


def test_early_stopping_keeps_the_best_params(implicit_data):
    result = fit_implicit(
        implicit_data,
        SMALL["mf"],
        TRAIN.replace(
            epochs=30, patience=1, learning_rate=0.05, validation_fraction=0.1
        ),
    )
    assert len(result.history) < 30
    assert result.best_epoch == len(result.history) - 1
    assert result.state.epoch == len(result.history)


def test_resuming_equals_training_straight_through(implicit_data):
    cfg = SMALL["neumf"]
    straight = fit_implicit(implicit_data, cfg, TRAIN)
    first = fit_implicit(implicit_data, cfg, TRAIN.replace(epochs=2))
    assert first.state.epoch == 2
    resumed = fit_implicit(implicit_data, cfg, TRAIN, state=first.state)
    assert [h["epoch"] for h in resumed.history] == [3, 4]
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
        straight.state.params,
        resumed.state.params,
    )
    assert isinstance(resumed.state, TrainingState)


def test_neumf_from_pretrained_mixes_the_two_logits():
    gmf_cfg, mlp_cfg, neumf_cfg = SMALL["gmf"], SMALL["mlp"], SMALL["neumf"]
    assert neumf_cfg == mlp_cfg.replace(dot_dim=gmf_cfg.dot_dim)
    gmf = init_params(jax.random.key(1), gmf_cfg, 4, 6, 2, 2)
    gmf["dense"]["head"]["b"] = jnp.asarray(0.3)
    mlp = init_params(jax.random.key(2), mlp_cfg, 4, 6, 2, 2)
    mlp["embeddings"]["user_bias"] = jnp.arange(4.0) / 10
    neumf = neumf_from_pretrained(gmf, mlp, alpha=0.3)
    features = {"user": jnp.zeros((4, 2)), "item": jnp.zeros((6, 2))}
    users, items = jnp.array([0, 1, 3, 2]), jnp.array([5, 0, 2, 2])
    expected = 0.3 * forward(gmf, gmf_cfg, users, items, features) + 0.7 * forward(
        mlp, mlp_cfg, users, items, features
    )
    np.testing.assert_allclose(
        forward(neumf, neumf_cfg, users, items, features), expected, rtol=1e-5
    )


def test_neumf_from_pretrained_accepts_a_content_mlp():
    gmf_cfg, mlp_cfg = SMALL["gmf"], SMALL["hybrid_mlp"]
    gmf = init_params(jax.random.key(1), gmf_cfg, 4, 6, 2, 3)
    mlp = init_params(jax.random.key(2), mlp_cfg, 4, 6, 2, 3)
    neumf = neumf_from_pretrained(gmf, mlp, alpha=0.5)
    features = {
        "user": jax.random.normal(jax.random.key(3), (4, 2)),
        "item": jax.random.normal(jax.random.key(4), (6, 3)),
    }
    users, items = jnp.array([0, 1, 3]), jnp.array([5, 0, 2])
    expected = 0.5 * forward(gmf, gmf_cfg, users, items, features) + 0.5 * forward(
        mlp, mlp_cfg, users, items, features
    )
    neumf_cfg = mlp_cfg.replace(dot_dim=gmf_cfg.dot_dim)
    np.testing.assert_allclose(
        forward(neumf, neumf_cfg, users, items, features), expected, rtol=1e-5
    )

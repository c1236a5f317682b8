"""Implicit feedback through the one ``fit``: epoch data, variants, learning,
early stopping, resuming."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import (
    VARIANTS,
    SyntheticConfig,
    TrainConfig,
    TrainingState,
    fit,
    init_params,
    load_synthetic,
    neumf_from_pretrained,
)
from hybridrec_jax.model import forward
from hybridrec_jax.train.negatives import make_cdf, make_epoch_data, positive_keys

TRAIN = TrainConfig(
    loss="bce",
    negatives=4,
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
    result = fit(
        implicit_data,
        SMALL[variant],
        TRAIN.replace(validation_fraction=0.1, negatives=2),
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    # 80 items: a random ranking puts the held-out item in the top 10 w.p. ~1/8.
    assert result.best_metric > 0.3
    assert result.best_epoch == 1 + int(
        np.argmax([h["val_hr@10"] for h in result.history])
    )


def test_early_stopping_returns_the_best_not_the_last_params(implicit_data):
    snapshots = {}

    def keep(epoch, params):  # an independent record of every epoch's params
        snapshots[epoch] = jax.tree.map(np.array, params)
        return {}

    result = fit(
        implicit_data,
        SMALL["mf"],
        TRAIN.replace(epochs=30, patience=2, learning_rate=0.05,
                      validation_fraction=0.1),
        on_epoch=keep,
    )  # fmt: skip
    hits = [h["val_hr@10"] for h in result.history]
    assert len(result.history) < 30  # it stopped early on this overfitting setup
    assert result.best_epoch == 1 + int(np.argmax(hits))
    assert result.best_epoch < result.state.epoch == len(result.history)
    assert result.best_metric == max(hits)
    jax.tree.map(np.testing.assert_array_equal, result.params,
                 snapshots[result.best_epoch])  # fmt: skip
    last = jax.tree.leaves(snapshots[result.state.epoch])
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(result.params), last, strict=True)
    )


def test_an_unknown_metric_or_a_wrong_combination_is_refused():
    with pytest.raises(ValueError, match="metric 'ndcg@x'.*'ndcg@K'"):
        TrainConfig(loss="bce", negatives=4, metric="ndcg@x")
    with pytest.raises(ValueError, match="'rmse' or 'mae'"):
        TrainConfig(metric="hr@10")  # a ranking metric for ratings
    with pytest.raises(ValueError, match="loss='bce'"):
        TrainConfig(negatives=4)  # negatives with the squared error
    assert TrainConfig(loss="bce", negatives=1, metric="NDCG@20").metric == "ndcg@20"


def test_early_stopping_reads_the_configured_metric(implicit_data):
    cfg = TRAIN.replace(epochs=2, validation_fraction=0.1, metric="ndcg@20")
    result = fit(implicit_data, SMALL["mf"], cfg)
    assert result.metric == "ndcg@20"
    assert result.best_metric == max(h["val_ndcg@20"] for h in result.history)
    assert 0 < result.best_metric <= 1


def test_bce_on_ratings_is_refused_with_what_to_use(implicit_data):
    ratings = dataclasses.replace(
        implicit_data, rating=np.asarray(implicit_data.rating) * 4 + 1
    )
    with pytest.raises(ValueError, match="0/1 targets.*loss='mse'.*negatives"):
        fit(ratings, SMALL["mf"], TRAIN.replace(negatives=0))


def test_bce_on_given_binary_targets_trains(implicit_data):
    labels = (np.arange(implicit_data.n_interactions) % 2).astype(np.float32)
    binary = dataclasses.replace(implicit_data, rating=labels)
    cfg = TRAIN.replace(negatives=0, epochs=2, validation_fraction=0.1)
    result = fit(binary, SMALL["mf"], cfg)
    assert "val_hr@10" in result.history[-1]
    assert np.isfinite(result.history[-1]["train_loss"])


def test_resuming_equals_training_straight_through(implicit_data):
    cfg = SMALL["neumf"]
    straight = fit(implicit_data, cfg, TRAIN)
    first = fit(implicit_data, cfg, TRAIN.replace(epochs=2))
    assert first.state.epoch == 2
    resumed = fit(implicit_data, cfg, TRAIN, state=first.state)
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


@pytest.mark.parametrize("metric", ["hr@0", "ndcg@0", "hr@", "hr@-1"])
def test_a_cutoff_must_be_a_positive_whole_number(metric):
    with pytest.raises(ValueError, match="not a validation metric"):
        TrainConfig(loss="bce", negatives=1, metric=metric)


def test_negatives_are_drawn_only_from_the_allowed_items(implicit_data):
    """fit(allowed_items=...) keeps the other items (e.g. cold ones) out of the
    sampled negatives: every epoch's 0-labelled rows are allowed items."""
    import sys

    fit_module = sys.modules["hybridrec_jax.train.fit"]

    allowed = np.ones(implicit_data.n_items, bool)
    allowed[::2] = False
    drawn = []
    build = fit_module.make_epoch_data

    def recording(n_negatives, n_retries=3):
        inner = build(n_negatives, n_retries)

        def wrapped(*args):
            users, items, targets = inner(*args)
            drawn.append(np.asarray(items)[np.asarray(targets) == 0])
            return users, items, targets

        return wrapped

    fit_module.make_epoch_data = recording
    try:
        fit(implicit_data, SMALL["mf"], TRAIN.replace(epochs=2),
            allowed_items=allowed)  # fmt: skip
    finally:
        fit_module.make_epoch_data = build
    assert len(drawn) == 2 and all(allowed[items].all() for items in drawn)


def test_no_validation_split_when_the_fraction_is_zero(implicit_data):
    """validation_fraction=0 holds nothing out, for implicit feedback too."""
    result = fit(implicit_data, SMALL["mf"], TRAIN.replace(epochs=1))
    pairs = np.unique(implicit_data.user * implicit_data.n_items + implicit_data.item)
    assert result.n_train == len(pairs) * (1 + TRAIN.negatives)
    assert np.isnan(result.best_metric) and "val_hr@10" not in result.history[0]

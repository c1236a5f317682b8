"""Recommendations from a saved model: known, new and all users, similar items.

Every score is checked against ``tests.reference.plain_forward`` (the network
written the obvious way, a^0 concatenated whole), on a model whose every
parameter is non-zero, with content features of different widths for users and
items (F_u = 18, F_i = 12) and a dot branch, so that a wrong weight block, a
wrong side or a forgotten term changes the numbers.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    init_params,
    load_synthetic,
)
from hybridrec_jax.data import prepare_synthetic
from hybridrec_jax.evaluate import device_features, predict, rating_metrics
from hybridrec_jax.experiment import load_split, prepare_experiment, run_experiment
from hybridrec_jax.model import with_new_entities
from hybridrec_jax.serve import (
    item_representations,
    load_checkpoint,
    load_recommender,
    make_recommender,
    recommend_all,
    recommend_new_user,
    recommend_user,
    save_experiment_model,
    save_model,
    similar_items,
    top_k,
    user_feature_row,
)
from hybridrec_jax.serve.recommend import parse_feature_values
from tests.reference import plain_forward

CFG = ModelConfig(
    embedding_dim=3, hidden_dims=(5, 3), dot_dim=2, interaction_dim=0, dropout=0.0,
    id_dropout_user=0.0, id_dropout_item=0.0,
)  # fmt: skip
NEW_USER = {"age": "0.7", "gender": "F", "occupation": "student"}


def randomised(params, key):
    """Every leaf N(0, 0.5^2): biases and b^0 too, so every term counts."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noise = [
        0.5 * jax.random.normal(k, leaf.shape)
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(tree, noise)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = load_synthetic(SyntheticConfig.tiny())
    f_u, f_i = data.user_features.shape[1], data.item_features.shape[1]
    sizes = data.n_users, data.n_items, f_u, f_i
    params = randomised(init_params(jax.random.key(0), CFG, *sizes), jax.random.key(1))
    path = tmp_path_factory.mktemp("model")
    save_model(path, params, CFG, data)
    # What the tests rely on: F_u != F_i, non-zero content, a dot branch.
    assert (f_u, f_i) == (18, 12) and CFG.dot_dim > 0
    assert (data.user_features != 0).any(axis=1).all()
    assert (data.item_features != 0).any(axis=1).all()
    return path, params, data


def plain_scores(params, features, user, n_items):
    """(I,) y_hat of one user for every item by the plain reference forward."""
    users = jnp.full(n_items, user)
    return np.asarray(plain_forward(params, CFG, users, jnp.arange(n_items), features))


def slow_top_k(params, features, user, seen, k):
    """The K best items not in ``seen``: argsort of plain scores, one user."""
    scores = plain_scores(params, features, user, features["item"].shape[0])
    ranked = [i for i in np.argsort(-scores, kind="stable") if i not in seen][:k]
    return np.array(ranked, int), scores[ranked]


def seen_sets(data, users):
    return [set(data.item[data.user == u].tolist()) for u in users]


def test_known_user_gets_the_best_unseen_items(saved):
    path, params, data = saved
    rec = load_recommender(path)
    user = 3
    table = recommend_user(rec, data.user_ids[user], k=5)
    (seen,) = seen_sets(data, [user])
    expected, scores = slow_top_k(params, device_features(data), user, seen, 5)
    assert table["item_id"].tolist() == data.item_ids[expected].tolist()
    np.testing.assert_allclose(table["score"], scores, rtol=1e-5, atol=1e-5)
    assert table["title"].tolist() == [data.item_titles[i] for i in expected]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_top_k_equals_a_slow_per_user_reference(saved, exclude_seen):
    """Users who saw every item (21), all but 2 (5) or 4 (45), few (41: 5), none
    (7, its pairs dropped) and a new user (index U), in chunks of 3 (padded)."""
    _, params, data = saved
    rows = np.flatnonzero(data.user != 7)
    rec = make_recommender(params, CFG, data.subset(rows))
    x_new = jnp.asarray(data.user_features[:1] + 1.0)  # (1, F_u)
    new_params, features = with_new_entities(params, rec.features, x_new)
    users = np.array([21, 5, 45, 41, 7, data.n_users])
    seen = seen_sets(data.subset(rows), users) if exclude_seen else [set()] * 6
    assert [len(s) for s in seen] == ([80, 78, 76, 5, 0, 0] if exclude_seen else
                                      [0] * 6)  # fmt: skip
    k = 10
    items, scores = top_k(rec, users, k, exclude_seen=exclude_seen, chunk_size=3,
                          params=new_params, features=features)  # fmt: skip
    assert items.shape == scores.shape == (len(users), k)
    for row, (user, user_seen) in enumerate(zip(users, seen, strict=True)):
        expected, expected_scores = slow_top_k(new_params, features, user, user_seen, k)
        finite = np.isfinite(scores[row])
        assert finite.sum() == min(k, data.n_items - len(user_seen))
        assert items[row][finite].tolist() == expected.tolist()
        np.testing.assert_allclose(
            scores[row][finite], expected_scores, rtol=1e-5, atol=1e-5
        )
        assert set(items[row][~finite].tolist()) <= user_seen


@pytest.mark.parametrize("equal_widths", [False, True], ids=["18,12", "18,18"])
def test_new_user_scores_equal_the_plain_forward_for_every_item(saved, equal_widths):
    """The new user is appended by hand: zero id rows and biases, x_u as its
    content row; every item's score equals the plain forward's. With F_u = F_i
    a user block swapped for an item block (W_I for W_U, V_I for V_U) is no
    longer a shape error, so the numbers must catch it."""
    path, params, data = saved
    rec = load_recommender(path)
    if equal_widths:  # 6 more item columns: F_i = F_u = 18
        extra = np.random.default_rng(0).normal(size=(data.n_items, 6))
        data = dataclasses.replace(
            data,
            item_features=np.hstack([data.item_features, extra]).astype(np.float32),
            item_feature_names=(*data.item_feature_names, *"abcdef"),
        )
        sizes = data.n_users, data.n_items, 18, 18
        params = randomised(init_params(jax.random.key(2), CFG, *sizes),
                            jax.random.key(3))  # fmt: skip
        rec = make_recommender(params, CFG, data)
    x_u = user_feature_row(rec, NEW_USER)
    names = list(data.user_feature_names)
    expected_row = np.zeros(len(names), np.float32)
    expected_row[names.index("age")] = 0.7
    expected_row[names.index("gender=F")] = 1.0
    expected_row[names.index("occupation=student")] = 1.0
    np.testing.assert_array_equal(x_u, expected_row)

    table = recommend_new_user(rec, NEW_USER, k=data.n_items)
    emb = dict(params["embeddings"])
    for name in ("user", "user_dot", "user_bias"):
        emb[name] = jnp.concatenate([emb[name], jnp.zeros_like(emb[name][:1])])
    appended = {**params, "embeddings": emb}
    features = device_features(data)
    features["user"] = jnp.concatenate([features["user"], jnp.asarray(x_u)[None, :]])
    scores = plain_scores(appended, features, data.n_users, data.n_items)  # (I,)
    order = np.argsort(-scores, kind="stable")
    assert table["item_id"].tolist() == data.item_ids[order].tolist()
    np.testing.assert_allclose(table["score"], scores[order], rtol=1e-5, atol=1e-5)


def test_new_user_encoder_standardises_numbers(saved, tmp_path):
    _, params, _ = saved
    data, preparation = prepare_synthetic(SyntheticConfig.tiny())
    save_model(tmp_path, params, CFG, data, user_encoder=preparation.user_encoder)
    rec = load_recommender(tmp_path)
    row = user_feature_row(rec, {"age": "25", "gender": "M"})
    (age,) = [f for f in preparation.user_encoder.features if f.kind == "numeric"]
    names = list(data.user_feature_names)
    expected = np.zeros(len(names), np.float32)
    expected[names.index("age")] = (25 - age.mean) / age.std  # standardised
    # age_missing stays 0; 25 lies in [25, 35), the third bucket of
    # edges (18, 25, 35, 45, 56); occupation not given: "unknown".
    expected[names.index("age_bucket2")] = 1.0
    expected[names.index("gender=M")] = 1.0
    expected[names.index("occupation=unknown")] = 1.0
    np.testing.assert_allclose(row, expected, rtol=1e-6)
    assert abs(age.mean - 42.4667) < 1e-3 and abs(age.std - 16.4098) < 1e-3
    with pytest.raises(ValueError, match="unknown user features.*zip"):
        user_feature_row(rec, {"zip": "123"})


def test_item_representations_equal_the_first_layer_written_out(saved):
    """e_i = [q_i ; h_i - b^0], each part normalised, with h_i - b^0 = a^0 W^0
    for a^0 = [0 ; Q_i ; 0 ; x_i] (no block of W^0 sliced by hand)."""
    path, params, data = saved
    emb, dense = params["embeddings"], params["dense"]
    x_i = jnp.asarray(data.item_features)
    q = emb["item_dot"] + x_i @ dense["item_feature_dot"]  # (I, k)
    n, d, f_u = data.n_items, CFG.embedding_dim, data.user_features.shape[1]
    a0 = jnp.concatenate([jnp.zeros((n, d)), emb["item"], jnp.zeros((n, f_u)), x_i],
                         axis=1)  # fmt: skip
    h = a0 @ dense["layers"][0]["W"]  # (I, D_1), without b^0

    def unit(v):
        return v / jnp.linalg.norm(v, axis=1, keepdims=True)

    expected = np.asarray(jnp.concatenate([unit(q), unit(h)], axis=1))
    rec = load_recommender(path)
    np.testing.assert_allclose(item_representations(rec), expected, atol=1e-5)

    item = 2
    table = similar_items(rec, data.item_ids[item], k=6)
    norms = np.linalg.norm(expected, axis=1)  # (I,)
    cosine = (expected @ expected[item]) / (norms * norms[item])
    cosine[item] = -np.inf
    order = np.argsort(-cosine, kind="stable")[:6]
    assert table["item_id"].tolist() == data.item_ids[order].tolist()
    np.testing.assert_allclose(table["similarity"], cosine[order], atol=1e-5)


def test_unknown_ids_are_refused_with_a_hint(saved):
    rec = load_recommender(saved[0])
    with pytest.raises(ValueError, match="unknown user id.*new-user"):
        recommend_user(rec, "no-such-user")
    with pytest.raises(ValueError, match="unknown item id"):
        similar_items(rec, "no-such-item")


def test_all_users_table(saved):
    path, params, data = saved
    table = recommend_all(load_recommender(path), k=3)
    unseen = data.n_items - np.bincount(data.user, minlength=data.n_users)
    assert len(table) == np.minimum(unseen, 3).sum()  # user 5 saw all but 2
    for user in (0, 5):
        (seen,) = seen_sets(data, [user])
        expected, _ = slow_top_k(params, device_features(data), user, seen, 3)
        rows = table[table["user_id"] == data.user_ids[user]]
        assert rows["item_id"].tolist() == data.item_ids[expected].tolist()
    assert data.user_ids[21] not in table["user_id"].tolist()  # saw every item


def test_in_memory_recommender_equals_the_saved_one(saved):
    path, params, data = saved
    loaded, built = load_recommender(path), make_recommender(params, CFG, data)
    for name in ("user_ids", "item_ids", "seen_offsets", "seen_items"):
        np.testing.assert_array_equal(getattr(built, name), getattr(loaded, name))
    jax.tree.map(np.testing.assert_array_equal, built.params, loaded.params)
    jax.tree.map(np.testing.assert_array_equal, built.features, loaded.features)
    assert built.item_titles == loaded.item_titles
    assert built.user_feature_names == loaded.user_feature_names
    small = init_params(jax.random.key(0), CFG, 5, data.n_items, 18, 12)
    with pytest.raises(ValueError, match="has 5 users but the data 60 ids"):
        save_model(path.parent / "mismatch", small, CFG, data)


def test_experiment_model_saves_the_best_parameters(tmp_path):
    """``save_experiment_model`` keeps ``FitResult.params`` (the best) and its
    epoch; the saved model reproduces the reported test RMSE."""
    tiny = SyntheticConfig.tiny()
    # A large step overfits after a few epochs: the best epoch is not the last.
    train_cfg = TrainConfig.tiny().replace(epochs=6, patience=0, learning_rate=0.03)
    report, result = run_experiment(model_cfg=CFG, train_cfg=train_cfg,
                                    synthetic=tiny)  # fmt: skip
    data = prepare_experiment(model_cfg=CFG, seed=train_cfg.seed, synthetic=tiny)
    save_experiment_model(tmp_path, result, CFG, train_cfg, data)
    # The best epoch is not the last, so saving the last parameters would fail.
    assert result.best_epoch < result.state.epoch
    ckpt = load_checkpoint(tmp_path)
    jax.tree.map(np.testing.assert_array_equal, ckpt.params,
                 jax.device_get(result.params))  # fmt: skip
    assert ckpt.epoch == result.best_epoch and ckpt.opt_state is None
    rec = load_recommender(tmp_path)
    _, test = load_split(synthetic=tiny, seed=train_cfg.seed)
    prediction = predict(rec.params, CFG, rec.features, test.user, test.item,
                         clip=test.rating_range)  # fmt: skip
    rmse = rating_metrics(prediction, test.rating)["rmse"]
    assert rmse == pytest.approx(report["test_rmse"], rel=1e-6)


def test_parse_feature_values_refuses_garbage():
    assert parse_feature_values("a=1,b=x") == {"a": "1", "b": "x"}
    with pytest.raises(ValueError, match="age=25"):
        parse_feature_values("age")

"""Recommendations from a saved model: known, new and all users, similar items, CLI."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from hybridrec_jax import ModelConfig, SyntheticConfig, init_params, load_synthetic
from hybridrec_jax.cli import main
from hybridrec_jax.evaluate import device_features
from hybridrec_jax.model import forward, with_new_entities, zero_entity_rows
from hybridrec_jax.serve.recommend import (
    parse_feature_values,
    recommend_all,
    recommend_new_user,
    recommend_user,
    similar_items,
    user_feature_row,
)
from hybridrec_jax.serve.saved_model import load_recommender, save_model

CFG = ModelConfig(
    embedding_dim=3, hidden_dims=(4,), dot_dim=2, interaction_dim=0, dropout=0.0
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = load_synthetic(SyntheticConfig.tiny())
    params = init_params(
        jax.random.key(0),
        CFG,
        data.n_users,
        data.n_items,
        data.user_features.shape[1],
        data.item_features.shape[1],
    )
    path = tmp_path_factory.mktemp("model")
    save_model(path, params, CFG, data)
    return path, params, data


def all_scores(params, data, user):
    return np.asarray(
        forward(
            params,
            CFG,
            jnp.full(data.n_items, user),
            jnp.arange(data.n_items),
            device_features(data),
        )
    )


def test_known_user_gets_the_best_unseen_items(saved):
    path, params, data = saved
    rec = load_recommender(path)
    user = 3
    table = recommend_user(rec, data.user_ids[user], k=5)
    seen = set(data.item[data.user == user].tolist())
    scores = all_scores(params, data, user)
    expected = [i for i in np.argsort(-scores, kind="stable") if i not in seen][:5]
    assert table["item_id"].tolist() == data.item_ids[expected].tolist()
    np.testing.assert_allclose(table["score"], scores[expected], rtol=1e-5)
    assert table["title"].tolist() == [data.item_titles[i] for i in expected]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]


def test_unknown_user_is_refused_with_a_hint(saved):
    rec = load_recommender(saved[0])
    with pytest.raises(ValueError, match="unknown user id.*new-user"):
        recommend_user(rec, "no-such-user")


def test_new_user_is_scored_through_the_content_path(saved):
    path, params, data = saved
    rec = load_recommender(path)
    values = {"gender": "F", "occupation": "student"}
    x_u = user_feature_row(rec, values)
    names = np.array(data.user_feature_names)
    assert set(names[x_u == 1]) >= {"gender=F", "occupation=student"}
    table = recommend_new_user(rec, values, k=4)
    # Oracle: user 0 with its id rows zeroed and its features replaced by x_u.
    features = device_features(data)
    features["user"] = features["user"].at[0].set(x_u)
    blank = zero_entity_rows(params, users=np.array([0]))
    scores = np.asarray(
        forward(
            blank, CFG, jnp.zeros(data.n_items, int), jnp.arange(data.n_items), features
        )
    )
    expected = np.argsort(-scores, kind="stable")[:4]
    assert table["item_id"].tolist() == data.item_ids[expected].tolist()
    np.testing.assert_allclose(table["score"], scores[expected], rtol=1e-5)


def test_with_new_entities_leaves_known_scores_unchanged(saved):
    _, params, data = saved
    features = device_features(data)
    new_params, new_features = with_new_entities(
        params, features, new_user_features=np.ones((2, features["user"].shape[1]))
    )
    users, items = jnp.array([0, 5]), jnp.array([1, 2])
    np.testing.assert_allclose(
        forward(new_params, CFG, users, items, new_features),
        forward(params, CFG, users, items, features),
    )


def test_similar_items_exclude_the_item_itself(saved):
    path, _, data = saved
    table = similar_items(load_recommender(path), data.item_ids[2], k=6)
    assert len(table) == 6 and data.item_ids[2] not in table["item_id"].tolist()
    assert table["similarity"].is_monotonic_decreasing
    assert (table["similarity"] <= 1 + 1e-6).all()


def test_all_users_table(saved):
    path, _, data = saved
    table = recommend_all(load_recommender(path), k=3)
    unseen = data.n_items - np.bincount(data.user, minlength=data.n_users)
    assert len(table) == np.minimum(unseen, 3).sum()  # some users saw all but 2
    assert (
        table.groupby("user_id")["score"]
        .apply(lambda s: s.is_monotonic_decreasing)
        .all()
    )
    pairs = set(zip(data.user_ids[data.user], data.item_ids[data.item], strict=True))
    assert not pairs & set(zip(table["user_id"], table["item_id"], strict=True))


def test_parse_feature_values_refuses_garbage():
    assert parse_feature_values("a=1,b=x") == {"a": "1", "b": "x"}
    with pytest.raises(ValueError, match="age=25"):
        parse_feature_values("age")


def test_cli_train_save_and_recommend(tmp_path, capsys):
    model = tmp_path / "model"
    code = main(
        [
            "train",
            "--no-progress",
            "--epochs",
            "1",
            "--embedding-dim",
            "2",
            "--hidden-dims",
            "4",
            "--dot-dim",
            "2",
            "--interaction-dim",
            "2",
            "--save-model",
            str(model),
        ]
    )
    assert code == 0 and (model / "checkpoint.json").is_file()
    capsys.readouterr()
    assert main(["recommend", "--model", str(model), "--user", "1", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "title" in out and out.count("Synthetic item") == 3
    new_user = ["--new-user", "age=25,gender=F,occupation=student"]
    assert main(["recommend", "--model", str(model), *new_user, "-k", "2"]) == 0
    assert capsys.readouterr().out.count("Synthetic item") == 2
    assert main(["recommend", "--model", str(model), "--similar-items", "1"]) == 0
    assert capsys.readouterr().out.count("Synthetic item") == 10
    csv = tmp_path / "top.csv"
    assert (
        main(
            [
                "recommend",
                "--model",
                str(model),
                "--all-users",
                "--output",
                str(csv),
                "-k",
                "2",
            ]
        )
        == 0
    )
    table = pd.read_csv(csv)
    assert list(table.columns) == ["user_id", "rank", "item_id", "title", "score"]
    assert len(table) == 2 * table["user_id"].nunique()
    assert main(["recommend", "--model", str(model), "--user", "nobody"]) == 2
    assert main(["recommend", "--model", str(tmp_path), "--user", "1"]) == 2
    assert "not a checkpoint" in capsys.readouterr().err


def test_new_user_encoder_standardises_numbers(saved, tmp_path):
    from hybridrec_jax.data import prepare_synthetic

    _, params, _ = saved
    data, preparation = prepare_synthetic(SyntheticConfig.tiny())
    save_model(tmp_path, params, CFG, data, user_encoder=preparation.user_encoder)
    rec = load_recommender(tmp_path)
    row = user_feature_row(rec, {"age": "25", "gender": "M"})
    names = list(data.user_feature_names)
    assert row[names.index("gender=M")] == 1.0
    ages = row[names.index("age")]
    assert abs(ages) < 5  # standardised, not the raw 25
    assert dataclasses.is_dataclass(rec)

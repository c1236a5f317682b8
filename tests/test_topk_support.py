"""Top-K lists with a minimum support and shrinkage (``evaluate.support``).

The oracle is a brute-force ranking written here in float64 numpy: every score
by ``tests.reference.plain_forward`` (the network written the obvious way),
n_i counted with a Counter over the training pairs, s~_ui = m_u + n_i / (n_i +
beta) (s_ui - m_u) with m_u the mean over the catalogue, then a stable argsort
of the unseen items with n_i >= m. The training pairs are thinned so that item
supports run from 0 up (items 0..11 keep 0, 1, 2 or 3 ratings).
"""

from __future__ import annotations

import math
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import ModelConfig, SyntheticConfig, init_params, load_synthetic
from hybridrec_jax.cli import main
from hybridrec_jax.evaluate import (
    batch_metrics,
    check_support_options,
    device_features,
    evaluate_full_ranking,
    group_by_user,
    item_mask,
    mean_over_users,
    padded_lists,
    score_all,
    shrink_scores,
    user_metrics,
)
from hybridrec_jax.serve import (
    make_recommender,
    recommend_all,
    recommend_new_user,
    recommend_user,
    save_model,
    similar_items,
    top_k,
)
from tests.reference import plain_forward

CFG = ModelConfig(
    embedding_dim=3, hidden_dims=(5, 3), dot_dim=2, interaction_dim=0, dropout=0.0,
    id_dropout_user=0.0, id_dropout_item=0.0,
)  # fmt: skip
RARE = 12  # items 0..RARE-1 keep (item % 4) training ratings


def randomised(params, key):
    """Every leaf N(0, 0.5^2), so that every term of the score counts."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    pairs = zip(keys, leaves, strict=True)
    noise = [0.5 * jax.random.normal(k, x.shape) for k, x in pairs]
    return jax.tree.unflatten(tree, noise)


@pytest.fixture(scope="module")
def setting():
    return build_setting()


def build_setting():
    """(recommender, params, full data, training subset, test subset)."""
    data = load_synthetic(SyntheticConfig.tiny())
    sizes = (data.n_users, data.n_items, data.user_features.shape[1],
             data.item_features.shape[1])  # fmt: skip
    params = randomised(init_params(jax.random.key(0), CFG, *sizes), jax.random.key(1))
    rows = np.arange(data.n_interactions)
    rng = np.random.default_rng(0)
    test = rng.random(len(rows)) < 0.2
    keep = ~test
    for item in range(RARE):  # thin the training pairs of the rare items
        mine = np.flatnonzero(keep & (data.item == item))
        keep[mine[item % 4 :]] = False
    train = data.subset(rows[keep])
    counts = Counter(train.item.tolist())
    assert [counts[i] for i in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    rec = make_recommender(params, CFG, train)
    return rec, params, data, train, data.subset(rows[test])


def oracle_scores(params, train, users, min_support, shrinkage):
    """(n, I) float64 ranking scores of the brute force, -inf where not listed."""
    n_items = train.n_items
    features = device_features(train)
    counts = Counter(train.item.tolist())
    n = np.array([counts[i] for i in range(n_items)], np.float64)
    out = []
    for user in users:
        users_, items = jnp.full(n_items, user), jnp.arange(n_items)
        s = np.asarray(plain_forward(params, CFG, users_, items, features), np.float64)
        if shrinkage > 0:
            centre = s.mean()
            s = centre + n / (n + shrinkage) * (s - centre)
        seen = set(train.item[train.user == user].tolist())
        listed = np.array([n[i] >= min_support and i not in seen
                           for i in range(n_items)])  # fmt: skip
        out.append(np.where(listed, s, -np.inf))
    return np.array(out)


@pytest.mark.parametrize(
    "min_support, shrinkage", [(0, 0.0), (2, 0.0), (0, 5.0), (3, 2.5), (60, 10.0)]
)
def test_top_k_equals_the_brute_force(setting, min_support, shrinkage):
    """The same items in the same order, the same scores; -inf exactly where
    fewer than K items are listed (min_support 60 leaves a handful)."""
    rec, params, _, train, _ = setting
    users = np.array([0, 3, 17, 42])
    k = 10
    items, scores = top_k(rec, users, k, min_support=min_support,
                          shrinkage=shrinkage, chunk_size=3)  # fmt: skip
    expected = oracle_scores(params, train, users, min_support, shrinkage)
    for row in range(len(users)):
        order = np.argsort(-expected[row], kind="stable")[:k]
        finite = np.isfinite(expected[row][order])
        gaps = -np.diff(expected[row][order][finite])
        assert (gaps > 1e-4).all(), "near-tie: pick other users"
        assert np.isfinite(scores[row]).tolist() == finite.tolist()
        assert items[row][finite].tolist() == order[finite].tolist()
        np.testing.assert_allclose(scores[row][finite], expected[row][order][finite],
                                   rtol=1e-5, atol=1e-5)  # fmt: skip
    assert (~np.isfinite(scores)).any() == (min_support == 60)


@pytest.mark.parametrize("min_support", [1, 2, 3, 4])
def test_min_support_excludes_exactly_the_items_below_m(setting, min_support):
    """K = I, seen items kept: the finite entries are exactly {i : n_i >= m}."""
    rec, _, _, train, _ = setting
    counts = Counter(train.item.tolist())
    items, scores = top_k(rec, np.array([5]), train.n_items, exclude_seen=False,
                          min_support=min_support)  # fmt: skip
    listed = set(items[0][np.isfinite(scores[0])].tolist())
    assert listed == {i for i in range(train.n_items) if counts[i] >= min_support}


def test_zero_options_are_todays_lists_bit_for_bit(setting):
    """min_support 0 and shrinkage 0 rank by s_ui itself, bit for bit: the
    scores of ``score_all`` with the seen items at -inf, ranked by a stable
    argsort (serving), and ``batch_metrics`` of those scores (evaluation)."""
    rec, params, _, train, test = setting
    users = np.arange(train.n_users)
    features = device_features(train)
    seen = item_mask(rec.seen_offsets, rec.seen_items, users, train.n_items)
    today = np.where(seen, -np.inf, np.asarray(score_all(params, CFG, features,
                                                         users)))  # fmt: skip
    items, scores = top_k(rec, users, 10, min_support=0, shrinkage=0.0)
    expected = np.argsort(-today, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(items, expected)
    np.testing.assert_array_equal(scores, np.take_along_axis(today, expected, 1))
    test_users = np.unique(test.user)
    offsets, lists = group_by_user(test.user, test.item, train.n_users)
    relevant, valid = padded_lists(offsets, lists, test_users)
    candidates = jnp.asarray(~seen[test_users])  # users = 0..U-1, so row = user
    by_hand = batch_metrics(score_all(params, CFG, features, test_users),
                            candidates, relevant, valid)  # fmt: skip
    expected = mean_over_users({k: np.asarray(v) for k, v in by_hand.items()})
    pairs = (train.user, train.item), (test.user, test.item)
    got = evaluate_full_ranking(params, CFG, features, *pairs, min_support=0,
                                shrinkage=0.0)  # fmt: skip
    assert got == expected


def test_shrunk_order_ignores_each_users_scale_and_offset():
    """s -> a_u s + c_u (a_u > 0) leaves every user's shrunk order unchanged: the
    centre m_u moves with the scores (a fixed mu would not)."""
    rng = np.random.default_rng(0)
    scores = rng.normal(3.5, 1.0, (6, 40)).astype(np.float32)
    weights = jnp.asarray(rng.random(40), jnp.float32)
    a = rng.uniform(0.5, 3.0, (6, 1)).astype(np.float32)
    c = rng.normal(0, 5.0, (6, 1)).astype(np.float32)
    order = np.argsort(-np.asarray(shrink_scores(jnp.asarray(scores), weights)), 1)
    moved = shrink_scores(jnp.asarray(a * scores + c), weights)
    np.testing.assert_array_equal(np.argsort(-np.asarray(moved), 1), order)


def test_shrinkage_arithmetic_and_monotone_in_beta():
    """s = (4, 2, 3), m_u = 3: n = (1, 3, 0), beta = 1 gives 3 + (1/2)(1),
    3 + (3/4)(-1), 3; a larger beta pulls every score closer to m_u."""
    from hybridrec_jax.evaluate import support_weights

    s = jnp.array([4.0, 2.0, 3.0])
    n = np.array([1, 3, 0])
    out = shrink_scores(s, jnp.asarray(support_weights(n, 1.0)))
    np.testing.assert_allclose(out, [3 + 1 / 2, 3 - 3 / 4, 3.0], rtol=1e-6)
    distance = [np.abs(np.asarray(shrink_scores(s, support_weights(n, b))) - 3.0)
                for b in (0.5, 1.0, 4.0, 100.0)]  # fmt: skip
    for near, far in zip(distance[1:], distance[:-1], strict=True):
        assert (near <= far).all() and (near[:2] < far[:2]).all()


def test_unlistable_relevant_item_is_a_miss_by_arithmetic():
    """Item 0 scores 0.9, item 1 (relevant, unlistable) -inf, item 2 (relevant)
    0.5: item 2 ranks 2nd, item 1 is never a hit. HR@1 = 0, HR@2 = 1,
    Recall@2 = 1/2, NDCG@2 = (1/log2(3)) / (1 + 1/log2(3)), MRR = 1/2,
    AUC = (0 + 0) / (2 * 1)."""
    scores = jnp.array([0.9, -jnp.inf, 0.5])
    candidates = jnp.array([True, False, True])
    relevant, valid = jnp.array([1, 2]), jnp.array([True, True])
    listable = jnp.array([True, False, True])
    m = user_metrics(scores, candidates, relevant, valid, (1, 2), listable)
    assert float(m["hr@1"]) == 0.0 and float(m["hr@2"]) == 1.0
    assert float(m["recall@2"]) == pytest.approx(1 / 2)
    d = 1 / math.log2(3)
    assert float(m["ndcg@2"]) == pytest.approx(d / (1 + d), rel=1e-6)
    assert float(m["mrr"]) == pytest.approx(1 / 2)
    assert float(m["auc"]) == pytest.approx(0.0)  # 0.5 < 0.9, and item 1 never
    # A list shorter than K: only item 2 is a candidate besides the unlistable 1;
    # without ``listable`` item 1 (rank 2 of 2) would count as a hit at K = 10.
    short = user_metrics(scores, jnp.array([False, False, True]), relevant, valid,
                         (10,), listable)  # fmt: skip
    assert float(short["recall@10"]) == pytest.approx(1 / 2)
    # Given a high score anyway (1.0), item 1 still earns nothing: item 2 ranks
    # 3rd, so MRR = 1/3, AP@3 = (1/2)(1/3) (item 1 not among the hits above
    # it), AUC = (0 + 0) / (2 * 1).
    high = user_metrics(jnp.array([0.9, 1.0, 0.5]), candidates, relevant, valid,
                        (3,), listable)  # fmt: skip
    assert float(high["mrr"]) == pytest.approx(1 / 3)
    assert float(high["map@3"]) == pytest.approx(1 / 6)
    assert float(high["auc"]) == 0.0 and float(high["hr@3"]) == 1.0


def slow_ranking_metrics(params, train, test, min_support, shrinkage, k=10):
    """Mean HR@K, Recall@K, NDCG@K and AUC by brute force: each user's list is
    the oracle's top K; a relevant item is a hit where it is in that list; AUC
    pairs every relevant item with every listed non-relevant one, and a
    relevant item that cannot be listed wins none of its pairs."""
    users = np.unique(test.user)
    scores = oracle_scores(params, train, users, min_support, shrinkage)
    hr, recall, ndcg, auc = [], [], [], []
    for row, user in enumerate(users):
        relevant = set(test.item[test.user == user].tolist())
        order = np.argsort(-scores[row], kind="stable")[:k]
        listed = [i for i in order if np.isfinite(scores[row][i])]
        hits = [pos for pos, i in enumerate(listed, 1) if i in relevant]
        idcg = sum(1 / math.log2(p + 1) for p in range(1, min(k, len(relevant)) + 1))
        hr.append(float(bool(hits)))
        recall.append(len(hits) / len(relevant))
        ndcg.append(sum(1 / math.log2(p + 1) for p in hits) / idcg)
        s = scores[row]
        negatives = [j for j in range(len(s)) if np.isfinite(s[j]) and j not in
                     relevant]  # fmt: skip
        shown = [i for i in relevant if np.isfinite(s[i])]
        won = sum(float(s[i] > s[j]) + 0.5 * float(s[i] == s[j])
                  for i in shown for j in negatives)  # fmt: skip
        if negatives:
            auc.append(won / (len(relevant) * len(negatives)))
    return {"hr@10": np.mean(hr), "recall@10": np.mean(recall),
            "ndcg@10": np.mean(ndcg),
            "auc": np.mean(auc) if auc else float("nan")}  # fmt: skip


@pytest.mark.parametrize("min_support, shrinkage", [(0, 5.0), (3, 0.0), (60, 2.5)])
def test_full_ranking_with_support_equals_the_brute_force(
    setting, min_support, shrinkage
):
    """evaluate_full_ranking's figures are those of the lists top_k shows; with
    m = 60 most lists are shorter than 10, and no relevant item below m counts."""
    rec, params, _, train, test = setting
    pairs = (train.user, train.item), (test.user, test.item)
    options = {"min_support": min_support, "shrinkage": shrinkage}
    got = evaluate_full_ranking(params, CFG, device_features(train), *pairs, **options)
    expected = slow_ranking_metrics(params, train, test, min_support, shrinkage)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-6, nan_ok=True), name


def test_recommend_tables_carry_support_and_say_when_short(setting):
    rec, _, data, train, _ = setting
    counts = Counter(train.item.tolist())
    table = recommend_user(rec, data.user_ids[3], k=5, min_support=2, shrinkage=4.0)
    assert list(table.columns) == ["rank", "item_id", "title", "score", "shrunk",
                                   "support"]  # fmt: skip
    index = {str(v): i for i, v in enumerate(data.item_ids)}
    n = [counts[index[str(i)]] for i in table["item_id"]]
    assert table["support"].tolist() == n and min(n) >= 2
    assert np.all(np.diff(table["shrunk"]) <= 0) and table.attrs["notes"] == []
    scores = oracle_scores(rec.params, train, [3], 0, 0.0)[0]  # s_ui
    shrunk = oracle_scores(rec.params, train, [3], 0, 4.0)[0]
    chosen = [index[str(i)] for i in table["item_id"]]
    np.testing.assert_allclose(table["score"], scores[chosen], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(table["shrunk"], shrunk[chosen], rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    plain = recommend_user(rec, data.user_ids[3], k=5)
    assert list(plain.columns) == ["rank", "item_id", "title", "score"]
    m = sorted(counts.values())[-3]  # a few items have at least m
    eligible = {i for i in range(train.n_items) if counts[i] >= m}
    seen = set(train.item[train.user == 3].tolist())
    assert len(eligible) < 5 and eligible & seen
    short = recommend_user(rec, data.user_ids[3], k=5, min_support=m)
    (note,) = short.attrs["notes"]
    assert len(short) == len(eligible - seen)
    assert note == (
        f"{len(short)} of the 5 items asked for: {len(eligible)} of the "
        f"{train.n_items} items have at least {m} training interactions "
        f"(min_support; the most any item has is {max(counts.values())}), "
        f"and the user has seen {len(eligible & seen)} of them"
    )
    new = recommend_new_user(rec, {}, k=5, min_support=m)
    assert len(new) == len(eligible) and np.isfinite(new["score"]).all()
    assert "5 items asked for" in new.attrs["notes"][-1]
    everyone = recommend_all(rec, k=3, min_support=m)
    assert (everyone["support"] >= m).all()
    short_users = sum(len(eligible - set(train.item[train.user == u].tolist())) < 3
                      for u in range(train.n_users))  # fmt: skip
    assert everyone.attrs["notes"][0].startswith(
        f"{short_users} of {train.n_users} users get fewer than 3 items"
    )
    similar = similar_items(rec, data.item_ids[20], k=80, min_support=3)
    assert {counts[index[str(i)]] >= 3 for i in similar["item_id"]} == {True}
    assert len(similar) == sum(counts[i] >= 3 for i in range(train.n_items) if i != 20)


@pytest.mark.parametrize(
    "min_support, shrinkage, word",
    [(-1, 0.0, "min_support"), (2.5, 0.0, "min_support"), (True, 0.0, "min_support"),
     (0, -1.0, "shrinkage"), (0, float("nan"), "shrinkage"),
     (0, float("inf"), "shrinkage")],
)  # fmt: skip
def test_bad_options_are_refused_naming_them(setting, min_support, shrinkage, word):
    rec = setting[0]
    with pytest.raises(ValueError, match=f"^{word} must be"):
        check_support_options(min_support, shrinkage)
    with pytest.raises(ValueError, match=f"^{word} must be"):
        top_k(rec, np.array([0]), 3, min_support=min_support, shrinkage=shrinkage)


def test_cli_flags(setting, tmp_path, capsys):
    rec, params, data, train, _ = setting
    model = tmp_path / "model"
    save_model(model, params, CFG, train)
    base = ["recommend", "--model", str(model)]
    user = ["--user", str(data.user_ids[3])]
    assert main([*base, *user, "-k", "4", "--min-support", "2",
                 "--shrinkage", "4"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "shrunk" in out and "support" in out
    expected = recommend_user(rec, data.user_ids[3], 4, min_support=2, shrinkage=4.0)
    assert [str(i) in out for i in expected["item_id"]] == [True] * 4
    most = str(max(Counter(train.item.tolist()).values()))
    assert main([*base, *user, "--min-support", most]) == 0
    out = capsys.readouterr().out  # user 3 has seen both items with the most
    assert out.startswith("note: 0 of the 10 items asked for: 2 of the 80 items")
    assert out.endswith(f"no recommendations: no item left with at least {most} "
                        "training interactions (--min-support)\n")  # fmt: skip
    for flag, value in (("--min-support", "-1"), ("--min-support", "2.5"),
                        ("--min-support", "x"), ("--shrinkage", "-1"),
                        ("--shrinkage", "nan"), ("--shrinkage", "inf")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main([*base, *user, flag, value])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {flag}: expected a" in err and repr(value) in err
    assert main([*base, "--similar-items", str(data.item_ids[0]),
                 "--shrinkage", "5"]) == 2  # fmt: skip
    assert "--similar-items" in capsys.readouterr().err

"""Ranking metrics against a slow numpy reference and arithmetic expected values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import ModelConfig, init_params
from hybridrec_jax.evaluate import (
    batch_metrics,
    evaluate_full_ranking,
    evaluate_sampled,
    mean_over_users,
    sample_eval_negatives,
    user_metrics,
)
from hybridrec_jax.evaluate.scoring import score_all, score_all_plain
from hybridrec_jax.model import forward

KS = (1, 3, 5)


def reference_metrics(scores, candidates, relevant, k):
    """Slow and obviously correct: loops over the definitions of evaluate.metrics."""
    cands = [j for j in range(len(scores)) if candidates[j] or j in relevant]

    def rank(i):
        greater = sum(1 for j in cands if scores[j] > scores[i])
        tied = sum(1 for j in cands if j != i and scores[j] == scores[i])
        return 1 + greater + tied

    ranked = sorted(cands, key=lambda j: rank(j))  # distinct scores: a strict order
    top = ranked[:k]
    rel = [1 if j in relevant else 0 for j in top]
    hits = sum(rel)
    dcg = sum(r / np.log2(pos + 2) for pos, r in enumerate(rel))
    idcg = sum(1 / np.log2(pos + 2) for pos in range(min(k, len(relevant))))
    ap = 0.0
    for pos in range(len(top)):
        if rel[pos]:
            ap += sum(rel[: pos + 1]) / (pos + 1)
    ap /= min(k, len(relevant))
    negatives = [j for j in cands if j not in relevant]
    pairs = 0.0
    for i in relevant:
        for j in negatives:
            pairs += (
                1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0
            )
    return {
        f"hr@{k}": float(hits > 0),
        f"precision@{k}": hits / k,
        f"recall@{k}": hits / len(relevant),
        f"ndcg@{k}": dcg / idcg,
        f"map@{k}": ap,
        "mrr": 1 / min(rank(i) for i in relevant),
        "auc": pairs / (len(relevant) * len(negatives)),
    }


def random_users(seed, n_users=6, n_items=15, r_max=4):
    rng = np.random.default_rng(seed)
    scores = rng.permutation(n_users * n_items).reshape(n_users, n_items) / 7.0
    candidates = rng.random((n_users, n_items)) < 0.7
    relevant = np.zeros((n_users, r_max), np.int32)
    valid = np.zeros((n_users, r_max), bool)
    for u in range(n_users):
        n_rel = rng.integers(1, r_max + 1)
        relevant[u, :n_rel] = rng.choice(n_items, n_rel, replace=False)
        valid[u, :n_rel] = True
    return scores.astype(np.float32), candidates, relevant, valid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_metric_matches_the_slow_reference(seed):
    scores, candidates, relevant, valid = random_users(seed)
    got = batch_metrics(
        jnp.asarray(scores),
        jnp.asarray(candidates),
        jnp.asarray(relevant),
        jnp.asarray(valid),
        KS,
    )
    for u in range(scores.shape[0]):
        rel = set(relevant[u][valid[u]].tolist())
        for k in KS:
            expected = reference_metrics(scores[u], candidates[u], rel, k)
            for name, value in expected.items():
                np.testing.assert_allclose(got[name][u], value, rtol=1e-5, err_msg=name)


def test_arithmetic_expected_values():
    # Scores 0.9, 0.1, 0.5, 0.7; relevant items 2 and 3 rank 3rd and 2nd.
    m = user_metrics(
        jnp.array([0.9, 0.1, 0.5, 0.7]),
        jnp.ones(4, bool),
        jnp.array([2, 3]),
        jnp.array([True, True]),
        ks=(2,),
    )
    idcg = 1 + 1 / np.log2(3)
    assert float(m["hr@2"]) == 1.0
    assert float(m["precision@2"]) == pytest.approx(1 / 2)
    assert float(m["recall@2"]) == pytest.approx(1 / 2)
    assert float(m["ndcg@2"]) == pytest.approx((1 / np.log2(3)) / idcg)
    assert float(m["map@2"]) == pytest.approx((1 / 2) / 2)
    assert float(m["mrr"]) == pytest.approx(1 / 2)
    assert float(m["auc"]) == pytest.approx(2 / 4)  # beats item 1, loses to item 0


def test_ties_count_against_the_model():
    # Relevant item 0 ties with item 1: rank 2, not 1.
    m = user_metrics(
        jnp.array([1.0, 1.0, 0.0]),
        jnp.ones(3, bool),
        jnp.array([0]),
        jnp.array([True]),
        ks=(1, 2),
    )
    assert float(m["hr@1"]) == 0.0
    assert float(m["ndcg@2"]) == pytest.approx(1 / np.log2(3))
    assert float(m["mrr"]) == pytest.approx(1 / 2)
    assert float(m["auc"]) == pytest.approx((1 + 0.5) / 2)


def test_a_constant_scorer_earns_nothing():
    n_items = 50
    m = user_metrics(
        jnp.zeros(n_items),
        jnp.ones(n_items, bool),
        jnp.array([3, 7]),
        jnp.array([True, True]),
        ks=(10,),
    )
    for name in ("hr@10", "ndcg@10", "precision@10", "recall@10", "map@10"):
        assert float(m[name]) == 0.0
    assert float(m["mrr"]) == pytest.approx(1 / n_items)
    assert float(m["auc"]) == pytest.approx(0.5)


def test_non_candidates_do_not_count():
    # Item 0 scores highest but is a training item (not a candidate).
    scores = jnp.array([5.0, 1.0, 0.0])
    candidates = jnp.array([False, True, True])
    m = user_metrics(scores, candidates, jnp.array([1]), jnp.array([True]), ks=(1,))
    assert float(m["hr@1"]) == 1.0
    assert float(m["auc"]) == 1.0


def test_vmapped_equals_per_user_loop():
    scores, candidates, relevant, valid = random_users(5)
    batched = batch_metrics(scores, candidates, relevant, valid, KS)
    for u in range(scores.shape[0]):
        single = user_metrics(scores[u], candidates[u], relevant[u], valid[u], KS)
        for name in single:
            np.testing.assert_allclose(batched[name][u], single[name], rtol=1e-6)


def test_means_skip_users_without_relevant_items():
    per_user = {
        "hr@10": np.array([1.0, 0.0, 0.5]),
        "auc": np.array([1.0, 0.0, 0.5]),
        "n_relevant": np.array([1, 0, 2]),
        "n_negatives": np.array([5, 5, 0]),
    }
    means = mean_over_users(per_user)
    assert means["hr@10"] == pytest.approx(0.75)
    assert means["auc"] == 1.0  # the third user has no negative
    assert means["n_users"] == 2


@pytest.fixture(scope="module")
def tiny_model():
    cfg = ModelConfig(
        embedding_dim=3, hidden_dims=(5,), dot_dim=2, interaction_dim=0, dropout=0.0
    )
    n_users, n_items = 9, 13
    params = init_params(jax.random.key(1), cfg, n_users, n_items, 2, 3)
    rng = np.random.default_rng(0)
    features = {
        "user": jnp.asarray(rng.normal(size=(n_users, 2)), jnp.float32),
        "item": jnp.asarray(rng.normal(size=(n_items, 3)), jnp.float32),
    }
    return params, cfg, features, rng


def test_full_ranking_pipeline_matches_reference(tiny_model):
    params, cfg, features, rng = tiny_model
    n_users, n_items = 9, 13
    train_u, train_i = np.repeat(np.arange(n_users), 3), rng.integers(0, n_items, 27)
    test_u = np.array([0, 0, 2, 5, 5, 5, 8])
    test_i = np.array([1, 4, 7, 0, 2, 9, 12])
    got = evaluate_full_ranking(
        params,
        cfg,
        features,
        (train_u, train_i),
        (test_u, test_i),
        ks=(3,),
        chunk_size=2,  # several chunks and a padded last one
    )
    plain = evaluate_full_ranking(
        params,
        cfg,
        features,
        (train_u, train_i),
        (test_u, test_i),
        ks=(3,),
        scorer=score_all_plain,
    )
    for name in got:
        assert got[name] == pytest.approx(plain[name], rel=1e-5)
    expected = []
    for u in np.unique(test_u):
        scores = np.asarray(
            forward(params, cfg, jnp.full(n_items, u), jnp.arange(n_items), features)
        )
        candidates = np.ones(n_items, bool)
        candidates[train_i[train_u == u]] = False
        expected.append(
            reference_metrics(scores, candidates, set(test_i[test_u == u].tolist()), 3)
        )
    assert got["n_users"] == 4
    for name in expected[0]:
        assert got[name] == pytest.approx(np.mean([e[name] for e in expected]), 1e-5)


def test_factorised_and_plain_scorers_agree(tiny_model):
    params, cfg, features, _ = tiny_model
    users = jnp.arange(9)
    np.testing.assert_allclose(
        score_all(params, cfg, features, users),
        score_all_plain(params, cfg, features, users),
        rtol=1e-5,
        atol=1e-5,
    )


def test_allowed_items_restrict_the_candidates(tiny_model):
    params, cfg, features, _ = tiny_model
    allowed = np.zeros(13, bool)
    allowed[[1, 4]] = True
    got = evaluate_full_ranking(
        params,
        cfg,
        features,
        (np.array([0]), np.array([2])),
        (np.array([0]), np.array([1])),
        ks=(2,),
        allowed_items=allowed,
    )
    assert got["hr@2"] == 1.0  # only items 1 and 4 compete


def test_sampled_protocol_formula(tiny_model):
    params, cfg, features, rng = tiny_model
    users = np.arange(9)
    positives = rng.integers(0, 13, 9)
    negatives = np.stack(
        [
            rng.choice(np.setdiff1d(np.arange(13), [p]), 5, replace=False)
            for p in positives
        ]
    )
    got = evaluate_sampled(params, cfg, features, users, positives, negatives, ks=(2,))
    all_scores = np.asarray(score_all_plain(params, cfg, features, jnp.arange(9)))
    hr, ndcg = [], []
    for u, p, negs in zip(users, positives, negatives, strict=True):
        rank = 1 + sum(all_scores[u, j] >= all_scores[u, p] for j in negs)
        hr.append(rank <= 2)
        ndcg.append(1 / np.log2(rank + 1) if rank <= 2 else 0.0)
    assert got["sampled_hr@2"] == pytest.approx(np.mean(hr))
    assert got["sampled_ndcg@2"] == pytest.approx(np.mean(ndcg), rel=1e-5)
    assert all(key.startswith("sampled_") for key in got)


def test_sampled_negatives_are_unseen():
    rng = np.random.default_rng(0)
    train = (np.array([0, 0, 1]), np.array([1, 2, 0]))
    negatives = sample_eval_negatives(
        rng, train, np.array([0, 1]), np.array([3, 4]), n_items=10, n_negatives=5
    )
    assert negatives.shape == (2, 5)
    assert not set(negatives[0]) & {1, 2, 3}
    assert not set(negatives[1]) & {0, 4}
    assert all(len(set(row)) == 5 for row in negatives)


def test_cold_start_protocol_zeroes_the_cold_rows_and_ranks_only_cold_items(
    tiny_model,
):
    """evaluate_cold_start = full ranking on the parameters with the cold items'
    id rows zeroed, with the cold items as the only candidates."""
    from hybridrec_jax import evaluate_cold_start, zero_entity_rows

    params, cfg, features, rng = tiny_model
    cold = np.zeros(13, bool)
    cold[[1, 4, 7, 9]] = True
    # Untrained rows that would reorder the cold items if they were not zeroed.
    bias = params["embeddings"]["item_bias"].at[np.flatnonzero(cold)].set(
        jnp.array([-5.0, 5.0, -3.0, 3.0]))  # fmt: skip
    params = {**params, "embeddings": {**params["embeddings"], "item_bias": bias}}
    train = (np.repeat(np.arange(9), 2), rng.choice(np.flatnonzero(~cold), 18))
    test = (np.array([0, 2, 5, 5, 8]), np.array([1, 4, 7, 9, 1]))
    got = evaluate_cold_start(params, cfg, features, train, test, cold_items=cold,
                              ks=(2,))  # fmt: skip
    zeroed = zero_entity_rows(params, items=np.flatnonzero(cold))
    expected = evaluate_full_ranking(zeroed, cfg, features, train, test, ks=(2,),
                                     allowed_items=cold)  # fmt: skip
    assert got == pytest.approx(expected)
    unrestricted = evaluate_full_ranking(zeroed, cfg, features, train, test, ks=(2,))
    assert got["auc"] != pytest.approx(unrestricted["auc"])  # the restriction matters
    not_zeroed = evaluate_full_ranking(params, cfg, features, train, test, ks=(2,),
                                       allowed_items=cold)  # fmt: skip
    assert got["auc"] != pytest.approx(not_zeroed["auc"])  # so does the zeroing

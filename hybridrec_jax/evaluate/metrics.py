"""Metrics as pure functions: RMSE/MAE, and top-K ranking metrics on the last axis.

Ratings (:func:`rating_metrics`): RMSE = sqrt(mean (y - y_hat)^2), MAE = mean
|y - y_hat|.

Ranking (README, "Ranking, cold start, recommendations"), per user:

For one user u: s_j is the score of item j, C_u the candidates (every item not
among u's training interactions in the full-catalogue protocol; the held-out item
and its 99 negatives in the sampled protocol), R_u the relevant test items (each
forced to be a candidate). Ties count against the model:

    rank(i) = 1 + #{j in C_u : s_j > s_i} + #{j in C_u, j != i : s_j = s_i}
            = #{j in C_u : s_j >= s_i},

so a constant scorer puts every relevant item last and earns nothing. With
hits_K = #{i in R_u : rank(i) <= K}, and the list L_u of the K best-ranked
candidates (rel_k = 1 if its k-th item is relevant, i.e. an item at rank k):

    HR@K        = [hits_K > 0]
    Precision@K = hits_K / K,        Recall@K = hits_K / |R_u|
    NDCG@K      = DCG / IDCG,  DCG = sum_{i in R_u, rank(i) <= K} 1 / log2(rank(i) + 1)
                               IDCG = sum_{k <= min(K, |R_u|)} 1 / log2(k + 1)
    AP@K        = (1 / min(K, |R_u|)) sum_{i in R_u, rank(i) <= K} Precision@rank(i),
                  Precision@r = #{l in R_u : rank(l) <= r} / r;   MAP@K = mean_u AP@K
    RR          = 1 / min_{i in R_u} rank(i)   (not truncated);   MRR = mean_u RR
    AUC         = (1 / (|R_u| |N_u|)) sum_{i in R_u} sum_{j in N_u}
                  ([s_i > s_j] + 1/2 [s_i = s_j]),   N_u = C_u minus R_u

With distinct scores these are the textbook list formulas; with ties every tied
relevant item takes the worst position of its tie. A relevant item that no list
may hold (``listable`` False, e.g. below a minimum support) stays in R_u (|R_u|,
IDCG, AUC's pairs) but is never a hit: it adds nothing to hits_K, DCG, AP, RR or
AUC's numerator, and is left out of the Precision@r counts.

Every metric is averaged over the users with at least one relevant item (AUC:
and at least one negative); the reports say how many. :func:`user_metrics` is
written for one list (the last axis) and :func:`batch_metrics` maps it over any
leading axes with ``jax.vmap`` (rax's convention). Which items are candidates
and relevant is the business of the protocols that feed them
(``evaluate.protocols``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


def user_metrics(
    scores: jax.Array,
    candidates: jax.Array,
    relevant: jax.Array,
    valid: jax.Array,
    ks: tuple[int, ...] = (10,),
    listable: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """Every metric of the module docstring for one user, as scalars.

    Args:
        scores: (I,) s_j for every item.
        candidates: (I,) bool, C_u (relevant items are added to it).
        relevant: (R,) int indices of R_u, padded with anything where not ``valid``.
        valid: (R,) bool, which entries of ``relevant`` are real.
        ks: the cut-offs K (static).
        listable: (I,) bool, the items a list may hold; a relevant item outside
            is never a hit (give it the lowest score, so that it does not push
            the others down either). None: every item.

    Returns:
        {"hr@K", "ndcg@K", "recall@K", "precision@K", "map@K", "mrr", "auc",
        "n_relevant", "n_negatives"}.

    >>> m = user_metrics(jnp.array([0.9, 0.1, 0.5]), jnp.ones(3, bool),
    ...                  jnp.array([2]), jnp.array([True]), ks=(1, 2))
    >>> float(m["hr@1"]), round(float(m["ndcg@2"]), 6), round(float(1 / np.log2(3)), 6)
    (0.0, 0.63093, 0.63093)
    """
    n_items = scores.shape[0]
    relevant_hits = jnp.zeros(n_items, jnp.int32).at[relevant].max(valid.astype(int))
    is_relevant = relevant_hits > 0  # (I,)
    candidates = candidates | is_relevant
    s_rel = scores[relevant]  # (R,)
    geq = candidates[None, :] & (scores[None, :] >= s_rel[:, None])  # (R, I)
    rank = jnp.sum(geq, axis=-1)  # (R,) = #{j in C : s_j >= s_i}
    n_rel = jnp.sum(valid)
    hit = valid if listable is None else valid & listable[relevant]  # (R,)
    negatives = candidates & ~is_relevant
    n_neg = jnp.sum(negatives)
    less = jnp.sum(negatives[None, :] & (scores[None, :] < s_rel[:, None]), axis=-1)
    ties = jnp.sum(negatives[None, :] & (scores[None, :] == s_rel[:, None]), axis=-1)
    correct = jnp.sum(jnp.where(hit, less + 0.5 * ties, 0.0))
    rank_f = rank.astype(jnp.float32)
    # #{l in R_u : rank(l) <= rank(i)} for each i, for Precision@rank(i).
    above = jnp.sum(hit[None, :] & (rank[None, :] <= rank[:, None]), axis=-1)
    out = {
        "mrr": jnp.max(jnp.where(hit, 1.0 / rank_f, 0.0)),
        "auc": correct / jnp.maximum(n_rel * n_neg, 1),
        "n_relevant": n_rel,
        "n_negatives": n_neg,
    }
    positions = jnp.arange(1, max(ks) + 1)
    discounts = 1.0 / jnp.log2(positions + 1.0)  # (K_max,)
    for k in ks:
        in_top = hit & (rank <= k)  # (R,)
        hits = jnp.sum(in_top)
        dcg = jnp.sum(jnp.where(in_top, 1.0 / jnp.log2(rank_f + 1.0), 0.0))
        idcg = jnp.sum(jnp.where(positions[:k] <= n_rel, discounts[:k], 0.0))
        denominator = jnp.maximum(jnp.minimum(k, n_rel), 1)
        out[f"hr@{k}"] = (hits > 0).astype(jnp.float32)
        out[f"precision@{k}"] = hits / k
        out[f"recall@{k}"] = hits / jnp.maximum(n_rel, 1)
        out[f"ndcg@{k}"] = dcg / jnp.maximum(idcg, 1e-12)
        out[f"map@{k}"] = jnp.sum(jnp.where(in_top, above / rank_f, 0.0)) / denominator
    return out


def batch_metrics(
    scores: jax.Array,
    candidates: jax.Array,
    relevant: jax.Array,
    valid: jax.Array,
    ks: tuple[int, ...] = (10,),
    listable: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """:func:`user_metrics` over any leading axes (vmapped).

    Args:
        scores: (..., I) float scores.
        candidates: (..., I) bool.
        relevant: (..., R) int indices; valid: (..., R) bool.
        ks: the cut-offs K (static).
        listable: (I,) bool, shared by every list, or None.

    Returns:
        The dict of :func:`user_metrics`, each value (...,).
    """
    lead = scores.shape[:-1]
    flat = [jnp.reshape(a, (-1, a.shape[-1]))
            for a in (scores, candidates, relevant, valid)]  # fmt: skip
    one = partial(user_metrics, ks=ks, listable=listable)  # listable: every list's
    out = jax.vmap(one)(*flat)
    return {name: value.reshape(lead) for name, value in out.items()}


def mean_over_users(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over users with |R_u| >= 1 (AUC: and |N_u| >= 1), with the counts."""
    has_rel = np.asarray(per_user["n_relevant"]) > 0
    has_auc = has_rel & (np.asarray(per_user["n_negatives"]) > 0)
    out = {}
    for name, values in per_user.items():
        if name in ("n_relevant", "n_negatives"):
            continue
        mask = has_auc if name == "auc" else has_rel
        values = np.asarray(values, np.float64)[mask]
        out[name] = float(values.mean()) if values.size else float("nan")
    out["n_users"] = int(has_rel.sum())
    return out


def rating_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """RMSE = sqrt(mean (y - y_hat)^2) and MAE = mean |y - y_hat| (in float64).

    Args:
        prediction: (N,) y_hat.
        target: (N,) y, in the same units (rating points).

    >>> rating_metrics(np.array([3.0, 4.0]), np.array([4.0, 4.0]))
    {'rmse': 0.7071067811865476, 'mae': 0.5}
    """
    error = np.asarray(target, np.float64) - np.asarray(prediction, np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
    }

"""Top-K ranking metrics (DESIGN.md section 1b), per user and vmapped over users.

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
relevant item takes the worst position of its tie. Every metric is averaged over
the users with at least one relevant item (AUC: and at least one negative); the
reports say how many. The per-user function is written for one user and batched
with ``jax.vmap`` (STYLE rule 3); the pipelines score users in fixed-size chunks,
so one compile serves every chunk and memory stays bounded.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.evaluate.ratings import predict
from hybridrec_jax.evaluate.scoring import score_all
from hybridrec_jax.model import Features, Params


def user_metrics(
    scores: jax.Array,
    candidates: jax.Array,
    relevant: jax.Array,
    valid: jax.Array,
    ks: tuple[int, ...] = (10,),
) -> dict[str, jax.Array]:
    """Every metric of the module docstring for one user, as scalars.

    Args:
        scores: (I,) s_j for every item.
        candidates: (I,) bool, C_u (relevant items are added to it).
        relevant: (R,) int indices of R_u, padded with anything where not ``valid``.
        valid: (R,) bool, which entries of ``relevant`` are real.
        ks: the cut-offs K (static).

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
    negatives = candidates & ~is_relevant
    n_neg = jnp.sum(negatives)
    less = jnp.sum(negatives[None, :] & (scores[None, :] < s_rel[:, None]), axis=-1)
    ties = jnp.sum(negatives[None, :] & (scores[None, :] == s_rel[:, None]), axis=-1)
    correct = jnp.sum(jnp.where(valid, less + 0.5 * ties, 0.0))
    rank_f = rank.astype(jnp.float32)
    # #{l in R_u : rank(l) <= rank(i)} for each i, for Precision@rank(i).
    above = jnp.sum(valid[None, :] & (rank[None, :] <= rank[:, None]), axis=-1)
    out = {
        "mrr": jnp.max(jnp.where(valid, 1.0 / rank_f, 0.0)),
        "auc": correct / jnp.maximum(n_rel * n_neg, 1),
        "n_relevant": n_rel,
        "n_negatives": n_neg,
    }
    positions = jnp.arange(1, max(ks) + 1)
    discounts = 1.0 / jnp.log2(positions + 1.0)  # (K_max,)
    for k in ks:
        in_top = valid & (rank <= k)  # (R,)
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


def batch_metrics(scores, candidates, relevant, valid, ks=(10,)):
    """:func:`user_metrics` vmapped over a leading user axis: (n, I) -> (n,) each."""
    return jax.vmap(partial(user_metrics, ks=ks))(scores, candidates, relevant, valid)


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


@partial(jax.jit, static_argnames=("ks",))
def _chunk_metrics(scores, seen, allowed, relevant, valid, ks):
    candidates = ~seen & allowed[None, :]  # (C, I)
    return batch_metrics(scores, candidates, relevant, valid, ks)


def _grouped(users: np.ndarray, items: np.ndarray, n_users: int):
    """CSR (offsets (U+1,), items sorted by user) of the pairs."""
    order = np.argsort(users, kind="stable")
    offsets = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=offsets[1:])
    return offsets, np.asarray(items)[order]


def evaluate_full_ranking(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    train_pairs: tuple[np.ndarray, np.ndarray],
    test_pairs: tuple[np.ndarray, np.ndarray],
    *,
    ks: tuple[int, ...] = (10,),
    allowed_items: np.ndarray | None = None,
    chunk_size: int = 512,
    scorer=None,
    per_user: bool = False,
) -> dict:
    """Full-catalogue ranking metrics, each user's training items masked.

    Args:
        params, cfg, features: the model and its content tables.
        train_pairs: (users, items) of the training interactions: not candidates.
        test_pairs: (users, items) of the relevant test items R_u.
        ks: cut-offs K.
        allowed_items: (I,) bool, the only items that may be candidates (e.g. the
            cold-start items); None allows every item.
        chunk_size: users scored per compiled call (memory ~ chunk_size x I).
        scorer: ``score(params, cfg, features, users (n,)) -> (n, I)``; the
            factorised ``scoring.score_all`` by default (``score_all_plain``
            runs ``model.forward`` on every pair: the slow reference).
        per_user: also return the per-user arrays under "per_user".

    Returns:
        The means of :func:`mean_over_users` ("hr@10", ..., "n_users").
    """
    scorer = scorer or score_all
    n_users, n_items = features["user"].shape[0], features["item"].shape[0]
    test_users, test_items = (np.asarray(a) for a in test_pairs)
    eval_users = np.unique(test_users)
    t_off, t_items = _grouped(test_users, test_items, n_users)
    s_off, s_items = _grouped(np.asarray(train_pairs[0]), train_pairs[1], n_users)
    r_max = max(int(np.max(np.diff(t_off))), 1)
    chunk = max(1, min(chunk_size, len(eval_users), (1 << 24) // (n_items * r_max)))
    allowed = np.ones(n_items, bool) if allowed_items is None else allowed_items
    allowed = jnp.asarray(allowed, bool)
    outputs = []
    for start in range(0, len(eval_users), chunk):
        users = eval_users[start : start + chunk]
        n = len(users)
        seen = np.zeros((chunk, n_items), bool)
        relevant = np.zeros((chunk, r_max), np.int32)
        valid = np.zeros((chunk, r_max), bool)
        for row, u in enumerate(users):
            seen[row, s_items[s_off[u] : s_off[u + 1]]] = True
            rel = t_items[t_off[u] : t_off[u + 1]]
            relevant[row, : len(rel)], valid[row, : len(rel)] = rel, True
        padded = np.concatenate([users, np.zeros(chunk - n, users.dtype)])
        scores = scorer(params, cfg, features, jnp.asarray(padded, jnp.int32))
        out = _chunk_metrics(
            scores, jnp.asarray(seen), allowed, jnp.asarray(relevant),
            jnp.asarray(valid), tuple(ks),
        )  # fmt: skip
        outputs.append(jax.tree.map(lambda a, n=n: a[:n], out))
    arrays = {
        k: np.concatenate([np.asarray(o[k]) for o in outputs]) for k in outputs[0]
    }
    result = mean_over_users(arrays)
    if per_user:
        result["per_user"] = {"user": eval_users, **arrays}
    return result


def evaluate_sampled(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    *,
    ks: tuple[int, ...] = (10,),
) -> dict:
    """The NCF sampled protocol: each held-out item against its given negatives.

    Candidates are {positives[n]} and negatives[n] (100 items for the NCF files),
    rank(positive) = #{c : s_c >= s_positive}, HR@K = [rank <= K] and
    NDCG@K = [rank <= K] / log2(rank + 1). Keys are prefixed "sampled_" so that
    a report can never mistake them for full-catalogue figures.
    """
    users = np.asarray(users)
    items = np.concatenate([np.asarray(positives)[:, None], negatives], axis=1)
    n, m = items.shape  # (n, 1 + negatives)
    scores = predict(params, cfg, features, np.repeat(users, m), items.reshape(-1))
    scores = jnp.asarray(scores.reshape(n, m))
    ones = jnp.ones((n, m), bool)
    relevant = jnp.zeros((n, 1), jnp.int32)  # the positive sits in column 0
    out = batch_metrics(scores, ones, relevant, jnp.ones((n, 1), bool), tuple(ks))
    means = mean_over_users({k: np.asarray(v) for k, v in out.items()})
    return {f"sampled_{k}": v for k, v in means.items()}


def sample_eval_negatives(
    rng: np.random.Generator,
    train_pairs: tuple[np.ndarray, np.ndarray],
    users: np.ndarray,
    positives: np.ndarray,
    n_items: int,
    n_negatives: int = 99,
) -> np.ndarray:
    """(n, n_negatives) items that user n never interacted with (sampled protocol)."""
    n_users = int(max(np.max(users), np.max(train_pairs[0]))) + 1
    offsets, items = _grouped(np.asarray(train_pairs[0]), train_pairs[1], n_users)
    out = np.empty((len(users), n_negatives), np.int64)
    for row, (u, pos) in enumerate(zip(users, positives, strict=True)):
        seen = set(items[offsets[u] : offsets[u + 1]].tolist()) | {int(pos)}
        if n_items - len(seen) < n_negatives:
            raise ValueError(f"user {u} has fewer than {n_negatives} unseen items")
        chosen: list[int] = []
        while len(chosen) < n_negatives:
            draw = rng.integers(0, n_items, 2 * n_negatives)
            chosen += [int(j) for j in dict.fromkeys(draw.tolist()) if j not in seen]
            seen |= set(chosen)
        out[row] = chosen[:n_negatives]
    return out

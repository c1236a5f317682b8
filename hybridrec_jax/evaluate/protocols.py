"""Evaluation protocols: which pairs are scored, which items are candidates and
which are relevant; the metrics themselves are ``evaluate.metrics``.

- ratings: RMSE and MAE of the clipped predictions (:func:`evaluate_ratings`);
- full catalogue: every item a user has not interacted with in training is a
  candidate, the user's test items are relevant (:func:`evaluate_full_ranking`;
  optionally with a minimum support or shrunk scores, ``evaluate.support``);
- sampled (NCF, He et al. 2017): the held-out item against given negatives,
  always labelled "sampled" (:func:`evaluate_sampled`);
- cold start: held-out users or items scored through the content path, their
  id rows zeroed (:func:`evaluate_cold_start`).

Per-user item lists (training items, test items) are kept as CSR arrays
(:func:`group_by_user`) and turned into padded lists and masks for a chunk of
users with array operations (:func:`padded_lists`, :func:`item_mask`), never a
Python loop per user.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.evaluate.metrics import (
    batch_metrics,
    mean_over_users,
    rating_metrics,
)
from hybridrec_jax.evaluate.scoring import (
    check_indices,
    device_features,
    map_chunks,
    on_mesh,
    predict,
    score_all,
)
from hybridrec_jax.evaluate.support import (
    adjust_scores,
    check_support_options,
    eligible_items,
    item_support,
    support_weights,
)
from hybridrec_jax.model import Features, Params, zero_entity_rows
from hybridrec_jax.model.sharding import mesh_of


def group_by_user(
    users: np.ndarray, items: np.ndarray, n_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """CSR of (user, item) pairs: offsets (U + 1,) int64 and the items sorted by
    user (stable), so user u's items are ``items[offsets[u]:offsets[u + 1]]``.

    Args:
        users: (N,) int user indices in [0, n_users).
        items: (N,) int item indices.
        n_users: U.

    >>> group_by_user(np.array([1, 0, 1]), np.array([5, 6, 7]), 3)
    (array([0, 1, 3, 3]), array([6, 5, 7]))
    """
    users = np.asarray(users, np.int64)
    order = np.argsort(users, kind="stable")
    offsets = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=offsets[1:])
    return offsets, np.asarray(items)[order]


def padded_lists(
    offsets: np.ndarray, values: np.ndarray, users: np.ndarray, width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's CSR list padded to ``width``: (lists (n, R) int32, valid (n, R)).

    Users outside the CSR (index >= U, e.g. new users) have empty lists.

    Args:
        offsets: (U + 1,) CSR offsets of :func:`group_by_user`.
        values: (N,) the CSR items.
        users: (n,) int users whose lists are wanted.
        width: R; defaults to the longest list (at least 1); longer lists are
            cut.

    >>> offsets, items = group_by_user(np.array([1, 0, 1]), np.array([5, 6, 7]), 2)
    >>> lists, valid = padded_lists(offsets, items, np.array([1, 0, 2]))
    >>> lists.tolist(), valid.tolist()
    ([[5, 7], [6, 0], [0, 0]], [[True, True], [True, False], [False, False]])
    >>> padded_lists(np.zeros(1, np.int64), np.zeros(0, np.int64), np.array([0]))[1]
    array([[False]])
    """
    users = np.asarray(users, np.int64)
    n_known = len(offsets) - 1
    known = users < n_known
    safe = np.where(known, users, 0)
    starts = offsets[safe]
    ends = offsets[np.minimum(safe + 1, n_known)]
    lengths = np.where(known, ends - starts, 0)  # (n,)
    width = max(int(lengths.max(initial=0)), 1) if width is None else width
    columns = np.arange(width)
    valid = columns[None, :] < lengths[:, None]  # (n, R)
    if len(values) == 0:
        return np.zeros(valid.shape, np.int32), valid
    position = np.minimum(starts[:, None] + columns[None, :], len(values) - 1)
    return np.where(valid, values[position], 0).astype(np.int32), valid


def item_mask(
    offsets: np.ndarray, values: np.ndarray, users: np.ndarray, n_items: int
) -> np.ndarray:
    """(n, I) bool: True at the items of each user's CSR list (e.g. seen items).

    Args as :func:`padded_lists`, with ``n_items`` I the width of the mask.
    """
    lists, valid = padded_lists(offsets, values, users)
    mask = np.zeros((len(users), n_items), bool)
    rows = np.broadcast_to(np.arange(len(users))[:, None], lists.shape)
    mask[rows[valid], lists[valid]] = True
    return mask


def evaluate_ratings(
    params: Params, cfg: ModelConfig, dataset: Dataset, features: Features | None = None
) -> dict[str, float]:
    """RMSE and MAE on ``dataset``, predictions clipped to its ``rating_range``.

    Args:
        params, cfg: the model.
        dataset: the interactions to score (its ratings are the targets).
        features: the content tables on the device; None takes the dataset's.

    Returns:
        {"rmse", "mae"} in rating points (``metrics.rating_metrics``).
    """
    features = device_features(dataset) if features is None else features
    prediction = predict(
        params, cfg, features, dataset.user, dataset.item, clip=dataset.rating_range
    )
    return rating_metrics(prediction, dataset.rating)


# Its own compiled call, so that the adjusted scores are one array in memory:
# fused into the metrics, XLA may compute s~_i twice (for the row and for the
# relevant item's gather) with different rounding, and an item would then fail
# s_i >= s_i and miss its own rank.
_adjust_scores = jax.jit(adjust_scores)


@partial(jax.jit, static_argnames=("ks",))
def _chunk_metrics(scores, seen, allowed, eligible, relevant, valid, ks):
    candidates = ~seen & allowed[None, :]  # (C, I)
    if eligible is not None:
        candidates = candidates & eligible[None, :]
    return batch_metrics(scores, candidates, relevant, valid, ks, eligible)


def evaluate_full_ranking(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    train_pairs: tuple[np.ndarray, np.ndarray],
    test_pairs: tuple[np.ndarray, np.ndarray],
    *,
    ks: tuple[int, ...] = (10,),
    allowed_items: np.ndarray | None = None,
    min_support: int = 0,
    shrinkage: float = 0.0,
    chunk_size: int = 512,
    scorer=None,
    per_user: bool = False,
) -> dict:
    """Full-catalogue ranking metrics, each user's training items masked.

    ``min_support`` and ``shrinkage`` rank as ``serve.recommend.top_k`` does
    with them (``evaluate.support``; n_i counted from ``train_pairs``): the
    scores are shrunk, s~_ui = m_u + n_i / (n_i + beta) (s_ui - m_u), and an
    item with n_i < m is no candidate; a relevant item below m scores -inf and
    is not ``listable`` (``metrics.user_metrics``), so it stays in R_u
    (Recall, IDCG) and is always a miss, as the lists shown to the user can
    never hold it, even a list shorter than K.

    Args:
        params, cfg, features: the model and its content tables.
        train_pairs: (users, items) of the training interactions: not candidates.
        test_pairs: (users, items) of the relevant test items R_u.
        ks: cut-offs K.
        allowed_items: (I,) bool, the only items that may be candidates (e.g. the
            cold-start items); None allows every item.
        min_support: m, the fewest training interactions of a candidate
            (0: every item).
        shrinkage: beta of the shrunk scores (0: the scores as they are).
        chunk_size: users scored per compiled call (memory ~ chunk_size x I).
        scorer: ``score(params, cfg, features, users (n,)) -> (n, I)``; the
            factorised ``scoring.score_all`` by default (``score_all_plain``
            runs ``model.forward`` on every pair: the slow reference).
        per_user: also return the per-user arrays under "per_user".

    Returns:
        The means of ``metrics.mean_over_users`` ("hr@10", ..., "n_users").

    Raises:
        ValueError: an index outside the model, no test pairs, or a bad
            ``min_support`` or ``shrinkage`` (``support.check_support_options``).
    """
    min_support, shrinkage = check_support_options(min_support, shrinkage)
    scorer = scorer or score_all
    n_users, n_items = features["user"].shape[0], features["item"].shape[0]
    for users, items in (train_pairs, test_pairs):  # JAX would clamp them
        check_indices(users, n_users, "user")
        check_indices(items, n_items, "item")
    test_users, test_items = (np.asarray(a) for a in test_pairs)
    eval_users = np.unique(test_users)
    test_offsets, test_lists = group_by_user(test_users, test_items, n_users)
    seen_offsets, seen_lists = group_by_user(*train_pairs, n_users)
    width = max(int(np.max(np.diff(test_offsets), initial=0)), 1)
    chunk = max(1, min(chunk_size, (1 << 24) // (n_items * width)))
    allowed = np.ones(n_items, bool) if allowed_items is None else allowed_items
    allowed = jnp.asarray(allowed, bool)
    support = item_support(train_pairs[1], n_items)  # (I,) n_i
    eligible = eligible_items(support, min_support) if min_support > 0 else None
    weights = support_weights(support, shrinkage)
    eligible, weights = (None if a is None else jnp.asarray(a)
                         for a in (eligible, weights))  # fmt: skip

    def chunk_metrics(users):
        seen = item_mask(seen_offsets, seen_lists, users, n_items)  # (C, I)
        relevant, valid = padded_lists(test_offsets, test_lists, users, width)
        scores = scorer(params, cfg, features, on_mesh(users.astype(np.int32), mesh))
        seen, relevant, valid = (on_mesh(a, mesh) for a in (seen, relevant, valid))
        if eligible is not None or weights is not None:
            scores = _adjust_scores(scores, eligible, weights)  # (C, I)
        return _chunk_metrics(scores, seen, allowed, eligible, relevant, valid,
                              tuple(ks))  # fmt: skip

    if len(eval_users) == 0:
        raise ValueError("no test pairs: nothing to rank")
    mesh = mesh_of(params)  # sharded parameters: each chunk split by users
    arrays = jax.tree.map(np.asarray, map_chunks(chunk_metrics, (eval_users,), chunk,
                                                 mesh.size if mesh else 1))  # fmt: skip
    result = mean_over_users(arrays)
    if per_user:
        result["per_user"] = {"user": eval_users, **arrays}
    return result


def evaluate_cold_start(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    train_pairs: tuple[np.ndarray, np.ndarray],
    test_pairs: tuple[np.ndarray, np.ndarray],
    *,
    cold_items: np.ndarray | None = None,
    cold_users: np.ndarray | None = None,
    ks: tuple[int, ...] = (10,),
) -> dict:
    """Full-catalogue ranking of held-out (cold) items or users from content.

    The id rows (embeddings and biases) of the cold entities are zeroed, so they
    are scored through the content path alone, as a new entity is; with
    ``cold_items`` (I,) bool only the cold items are candidates, with
    ``cold_users`` (U,) bool every unseen item is.

    Args:
        params, cfg, features: the model and its content tables.
        train_pairs: (users, items) of the training interactions.
        test_pairs: (users, items) of the relevant test items.
        cold_items: (I,) bool, the held-out items, or None.
        cold_users: (U,) bool, the held-out users, or None.
        ks: cut-offs K.

    Returns:
        :func:`evaluate_full_ranking`'s figures.
    """
    cold_item_ids = None if cold_items is None else np.flatnonzero(cold_items)
    cold_user_ids = None if cold_users is None else np.flatnonzero(cold_users)
    params = zero_entity_rows(params, users=cold_user_ids, items=cold_item_ids)
    return evaluate_full_ranking(
        params, cfg, features, train_pairs, test_pairs, ks=ks,
        allowed_items=cold_items,
    )  # fmt: skip


def evaluate_sampled(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: np.ndarray,
    positives: np.ndarray,
    negatives: np.ndarray,
    *,
    ks: tuple[int, ...] = (10,),
    scorer=None,
) -> dict:
    """The NCF sampled protocol: each held-out item against its given negatives.

    Args:
        params, cfg, features: the model and its content tables.
        users: (n,) user indices; positives: (n,) their held-out items;
        negatives: (n, m) items to rank them against (99 in the NCF files).
        ks: cut-offs K.
        scorer: ``score(params, cfg, features, users (N,), items (N,)) -> (N,)``
            for pairs; ``scoring.predict`` by default (a baseline passes its own).

    Candidates are {positives[n]} and negatives[n] (100 items for the NCF files),
    rank(positive) = #{c : s_c >= s_positive}, HR@K = [rank <= K] and
    NDCG@K = [rank <= K] / log2(rank + 1). Keys are prefixed "sampled_" so that
    a report can never mistake them for full-catalogue figures.
    """
    users = np.asarray(users)
    items = np.concatenate([np.asarray(positives)[:, None], negatives], axis=1)
    n, m = items.shape  # (n, 1 + negatives)
    scorer = scorer or predict
    scores = scorer(params, cfg, features, np.repeat(users, m), items.reshape(-1))
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
    """(n, n_negatives) distinct items that user n never interacted with, drawn
    uniformly by ``rng`` (the sampled protocol when no negatives are given).

    Args:
        rng: a seeded ``numpy.random.Generator``.
        train_pairs: (users, items) the users interacted with (never drawn).
        users: (n,) int users; positives: (n,) their held-out items.
        n_items: I.
        n_negatives: negatives per user (99 in the NCF protocol).

    Raises:
        ValueError: a user has fewer than ``n_negatives`` unseen items.
    """
    n_users = int(max(np.max(users), np.max(train_pairs[0]))) + 1
    offsets, items = group_by_user(*train_pairs, n_users)
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

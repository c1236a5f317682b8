"""Top-K recommendations for known users, new users and similar items.

Recommending works on a :class:`~hybridrec_jax.serve.saved_model.Recommender`
(a model with its content tables, id maps, titles and training pairs, so that
items a user has already seen are never recommended). Every score comes from
the model's own pieces (``hybridrec_jax.model``), never from index arithmetic
written here:

- known user u: s_ui for every item i by the factorised scorer
  (``evaluate.score_all``, z^1_ui = h_u + h_i), the items u saw in training set
  to -inf (``evaluate.item_mask``), the K best by ``lax.top_k``, users in
  chunks (``evaluate.map_chunks``); optionally only items with at least m
  training interactions, ranked by shrunk scores s~_ui = m_u + n_i / (n_i +
  beta) (s_ui - m_u) (``evaluate.support``: the equation and why m_u, the
  user's mean score, is the centre);
- new user: the content row x_u built from raw "name=value" pairs (with the
  encoder fitted on the training users), appended with zero id rows and biases
  (``model.with_new_entities``), so it is scored through the content path
  alone: h_u = x_u W_U, p_u = x_u V_U;
- similar items: the cosine similarity of the item representations the network
  uses, e_i = [q_i / |q_i| ; (h_i - b^0) / |h_i - b^0|] with q_i = Q'_i + x_i V_I
  the dot-branch factor and h_i - b^0 = Q_i W_Q + x_i W_I the item's share of
  the first layer (``model.item_side``, ``model.first_layer_blocks``).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hybridrec_jax.data.assignments import parse_feature_values
from hybridrec_jax.evaluate import item_mask, map_chunks, score_all
from hybridrec_jax.evaluate.scoring import check_indices
from hybridrec_jax.evaluate.support import (
    adjust_scores,
    check_support_options,
    eligible_items,
    item_support,
    support_weights,
)
from hybridrec_jax.model import (
    Features,
    Params,
    first_layer_blocks,
    item_side,
    with_new_entities,
)
from hybridrec_jax.serve.new_user import user_feature_row
from hybridrec_jax.serve.saved_model import Recommender

__all__ = [
    "format_table",
    "item_representations",
    "item_support_of",
    "parse_feature_values",  # the CLI's --new-user parser, kept beside its use
    "recommend_all",
    "recommend_new_user",
    "recommend_user",
    "similar_items",
    "top_k",
    "user_feature_row",
]


@partial(jax.jit, static_argnames=("k",))
def _masked_top_k(
    scores: jax.Array, seen: jax.Array, eligible, weights, k: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """lax.top_k of each row of ``scores`` (C, I), shrunk by ``weights`` (I,)
    (or None), with the ``seen`` (C, I) items and those not ``eligible`` (I,)
    (or None) at -inf: (ranking scores (C, k), items (C, k), s_ui (C, k))."""
    ranked = jnp.where(seen, -jnp.inf, adjust_scores(scores, eligible, weights))
    top, items = jax.lax.top_k(ranked, k)
    return top, items, jnp.take_along_axis(scores, items, axis=1)


def item_support_of(rec: Recommender, n_items: int | None = None) -> np.ndarray:
    """n_i of every item, counted from the recommender's seen pairs (its training
    pairs; with ``train --save-model`` every pair of the data set): (I,) int64.

    Args:
        rec: the recommender.
        n_items: I, when items were appended to its tables (default: its own).
    """
    return item_support(rec.seen_items, n_items or len(rec.item_ids))


def top_k(
    rec: Recommender,
    users: np.ndarray,
    k: int = 10,
    *,
    exclude_seen: bool = True,
    min_support: int = 0,
    shrinkage: float = 0.0,
    chunk_size: int = 256,
    params: Params | None = None,
    features: Features | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The K best items of each user by s_ui, best first, ties to the lower index.

    Items the user saw in training score -inf, so they come last (and only when
    fewer than K unseen items remain); so do the items with fewer than
    ``min_support`` training interactions. Users with an index at or past the
    known users (new users appended by ``model.with_new_entities``) saw nothing.
    With ``shrinkage`` beta > 0 the list is ranked by

        s~_ui = m_u + w_i (s_ui - m_u),  w_i = n_i / (n_i + beta),
        m_u = mean_j s_uj over every item j,

    n_i the item's training interactions (:func:`item_support_of`), a damped
    mean towards the user's own mean score (``evaluate.support`` says why the
    centre is m_u, and why this holds for ratings and BCE logits alike).

    Args:
        rec: the recommender.
        users: (n,) int user indices.
        k: K; at most the number of items I.
        exclude_seen: mask the training items (False ranks every item).
        min_support: m; items with n_i < m are never recommended (0: none
            masked). Check ``np.isfinite(scores)`` for how many are left.
        shrinkage: beta >= 0 (0: rank by s_ui itself, bit for bit).
        chunk_size: users per compiled call (memory ~ chunk_size x I scores).
        params, features: replace the recommender's (e.g. with new users).

    Returns:
        (items (n, K) int32 indices, scores (n, K) float32), best first; the
        scores are those ranked by (s~_ui with shrinkage, else s_ui), -inf for
        a seen or ineligible item.

    Raises:
        ValueError: a user index outside 0..U-1 (named), or ``min_support``
            not a whole number >= 0, or ``shrinkage`` not a finite number >= 0.

    >>> from hybridrec_jax import ModelConfig, init_params
    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> from hybridrec_jax.serve.saved_model import make_recommender
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 3, 2, 3, 2)
    >>> rec = make_recommender(p, ModelConfig.tiny(), tiny_dataset())
    >>> items, scores = top_k(rec, np.array([0, 1]), k=2)
    >>> items[:, 0].tolist(), np.isinf(scores[:, 1]).tolist()  # saw item 0, 1
    ([1, 0], [True, True])
    >>> items, scores = top_k(rec, np.array([0, 1]), k=2, min_support=2)
    >>> items[0, 0].item(), np.isfinite(scores).sum(axis=1).tolist()  # n = [1, 2]
    (1, [1, 0])
    """
    items, scores, _ = _top_k_with_raw(
        rec, users, k, exclude_seen, min_support, shrinkage, chunk_size, params,
        features,
    )  # fmt: skip
    return items, scores


def _top_k_with_raw(
    rec, users, k, exclude_seen, min_support, shrinkage, chunk_size=256,
    params=None, features=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`top_k`, and s_ui of the items chosen (n, K) (the table's score)."""
    min_support, shrinkage = check_support_options(min_support, shrinkage)
    params = rec.params if params is None else params
    features = rec.features if features is None else features
    n_items = features["item"].shape[0]
    k = min(k, n_items)
    users = check_indices(users, features["user"].shape[0], "user")
    if users.shape[0] == 0:
        empty = np.zeros((0, k), np.float32)
        return np.zeros((0, k), np.int32), empty, empty
    support = item_support_of(rec, n_items)  # (I,) n_i
    eligible = eligible_items(support, min_support) if min_support > 0 else None
    weights = support_weights(support, shrinkage)

    def chunk_top_k(chunk: np.ndarray) -> tuple[jax.Array, jax.Array, jax.Array]:
        if exclude_seen:
            seen = item_mask(rec.seen_offsets, rec.seen_items, chunk, n_items)
        else:
            seen = np.zeros((len(chunk), n_items), bool)  # (C, I)
        scores = score_all(params, rec.model_cfg, features, chunk)  # (C, I)
        return _masked_top_k(scores, jnp.asarray(seen), eligible, weights, k)

    scores, items, raw = map_chunks(chunk_top_k, (users,), chunk_size)
    return np.asarray(items), np.asarray(scores), np.asarray(raw)


def _table(rec: Recommender, items: np.ndarray, scores: np.ndarray, score_name: str):
    titles = rec.item_titles
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(items) + 1),
            "item_id": rec.item_ids[items],
            "title": [titles[i] if titles else None for i in items],
            score_name: scores,
        }
    )


def _user_table(rec, items, ranked, raw, min_support, shrinkage) -> pd.DataFrame:
    """One user's rows with a finite ranking score: rank, item_id, title, score
    (s_ui), and with the options the ranking score ``shrunk`` (beta > 0) and
    the ``support`` n_i (m > 0 or beta > 0)."""
    keep = np.isfinite(ranked)
    table = _table(rec, items[keep], raw[keep], "score")
    if shrinkage > 0:
        table["shrunk"] = ranked[keep]
    if min_support > 0 or shrinkage > 0:
        table["support"] = item_support_of(rec)[items[keep]]
    return table


def _support_notes(rec, n_rows: int, k: int, min_support: int, seen=None) -> list:
    """A line saying why a list holds fewer than K items when the minimum
    support is the cause (none otherwise): how many items reach m, and how many
    of those the user has seen."""
    n_items = len(rec.item_ids)
    if min_support == 0 or n_rows >= min(k, n_items):
        return []
    support = item_support_of(rec)
    eligible = eligible_items(support, min_support)
    line = (
        f"{n_rows} of the {k} items asked for: {int(eligible.sum())} of the "
        f"{n_items} items have at least {min_support} training interactions "
        f"(min_support; the most any item has is {int(support.max(initial=0))})"
    )
    if seen is not None:
        line += f", and the user has seen {int(eligible[seen].sum())} of them"
    return [line]


def recommend_user(
    rec: Recommender, user_id, k: int = 10, *, min_support: int = 0,
    shrinkage: float = 0.0,
) -> pd.DataFrame:  # fmt: skip
    """The top-K unseen items of a known user (:func:`top_k`).

    Args:
        rec: the recommender.
        user_id: the user's original id (compared as a string).
        k: K.
        min_support, shrinkage: m and beta of :func:`top_k` (0: off).

    Returns:
        A table with columns rank (1..), item_id, title, score (s_ui, the
        rating or logit), and with the options ``shrunk`` (s~_ui, what the
        list is ranked by; beta > 0) and ``support`` (n_i); fewer than K rows
        if fewer items are unseen (and have n_i >= m), ``attrs["notes"]``
        saying why when m is the cause.

    Raises:
        ValueError: an unknown user id, or a bad ``min_support`` or
            ``shrinkage`` (as :func:`top_k`).
    """
    user = rec.user_index(user_id)
    items, ranked, raw = _top_k_with_raw(rec, np.array([user]), k, True, min_support,
                                         shrinkage)  # fmt: skip
    table = _user_table(rec, items[0], ranked[0], raw[0], min_support, shrinkage)
    seen = rec.seen_items[rec.seen_offsets[user] : rec.seen_offsets[user + 1]]
    table.attrs["notes"] = _support_notes(rec, len(table), k, min_support, seen)
    return table


def recommend_new_user(
    rec: Recommender, values: dict[str, str], k: int = 10, *, min_support: int = 0,
    shrinkage: float = 0.0,
) -> pd.DataFrame:  # fmt: skip
    """The top-K items for a user known only by content features.

    The user is appended with the content row x_u of :func:`user_feature_row`
    and zero id rows and biases (``model.with_new_entities``), so its scores
    are y_hat = mlp_tail(x_u W_U + h_i) + b + b_i + <x_u V_U, q_i> for every
    item i (:func:`top_k`; a new user has seen nothing).

    Args:
        rec: the recommender.
        values: {raw column: value as text}.
        k: K.
        min_support, shrinkage: m and beta of :func:`top_k` (0: off).

    Returns:
        A table as :func:`recommend_user`'s; ``attrs["notes"]`` lists the
        values never seen in training (see :func:`user_feature_row`) and why
        there are fewer than K rows when m is the cause.

    Raises:
        ValueError: a column the model does not know, a malformed value, or a
            bad ``min_support`` or ``shrinkage``.
    """
    check_support_options(min_support, shrinkage)  # before any work
    notes: list[str] = []
    x_u = user_feature_row(rec, values, notes)  # (F_u,)
    params, features = with_new_entities(rec.params, rec.features, x_u[None, :])
    new_user = np.array([features["user"].shape[0] - 1])  # index U
    items, ranked, raw = _top_k_with_raw(rec, new_user, k, True, min_support,
                                         shrinkage, 256, params, features)  # fmt: skip
    table = _user_table(rec, items[0], ranked[0], raw[0], min_support, shrinkage)
    table.attrs["notes"] = notes + _support_notes(rec, len(table), k, min_support)
    return table


def item_representations(rec: Recommender) -> np.ndarray:
    """e_i = [q_i / |q_i| ; (h_i - b^0) / |h_i - b^0|] for every item, (I, D).

    q_i = Q'_i + x_i V_I is the item's dot-branch factor (when dot_dim > 0) and
    h_i - b^0 = Q_i W_Q + x_i W_I its share of the first layer (when there are
    hidden layers; without them that share is one number of the score, not a
    representation), both from ``model.item_side``. b^0 is the same for every
    item, so it is taken out before normalising. Each part is L2-normalised so
    that neither dominates the cosine; a model with neither part represents
    items by their content x_i.

    Returns:
        (I, D) float32, D = k + D_1 (or the parts present, or F_i).

    Raises:
        ValueError: the model has neither part and no item features.

    >>> from hybridrec_jax import ModelConfig, init_params
    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> from hybridrec_jax.serve.saved_model import make_recommender
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 3, 2, 3, 2)
    >>> e = item_representations(make_recommender(p, ModelConfig.tiny(),
    ...                                           tiny_dataset()))
    >>> e.shape, np.round(np.linalg.norm(e, axis=1) ** 2, 4).tolist()  # k + D_1
    ((2, 12), [2.0, 2.0])
    """
    cfg, params, features = rec.model_cfg, rec.params, rec.features
    items = jnp.arange(features["item"].shape[0])
    h_i, q_i = item_side(params, cfg, features, items)  # (I, D_1), (I, k)
    parts = []
    if cfg.dot_dim > 0:
        parts.append(q_i)
    if params["dense"]["layers"]:
        b0 = first_layer_blocks(params, cfg)["bias"]  # (D_1,)
        parts.append(h_i - b0[None, :])  # Q_i W_Q + x_i W_I
    if not parts:
        if features["item"].shape[1] == 0:
            raise ValueError(
                "the model has no item representation: it needs dot_dim > 0, "
                "hidden layers or item features"
            )
        parts.append(features["item"])
    normed = [p / jnp.maximum(jnp.linalg.norm(p, axis=1, keepdims=True), 1e-12)
              for p in parts]  # fmt: skip
    return np.asarray(jnp.concatenate(normed, axis=1))


def similar_items(
    rec: Recommender, item_id, k: int = 10, *, min_support: int = 0
) -> pd.DataFrame:
    """The K items most similar to ``item_id``, itself excluded.

    similarity(i, j) = <e_i, e_j> / (|e_i| |e_j|), the cosine of
    :func:`item_representations`, ties to the lower index. There is no
    shrinkage here: a cosine is no estimate from an item's ratings that a
    damped mean would correct; ``min_support`` still keeps obscure items out.

    Args:
        rec: the recommender.
        item_id: the item's original id (compared as a string).
        k: K.
        min_support: m; items with fewer training interactions are left out.

    Returns:
        A table with columns rank, item_id, title, similarity (in [-1, 1]);
        fewer than K rows when fewer other items have n_i >= m.

    Raises:
        ValueError: an unknown item id, or ``min_support`` not a whole number
            >= 0.
    """
    min_support, _ = check_support_options(min_support, 0.0)
    index = rec.item_index(item_id)
    e = item_representations(rec)  # (I, D)
    norms = np.maximum(np.linalg.norm(e, axis=1), 1e-12)  # (I,)
    similarity = (e @ e[index]) / (norms * norms[index])
    similarity[~eligible_items(item_support_of(rec), min_support)] = -np.inf
    similarity[index] = -np.inf
    order = np.argsort(-similarity, kind="stable")[:k]
    order = order[np.isfinite(similarity[order])]
    return _table(rec, order, similarity[order], "similarity")


def recommend_all(
    rec: Recommender, k: int = 10, *, min_support: int = 0, shrinkage: float = 0.0
) -> pd.DataFrame:
    """The top-K unseen items of every known user (:func:`top_k`).

    Args:
        rec: the recommender.
        k: K.
        min_support, shrinkage: m and beta of :func:`top_k` (0: off).

    Returns:
        A table with columns user_id, rank, item_id, title, score (and
        ``shrunk``, ``support`` as in :func:`recommend_user`); a user who has
        seen all but j < K (eligible) items gets only those j rows;
        ``attrs["notes"]`` says how many users got fewer than K rows when m is
        the cause.

    Raises:
        ValueError: a bad ``min_support`` or ``shrinkage``.
    """
    users = np.arange(len(rec.user_ids))
    items, ranked, raw = _top_k_with_raw(rec, users, k, True, min_support, shrinkage)
    titles = rec.item_titles
    flat = items.reshape(-1)
    table = pd.DataFrame(
        {
            "user_id": np.repeat(rec.user_ids, items.shape[1]),
            "rank": np.tile(np.arange(1, items.shape[1] + 1), len(users)),
            "item_id": rec.item_ids[flat],
            "title": [titles[i] for i in flat] if titles else None,
            "score": raw.reshape(-1),
        }
    )
    if shrinkage > 0:
        table["shrunk"] = ranked.reshape(-1)
    if min_support > 0 or shrinkage > 0:
        table["support"] = item_support_of(rec)[flat]
    table = table[np.isfinite(ranked.reshape(-1))].reset_index(drop=True)
    unseen = len(rec.item_ids) - np.diff(rec.seen_offsets)  # (U,)
    short = int((np.isfinite(ranked).sum(axis=1) < np.minimum(k, unseen)).sum())
    notes = []
    if min_support > 0 and short:
        n_eligible = int(eligible_items(item_support_of(rec), min_support).sum())
        notes.append(
            f"{short} of {len(users)} users get fewer than {k} items: "
            f"{n_eligible} of {len(rec.item_ids)} items have at least "
            f"{min_support} training interactions (min_support)"
        )
    table.attrs["notes"] = notes
    return table


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table for the terminal, scores to 4 decimals."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")

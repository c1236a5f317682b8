"""Top-K recommendations for known users, new users and similar items.

Recommending works on a :class:`~hybridrec_jax.serve.saved_model.Recommender`, a model
loaded from a folder written by :func:`~hybridrec_jax.serve.saved_model.save_model`
(see :mod:`saved_model` for what it holds: parameters, content tables, id maps,
feature names and encoders, titles and the training pairs, so that items a user
has already seen are never recommended).

- known user u: s_ui for every item i (the factorised scorer), seen items set to
  -inf, the K best by ``lax.top_k``;
- new user: the content row x_u built from "name=value" pairs, scored through
  the content path with zero id rows (see :mod:`coldstart`);
- similar items: cosine similarity of the item representations the network
  uses, e_i = [Q'_i + x_i V_I ; Q_i W_Q + x_i W_I] (dot-branch factor and the
  item's share h_i of the first layer), each part normalised.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hybridrec_jax.data.assignments import parse_feature_values
from hybridrec_jax.data.encoders import encode
from hybridrec_jax.evaluate.scoring import score_all
from hybridrec_jax.model import Features, Params, with_new_entities
from hybridrec_jax.serve.saved_model import (
    Recommender,
    load_recommender,
    save_experiment_model,
    save_model,
)

__all__ = [  # the saved-model names are re-exported for existing imports
    "Recommender",
    "format_table",
    "item_representations",
    "load_recommender",
    "parse_feature_values",
    "recommend_all",
    "recommend_new_user",
    "recommend_user",
    "save_experiment_model",
    "save_model",
    "similar_items",
    "top_k",
    "user_feature_row",
]


@partial(jax.jit, static_argnames=("k",))
def _top_k_chunk(scores, seen, k):
    scores = jnp.where(seen, -jnp.inf, scores)  # (C, I)
    return jax.lax.top_k(scores, k)  # (C, k) each


def top_k(
    rec: Recommender,
    users: np.ndarray,
    k: int = 10,
    *,
    exclude_seen: bool = True,
    chunk_size: int = 256,
    params: Params | None = None,
    features: Features | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(items (n, k), scores (n, k)) for user indices ``users``, best first.

    Seen items score -inf, so they come last (only when fewer than k remain).
    ``params``/``features`` override the recommender's (e.g. with new users).
    """
    params = rec.params if params is None else params
    features = rec.features if features is None else features
    n_items = features["item"].shape[0]
    k = min(k, n_items)
    users = np.asarray(users)
    chunk = max(1, min(chunk_size, len(users)))
    items_out, scores_out = [], []
    for start in range(0, len(users), chunk):
        block = users[start : start + chunk]
        seen = np.zeros((chunk, n_items), bool)
        if exclude_seen:
            for row, u in enumerate(block):
                if u < len(rec.seen_offsets) - 1:
                    lo, hi = rec.seen_offsets[u], rec.seen_offsets[u + 1]
                    seen[row, rec.seen_items[lo:hi]] = True
        padded = np.concatenate([block, np.zeros(chunk - len(block), block.dtype)])
        scores = score_all(params, rec.model_cfg, features, jnp.asarray(padded))
        scores, items = _top_k_chunk(scores, jnp.asarray(seen), k)
        items_out.append(np.asarray(items)[: len(block)])
        scores_out.append(np.asarray(scores)[: len(block)])
    return np.concatenate(items_out), np.concatenate(scores_out)


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


def recommend_user(rec: Recommender, user_id, k: int = 10) -> pd.DataFrame:
    """The top-K unseen items of a known user: rank, item_id, title, score."""
    items, scores = top_k(rec, np.array([rec.user_index(user_id)]), k)
    keep = np.isfinite(scores[0])
    return _table(rec, items[0][keep], scores[0][keep], "score")


def user_feature_row(rec: Recommender, values: dict[str, str]) -> np.ndarray:
    """x_u (F_u,) for a new user from raw feature values.

    With the fitted encoder (saved by ``hybridrec train``) the values go through
    the same imputation and encoding as the training users; columns the encoder
    does not make (e.g. interaction summaries, unknown for a new user) stay 0.
    Without it, each "name=value" sets the one-hot column named "name=value" (or
    "name=unknown" if that value was never seen) and a numeric column named
    "name" takes the value as given.
    """
    names = rec.user_feature_names
    row = np.zeros(len(names), np.float32)
    position = {name: j for j, name in enumerate(names)}
    if rec.user_encoder is not None:
        kinds = {f.column: f.kind for f in rec.user_encoder.features}
        unknown = set(values) - set(kinds)
        if unknown:
            raise ValueError(f"unknown user features {sorted(unknown)}; known: "
                             f"{sorted(kinds)}")  # fmt: skip
        numeric = {c for c, kind in kinds.items() if kind in ("numeric", "bucket")}
        table = pd.DataFrame([{
            c: None if c not in values
            else float(values[c]) if c in numeric else values[c]
            for c in kinds
        }])  # fmt: skip
        encoded = encode(table, rec.user_encoder)[0]
        for name, value in zip(rec.user_encoder.names, encoded, strict=True):
            row[position[name]] = value
        return row
    for name, value in values.items():
        if f"{name}={value}" in position:
            row[position[f"{name}={value}"]] = 1.0
        elif f"{name}=unknown" in position:
            row[position[f"{name}=unknown"]] = 1.0
        elif name in position:
            row[position[name]] = float(value)
        else:
            raise ValueError(f"unknown user feature {name!r}; the model's features "
                             f"are {', '.join(names)}")  # fmt: skip
    return row


def recommend_new_user(
    rec: Recommender, values: dict[str, str], k: int = 10
) -> pd.DataFrame:
    """Top-K for a user known only by features (zero id rows: the content path)."""
    x_u = user_feature_row(rec, values)
    params, features = with_new_entities(rec.params, rec.features, x_u[None, :])
    new_index = np.array([features["user"].shape[0] - 1])
    items, scores = top_k(rec, new_index, k, params=params, features=features)
    return _table(rec, items[0], scores[0], "score")


def item_representations(rec: Recommender) -> np.ndarray:
    """e_i of the module docstring, each part L2-normalised per item, (I, D)."""
    cfg, emb, dense = rec.model_cfg, rec.params["embeddings"], rec.params["dense"]
    x_i = rec.features["item"]
    parts = []
    if cfg.dot_dim > 0:
        factor = emb["item_dot"]
        if cfg.use_features:
            factor = factor + x_i @ dense["item_feature_dot"]
        parts.append(factor)
    if dense["layers"]:
        W, d = dense["layers"][0]["W"], cfg.embedding_dim
        h_i = emb["item"] @ W[d : 2 * d]  # Q_i W_Q
        if cfg.use_features:
            f_u = rec.features["user"].shape[1]
            h_i = h_i + x_i @ W[2 * d + f_u :]  # + x_i W_I
        parts.append(h_i)
    if not parts:
        parts.append(x_i)
    normed = [p / jnp.maximum(jnp.linalg.norm(p, axis=1, keepdims=True), 1e-12)
              for p in parts]  # fmt: skip
    return np.asarray(jnp.concatenate(normed, axis=1))


def similar_items(rec: Recommender, item_id, k: int = 10) -> pd.DataFrame:
    """The K items most similar to ``item_id`` (cosine of e_i), itself excluded."""
    index = rec.item_index(item_id)
    e = item_representations(rec)
    norms = np.maximum(np.linalg.norm(e, axis=1), 1e-12)
    similarity = (e @ e[index]) / (norms * norms[index])
    similarity[index] = -np.inf
    order = np.argsort(-similarity, kind="stable")[:k]
    return _table(rec, order, similarity[order], "similarity")


def recommend_all(rec: Recommender, k: int = 10) -> pd.DataFrame:
    """Top-K unseen items for every known user: user_id, rank, item_id, title, score.

    A user who has seen all but j < K items gets only those j rows.
    """
    users = np.arange(len(rec.user_ids))
    items, scores = top_k(rec, users, k)
    titles = rec.item_titles
    flat = items.reshape(-1)
    return pd.DataFrame(
        {
            "user_id": np.repeat(rec.user_ids, items.shape[1]),
            "rank": np.tile(np.arange(1, items.shape[1] + 1), len(users)),
            "item_id": rec.item_ids[flat],
            "title": [titles[i] for i in flat] if titles else None,
            "score": scores.reshape(-1),
        }
    )[np.isfinite(scores.reshape(-1))].reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table for the terminal."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")

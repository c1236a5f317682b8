"""Cold start: users and items known only by their content features.

Unknown ids are handled by design: an entity without a trained id gets the
all-zero row of every embedding table it indexes (P, P' or Q, Q') and a zero
bias, so its score comes from the content path alone,

    a^0 = [0 ; Q_i ; x_u ; x_i]                    (a new user u)
    dot = <0 + x_u V_U, Q'_i + x_i V_I>            (the feature maps V)

which is exactly what a model trained with ``use_features=True`` learned to use.
Without features (pure MF) the new entity scores the same for every partner: it
can only be ranked by chance, which the cold-start benchmark shows.

:func:`with_new_entities` appends such rows (for recommending to a brand-new
user); :func:`zero_entity_rows` blanks rows that exist but were never trained
(items held out of training, whose random initial rows carry no information).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.model import Features, Params

_ROWS = {"user": ("user", "user_dot", "user_bias"),
         "item": ("item", "item_dot", "item_bias")}  # fmt: skip


def with_new_entities(
    params: Params,
    features: Features,
    new_user_features: np.ndarray | None = None,
    new_item_features: np.ndarray | None = None,
) -> tuple[Params, Features]:
    """Append zero id rows and the given content rows for new users and items.

    The n new users get indices U..U+n-1 (items likewise), so every scorer works
    on them unchanged.

    >>> from hybridrec_jax import ModelConfig, init_params
    >>> import jax
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 2, 3, 1, 1)
    >>> f = {"user": jnp.zeros((2, 1)), "item": jnp.zeros((3, 1))}
    >>> p2, f2 = with_new_entities(p, f, new_user_features=np.ones((1, 1)))
    >>> p2["embeddings"]["user"].shape, float(abs(p2["embeddings"]["user"][2]).sum())
    ((3, 4), 0.0)
    """
    embeddings = dict(params["embeddings"])
    features = dict(features)
    for side, new in (("user", new_user_features), ("item", new_item_features)):
        if new is None:
            continue
        new = jnp.asarray(np.atleast_2d(new), jnp.float32)  # (n, F)
        if new.shape[1] != features[side].shape[1]:
            raise ValueError(
                f"new {side} features have {new.shape[1]} columns; the model was "
                f"trained with {features[side].shape[1]}"
            )
        for name in _ROWS[side]:
            table = embeddings[name]
            zeros = jnp.zeros((new.shape[0], *table.shape[1:]), table.dtype)
            embeddings[name] = jnp.concatenate([table, zeros])
        features[side] = jnp.concatenate([features[side], new])
    return {**params, "embeddings": embeddings}, features


def zero_entity_rows(
    params: Params, users: np.ndarray | None = None, items: np.ndarray | None = None
) -> Params:
    """``params`` with the id rows (embeddings and biases) of the given users and
    items set to zero: those entities are then scored from content alone."""
    embeddings = dict(params["embeddings"])
    for side, index in (("user", users), ("item", items)):
        if index is None:
            continue
        for name in _ROWS[side]:
            embeddings[name] = embeddings[name].at[jnp.asarray(index)].set(0.0)
    return {**params, "embeddings": embeddings}


def feature_popularity(
    train: Dataset, l2: float = 1.0, items: np.ndarray | None = None
) -> np.ndarray:
    """A popularity baseline that reaches cold items: log(1 + n_i) regressed on x_i.

    Ridge regression w = (X^T X + l2 I)^{-1} X^T log(1 + n) over the items with at
    least one training interaction (the warm items; ``items`` overrides), then the
    predicted popularity x_i w for every item (I,).
    """
    counts = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    warm = np.flatnonzero(counts > 0) if items is None else np.asarray(items)
    x = np.hstack([train.item_features, np.ones((train.n_items, 1))]).astype(np.float64)
    target = np.log1p(counts[warm])
    gram = x[warm].T @ x[warm] + l2 * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x[warm].T @ target)
    return x @ weights

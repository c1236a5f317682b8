"""The parameter pytree: initialisation, penalties and cold-start rows.

Parameters are split into ``embeddings`` (tables indexed by user or item id, of
which a batch touches a few rows) and ``dense`` (everything else). A user or
item without a trained id (cold start) has all-zero id rows and biases, so it is
scored through the content path alone: :func:`with_new_entities` appends such
rows for new entities, :func:`zero_entity_rows` blanks rows never trained.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hybridrec_jax.config import ModelConfig

Params = dict[str, Any]
Features = dict[str, jax.Array]  # {"user": (U, F_u), "item": (I, F_i)}
Rows = dict[str, jax.Array]  # embedding_rows: {"user": (B, d), ...}

SIDES = ("user", "item")
#: The id tables of each side: the MLP embedding, the dot factor, the bias.
SIDE_TABLES = {side: (side, f"{side}_dot", f"{side}_bias") for side in SIDES}


def input_width(cfg: ModelConfig, n_user_features: int, n_item_features: int) -> int:
    """D_0, the width of a^0 = [P_u ; Q_i ; x_u ; x_i]: 2d + F_u + F_i.

    Args:
        cfg: the model configuration (``embedding_dim`` d, ``use_features``).
        n_user_features, n_item_features: F_u and F_i (counted only with
            ``use_features``).
    """
    content = n_user_features + n_item_features if cfg.use_features else 0
    return 2 * cfg.embedding_dim + content


def init_params(
    key: jax.Array,
    cfg: ModelConfig,
    n_users: int,
    n_items: int,
    n_user_features: int,
    n_item_features: int,
    global_mean: float = 0.0,
) -> Params:
    """Random parameters: N(0, init_scale^2) embeddings, Glorot-uniform layers.

    Args:
        key: a ``jax.random.key``.
        cfg: the model configuration.
        n_users, n_items: U and I, the rows of the id tables.
        n_user_features, n_item_features: F_u and F_i, the content widths.
        global_mean: mu, the starting value of the head's bias b.

    Returns:
        {"embeddings": {"user": P (U, d), "item": Q (I, d), "user_dot": P' (U, k),
        "item_dot": Q' (I, k), "user_bias": b_u (U,), "item_bias": b_i (I,)},
        "dense": {"layers": [{"W": (D_l, D_{l+1}), "b": (D_{l+1},)}, ...],
        "head": {"w": (D_L,), "b": ()}, "user_feature_dot": V_U (F_u, k),
        "item_feature_dot": V_I (F_i, k)}}, all float32. Without content
        features F_u = F_i = 0 in the V maps.

    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> p["embeddings"]["user"].shape, p["dense"]["layers"][0]["W"].shape
    ((5, 4), (13, 8))
    """
    keys = iter(jax.random.split(key, 8 + len(cfg.hidden_dims)))
    glorot = jax.nn.initializers.glorot_uniform()

    def normal(shape):
        return cfg.init_scale * jax.random.normal(next(keys), shape, jnp.float32)

    d, k = cfg.embedding_dim, cfg.dot_dim
    embeddings = {
        "user": normal((n_users, d)),  # P
        "item": normal((n_items, d)),  # Q
        "user_dot": normal((n_users, k)),  # P'
        "item_dot": normal((n_items, k)),  # Q'
        "user_bias": jnp.zeros((n_users,), jnp.float32),  # b_u
        "item_bias": jnp.zeros((n_items,), jnp.float32),  # b_i
    }
    layers = []
    width = input_width(cfg, n_user_features, n_item_features)
    for out in cfg.hidden_dims:
        layers.append({"W": glorot(next(keys), (width, out)), "b": jnp.zeros((out,))})
        width = out
    f_u = n_user_features if cfg.use_features else 0
    f_i = n_item_features if cfg.use_features else 0
    dense = {
        "layers": layers,
        "head": {
            # A zero-width a^L (no MLP, no input) gets an empty head vector.
            "w": glorot(next(keys), (width, 1))[:, 0] if width else jnp.zeros((0,)),
            "b": jnp.asarray(global_mean, jnp.float32),
        },
        "user_feature_dot": normal((f_u, k)),  # V_U
        "item_feature_dot": normal((f_i, k)),  # V_I
    }
    return {"embeddings": embeddings, "dense": dense}


def embedding_rows(params: Params, users: jax.Array, items: jax.Array) -> Rows:
    """The rows of every id table a batch touches: P_u, Q_i, P'_u, Q'_i, b_u, b_i.

    Gathered once per batch and shared by the forward pass and the L2 penalty,
    so that autodiff scatters each table's gradient once, not once per use.
    ``users`` and ``items`` are (B,) int indices.
    Returns {"user": (B, d), "item": (B, d), "user_dot": (B, k), "item_dot":
    (B, k), "user_bias": (B,), "item_bias": (B,)}.
    """
    emb, ids = params["embeddings"], {"user": users, "item": items}
    return {name: emb[name][ids[side]] for side in SIDES for name in SIDE_TABLES[side]}


def with_new_entities(
    params: Params,
    features: Features,
    new_user_features: jax.Array | None = None,
    new_item_features: jax.Array | None = None,
) -> tuple[Params, Features]:
    """Append zero id rows and the given content rows for new users and items.

    The n new users get indices U..U+n-1 (items likewise), so every scorer works
    on them unchanged.

    Args:
        params: the pytree of :func:`init_params`.
        features: {"user": (U, F_u), "item": (I, F_i)} float32 content tables.
        new_user_features: (n, F_u) (or (F_u,)) content rows of new users.
        new_item_features: (n, F_i) (or (F_i,)) content rows of new items.

    Returns:
        (params, features) with U + n users (I + n items): zero rows in every id
        table of that side (P, P', b_u or Q, Q', b_i), the given content rows.

    Raises:
        ValueError: a content row of the wrong width.

    >>> import numpy as np
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
        new = jnp.atleast_2d(jnp.asarray(new, jnp.float32))  # (n, F)
        if new.shape[1] != features[side].shape[1]:
            raise ValueError(
                f"new {side} features have {new.shape[1]} columns; the model was "
                f"trained with {features[side].shape[1]}"
            )
        for name in SIDE_TABLES[side]:
            table = embeddings[name]
            zeros = jnp.zeros((new.shape[0], *table.shape[1:]), table.dtype)
            embeddings[name] = jnp.concatenate([table, zeros])
        features[side] = jnp.concatenate([features[side], new])
    return {**params, "embeddings": embeddings}, features


def zero_entity_rows(
    params: Params, users: jax.Array | None = None, items: jax.Array | None = None
) -> Params:
    """``params`` with the id rows (embeddings and biases) of the given users and
    items set to zero: those entities are then scored from content alone.

    Args:
        params: the pytree of :func:`init_params` (not changed: a new pytree).
        users: (n,) int user indices, or None.
        items: (m,) int item indices, or None.
    """
    embeddings = dict(params["embeddings"])
    for side, index in (("user", users), ("item", items)):
        if index is None or len(index) == 0:  # nothing to zero: no copy
            continue
        for name in SIDE_TABLES[side]:
            embeddings[name] = embeddings[name].at[jnp.asarray(index)].set(0.0)
    return {**params, "embeddings": embeddings}


def embedding_rows_penalty(rows: Rows) -> jax.Array:
    """||P_u||^2 + ||Q_i||^2 + ||P'_u||^2 + ||Q'_i||^2 + b_u^2 + b_i^2 per example.

    Only the rows a batch touches (:func:`embedding_rows`) are penalised, once
    per occurrence, as in the classic SGD objective
    sum_(u,i) [(y - y_hat)^2 + lambda (||p_u||^2 + ...)]. Shape (B,).
    """
    total = rows["user_bias"] ** 2 + rows["item_bias"] ** 2
    for name in ("user", "item", "user_dot", "item_dot"):
        total = total + jnp.sum(rows[name] ** 2, axis=-1)
    return total


def dense_weights(params: Params) -> list[jax.Array]:
    """Every dense weight matrix: W^0..W^{L-1}, w, V_U, V_I (not the biases)."""
    dense = params["dense"]
    return [layer["W"] for layer in dense["layers"]] + [
        dense["head"]["w"],
        dense["user_feature_dot"],
        dense["item_feature_dot"],
    ]


def dense_weights_penalty(params: Params) -> jax.Array:
    """sum_l ||W^l||^2 + ||w||^2 + ||V_U||^2 + ||V_I||^2 (biases are not penalised)."""
    return sum(jnp.sum(w**2) for w in dense_weights(params))


def count_parameters(params: Params) -> int:
    """The number of scalars in ``params``."""

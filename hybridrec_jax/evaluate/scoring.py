"""Score every item for many users with the factorised first layer (DESIGN.md 1).

The first layer is linear in the concatenation a^0 = [P_u ; Q_i ; x_u ; x_i], so
splitting W^0 by rows into W_P, W_Q, W_U, W_I gives

    z^1_ui = a^0 W^0 + b^0 = (P_u W_P + x_u W_U) + (Q_i W_Q + x_i W_I + b^0)
           = h_u + h_i.

h_u is computed once per user and h_i once per item, so scoring all |I| items
for a user costs a broadcast add and the layers after the first, instead of
|I| full first-layer products. Without hidden layers the same split applies to
the head: h_u = P_u w_P + x_u w_U, h_i = Q_i w_Q + x_i w_I + b (width 1). The
user and item biases and the dot branch <p_u, q_i> are added per pair. The item
side is computed once per call and the user side once per chunk of users, so a
caller that scores users chunk by chunk pays only for the users it asks for.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.model import ACTIVATION_FUNCTIONS, Features, Params, forward

#: Upper bound on the elements of the (chunk, I, D_1) block scored at once.
CHUNK_ELEMENTS = 1 << 22


def _first_layer(params: Params) -> tuple[jax.Array, jax.Array]:
    """W^0 (D_0, D_1) and b^0 (D_1,); without hidden layers the head (D_1 = 1)."""
    dense = params["dense"]
    if dense["layers"]:
        return dense["layers"][0]["W"], dense["layers"][0]["b"]
    return dense["head"]["w"][:, None], dense["head"]["b"][None]


def user_rows(params, cfg, features, users):
    """h_u = P_u W_P + x_u W_U (n, D_1) and p_u = P'_u + x_u V_U (n, k)."""
    emb, dense = params["embeddings"], params["dense"]
    W, d = _first_layer(params)[0], cfg.embedding_dim
    h = emb["user"][users] @ W[:d]  # P_u W_P
    p = emb["user_dot"][users]  # P'_u
    if cfg.use_features:
        x = features["user"][users]  # (n, F_u)
        h = h + x @ W[2 * d : 2 * d + x.shape[1]]  # + x_u W_U
        p = p + x @ dense["user_feature_dot"]  # + x_u V_U
    return h, p


def item_rows(params, cfg, features, items):
    """h_i = Q_i W_Q + x_i W_I + b^0 (n, D_1) and q_i = Q'_i + x_i V_I (n, k)."""
    emb, dense = params["embeddings"], params["dense"]
    (W, b), d = _first_layer(params), cfg.embedding_dim
    h = emb["item"][items] @ W[d : 2 * d] + b  # Q_i W_Q + b^0
    q = emb["item_dot"][items]  # Q'_i
    if cfg.use_features:
        x = features["item"][items]  # (n, F_i)
        h = h + x @ W[W.shape[0] - x.shape[1] :]  # + x_i W_I (the last F_i rows)
        q = q + x @ dense["item_feature_dot"]  # + x_i V_I
    return h, q


@partial(jax.jit, static_argnames=("cfg",))
def user_item_tables(
    params: Params, cfg: ModelConfig, features: Features
) -> tuple[jax.Array, jax.Array]:
    """h_user = P W_P + X_U W_U (U, D_1) and h_item = Q W_Q + X_I W_I + b^0 (I, D_1).

    Without hidden layers W^0 is the head (w as a (D_0, 1) matrix, b^0 its bias)
    and D_1 = 1.

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> [t.shape for t in user_item_tables(p, ModelConfig.tiny(), feats)]
    [(5, 8), (7, 8)]
    """
    emb = params["embeddings"]
    users, items = jnp.arange(emb["user"].shape[0]), jnp.arange(emb["item"].shape[0])
    return (
        user_rows(params, cfg, features, users)[0],
        item_rows(params, cfg, features, items)[0],
    )


_item_rows = jax.jit(item_rows, static_argnames=("cfg",))


@partial(jax.jit, static_argnames=("cfg",))
def _score_chunk(params, cfg, features, users, items, h_item, q):
    """Scores (c, n_items) of the ``items`` for a chunk of ``users`` (c,)."""
    emb, dense = params["embeddings"], params["dense"]
    h_user, p = user_rows(params, cfg, features, users)  # (c, D_1), (c, k)
    z = h_user[:, None, :] + h_item[None, :, :]  # z^1 = h_u + h_i: (c, n, D_1)
    if dense["layers"]:
        sigma = ACTIVATION_FUNCTIONS[cfg.activation]
        a = sigma(z)
        for layer in dense["layers"][1:]:
            a = sigma(a @ layer["W"] + layer["b"])  # (c, n, D_{l+1})
        scores = a @ dense["head"]["w"] + dense["head"]["b"]  # (c, n)
    else:
        scores = z[..., 0]  # the head itself was split: (c, n)
    if cfg.use_biases:
        scores = scores + emb["user_bias"][users][:, None] + emb["item_bias"][items]
    if cfg.dot_dim > 0:
        scores = scores + p @ q.T  # <p_u, q_i>: (c, n)
    return scores


def score_all(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: jax.Array,
    items: jax.Array | None = None,
    *,
    chunk_size: int | None = None,
) -> jax.Array:
    """y_hat (or the logit) of every item for each user, shape (n, I).

    Equal to ``model.forward`` on every (user, item) pair (without dropout), via
    the factorised first layer z^1_ui = h_u + h_i. Users are processed in chunks
    of ``chunk_size`` (padded, so one compile serves every chunk), which bounds
    memory to chunk_size * I * D_1 activations.

    Args:
        params: the pytree of ``model.init_params``.
        cfg: the model configuration.
        features: {"user": (U, F_u), "item": (I, F_i)}.
        users: (n,) user indices.
        items: (n_items,) item indices to score; None scores all I items.
        chunk_size: users per chunk; None picks one from ``CHUNK_ELEMENTS``.

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> score_all(p, ModelConfig.tiny(), feats, jnp.array([0, 4])).shape
    (2, 7)
    """
    n_all_items = params["embeddings"]["item"].shape[0]
    items = jnp.arange(n_all_items) if items is None else jnp.asarray(items)
    h_item, q = _item_rows(params, cfg, features, items)  # once per call
    users = np.asarray(users)
    n, n_items = users.shape[0], items.shape[0]
    if n == 0:
        return jnp.zeros((0, n_items), h_item.dtype)
    if chunk_size is None:
        chunk_size = CHUNK_ELEMENTS // max(n_items * h_item.shape[1], 1)
    size = int(min(max(chunk_size, 1), n))
    n_chunks = -(-n // size)
    padded = np.concatenate([users, np.zeros(n_chunks * size - n, users.dtype)])
    chunks = [
        _score_chunk(
            params,
            cfg,
            features,
            jnp.asarray(padded[c * size : (c + 1) * size]),
            items,
            h_item,
            q,
        )
        for c in range(n_chunks)
    ]  # dispatched asynchronously
    return jnp.concatenate(chunks)[:n]


@partial(jax.jit, static_argnames=("cfg",))
def score_all_plain(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: jax.Array,
    items: jax.Array | None = None,
) -> jax.Array:
    """The slow reference: ``model.forward`` on all n * I pairs, shape (n, I).

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> score_all_plain(p, ModelConfig.tiny(), feats, jnp.array([0, 4])).shape
    (2, 7)
    """
    if items is None:
        items = jnp.arange(params["embeddings"]["item"].shape[0])
    n, n_items = users.shape[0], items.shape[0]
    pair_users = jnp.repeat(users, n_items)  # (n * I,)
    pair_items = jnp.tile(items, n)  # (n * I,)
    return forward(params, cfg, pair_users, pair_items, features).reshape(n, n_items)

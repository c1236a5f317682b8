"""The hybrid model as pure functions over a dict pytree (DESIGN.md section 1).

For a batch of B interactions (u, i) the network computes

    a^0     = [P_u ; Q_i ; x_u ; x_i]                      input layer, (B, D_0)
    a^{l+1} = sigma(a^l W^l + b^l)                          hidden layers
    y_hat   = a^L w + b + b_u + b_i + <P'_u + x_u V_U, Q'_i + x_i V_I>

The paper writes a layer as sigma(W a + b) for one column vector a; in code a batch
is a stack of rows, so the same layer reads ``a @ W + b`` with W of shape
(in, out). ``b`` of the head starts at the training mean mu, so it plays the role
of the global mean. The last term is the optional dot-product branch (NeuMF-style
fusion): collaborative factors P', Q' plus linear maps V of the content, so that a
user or item known only by its features still gets a factor (LightFM's idea).
For ratings y_hat is the prediction; for implicit feedback it is the logit z and
the probability is sigmoid(z).

Parameters are split into ``embeddings`` (tables indexed by user or item id, of
which a batch touches a few rows) and ``dense`` (everything else), so that a
row-sparse optimiser can later replace the dense update of the tables.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.dropout import dropout

Params = dict[str, Any]
Features = dict[str, jax.Array]  # {"user": (U, F_u), "item": (I, F_i)}
Rows = dict[str, jax.Array]  # embedding_rows: {"user": (B, d), ...}

ACTIVATION_FUNCTIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "identity": lambda z: z,
}


def input_width(cfg: ModelConfig, n_user_features: int, n_item_features: int) -> int:
    """D_0, the width of a^0 = [P_u ; Q_i ; x_u ; x_i]."""
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


def dense_layer(a: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """z = a W + b for a batch of rows a (B, in), W (in, out), b (out,)."""
    return a @ W + b


def embedding_rows(params: Params, users: jax.Array, items: jax.Array) -> Rows:
    """The rows of every id table a batch touches: P_u, Q_i, P'_u, Q'_i, b_u, b_i.

    Gathered once per batch and shared by the forward pass and the L2 penalty,
    so that autodiff scatters each table's gradient once, not once per use.
    """
    emb = params["embeddings"]
    return {
        name: emb[name][users if name.startswith("user") else items]
        for name in ("user", "item", "user_dot", "item_dot", "user_bias", "item_bias")
    }


def input_layer(
    params: Params,
    cfg: ModelConfig,
    users: jax.Array,
    items: jax.Array,
    features: Features,
    rows: Rows | None = None,
) -> jax.Array:
    """a^0 = [P_u ; Q_i ; x_u ; x_i], shape (B, D_0)."""
    rows = rows if rows is not None else embedding_rows(params, users, items)
    parts = [rows["user"], rows["item"]]  # (B, d) each
    if cfg.use_features:
        parts += [
            features["user"][users],
            features["item"][items],
        ]  # (B, F_u), (B, F_i)
    return jnp.concatenate(parts, axis=-1)


@jax.custom_vjp
def first_layer(
    embedded: jax.Array, content: jax.Array, W: jax.Array, b: jax.Array
) -> jax.Array:
    """z^1 = a^0 W^0 + b^0 with a^0 = [e ; x]: e = [P_u ; Q_i] (B, 2d) the
    embedding rows, x = [x_u ; x_i] (B, F) the content, W^0 = [W_e ; W_x].

    The backward pass is written out (delta = dJ/dz^1, shape (B, D_1)):

        dJ/dW^0 = a^0^T delta,   dJ/db^0 = sum over rows of delta,
        dJ/de = delta W_e^T,     dJ/dx = delta W_x^T.

    Autodiff of the one product would form delta W^0^T whole and slice it, so
    dJ/dx, which training never uses (x is data), would always be paid for.
    As two products, XLA drops dJ/dx as dead code: one matmul forward and two
    backward, against four and six for a block-by-block product. Being a
    ``jax.custom_vjp``, it supports reverse-mode autodiff (``jax.grad``,
    ``jax.vjp``) but not forward mode (``jax.jvp``, ``jax.jacfwd``).
    """
    return jnp.concatenate([embedded, content], axis=-1) @ W + b


def _first_layer_forward(embedded, content, W, b):
    a0 = jnp.concatenate([embedded, content], axis=-1)  # (B, D_0)
    return a0 @ W + b, (a0, content, W)


def _first_layer_backward(residuals, delta):
    a0, content, W = residuals
    n_embedded = a0.shape[-1] - content.shape[-1]
    return (
        delta @ W[:n_embedded].T,  # dJ/de
        delta @ W[n_embedded:].T,  # dJ/dx (dead code in training)
        a0.T @ delta,  # dJ/dW^0
        jnp.sum(delta, axis=0),  # dJ/db^0
    )


first_layer.defvjp(_first_layer_forward, _first_layer_backward)


def first_preactivation(
    params: Params,
    cfg: ModelConfig,
    users: jax.Array,
    items: jax.Array,
    features: Features,
    rows: Rows | None = None,
) -> jax.Array:
    """z^1 = a^0 W^0 + b^0, shape (B, D_1), by :func:`first_layer`."""
    layer = params["dense"]["layers"][0]
    rows = rows if rows is not None else embedding_rows(params, users, items)
    embedded = jnp.concatenate([rows["user"], rows["item"]], axis=-1)  # (B, 2d)
    if cfg.use_features:
        content = jnp.concatenate(
            [features["user"][users], features["item"][items]], axis=-1
        )  # (B, F_u + F_i)
    else:
        content = jnp.zeros((embedded.shape[0], 0), embedded.dtype)
    return first_layer(embedded, content, layer["W"], layer["b"])


def dot_factors(
    params: Params,
    cfg: ModelConfig,
    users: jax.Array,
    items: jax.Array,
    features: Features,
    rows: Rows | None = None,
) -> tuple[jax.Array, jax.Array]:
    """The dot-branch factors P'_u + x_u V_U and Q'_i + x_i V_I, each (B, k)."""
    dense = params["dense"]
    rows = rows if rows is not None else embedding_rows(params, users, items)
    user_factor, item_factor = rows["user_dot"], rows["item_dot"]
    if cfg.use_features:
        user_factor = user_factor + features["user"][users] @ dense["user_feature_dot"]
        item_factor = item_factor + features["item"][items] @ dense["item_feature_dot"]
    return user_factor, item_factor


def forward(
    params: Params,
    cfg: ModelConfig,
    users: jax.Array,
    items: jax.Array,
    features: Features,
    dropout_key: jax.Array | None = None,
    rows: Rows | None = None,
) -> jax.Array:
    """y_hat (or the logit z) for a batch of (user, item) index pairs, shape (B,).

    Args:
        params: the pytree of :func:`init_params`.
        cfg: the model configuration.
        users: (B,) int user indices u.
        items: (B,) int item indices i.
        features: {"user": (U, F_u), "item": (I, F_i)} content tables.
        dropout_key: a key switches dropout on (training); None is inference.
        rows: :func:`embedding_rows` of (users, items), if already gathered.
    """
    sigma = ACTIVATION_FUNCTIONS[cfg.activation]
    dense = params["dense"]
    rows = rows if rows is not None else embedding_rows(params, users, items)
    if dense["layers"]:
        a = first_preactivation(params, cfg, users, items, features, rows)  # z^1
    else:
        a = input_layer(params, cfg, users, items, features, rows)  # a^0 (B, D_0)
    for layer_index, layer in enumerate(dense["layers"]):
        if layer_index > 0:
            a = dense_layer(a, layer["W"], layer["b"])  # z^{l+1} (B, D_{l+1})
        a = sigma(a)  # a^{l+1}
        if dropout_key is not None and cfg.dropout > 0:
            a = dropout(a, cfg.dropout, jax.random.fold_in(dropout_key, layer_index))
    output = a @ dense["head"]["w"] + dense["head"]["b"]  # (B,)
    if cfg.use_biases:
        output = output + rows["user_bias"] + rows["item_bias"]
    if cfg.dot_dim > 0:
        user_factor, item_factor = dot_factors(
            params, cfg, users, items, features, rows
        )
        output = output + jnp.sum(user_factor * item_factor, axis=-1)
    return output


def embedding_rows_penalty(
    params: Params, users: jax.Array, items: jax.Array, rows: Rows | None = None
) -> jax.Array:
    """||P_u||^2 + ||Q_i||^2 + ||P'_u||^2 + ||Q'_i||^2 + b_u^2 + b_i^2 per example.

    Only the rows a batch touches are penalised, once per occurrence, as in the
    classic SGD objective sum_(u,i) [(y - y_hat)^2 + lambda (||p_u||^2 + ...)].
    """
    rows = rows if rows is not None else embedding_rows(params, users, items)
    total = rows["user_bias"] ** 2 + rows["item_bias"] ** 2
    for name in ("user", "item", "user_dot", "item_dot"):
        total = total + jnp.sum(rows[name] ** 2, axis=-1)
    return total


def dense_weights_penalty(params: Params) -> jax.Array:
    """sum_l ||W^l||^2 + ||w||^2 + ||V_U||^2 + ||V_I||^2 (biases are not penalised)."""
    dense = params["dense"]
    total = jnp.sum(dense["head"]["w"] ** 2)
    total = total + jnp.sum(dense["user_feature_dot"] ** 2)
    total = total + jnp.sum(dense["item_feature_dot"] ** 2)
    for layer in dense["layers"]:
        total = total + jnp.sum(layer["W"] ** 2)
    return total


def count_parameters(params: Params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))

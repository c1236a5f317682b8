"""The hybrid model as pure functions over a dict pytree (README, "The model").

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

The first layer is linear in a^0, so splitting W^0 by rows into the blocks
W_P, W_Q, W_U, W_I (:func:`first_layer_blocks`) factorises it:

    z^1_ui = a^0 W^0 + b^0 = (P_u W_P + x_u W_U) + (Q_i W_Q + x_i W_I + b^0)
           = h_u + h_i                    (:func:`user_side`, :func:`item_side`)

Without hidden layers the head itself is that first layer (D_1 = 1). Every
consumer (training, the scorers, the recommender, cold start, the hand-written
backward pass) builds the network from the pieces defined here: the blocks, the
two sides, the dot factors (:func:`dot_factor`) and the layers after the first
(:func:`mlp_tail`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.dropout import dropout
from hybridrec_jax.model.params import Features, Params, Rows, embedding_rows

ACTIVATION_FUNCTIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "identity": lambda z: z,
}


def dense_layer(a: jax.Array, W: jax.Array, b: jax.Array) -> jax.Array:
    """z = a W + b, the paper's z = W a + b for a stack of rows (W transposed).

    Args:
        a: (..., in) float activations, any leading axes.
        W: (in, out) weights.
        b: (out,) bias, broadcast over the leading axes explicitly.

    Returns:
        (..., out) float pre-activations.
    """
    return a @ W + jnp.expand_dims(b, tuple(range(a.ndim - 1)))


def first_layer_weights(params: Params) -> tuple[jax.Array, jax.Array]:
    """W^0 (D_0, D_1) and b^0 (D_1,); without hidden layers the head (D_1 = 1)."""
    dense = params["dense"]
    if dense["layers"]:
        return dense["layers"][0]["W"], dense["layers"][0]["b"]
    return dense["head"]["w"][:, None], dense["head"]["b"][None]


def first_layer_blocks(params: Params, cfg: ModelConfig) -> dict[str, jax.Array]:
    """W^0 split by the rows that multiply each part of a^0 = [P_u ; Q_i ; x_u ; x_i].

    Returns:
        {"user": W_P (d, D_1), "item": W_Q (d, D_1), "user_content": W_U
        (F_u, D_1), "item_content": W_I (F_i, D_1), "bias": b^0 (D_1,)}; the
        content blocks have 0 rows without content features. F_u is read off
        V_U, whose rows are the user's content columns.

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> {k: v.shape for k, v in first_layer_blocks(p, ModelConfig.tiny()).items()}
    {'user': (4, 8), 'item': (4, 8), 'user_content': (3, 8), 'item_content': (2, 8), 'bias': (8,)}
    """  # noqa: E501
    W, b = first_layer_weights(params)
    d = cfg.embedding_dim
    f_u = params["dense"]["user_feature_dot"].shape[0] if cfg.use_features else 0
    return {
        "user": W[:d],
        "item": W[d : 2 * d],
        "user_content": W[2 * d : 2 * d + f_u],
        "item_content": W[2 * d + f_u :],
        "bias": b,
    }


def content(
    cfg: ModelConfig,
    features: Features,
    side: str,
    ids: jax.Array,
    kept: jax.Array | None = None,
):
    """The content rows x_u or x_i of the given ids.

    With ``kept`` (id dropout in training) and a 0/1 column mask m =
    ``features[side + "_interaction_columns"]`` (F,), the interaction
    columns of the dropped examples are zeroed, x <- x * (1 - m) where not
    kept, as a cold entity's are at test time (they summarise its training
    interactions, which it has none of).

    Args:
        cfg: the model configuration (``use_features``).
        features: {"user": (U, F_u), "item": (I, F_i)} float32 content tables
            (and optionally the column masks above).
        side: "user" or "item".
        ids: (n,) int indices.
        kept: (n,) bool, False where the example's id rows were dropped.

    Returns:
        (n, F_u) or (n, F_i) float32; (n, 0) without content features.
    """
    if not cfg.use_features:
        return jnp.zeros((ids.shape[0], 0), jnp.float32)
    x = features[side][ids]
    columns = features.get(f"{side}_interaction_columns")
    if kept is None or columns is None:
        return x
    hidden = (~kept).astype(x.dtype)[:, None] * columns[None, :]  # (n, F)
    return x * (1.0 - hidden)


def dot_factor(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    side: str,
    ids: jax.Array,
    dot_rows: jax.Array | None = None,
    kept: jax.Array | None = None,
) -> jax.Array:
    """The dot-branch factor p_u = P'_u + x_u V_U or q_i = Q'_i + x_i V_I.

    Args:
        params: the pytree of ``model.init_params``.
        cfg: the model configuration.
        features: {"user": (U, F_u), "item": (I, F_i)} float32 content tables.
        side: "user" (p_u) or "item" (q_i).
        ids: (n,) int indices.
        dot_rows: (n, k) P'_u (or Q'_i) if already gathered; zero rows give a
            new entity its factor from content alone.
        kept: (n,) bool for :func:`content` (id dropout in training).

    Returns:
        (n, k) float32 factors; the branch adds <p_u, q_i> to the output.
    """
    rows = params["embeddings"][f"{side}_dot"][ids] if dot_rows is None else dot_rows
    if cfg.use_features:
        x = content(cfg, features, side, ids, kept)  # (n, F)
        rows = rows + x @ params["dense"][f"{side}_feature_dot"]
    return rows


def side_preactivation(
    params: Params, cfg: ModelConfig, features: Features, side: str, ids: jax.Array
) -> jax.Array:
    """h_u = P_u W_P + x_u W_U ("user") or h_i = Q_i W_Q + x_i W_I + b^0 ("item").

    The share of z^1 = h_u + h_i (module docstring) that depends on one side.

    Args:
        params: the pytree of ``model.init_params``.
        cfg: the model configuration.
        features: {"user": (U, F_u), "item": (I, F_i)} float32 content tables.
        side: "user" or "item".
        ids: (n,) int indices.

    Returns:
        (n, D_1) float32.
    """
    blocks = first_layer_blocks(params, cfg)
    h = params["embeddings"][side][ids] @ blocks[side]  # P_u W_P or Q_i W_Q
    h = h + content(cfg, features, side, ids) @ blocks[f"{side}_content"]
    if side == "item":
        h = h + blocks["bias"][None, :]  # + b^0
    return h


def user_side(params, cfg, features, users) -> tuple[jax.Array, jax.Array]:
    """Everything the network needs of users: (h_u (n, D_1), p_u (n, k)).

    Args as :func:`side_preactivation` with ``users`` (n,) int the ids; h_u by
    :func:`side_preactivation`, p_u by :func:`dot_factor`.
    """
    return (
        side_preactivation(params, cfg, features, "user", users),
        dot_factor(params, cfg, features, "user", users),
    )


def item_side(params, cfg, features, items) -> tuple[jax.Array, jax.Array]:
    """Everything the network needs of items: (h_i (n, D_1), q_i (n, k)).

    Args as :func:`side_preactivation` with ``items`` (n,) int the ids; h_i by
    :func:`side_preactivation` (b^0 included), q_i by :func:`dot_factor`.
    """
    return (
        side_preactivation(params, cfg, features, "item", items),
        dot_factor(params, cfg, features, "item", items),
    )


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

    Args:
        embedded: (B, 2d) float, [P_u ; Q_i].
        content: (B, F) float, [x_u ; x_i] (F = 0 without content features).
        W: (2d + F, D_1) the first layer's weights W^0 (the head as a column
            without hidden layers).
        b: (D_1,) its bias b^0.

    Returns:
        (B, D_1) float, z^1.
    """
    return dense_layer(jnp.concatenate([embedded, content], axis=-1), W, b)


def _first_layer_forward(embedded, content, W, b):
    a0 = jnp.concatenate([embedded, content], axis=-1)  # (B, D_0)
    return dense_layer(a0, W, b), (a0, content, W)


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


def mlp_tail(
    params: Params,
    cfg: ModelConfig,
    z1: jax.Array,
    dropout_key: jax.Array | None = None,
) -> jax.Array:
    """The network after z^1: a^1 = sigma(z^1), a^{l+1} = sigma(a^l W^l + b^l),
    then the head a^L w + b. Shape (..., D_1) -> (...,), any leading axes.

    Without hidden layers z^1 is already the head's output (D_1 = 1). With a
    ``dropout_key``, inverted dropout at rate ``cfg.dropout`` follows every
    hidden activation (the key of layer l is ``fold_in(dropout_key, l)``).

    Args:
        params: the pytree of ``model.init_params``.
        cfg: the model configuration (``activation``, ``dropout``).
        z1: (..., D_1) float first-layer pre-activations.
        dropout_key: switches dropout on (training) when given.

    Returns:
        (...,) float, a^L w + b (before the biases b_u, b_i and the dot branch).
    """
    dense = params["dense"]
    if not dense["layers"]:
        return z1[..., 0]
    sigma = ACTIVATION_FUNCTIONS[cfg.activation]
    a = z1
    for layer_index, layer in enumerate(dense["layers"]):
        if layer_index > 0:
            a = dense_layer(a, layer["W"], layer["b"])  # z^{l+1}: (..., D_{l+1})
        a = sigma(a)  # a^{l+1}
        if dropout_key is not None and cfg.dropout > 0:
            a = dropout(a, cfg.dropout, jax.random.fold_in(dropout_key, layer_index))
    return a @ dense["head"]["w"] + dense["head"]["b"]  # (...,)


def forward(
    params: Params,
    cfg: ModelConfig,
    users: jax.Array,
    items: jax.Array,
    features: Features,
    dropout_key: jax.Array | None = None,
    rows: Rows | None = None,
) -> jax.Array:
    """y_hat (or the logit z) for a batch of (user, item) index pairs.

    Args:
        params: the pytree of :func:`init_params`.
        cfg: the model configuration.
        users: (B,) int user indices u.
        items: (B,) int item indices i.
        features: {"user": (U, F_u), "item": (I, F_i)} float32 content tables.
        dropout_key: a key switches dropout on (training); None is inference.
        rows: :func:`embedding_rows` of (users, items), if already gathered
            (with ``dropout.id_dropout``'s "user_kept" / "item_kept" masks,
            the interaction columns of the dropped examples are hidden too).

    Returns:
        (B,) float32: y_hat = mlp_tail(z^1) + b_u + b_i + <p_u, q_i> (module
        docstring), z^1 by the one fused product of :func:`first_layer`.
    """
    rows = rows if rows is not None else embedding_rows(params, users, items)
    embedded = jnp.concatenate([rows["user"], rows["item"]], axis=-1)  # (B, 2d)
    kept = {side: rows.get(f"{side}_kept") for side in ("user", "item")}
    x_u = content(cfg, features, "user", users, kept["user"])  # (B, F_u)
    x_i = content(cfg, features, "item", items, kept["item"])  # (B, F_i)
    x = jnp.concatenate([x_u, x_i], axis=-1)  # (B, F_u + F_i)
    W, b = first_layer_weights(params)
    output = mlp_tail(params, cfg, first_layer(embedded, x, W, b), dropout_key)
    if cfg.use_biases:
        output = output + rows["user_bias"] + rows["item_bias"]
    if cfg.dot_dim > 0:
        p = dot_factor(params, cfg, features, "user", users, rows["user_dot"],
                       kept["user"])  # fmt: skip
        q = dot_factor(params, cfg, features, "item", items, rows["item_dot"],
                       kept["item"])  # fmt: skip
        output = output + jnp.sum(p * q, axis=-1)  # <p_u, q_i>: (B,)
    return output


def score_block(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: jax.Array,
    items: jax.Array,
    item_side_rows: tuple[jax.Array, jax.Array] | None = None,
) -> jax.Array:
    """y_hat for every (user, item) of a block, (n_users, n_items), factorised.

    z^1_ui = h_u + h_i (the module docstring), so the first layer costs one
    product per user and per item instead of one per pair. Equal to
    :func:`forward` on every pair (without dropout) to float tolerance.

    Args:
        params: the pytree of ``model.init_params``.
        cfg: the model configuration.
        features: {"user": (U, F_u), "item": (I, F_i)} float32 content tables.
        users: (c,) int user indices.
        items: (n,) int item indices.
        item_side_rows: :func:`item_side` of ``items`` if already computed
            (once per call of a scorer that visits many user chunks).

    Returns:
        (c, n) float32, y_hat (or the logit) of every pair.
    """
    emb = params["embeddings"]
    h_u, p = user_side(params, cfg, features, users)  # (c, D_1), (c, k)
    h_i, q = item_side_rows or item_side(params, cfg, features, items)  # (n, D_1)
    scores = mlp_tail(params, cfg, h_u[:, None, :] + h_i[None, :, :])  # (c, n)
    if cfg.use_biases:
        b_u, b_i = emb["user_bias"][users], emb["item_bias"][items]
        scores = scores + b_u[:, None] + b_i[None, :]
    if cfg.dot_dim > 0:
        scores = scores + p @ q.T  # <p_u, q_i>: (c, n)
    return scores

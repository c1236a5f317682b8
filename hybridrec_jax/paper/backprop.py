"""Back-propagation through the hybrid model, derived by hand.

With the notation of :mod:`hybridrec_jax.paper.math` (README, "The paper's math
by hand") and delta^l = dl/dz^l the error of one example at layer l,

    delta^l  = (delta^{l+1} W^{l T}) * sigma'(z^l),
    dJ/dW^l  = (1/m) sum_n a^{l T}_n delta^{l+1}_n,
    dJ/db^l  = (1/m) sum_n delta^{l+1}_n,

where 1/m becomes c_n = mask_n / max(sum(mask), 1) so padding rows count for
nothing. Of the input a^0 = [P_u ; Q_i ; x_u ; x_i] only the embedding rows need
an error, delta^1 W_P^T for P_u and delta^1 W_Q^T for Q_i (the blocks of
``model.first_layer_blocks``); x_u and x_i are data. Embedding rows receive their
error scatter-added (``.at[].add``), because a user or an item can occur several
times in one batch.

The forward pass is built from the model's own pieces (``embedding_rows``,
``content``, ``first_layer_weights``, ``dense_layer``, ``dot_factor``, the
penalties), so that only the derivatives are written here. The tests hold the
result equal to plain autodiff of an independent forward pass (float64, rtol
1e-10).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.losses import masked_mean
from hybridrec_jax.model import (
    ACTIVATION_FUNCTIONS,
    SIDE_TABLES,
    SIDES,
    Features,
    Params,
    content,
    dense_layer,
    dense_weights,
    dense_weights_penalty,
    dot_factor,
    embedding_rows,
    embedding_rows_penalty,
    first_layer_blocks,
    first_layer_weights,
)
from hybridrec_jax.paper.math import ACTIVATIONS, LOSSES


def _scatter_rows(table: jax.Array, index: jax.Array, rows: jax.Array) -> jax.Array:
    """zeros_like(table) with rows[n] added at index[n]: repeated ids accumulate."""
    return jnp.zeros_like(table).at[index].add(rows.astype(table.dtype))


def _add_weight_decay(grads: Params, params: Params, lam_w: float) -> Params:
    """grads + lambda_w dOmega/dtheta, dOmega/dW = 2 W for each W of Omega.

    Omega = sum ||W||^2 over ``model.dense_weights``, whose selection is read
    off by applying it to the tree of leaf paths, so the weights penalised here
    are by construction the ones the objective penalises.
    """
    paths = jax.tree_util.tree_map_with_path(lambda path, _: path, params)
    penalised = set(dense_weights(paths))
    return jax.tree_util.tree_map_with_path(
        lambda path, g, w: g + 2 * lam_w * w if path in penalised else g,
        grads,
        params,
    )


def hand_value_and_grad(
    params: Params,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    batch,
    features: Features,
) -> tuple[jax.Array, Params]:
    """J(theta) of ``train.objective`` and its gradient, derived by hand.

    J = sum_n c_n [l(y_n, y_hat_n) + lambda_e R_n] + lambda_w Omega, with
    c_n = mask_n / max(sum(mask), 1), R_n the squared norms of the embedding
    rows and biases of example n (``model.embedding_rows_penalty``), Omega the
    squared norms of the dense weights (``model.dense_weights_penalty``).
    Backward, with delta = dl/d output per example:

        dJ/dw = sum_n c_n delta_n a^L_n,     delta^L = (delta w^T) * sigma'(z^L),
        delta^l = (delta^{l+1} W^{l T}) * sigma'(z^l),
        dJ/dW^l = sum_n c_n a^{l T}_n delta^{l+1}_n + 2 lambda_w W^l,
        dJ/dP_u = sum_{n: u_n = u} c_n (delta^1_n W_P^T + 2 lambda_e P_u),
        dJ/dP'_u = sum_{n: u_n = u} c_n (delta_n q_n + 2 lambda_e P'_u),
        dJ/dV_U = sum_n c_n x_{u_n}^T delta_n q_n + 2 lambda_w V_U,
        dJ/db_u = sum_{n: u_n = u} c_n (delta_n + 2 lambda_e b_u),

    and likewise for the item side. Without hidden layers the head is the first
    layer (delta^1 = delta). Dropout is not part of the hand-derived pass: this
    is the objective without a dropout key.

    Args:
        params: the pytree of ``model.init_params`` (float32 or float64).
        model_cfg: the model configuration (``dropout`` is ignored).
        train_cfg: gives ``loss`` ("mse" or "bce"), ``l2_embedding``
            (lambda_e), ``l2_dense`` (lambda_w).
        batch: a ``train.Batch`` (users, items, targets, mask), each (m,):
            int ids, float targets, float mask (1 real row, 0 padding).
        features: {"user": (U, F_u), "item": (I, F_i)} float content tables.

    Returns:
        (J, grads): J a float scalar, grads shaped like ``params`` (same dict
        structure, same dtypes).

    Raises:
        KeyError: an unknown ``model_cfg.activation`` or ``train_cfg.loss``.

    >>> from hybridrec_jax.model import init_params
    >>> from hybridrec_jax.train import Batch
    >>> cfg, tcfg = ModelConfig.tiny(), TrainConfig.tiny()
    >>> p = init_params(jax.random.key(0), cfg, 3, 4, 2, 1)
    >>> feats = {"user": jnp.ones((3, 2)), "item": jnp.ones((4, 1))}
    >>> b = Batch(jnp.array([0, 0]), jnp.array([1, 3]), jnp.array([4.0, 2.0]),
    ...           jnp.ones(2))
    >>> J, g = hand_value_and_grad(p, cfg, tcfg, b, feats)
    >>> g["embeddings"]["user"].shape, g["dense"]["layers"][0]["W"].shape
    ((3, 4), (11, 8))
    """
    dense = params["dense"]
    users, items, y, mask = batch
    ids = {"user": users, "item": items}
    sigma = ACTIVATION_FUNCTIONS[model_cfg.activation]
    sigma_prime = ACTIVATIONS[model_cfg.activation][1]
    loss, loss_prime = LOSSES[train_cfg.loss]
    lam_e, lam_w = train_cfg.l2_embedding, train_cfg.l2_dense

    # Forward, keeping every a^l and z^{l+1}.
    rows = embedding_rows(params, users, items)  # P_u, Q_i, P'_u, ...: (m, .)
    x = {side: content(model_cfg, features, side, ids[side]) for side in SIDES}
    a0 = jnp.concatenate([rows["user"], rows["item"], x["user"], x["item"]], -1)
    activations = [a0]  # a^0: (m, D_0)
    pre_activations = [dense_layer(a0, *first_layer_weights(params))]  # z^1
    for layer in dense["layers"][1:]:
        activations.append(sigma(pre_activations[-1]))  # a^l
        pre_activations.append(dense_layer(activations[-1], layer["W"], layer["b"]))
    if dense["layers"]:
        a_L = sigma(pre_activations[-1])  # a^L: (m, D_L)
        output = a_L @ dense["head"]["w"] + dense["head"]["b"]  # (m,)
    else:
        output = pre_activations[0][:, 0]  # the head is the first layer
    if model_cfg.use_biases:
        output = output + rows["user_bias"] + rows["item_bias"]
    p = dot_factor(params, model_cfg, features, "user", users, rows["user_dot"])
    q = dot_factor(params, model_cfg, features, "item", items, rows["item_dot"])
    if model_cfg.dot_dim > 0:
        output = output + jnp.sum(p * q, axis=-1)  # <p, q>: (m,)

    per_example = loss(output, y) + lam_e * embedding_rows_penalty(rows)  # (m,)
    J = masked_mean(per_example, mask) + lam_w * dense_weights_penalty(params)

    # Backward. delta_n = dl/d output_n (d y_hat for MSE, d z for BCE): (m,)
    delta = loss_prime(output, y)
    c = mask / jnp.maximum(jnp.sum(mask), 1.0)  # c_n = d masked_mean / d value_n
    grad_dense = {}
    if dense["layers"]:
        grad_dense["head"] = {"w": a_L.T @ (c * delta), "b": jnp.sum(c * delta)}
        delta_a = delta[:, None] * dense["head"]["w"][None, :]  # dl/da^L = delta w^T
        delta_z = delta_a * sigma_prime(pre_activations[-1])  # delta^L: (m, D_L)
    else:
        delta_z = delta[:, None]  # delta^1 = dl/dz^1, z^1 = the output: (m, 1)
    layer_grads = []  # of W^{L-1}, ..., W^1
    for layer, a, z in zip(
        reversed(dense["layers"][1:]),
        reversed(activations[1:]),
        reversed(pre_activations[:-1]),
        strict=True,
    ):
        layer_grads.append(
            {
                "W": a.T @ (c[:, None] * delta_z),  # (1/m) sum a^{l T} delta^{l+1}
                "b": c @ delta_z,  # (1/m) sum delta^{l+1}
            }
        )
        delta_z = (delta_z @ layer["W"].T) * sigma_prime(z)  # delta^l: (m, D_l)
    # delta_z is delta^1 now: the first layer's weights, and the error of a^0.
    first = {"W": a0.T @ (c[:, None] * delta_z), "b": c @ delta_z}
    if dense["layers"]:
        grad_dense["layers"] = [first, *layer_grads[::-1]]
    else:
        grad_dense["layers"] = []
        grad_dense["head"] = {"w": first["W"][:, 0], "b": first["b"][0]}

    # The dot branch: d<p, q>/dp = q and d<p, q>/dq = p: (m, k).
    dot_delta = delta if model_cfg.dot_dim > 0 else jnp.zeros_like(delta)
    errors = {"user_dot": dot_delta[:, None] * q, "item_dot": dot_delta[:, None] * p}
    for side in SIDES:  # d(x V)/dV = x^T (c delta); x is (m, 0) without features
        grad_dense[f"{side}_feature_dot"] = x[side].T @ (
            c[:, None] * errors[f"{side}_dot"]
        )
    # Embedding rows: the slice of delta^0 (or the dot/bias error) that belongs to
    # each row, plus 2 lambda_e row, weighted by c_n and scatter-added. Unused
    # biases (use_biases False) still get the penalty's gradient.
    bias_error = delta if model_cfg.use_biases else jnp.zeros_like(delta)
    blocks = first_layer_blocks(params, model_cfg)  # W_P, W_Q, ... of W^0
    for side in SIDES:
        errors[side] = delta_z @ blocks[side].T  # delta^1 W_P^T or W_Q^T: (m, d)
        errors[f"{side}_bias"] = bias_error
    grad_embeddings = {}
    for side in SIDES:
        for name in SIDE_TABLES[side]:
            weight = c if rows[name].ndim == 1 else c[:, None]
            grad_embeddings[name] = _scatter_rows(
                params["embeddings"][name],
                ids[side],
                weight * (errors[name] + 2 * lam_e * rows[name]),
            )
    grads = {"embeddings": grad_embeddings, "dense": grad_dense}
    return J, _add_weight_decay(grads, params, lam_w)


def hand_grad(
    params: Params,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    batch,
    features: Features,
) -> Params:
    """dJ/dtheta by hand, shaped like ``params``: :func:`hand_value_and_grad`[1].

    Args and shapes as :func:`hand_value_and_grad`.

    Returns:
        grads, the pytree of ``params``' structure, shapes and dtypes.
    """
    return hand_value_and_grad(params, model_cfg, train_cfg, batch, features)[1]

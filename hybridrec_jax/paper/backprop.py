"""Back-propagation through the hybrid model, derived by hand.

With the notation of :mod:`math` and delta^l = dl/dz^l the error of one example
at layer l,

    delta^{l} = (delta^{l+1} W^{l T}) * sigma'(z^l),
    dJ/dW^l   = (1/m) sum_n a^{l T}_n delta^{l+1}_n,
    dJ/db^l   = (1/m) sum_n delta^{l+1}_n,

where 1/m becomes c_n = mask_n / max(sum(mask), 1) so padding rows count for
nothing. Embedding rows receive the slice of delta^0 that belongs to them,
scatter-added (``.at[].add``) because a user or an item can occur several times in
one batch. The tests hold the result equal to ``jax.grad`` of
``train.objective`` (float64, rtol 1e-10).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.model import Features, Params
from hybridrec_jax.paper.math import ACTIVATIONS, LOSSES, dense_layer


def _scatter_rows(table: jax.Array, index: jax.Array, rows: jax.Array) -> jax.Array:
    """zeros_like(table) with rows[n] added at index[n]: repeated ids accumulate."""
    return jnp.zeros_like(table).at[index].add(rows.astype(table.dtype))


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
    rows and biases of example n, Omega the squared norms of the dense weights.
    Dropout is not part of the hand-derived pass: this is the objective without
    a dropout key (``train.objective(..., dropout_key=None)``).

    Args:
        params: the pytree of ``model.init_params``.
        model_cfg: the model configuration (``dropout`` is ignored).
        train_cfg: gives ``loss``, ``l2_embedding`` (lambda_e), ``l2_dense``
            (lambda_w).
        batch: a ``train.Batch`` (users, items, targets, mask), each (m,).
        features: {"user": (U, F_u), "item": (I, F_i)}.

    Returns:
        (J, grads) with grads shaped like ``params`` (same dict structure).

    >>> from hybridrec_jax.model import init_params
    >>> from hybridrec_jax.train.fit import Batch
    >>> cfg, tcfg = ModelConfig.tiny(), TrainConfig.tiny()
    >>> p = init_params(jax.random.key(0), cfg, 3, 4, 2, 1)
    >>> feats = {"user": jnp.ones((3, 2)), "item": jnp.ones((4, 1))}
    >>> b = Batch(jnp.array([0, 0]), jnp.array([1, 3]), jnp.array([4.0, 2.0]),
    ...           jnp.ones(2))
    >>> J, g = hand_value_and_grad(p, cfg, tcfg, b, feats)
    >>> g["embeddings"]["user"].shape, g["dense"]["layers"][0]["W"].shape
    ((3, 4), (11, 8))
    """
    emb, dense = params["embeddings"], params["dense"]
    users, items, y, mask = batch
    sigma, sigma_prime = ACTIVATIONS[model_cfg.activation]
    loss, loss_prime = LOSSES[train_cfg.loss]
    lam_e, lam_w = train_cfg.l2_embedding, train_cfg.l2_dense
    d = model_cfg.embedding_dim

    # Forward, keeping every a^l and z^{l+1}.
    parts = [emb["user"][users], emb["item"][items]]  # P_u, Q_i: (m, d) each
    if model_cfg.use_features:
        parts += [features["user"][users], features["item"][items]]  # x_u, x_i
    activations, pre_activations = [jnp.concatenate(parts, axis=-1)], []  # a^0
    for layer in dense["layers"]:
        pre_activations.append(dense_layer(activations[-1], layer["W"], layer["b"]))
        activations.append(sigma(pre_activations[-1]))  # a^{l+1}: (m, D_{l+1})
    output = activations[-1] @ dense["head"]["w"] + dense["head"]["b"]  # (m,)
    if model_cfg.use_biases:
        output = output + emb["user_bias"][users] + emb["item_bias"][items]
    p, q = emb["user_dot"][users], emb["item_dot"][items]  # (m, k) each
    if model_cfg.use_features:
        p = p + features["user"][users] @ dense["user_feature_dot"]
        q = q + features["item"][items] @ dense["item_feature_dot"]
    if model_cfg.dot_dim > 0:
        output = output + jnp.sum(p * q, axis=-1)

    rows = {  # the embedding rows of each example, penalised by lambda_e R_n
        "user": (users, emb["user"][users]),
        "item": (items, emb["item"][items]),
        "user_dot": (users, emb["user_dot"][users]),
        "item_dot": (items, emb["item_dot"][items]),
        "user_bias": (users, emb["user_bias"][users]),
        "item_bias": (items, emb["item_bias"][items]),
    }
    penalty = sum(
        jnp.sum(r**2, axis=-1) if r.ndim == 2 else r**2 for _, r in rows.values()
    )  # R_n: (m,)
    dense_weights = [layer["W"] for layer in dense["layers"]] + [
        dense["head"]["w"], dense["user_feature_dot"], dense["item_feature_dot"]
    ]  # fmt: skip
    omega = sum(jnp.sum(w**2) for w in dense_weights)  # Omega (no biases)
    c = mask / jnp.maximum(jnp.sum(mask), 1.0)  # c_n, the masked 1/m: (m,)
    J = jnp.sum(c * (loss(output, y) + lam_e * penalty)) + lam_w * omega

    # Backward. delta_out_n = dl/d output_n (d y_hat for MSE, d z for BCE): (m,)
    delta = loss_prime(output, y)
    weighted = c * delta  # the factor 1/m (masked) folded in once: (m,)
    grad_dense = {
        "head": {
            "w": activations[-1].T @ weighted + 2 * lam_w * dense["head"]["w"],
            "b": jnp.sum(weighted),
        }
    }
    delta_a = delta[:, None] * dense["head"]["w"][None, :]  # dl/da^L: (m, D_L)
    layer_grads = []
    for layer, a, z in zip(
        reversed(dense["layers"]),
        reversed(activations[:-1]),
        reversed(pre_activations),
        strict=True,
    ):
        delta_z = delta_a * sigma_prime(z)  # delta^{l+1} = dl/dz^{l+1}
        layer_grads.append(
            {
                "W": a.T @ (c[:, None] * delta_z) + 2 * lam_w * layer["W"],  # (1/m) sum
                "b": c @ delta_z,  # (1/m) sum_n delta^{l+1}_n
            }
        )
        W = layer["W"]
        if len(layer_grads) == len(dense["layers"]):  # l = 0: of a^0 only the
            W = W[: 2 * d]  # columns P_u, Q_i need an error; x_u, x_i are data
        delta_a = delta_z @ W.T  # dl/da^l = delta^{l+1} W^{l T}: (m, D_l)
    grad_dense["layers"] = layer_grads[::-1]

    # The dot branch: d<p, q>/dp = q and d<p, q>/dq = p.
    use_dot = model_cfg.dot_dim > 0
    delta_p = delta[:, None] * q if use_dot else jnp.zeros_like(p)  # (m, k)
    delta_q = delta[:, None] * p if use_dot else jnp.zeros_like(q)
    for side, index, delta_factor in (
        ("user", users, delta_p),
        ("item", items, delta_q),
    ):
        grad_V = 2 * lam_w * dense[f"{side}_feature_dot"]  # (F, k)
        if model_cfg.use_features:  # d(x V)/dV: x^T (c delta)
            x = features[side][index]  # (m, F)
            grad_V = grad_V + x.T @ (c[:, None] * delta_factor)
        grad_dense[f"{side}_feature_dot"] = grad_V

    # Embedding rows: the slice of delta^0 (or the dot/bias error) that belongs to
    # each row, plus 2 lambda_e row, weighted by c_n and scatter-added.
    # Unused biases (use_biases False) still get the penalty's gradient, as the
    # objective penalises them.
    bias_error = delta if model_cfg.use_biases else jnp.zeros_like(delta)
    errors = {
        "user": delta_a[:, :d],
        "item": delta_a[:, d : 2 * d],
        "user_dot": delta_p,
        "item_dot": delta_q,
        "user_bias": bias_error,
        "item_bias": bias_error,
    }
    grad_embeddings = {}
    for name, (index, row) in rows.items():
        weight = c if row.ndim == 1 else c[:, None]
        grad_embeddings[name] = _scatter_rows(
            emb[name], index, weight * (errors[name] + 2 * lam_e * row)
        )
    return J, {"embeddings": grad_embeddings, "dense": grad_dense}


def hand_grad(params, model_cfg, train_cfg, batch, features) -> Params:
    """dJ/dtheta by hand, shaped like ``params``: :func:`hand_value_and_grad`[1]."""
    return hand_value_and_grad(params, model_cfg, train_cfg, batch, features)[1]

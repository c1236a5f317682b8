"""Plain references for the tests: the network written the obvious way.

No custom VJP, no factorised first layer, no shared row gathers: a^0 is
concatenated whole and every layer is one product, so ``jax.grad`` of
:func:`plain_forward` is an oracle independent of the production pieces.
"""

from __future__ import annotations

import jax.numpy as jnp

#: sigma written out, not taken from jax.nn or the library.
PLAIN_ACTIVATIONS = {
    "relu": lambda z: jnp.where(z > 0, z, 0.0),  # derivative 0 at 0, as jax.nn.relu
    "sigmoid": lambda z: 1 / (1 + jnp.exp(-z)),
    "tanh": jnp.tanh,
    "identity": lambda z: z,
}


def plain_input_layer(params, cfg, users, items, features):
    """a^0 = [P_u ; Q_i ; x_u ; x_i], (B, D_0)."""
    emb = params["embeddings"]
    parts = [emb["user"][users], emb["item"][items]]
    if cfg.use_features:
        parts += [features["user"][users], features["item"][items]]
    return jnp.concatenate(parts, axis=-1)


def plain_forward(params, cfg, users, items, features):
    """y_hat = w^T a^L + b + b_u + b_i + <P'_u + x_u V_U, Q'_i + x_i V_I>, (B,)."""
    emb, dense = params["embeddings"], params["dense"]
    a = plain_input_layer(params, cfg, users, items, features)
    for layer in dense["layers"]:
        a = PLAIN_ACTIVATIONS[cfg.activation](a @ layer["W"] + layer["b"][None, :])
    output = a @ dense["head"]["w"] + dense["head"]["b"]
    if cfg.use_biases:
        output = output + emb["user_bias"][users] + emb["item_bias"][items]
    if cfg.dot_dim:
        p, q = emb["user_dot"][users], emb["item_dot"][items]
        if cfg.use_features:
            p = p + features["user"][users] @ dense["user_feature_dot"]
            q = q + features["item"][items] @ dense["item_feature_dot"]
        output = output + jnp.sum(p * q, axis=-1)
    return output

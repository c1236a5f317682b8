"""A Flax twin of ``model.forward``: the same function as an ``nnx.Module``.

For readers who think in Flax modules. The computation is the one of
:mod:`hybridrec_jax.model` (see its docstring); :func:`params_to_flax` and
:func:`flax_to_params` convert between the module and the dict pytree, and the
tests hold ``HybridModel(...)(users, items, features)`` equal to ``forward``.

Why ``flax.nnx`` rather than linen: nnx is the API that Flax 0.12 recommends,
and its modules hold their parameters as attributes (``nnx.Param``) that map one
to one onto the keys of our dict, so the converters are plain assignments and
calling the model is a plain Python call, with no ``apply``/``variables`` plumbing.
The twin is deterministic (inference); training stays with the pure functions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.model import ACTIVATION_FUNCTIONS, Features, Params, input_width


class HybridModel(nnx.Module):
    """y_hat = a^L w + b + b_u + b_i + <P'_u + x_u V_U, Q'_i + x_i V_I>.

    Attributes mirror the pytree: ``user`` (P), ``item`` (Q), ``user_dot`` (P'),
    ``item_dot`` (Q') are ``nnx.Embed`` tables; ``layers`` are ``nnx.Linear``
    (kernel (in, out), so a layer is ``a @ W + b`` as in ``model.dense_layer``);
    ``head`` is ``nnx.Linear(D_L, 1)``; ``user_bias``, ``item_bias``,
    ``user_feature_dot`` (V_U) and ``item_feature_dot`` (V_I) are ``nnx.Param``.

    Args:
        cfg: the model configuration (``dropout`` is ignored: inference only).
        n_users, n_items: U and I, the rows of the id tables.
        n_user_features, n_item_features: F_u and F_i, the content widths.
        global_mean: mu, the starting value of the head's bias b.
        rngs: the ``nnx.Rngs`` that draw the initial weights (as
            ``model.init_params``: N(0, init_scale^2) tables, Glorot layers).

    >>> m = HybridModel(ModelConfig.tiny(), 5, 7, 3, 2, rngs=nnx.Rngs(0))
    >>> feats = {"user": jnp.ones((5, 3)), "item": jnp.ones((7, 2))}
    >>> m(jnp.array([0, 4]), jnp.array([6, 1]), feats).shape
    (2,)
    """

    def __init__(
        self,
        cfg: ModelConfig,
        n_users: int,
        n_items: int,
        n_user_features: int,
        n_item_features: int,
        *,
        global_mean: float = 0.0,
        rngs: nnx.Rngs,
    ):
        self.cfg = cfg  # static: a frozen dataclass
        d, k = cfg.embedding_dim, cfg.dot_dim
        # A normal initialiser also copes with zero-width tables (dot_dim = 0).
        normal = nnx.initializers.normal(cfg.init_scale)
        self.user = nnx.Embed(n_users, d, embedding_init=normal, rngs=rngs)
        self.item = nnx.Embed(n_items, d, embedding_init=normal, rngs=rngs)
        self.user_dot = nnx.Embed(n_users, k, embedding_init=normal, rngs=rngs)
        self.item_dot = nnx.Embed(n_items, k, embedding_init=normal, rngs=rngs)
        self.user_bias = nnx.Param(jnp.zeros((n_users,)))  # b_u
        self.item_bias = nnx.Param(jnp.zeros((n_items,)))  # b_i
        width = input_width(cfg, n_user_features, n_item_features)
        layers = []
        for out in cfg.hidden_dims:
            layers.append(nnx.Linear(width, out, rngs=rngs))
            width = out
        self.layers = nnx.List(layers)
        self.head = nnx.Linear(
            width, 1, bias_init=nnx.initializers.constant(global_mean), rngs=rngs
        )
        f_u = n_user_features if cfg.use_features else 0
        f_i = n_item_features if cfg.use_features else 0
        self.user_feature_dot = nnx.Param(normal(rngs.params(), (f_u, k)))  # V_U
        self.item_feature_dot = nnx.Param(normal(rngs.params(), (f_i, k)))  # V_I

    def __call__(
        self, users: jax.Array, items: jax.Array, features: Features
    ) -> jax.Array:
        """y_hat (or the logit z) for a batch of (user, item) index pairs.

        Args:
            users: (B,) int user indices u.
            items: (B,) int item indices i.
            features: {"user": (U, F_u), "item": (I, F_i)} float content tables.

        Returns:
            (B,) float: a^L w + b + b_u + b_i + <P'_u + x_u V_U, Q'_i + x_i V_I>,
            equal to ``model.forward`` of :func:`flax_to_params` (no dropout).
        """
        cfg = self.cfg
        sigma = ACTIVATION_FUNCTIONS[cfg.activation]
        parts = [self.user(users), self.item(items)]  # P_u, Q_i: (B, d)
        if cfg.use_features:
            parts += [features["user"][users], features["item"][items]]
        a = jnp.concatenate(parts, axis=-1)  # a^0: (B, D_0)
        for layer in self.layers:
            a = sigma(layer(a))  # a^{l+1} = sigma(a^l W^l + b^l)
        output = self.head(a)[:, 0]  # a^L w + b: (B,)
        if cfg.use_biases:
            output = output + self.user_bias[...][users] + self.item_bias[...][items]
        if cfg.dot_dim > 0:
            p, q = self.user_dot(users), self.item_dot(items)  # (B, k)
            if cfg.use_features:
                p = p + features["user"][users] @ self.user_feature_dot[...]
                q = q + features["item"][items] @ self.item_feature_dot[...]
            output = output + jnp.sum(p * q, axis=-1)
        return output


def params_to_flax(params: Params, cfg: ModelConfig) -> HybridModel:
    """A :class:`HybridModel` holding the weights of the pytree ``params``.

    Args:
        params: the pytree of ``model.init_params``.
        cfg: the model configuration ``params`` was built for.

    Returns:
        The module, its weights the arrays of ``params`` (same values, shapes).

    Raises:
        ValueError: ``params`` has a different number of hidden layers than
            ``cfg.hidden_dims``.

    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> m = params_to_flax(p, ModelConfig.tiny())
    >>> bool(jnp.all(m.user.embedding[...] == p["embeddings"]["user"]))
    True
    """
    emb, dense = params["embeddings"], params["dense"]
    n_user_features = dense["user_feature_dot"].shape[0]
    n_item_features = dense["item_feature_dot"].shape[0]
    # Shapes only: the random initial values are overwritten below.
    model = nnx.eval_shape(
        lambda: HybridModel(
            cfg, emb["user"].shape[0], emb["item"].shape[0],
            n_user_features, n_item_features, rngs=nnx.Rngs(0),
        )
    )  # fmt: skip
    for name in ("user", "item", "user_dot", "item_dot"):
        getattr(model, name).embedding.set_value(jnp.asarray(emb[name]))
    model.user_bias.set_value(jnp.asarray(emb["user_bias"]))
    model.item_bias.set_value(jnp.asarray(emb["item_bias"]))
    for layer, values in zip(model.layers, dense["layers"], strict=True):
        layer.kernel.set_value(jnp.asarray(values["W"]))
        layer.bias.set_value(jnp.asarray(values["b"]))
    model.head.kernel.set_value(jnp.asarray(dense["head"]["w"])[:, None])  # (D_L, 1)
    model.head.bias.set_value(jnp.asarray(dense["head"]["b"]).reshape(1))  # (1,)
    model.user_feature_dot.set_value(jnp.asarray(dense["user_feature_dot"]))
    model.item_feature_dot.set_value(jnp.asarray(dense["item_feature_dot"]))
    return model


def flax_to_params(model: HybridModel) -> Params:
    """The dict pytree of ``model.init_params`` holding the module's weights.

    Args:
        model: a :class:`HybridModel`.

    Returns:
        {"embeddings": {...}, "dense": {...}} with the keys and shapes of
        ``model.init_params`` (the inverse of :func:`params_to_flax`).

    >>> m = HybridModel(ModelConfig.tiny(), 5, 7, 3, 2, rngs=nnx.Rngs(0))
    >>> flax_to_params(m)["dense"]["head"]["w"].shape
    (8,)
    """
    embeddings = {
        name: getattr(model, name).embedding[...]
        for name in ("user", "item", "user_dot", "item_dot")
    }
    embeddings["user_bias"] = model.user_bias[...]
    embeddings["item_bias"] = model.item_bias[...]
    dense = {
        "layers": [{"W": l.kernel[...], "b": l.bias[...]} for l in model.layers],
        "head": {"w": model.head.kernel[...][:, 0], "b": model.head.bias[...][0]},
        "user_feature_dot": model.user_feature_dot[...],
        "item_feature_dot": model.item_feature_dot[...],
    }
    return {"embeddings": embeddings, "dense": dense}

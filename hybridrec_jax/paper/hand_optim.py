"""SGD, Adam and Adagrad by hand, with optax's ``(init, update)`` signature.

Training uses optax; these are the executable statement of the update rules,
and the tests hold them equal to ``optax.sgd``, ``optax.adam`` and
``optax.adagrad`` over 100 steps
of the real model. With g the gradient (e.g. of
:func:`hybridrec_jax.paper.backprop.hand_value_and_grad`) and eta the learning
rate:

    SGD (the paper's, momentum 0):  theta <- theta - eta g
    SGD with momentum mu:           t <- g + mu t,  theta <- theta - eta t   (t_0 = 0)
    Adam (Kingma & Ba 2015):        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
                                    m_hat = m / (1 - b1^t),   v_hat = v / (1 - b2^t),
                                    theta <- theta - eta m_hat / (sqrt(v_hat) + eps)
    Adagrad (Duchi et al. 2011):    s <- s + g^2,  theta <- theta - eta g / sqrt(s+eps)
                                    (s_0 = 0.1, as optax.adagrad)

:func:`hand_optimizer` picks one from a ``TrainConfig`` (the twin of
``train.make_optimizer``) and :func:`make_hand_train_step` is the twin of
``train.make_train_step`` with the hand backward pass.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.paper.backprop import hand_value_and_grad


def sgd(
    learning_rate: float, momentum: float | None = None
) -> optax.GradientTransformation:
    """SGD, theta <- theta - eta g, with optional momentum as optax.sgd.

    Momentum keeps a trace t <- g + mu t and steps theta <- theta - eta t (the
    form of ``optax.trace``; t = 0 initially). momentum None or 0 is the paper's
    plain SGD.

    Args:
        learning_rate: eta > 0.
        momentum: mu in [0, 1), or None (plain SGD).

    Returns:
        An ``optax.GradientTransformation``: ``init(params)`` gives the state
        (``optax.EmptyState()``, or the trace t, zeros shaped like params);
        ``update(grads, state, params=None)`` gives (updates -eta g or -eta t,
        shaped like grads; the new state).

    >>> opt = sgd(0.1)
    >>> updates, _ = opt.update(jnp.array([1.0, -2.0]), opt.init(jnp.zeros(2)))
    >>> updates.tolist()
    [-0.10000000149011612, 0.20000000298023224]
    """

    def init_fn(params):
        if not momentum:
            return optax.EmptyState()
        return jax.tree.map(jnp.zeros_like, params)  # t = 0

    def update_fn(grads, state, params=None):
        del params
        if not momentum:
            return jax.tree.map(lambda g: -learning_rate * g, grads), state
        trace = jax.tree.map(lambda g, t: g + momentum * t, grads, state)  # t
        return jax.tree.map(lambda t: -learning_rate * t, trace), trace

    return optax.GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
    """Adam (Kingma & Ba 2015) with bias correction, step for step as optax.adam.

    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
    m_hat = m / (1 - b1^t),   v_hat = v / (1 - b2^t),
    theta <- theta - eta m_hat / (sqrt(v_hat) + eps).

    Args:
        learning_rate: eta > 0.
        b1: decay of the first moment m, in [0, 1).
        b2: decay of the second moment v, in [0, 1).
        eps: added to sqrt(v_hat) so the step stays finite.

    Returns:
        An ``optax.GradientTransformation``: ``init(params)`` gives the state
        {"t": int32 step count 0, "m": zeros, "v": zeros}, m and v shaped like
        params; ``update(grads, state, params=None)`` gives (updates
        -eta m_hat / (sqrt(v_hat) + eps), shaped like grads; the new state).

    >>> opt = adam(0.1)
    >>> updates, _ = opt.update(jnp.array([3.0, -0.5]), opt.init(jnp.zeros(2)))
    >>> [round(u, 4) for u in updates.tolist()]  # the first step is -eta sign(g)
    [-0.1, 0.1]
    """

    def init_fn(params):
        # Two separate buffers: a jitted step may donate (reuse) each in place.
        m = jax.tree.map(jnp.zeros_like, params)  # first moment, m_0 = 0
        v = jax.tree.map(jnp.zeros_like, params)  # second moment, v_0 = 0
        return {"t": jnp.zeros([], jnp.int32), "m": m, "v": v}

    def update_fn(grads, state, params=None):
        del params
        t = state["t"] + 1  # step count, from 1
        m = jax.tree.map(
            lambda g, m: (1 - b1) * g + b1 * m, grads, state["m"]
        )  # first moment estimate
        v = jax.tree.map(
            lambda g, v: (1 - b2) * g**2 + b2 * v, grads, state["v"]
        )  # second moment estimate
        m_hat = jax.tree.map(
            lambda m: m / (1 - b1**t).astype(m.dtype), m
        )  # bias correction of m
        v_hat = jax.tree.map(
            lambda v: v / (1 - b2**t).astype(v.dtype), v
        )  # bias correction of v
        updates = jax.tree.map(
            lambda m, v: -learning_rate * (m / (jnp.sqrt(v) + eps)), m_hat, v_hat
        )  # step -eta m_hat / (sqrt(v_hat) + eps)
        return updates, {"t": t, "m": m, "v": v}

    return optax.GradientTransformation(init_fn, update_fn)


def adagrad(
    learning_rate: float, initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> optax.GradientTransformation:
    """Adagrad, step for step as optax.adagrad (its defaults).

    s <- s + g^2 (s_0 = ``initial_accumulator_value``), then
    theta <- theta - eta g / sqrt(s + eps).

    Args:
        learning_rate: eta.
        initial_accumulator_value: s_0.
        eps: added to s under the square root.

    Returns:
        An ``optax.GradientTransformation``: ``init(params)`` gives s, shaped
        like params.
    """

    def init_fn(params):
        return jax.tree.map(
            lambda p: jnp.full_like(p, initial_accumulator_value), params
        )

    def update_fn(grads, state, params=None):
        del params
        s = jax.tree.map(lambda g, s: s + g**2, grads, state)  # sum of squares
        updates = jax.tree.map(
            lambda g, s: -learning_rate * g * jax.lax.rsqrt(s + eps), grads, s
        )  # step -eta g / sqrt(s + eps)
        return updates, s

    return optax.GradientTransformation(init_fn, update_fn)


def hand_optimizer(train_cfg: TrainConfig) -> optax.GradientTransformation:
    """Our adam(eta), adagrad(eta) or sgd(eta, momentum): the twin of
    ``train.make_optimizer``.

    Args:
        train_cfg: gives ``optimizer`` ("adam", "adagrad" or "sgd"),
            ``learning_rate`` eta and ``momentum`` mu (0: the paper's plain SGD).

    Returns:
        :func:`adam`, :func:`adagrad` or :func:`sgd`, an
        ``optax.GradientTransformation``. It updates the whole pytree (the
        dense rules: ``fit(optimizer=hand_optimizer(cfg))`` trains as
        ``embedding_updates="dense"``).

    >>> hand_optimizer(TrainConfig(optimizer="sgd", momentum=0.0)).init({})
    EmptyState()
    """
    if train_cfg.optimizer == "adam":
        return adam(train_cfg.learning_rate)
    if train_cfg.optimizer == "adagrad":
        return adagrad(train_cfg.learning_rate)
    return sgd(train_cfg.learning_rate, momentum=train_cfg.momentum or None)


def make_hand_train_step(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    optimizer: optax.GradientTransformation,
):
    """step(params, opt_state, batch, features, key) -> (params, opt_state, J).

    The twin of ``train.make_train_step`` with :func:`hand_value_and_grad` in
    place of ``jax.value_and_grad``: theta <- theta + update(dJ/dtheta).

    Args:
        model_cfg: the model configuration (``dropout`` is ignored).
        train_cfg: gives the loss and the penalties lambda_e, lambda_w.
        optimizer: any ``optax.GradientTransformation`` (ours or optax's).

    Returns:
        The pure, unjitted ``step``: params (the pytree of
        ``model.init_params``), the optimiser state, a ``train.Batch`` of (m,)
        arrays and the feature tables in; the updated params and state and the
        scalar J(theta) of the params before the step out. ``key`` is unused
        (no dropout).

    >>> from hybridrec_jax.config import ModelConfig
    >>> from hybridrec_jax.model import init_params
    >>> from hybridrec_jax.train import Batch
    >>> cfg, tcfg = ModelConfig.tiny(), TrainConfig.tiny()
    >>> p = init_params(jax.random.key(0), cfg, 3, 4, 2, 1, 3.0)
    >>> feats = {"user": jnp.ones((3, 2)), "item": jnp.ones((4, 1))}
    >>> b = Batch(jnp.array([0, 2]), jnp.array([1, 3]), jnp.array([4.0, 2.0]),
    ...           jnp.ones(2))
    >>> opt = sgd(0.1)
    >>> step = make_hand_train_step(cfg, tcfg, opt)
    >>> J0 = step(p, opt.init(p), b, feats)[2]
    >>> p1 = step(p, opt.init(p), b, feats)[0]
    >>> bool(step(p1, opt.init(p1), b, feats)[2] < J0)  # the loss falls
    True
    """

    def step(params, opt_state, batch, features, key=None):
        del key
        J, grads = hand_value_and_grad(params, model_cfg, train_cfg, batch, features)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, J

    return step

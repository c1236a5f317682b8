"""Inverted dropout with cheap counter-based random bits.

On a CPU, the Threefry bits of ``jax.random`` run as a loop that XLA does not
fuse: for the dropout masks of the default model they cost about a fifth of a
training step. :func:`counter_bits` hashes the unit index instead, which XLA
fuses into the ops that use the mask.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def _mix32(x: jax.Array) -> jax.Array:
    """A bijective 32-bit integer hash (Wellons' lowbias32 constants)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x21F0AAAD)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x735A2D97)
    return x ^ (x >> 15)


def counter_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Pseudo-random uint32 words: w_j = mix(mix(j + s_0) xor s_1), j = 0, 1, ...

    The seeds s_0, s_1 come from ``key`` through ``jax.random``; the words are a
    counter-based hash (as Philox and Threefry are counter-based ciphers) of two
    cheap multiply-xorshift rounds, which XLA fuses into the ops that use them.
    On a CPU, Threefry's bits cost about a fifth of a training step of the
    default model; these cost a few percent. Good enough for dropout masks, not
    for cryptography or for sampling.

    Args:
        key: a ``jax.random`` key.
        shape: the shape of the result.

    Returns:
        uint32 array of ``shape``.
    """
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    counter = jnp.arange(math.prod(shape), dtype=jnp.uint32).reshape(shape)
    return _mix32(_mix32(counter + seeds[0]) ^ seeds[1])


def dropout(a: jax.Array, rate: float, key: jax.Array) -> jax.Array:
    """Inverted dropout: a_j -> m_j a_j / (1 - rate) with m_j ~ Bernoulli(1 - rate).

    Unit j is dropped when its word w_j of :func:`counter_bits` is below
    rate * 2^32, so P(drop) = rate up to 2^-32 and E[output] = a.

    Args:
        a: activations of any shape, e.g. (B, D) float32.
        rate: the drop probability, a Python float in [0, 1) (not traced).
        key: a ``jax.random`` key; each key gives one mask.

    Returns:
        An array of ``a``'s shape and dtype: a_j / (1 - rate) or 0.

    >>> out = dropout(jnp.ones((2, 4)), 0.5, jax.random.key(0))
    >>> out.shape, set(out.ravel().tolist()) <= {0.0, 2.0}
    ((2, 4), True)
    """
    threshold = jnp.uint32(min(round(rate * 2.0**32), 2**32 - 1))
    keep = counter_bits(key, a.shape) >= threshold
    return jnp.where(keep, a / (1.0 - rate), 0.0)


#: The gathered id rows of each side (the keys of ``model.embedding_rows``):
#: the MLP embedding, the dot-branch factor and the bias.
ID_ROWS = {side: (side, f"{side}_dot", f"{side}_bias") for side in ("user", "item")}


def id_dropout(
    rows: dict[str, jax.Array], key: jax.Array, rate_user: float, rate_item: float
) -> dict[str, jax.Array]:
    """DropoutNet's input dropout (Volkovs et al. 2017) on the id rows of a batch.

    For each example b, with probability ``rate_user`` the user's id rows are
    zeroed, P_u, P'_u, b_u <- 0, and independently with probability
    ``rate_item`` the item's, Q_i, Q'_i, b_i <- 0. A cold user or item (no
    training interaction) has exactly these zero rows at test time, so the
    dropped share teaches the network to predict from content alone. Unlike
    :func:`dropout` nothing is rescaled: the kept rows are what a warm entity
    has at test time.

    Args:
        rows: ``model.embedding_rows`` of a batch: {"user": (B, d), "item":
            (B, d), "user_dot": (B, k), "item_dot": (B, k), "user_bias": (B,),
            "item_bias": (B,)}.
        key: a ``jax.random`` key; the two sides draw from words 0 and 1 of
            :func:`counter_bits`.
        rate_user, rate_item: drop probabilities in [0, 1) (Python floats).

    Returns:
        The dict with the dropped examples' rows zeroed (a new dict; the rows
        of a side with rate 0 are the same arrays) and, for each side with a
        rate > 0, "<side>_kept" (B,) bool, False where dropped (``forward``
        hides those examples' interaction features with it).

    >>> rows = {n: jnp.ones((4, 2)) for n in ("user", "item", "user_dot", "item_dot")}
    >>> rows |= {"user_bias": jnp.ones(4), "item_bias": jnp.ones(4)}
    >>> out = id_dropout(rows, jax.random.key(0), 0.0, 0.999999)
    >>> [float(out[name].sum()) for name in ("item", "item_bias", "user")]
    [0.0, 0.0, 8.0]
    """
    batch = rows["user_bias"].shape[0]
    words = counter_bits(key, (2, batch))  # (2, B): one word per side and example
    out = dict(rows)
    for word, rate, side in ((words[0], rate_user, "user"),
                             (words[1], rate_item, "item")):  # fmt: skip
        if rate <= 0:
            continue
        keep = word >= jnp.uint32(min(round(rate * 2.0**32), 2**32 - 1))  # (B,)
        out[f"{side}_kept"] = keep
        for name in ID_ROWS[side]:
            table = rows[name]
            mask = keep.reshape((batch,) + (1,) * (table.ndim - 1))
            out[name] = jnp.where(mask, table, 0.0)
    return out

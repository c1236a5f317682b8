"""Negative sampling for implicit feedback, vectorised and on the device.

Implicit data only say which (u, i) pairs were observed. Training by binary
cross-entropy needs pairs labelled 0 too: for every positive (u, i) we draw k
items j from a sampling distribution p(j) over the catalogue and treat (u, j) as
negative. Two distributions are offered:

    uniform:     p(j) = w_j / sum_l w_l,   w_j = 1 (or 0 for items kept out)
    popularity:  p(j) proportional to n_j^alpha, n_j = #positives of item j

Both are drawn by the inverse CDF, j = min{j : C_j > U * C_I} with C the
cumulative weights and U ~ Uniform(0, 1), so an item of weight 0 (e.g. a
cold-start item that training must not see) is never drawn. A drawn j that is in
fact one of u's positives is drawn again, ``n_retries`` times; membership is a
``jnp.searchsorted`` in the sorted array of keys u * I + i of all positives.
Whatever still collides after the retries stays (rare: the chance is about
(|N(u)|/I)^(retries+1)).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import SAMPLERS


def positive_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> jax.Array:
    """The sorted, unique keys u * I + i of the positive pairs, int32 (P,).

    Args:
        users, items: (N,) int indices of the positive pairs (repeats allowed).
        n_items: I.

    Raises:
        ValueError: U * I does not fit the int32 keys.

    >>> positive_keys(np.array([1, 0]), np.array([2, 1]), 3)
    Array([1, 5], dtype=int32)
    """
    n_users = int(np.max(users, initial=0)) + 1
    if n_users * n_items >= np.iinfo(np.int32).max:
        raise ValueError(
            f"{n_users} users x {n_items} items overflow the int32 pair keys; "
            "enable jax_enable_x64 or sample without the collision check"
        )
    keys = np.asarray(users, np.int64) * n_items + np.asarray(items, np.int64)
    return jnp.asarray(np.unique(keys), jnp.int32)


def is_positive(
    sorted_keys: jax.Array, users: jax.Array, items: jax.Array, n_items: int
) -> jax.Array:
    """[(u, i) is a positive] for each pair, by binary search, bool (n,).

    Args:
        sorted_keys: (P,) int32 from :func:`positive_keys`.
        users, items: (n,) int query pairs (any equal shapes).
        n_items: I, as given to :func:`positive_keys`.

    >>> keys = positive_keys(np.array([0, 1]), np.array([2, 0]), 3)
    >>> is_positive(keys, jnp.array([0, 0, 1]), jnp.array([2, 1, 0]), 3).tolist()
    [True, False, True]
    """
    query = users.astype(jnp.int32) * n_items + items.astype(jnp.int32)
    position = jnp.searchsorted(sorted_keys, query)
    position = jnp.minimum(position, sorted_keys.shape[0] - 1)
    return sorted_keys[position] == query


def sampling_weights(
    items: np.ndarray,
    n_items: int,
    sampler: str = "uniform",
    *,
    exponent: float = 0.75,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Unnormalised w_j (I,) float64 of the module docstring.

    Args:
        items: (N,) int items of the positives (their counts n_j).
        n_items: I.
        sampler: "uniform" (w_j = 1) or "popularity" (w_j = n_j^exponent).
        exponent: alpha of the popularity sampler.
        allowed: (I,) bool; the other items get weight 0 (never drawn).

    Raises:
        ValueError: an unknown sampler, or every weight zero.

    >>> sampling_weights(np.array([0, 0, 2]), 3, "popularity", exponent=1.0)
    array([2., 0., 1.])
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if sampler == "uniform":
        weights = np.ones(n_items)
    else:
        counts = np.bincount(np.asarray(items), minlength=n_items)
        weights = counts.astype(np.float64) ** exponent
    if allowed is not None:
        weights = np.where(allowed, weights, 0.0)
    if weights.sum() <= 0:
        raise ValueError("every sampling weight is zero: no item can be a negative")
    return weights


def sample_items(key: jax.Array, cdf: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Items drawn by the inverse CDF, j = #{l : C_l <= U C_I}, int32 ``shape``.

    Args:
        key: a ``jax.random.key``.
        cdf: (I,) float32 cumulative weights (:func:`make_cdf`).
        shape: the shape of the draw.
    """
    u = jax.random.uniform(key, shape) * cdf[-1]
    items = jnp.searchsorted(cdf, u, side="right")
    return jnp.minimum(items, cdf.shape[0] - 1).astype(jnp.int32)


def sample_negatives(
    key: jax.Array,
    users: jax.Array,
    sorted_keys: jax.Array,
    cdf: jax.Array,
    n_negatives: int,
    n_retries: int = 3,
) -> jax.Array:
    """k negatives for each user in ``users`` (n,), int32 (n, k).

    Draws from the distribution of ``cdf`` and redraws the pairs that are
    positives ``n_retries`` times (a fixed count, so the shape and the compiled
    program never change). Jittable with ``n_negatives`` and ``n_retries`` static.

    Args:
        key: a ``jax.random.key``.
        users: (n,) int users, one row of negatives each.
        sorted_keys: (P,) int32 positive keys (:func:`positive_keys`).
        cdf: (I,) float32 cumulative sampling weights (:func:`make_cdf`).
        n_negatives: k.
        n_retries: redraws of a negative that is a positive of its user.
    """
    n_items = cdf.shape[0]
    shape = (users.shape[0], n_negatives)
    draw_key, *retry_keys = jax.random.split(key, n_retries + 1)
    negatives = sample_items(draw_key, cdf, shape)  # (n, k)
    user_grid = jnp.broadcast_to(users[:, None], shape)  # (n, k)
    for retry_key in retry_keys:
        collide = is_positive(sorted_keys, user_grid, negatives, n_items)
        negatives = jnp.where(collide, sample_items(retry_key, cdf, shape), negatives)
    return negatives


def make_cdf(weights: np.ndarray) -> jax.Array:
    """C_j = sum_{l <= j} w_l as float32 on the device (normalised to C_I = 1)."""
    cdf = np.cumsum(np.asarray(weights, np.float64))
    return jnp.asarray(cdf / cdf[-1], jnp.float32)


@functools.lru_cache(maxsize=16)
def make_epoch_data(n_negatives: int, n_retries: int = 3):
    """build(key, users, items, sorted_keys, cdf) -> (users, items, targets).

    The training set of one implicit-feedback epoch, on the device: the P
    positives (u, i, 1) first, then k P freshly drawn negatives (u, j, 0), each
    array (P (1 + k),), so one compile serves every epoch. Jitted.
    """

    @jax.jit
    def build(key, users, items, sorted_keys, cdf):
        negatives = sample_negatives(
            key, users, sorted_keys, cdf, n_negatives, n_retries
        )  # (P, k)
        neg_users = jnp.repeat(users, n_negatives)  # (P k,), row-major like negatives
        targets = jnp.concatenate(
            [
                jnp.ones(users.shape, jnp.float32),
                jnp.zeros(neg_users.shape, jnp.float32),
            ]
        )
        return (
            jnp.concatenate([users, neg_users]),
            jnp.concatenate([items, negatives.reshape(-1)]),
            targets,
        )

    return build

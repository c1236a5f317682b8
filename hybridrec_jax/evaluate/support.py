"""Item support in top-K lists: a minimum support and shrinkage of the scores.

A rating model ranks an item with one or two 5-star ratings as high as a
classic, because its prediction s_ui does not say how much evidence stands
behind it. Two options, shared by ``serve.recommend`` and the full-catalogue
evaluation (``evaluate.evaluate_full_ranking``), so that what is served is what
is measured. With n_i the number of training interactions of item i (its
support, :func:`item_support`):

- minimum support m: an item with n_i < m is never recommended
  (:func:`eligible_items`); in evaluation it is no candidate, and a relevant
  item below m counts as a miss (it can never be shown);
- shrinkage beta (:func:`shrink_scores`), the damped mean of the IMDb "weighted
  rating" and of Koren's damped item bias (Koren 2010, "Factor in the
  neighbors", TKDD 4(1), eq. 2), taken towards the user's own mean score:

      s~_ui = m_u + w_i (s_ui - m_u),   w_i = n_i / (n_i + beta),
      m_u   = (1 / I) sum_j s_uj   (every item of the catalogue).

The centre is the user's mean score, not the global training mean mu, because
a demanding user expects two things a fixed mu breaks: (1) the order of a
user's list does not change when all of that user's scores move together (a
user bias b_u, or any s -> a s + c with a > 0): with m_u it does not; with mu
a generous user's list (every s_ui > mu) is shrunk harder than a stingy one's;
(2) shrinkage only demotes items with little support near the top of a list:
with mu, a user whose best scores lie below mu would see an obscure item pulled
*up* towards mu, past better-supported ones. The same two facts make it right
for a BCE model, whose scores are logits: the logit is the model's additive
scale (b + b_i + ...), where a Gaussian prior on an item's effect shrinks it,
and m_u needs no training mean of a rating that a logit model does not have.
beta = 0 leaves the scores untouched (w_i = 1, computed without the shift so
that they stay bit for bit the same); an item with n_i = 0 scores m_u.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np


def check_support_options(min_support, shrinkage) -> tuple[int, float]:
    """The options as (int, float), refused unless m is a whole number >= 0 and
    beta a finite number >= 0.

    Raises:
        ValueError: naming the option, the value and what is allowed.

    >>> check_support_options(5, 10)
    (5, 10.0)
    >>> check_support_options(2.5, 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: min_support must be a whole number >= 0 (...), got 2.5
    """
    whole = isinstance(min_support, numbers.Integral) and not isinstance(
        min_support, bool
    )
    if not whole or min_support < 0:
        raise ValueError(
            "min_support must be a whole number >= 0 (the fewest training "
            f"interactions of a recommended item), got {min_support!r}"
        )
    number = isinstance(shrinkage, numbers.Real) and not isinstance(shrinkage, bool)
    if not number or not np.isfinite(shrinkage) or shrinkage < 0:
        raise ValueError(
            "shrinkage must be a finite number >= 0 (beta in w_i = n_i / (n_i + "
            f"beta); 0 turns it off), got {shrinkage!r}"
        )
    return int(min_support), float(shrinkage)


def item_support(items: np.ndarray, n_items: int) -> np.ndarray:
    """n_i, the number of training interactions of each item: (I,) int64.

    Args:
        items: (N,) int item indices of the training pairs, in 0..I-1.
        n_items: I.

    >>> item_support(np.array([2, 0, 2]), 4).tolist()
    [1, 0, 2, 0]
    """
    return np.bincount(np.asarray(items, np.int64), minlength=n_items)


def eligible_items(support: np.ndarray, min_support: int) -> np.ndarray:
    """(I,) bool: n_i >= m, the items a list may hold.

    >>> eligible_items(np.array([1, 0, 2]), 1).tolist()
    [True, False, True]
    """
    return np.asarray(support) >= min_support


def support_weights(support: np.ndarray, shrinkage: float) -> np.ndarray | None:
    """w_i = n_i / (n_i + beta), (I,) float32; None when beta = 0 (no shrinkage).

    >>> support_weights(np.array([0, 1, 3]), 1.0).tolist()
    [0.0, 0.5, 0.75]
    """
    if shrinkage == 0:
        return None
    n = np.asarray(support, np.float64)
    return (n / (n + shrinkage)).astype(np.float32)


def shrink_scores(scores: jax.Array, weights: jax.Array) -> jax.Array:
    """s~_ui = m_u + w_i (s_ui - m_u), m_u the mean of s_u over the last axis.

    Args:
        scores: (..., I) s_ui, one user's scores per row (ratings or logits).
        weights: (I,) w_i of :func:`support_weights`.

    Returns:
        (..., I) the shrunk scores, in the dtype of ``scores``.

    >>> shrink_scores(jnp.array([4.0, 2.0, 3.0]), jnp.array([0.5, 1.0, 0.0]))
    Array([3.5, 2. , 3. ], dtype=float32)
    """
    centre = jnp.mean(scores, axis=-1, keepdims=True)  # (..., 1) m_u
    weights = jnp.broadcast_to(weights, scores.shape)  # (..., I) w_i
    return centre + weights * (scores - centre)


def adjust_scores(
    scores: jax.Array, eligible: jax.Array | None, weights: jax.Array | None
) -> jax.Array:
    """Shrunk scores (when ``weights``), -inf at the items not ``eligible``.

    Args:
        scores: (..., I) s_ui.
        eligible: (I,) bool of :func:`eligible_items`, or None (all).
        weights: (I,) w_i, or None (no shrinkage).

    Returns:
        (..., I) the scores a list is ranked by.
    """
    if weights is not None:
        scores = shrink_scores(scores, weights)
    if eligible is not None:
        eligible = jnp.broadcast_to(eligible, scores.shape)  # (..., I)
        scores = jnp.where(eligible, scores, -jnp.inf)
    return scores

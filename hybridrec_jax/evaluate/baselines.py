"""Two baselines fitted in closed form, for the table beside every trained model.

- Global mean: y_hat = mu.
- Feature popularity (cold start): log(1 + n_i) regressed on x_i, a
  popularity that reaches items without interactions (:func:`feature_popularity`).
- Biases: y_hat = mu + b_u + b_i, minimising
  sum (y - mu - b_u - b_i)^2 + lambda_u sum b_u^2 + lambda_i sum b_i^2
  by alternating least squares (Koren 2010; Surprise's ``BaselineOnly``): with the
  other side fixed, each bias has the closed form
  b_i = sum_{u in R(i)} (y - mu - b_u) / (lambda_i + |R(i)|), and likewise b_u.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybridrec_jax.data.dataset import Dataset


@dataclass(frozen=True)
class BiasBaseline:
    """mu, b_u (U,) and b_i (I,): y_hat = mu + b_u + b_i."""

    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.mean + self.user_bias[users] + self.item_bias[items]


def fit_global_mean(train: Dataset) -> BiasBaseline:
    """y_hat = mu, the mean training rating (biases all zero)."""
    return BiasBaseline(
        float(np.mean(train.rating)), np.zeros(train.n_users), np.zeros(train.n_items)
    )


def fit_biases(
    train: Dataset,
    user_reg: float = 15.0,
    item_reg: float = 10.0,
    iterations: int = 10,
) -> BiasBaseline:
    """Regularised user and item biases by alternating least squares.

    Minimises sum (y - mu - b_u - b_i)^2 + lambda_u sum b_u^2 + lambda_i sum b_i^2
    (module docstring), mu the mean training rating.

    Args:
        train: the training ratings.
        user_reg, item_reg: lambda_u and lambda_i (Surprise's defaults).
        iterations: rounds of the two closed-form updates.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> b = fit_biases(tiny_dataset(), user_reg=0.0, item_reg=0.0)
    >>> np.round(b.predict(np.array([0, 1, 2]), np.array([0, 1, 1])), 6).tolist()
    [5.0, 3.0, 4.0]
    """
    y = np.asarray(train.rating, np.float64)
    users, items = train.user, train.item
    mu = float(y.mean())
    user_bias = np.zeros(train.n_users)
    item_bias = np.zeros(train.n_items)
    user_count = np.bincount(users, minlength=train.n_users)
    item_count = np.bincount(items, minlength=train.n_items)
    for _ in range(iterations):
        residual = y - mu - user_bias[users]
        item_bias = np.bincount(items, residual, train.n_items) / (
            item_reg + item_count
        )
        residual = y - mu - item_bias[items]
        user_bias = np.bincount(users, residual, train.n_users) / (
            user_reg + user_count
        )
    return BiasBaseline(mu, user_bias, item_bias)


def feature_popularity(
    train: Dataset, l2: float = 1.0, items: np.ndarray | None = None
) -> np.ndarray:
    """A popularity baseline that reaches cold items: log(1 + n_i) regressed on x_i.

    Ridge regression w = (X^T X + l2 I)^{-1} X^T log(1 + n) over the items with at
    least one training interaction (the warm items; ``items`` overrides), then the
    predicted popularity x_i w for every item (I,).

    Args:
        train: the training interactions and the item content X (I, F_i).
        l2: the ridge penalty.
        items: the items to fit on; None takes every item with an interaction.

    Returns:
        (I,) float64 predicted log-popularity, a score for ranking.
    """
    counts = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    warm = np.flatnonzero(counts > 0) if items is None else np.asarray(items)
    x = np.hstack([train.item_features, np.ones((train.n_items, 1))]).astype(np.float64)
    target = np.log1p(counts[warm])
    gram = x[warm].T @ x[warm] + l2 * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x[warm].T @ target)
    return x @ weights


def item_popularity(train: Dataset) -> np.ndarray:
    """The popularity baseline of ranking: s_i = n_i, the number of training
    interactions of item i, the same list for every user.

    Args:
        train: the training interactions (I items).

    Returns:
        (I,) float32 counts; an item without a training interaction scores 0.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> item_popularity(tiny_dataset()).tolist()
    [1.0, 2.0]
    """
    return np.bincount(train.item, minlength=train.n_items).astype(np.float32)

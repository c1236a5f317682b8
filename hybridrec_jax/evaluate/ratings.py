"""Batched prediction and rating metrics in bounded memory.

Predictions are computed in fixed-size chunks by one jit-compiled function, so
any number of test pairs costs one compile and at most ``chunk_size`` rows of
activations at a time; the last chunk is padded and its padding dropped.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import ModelConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.model import Features, Params, forward


def device_features(dataset: Dataset) -> Features:
    """The content tables as device arrays, {"user": (U, F_u), "item": (I, F_i)}."""
    return {
        "user": jnp.asarray(dataset.user_features, jnp.float32),
        "item": jnp.asarray(dataset.item_features, jnp.float32),
    }


@partial(jax.jit, static_argnames=("cfg",))
def _predict_chunk(
    params: Params, cfg: ModelConfig, users: jax.Array, items: jax.Array,
    features: Features,
) -> jax.Array:  # fmt: skip
    return forward(params, cfg, users, items, features)


def predict(
    params: Params,
    cfg: ModelConfig,
    features: Features,
    users: np.ndarray,
    items: np.ndarray,
    *,
    chunk_size: int = 8192,
    clip: tuple[float, float] | None = None,
) -> np.ndarray:
    """y_hat for every (users[n], items[n]) pair, as a float32 numpy array (N,).

    Args:
        clip: (low, high) clips rating predictions to the scale, as every
            published MovieLens RMSE does.
    """
    n = len(users)
    if n == 0:
        return np.zeros((0,), np.float32)
    size = min(chunk_size, max(n, 1))
    n_chunks = -(-n // size)
    pad = n_chunks * size - n
    users_padded = np.concatenate([np.asarray(users), np.zeros(pad, np.int32)])
    items_padded = np.concatenate([np.asarray(items), np.zeros(pad, np.int32)])
    outputs = [
        _predict_chunk(
            params,
            cfg,
            jnp.asarray(users_padded[c * size : (c + 1) * size], jnp.int32),
            jnp.asarray(items_padded[c * size : (c + 1) * size], jnp.int32),
            features,
        )
        for c in range(n_chunks)
    ]  # dispatched asynchronously; one transfer below
    prediction = np.array(jnp.concatenate(outputs)[:n])  # a writable copy
    if clip is not None:
        prediction = np.clip(prediction, clip[0], clip[1])
    return prediction


def rating_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """RMSE = sqrt(mean (y - y_hat)^2) and MAE = mean |y - y_hat| (in float64).

    >>> rating_metrics(np.array([3.0, 4.0]), np.array([4.0, 4.0]))
    {'rmse': 0.7071067811865476, 'mae': 0.5}
    """
    error = np.asarray(target, np.float64) - np.asarray(prediction, np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
    }


def evaluate_ratings(
    params: Params, cfg: ModelConfig, dataset: Dataset, features: Features | None = None
) -> dict[str, float]:
    """RMSE and MAE of the model on ``dataset``, predictions clipped to the scale."""
    features = device_features(dataset) if features is None else features
    prediction = predict(
        params, cfg, features, dataset.user, dataset.item, clip=dataset.rating_range
    )
    return rating_metrics(prediction, dataset.rating)

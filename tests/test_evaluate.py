"""Evaluation: batched prediction equals a plain loop; metrics equal arithmetic."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import (
    ModelConfig,
    device_features,
    evaluate_ratings,
    fit_biases,
    fit_global_mean,
    forward,
    init_params,
    predict,
    rating_metrics,
)


@pytest.fixture(scope="module")
def model(tiny_data):
    cfg = ModelConfig(embedding_dim=4, hidden_dims=(8,), dot_dim=3, dropout=0.0)
    params = init_params(
        jax.random.key(2), cfg, tiny_data.n_users, tiny_data.n_items,
        tiny_data.user_features.shape[1], tiny_data.item_features.shape[1], 3.0,
    )  # fmt: skip
    return cfg, params


def test_chunked_prediction_equals_a_plain_loop(model, tiny_data):
    cfg, params = model
    features = device_features(tiny_data)
    n = 203  # not a multiple of the chunk: the last chunk is padded
    chunked = predict(params, cfg, features, tiny_data.user[:n], tiny_data.item[:n],
                      chunk_size=32)  # fmt: skip
    looped = [
        float(forward(params, cfg, jnp.array([u]), jnp.array([i]), features)[0])
        for u, i in zip(tiny_data.user[:n], tiny_data.item[:n], strict=True)
    ]
    np.testing.assert_allclose(chunked, looped, rtol=1e-5, atol=1e-6)


def test_evaluate_clips_to_the_rating_scale(model, tiny_data):
    cfg, params = model
    # A head bias of 6 puts most raw predictions above the 1..5 scale.
    params = {**params, "dense": {**params["dense"], "head": {
        **params["dense"]["head"], "b": jnp.asarray(6.0)}}}  # fmt: skip
    features = device_features(tiny_data)
    raw = predict(params, cfg, features, tiny_data.user, tiny_data.item)
    assert (raw > 5).mean() > 0.5  # the clip matters here
    expected = rating_metrics(np.clip(raw, 1, 5), tiny_data.rating)
    got = evaluate_ratings(params, cfg, tiny_data)
    assert got == pytest.approx(expected)
    assert got["rmse"] < rating_metrics(raw, tiny_data.rating)["rmse"] - 0.05


def test_rating_metrics_arithmetic():
    got = rating_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 5.0, 4.0]))
    assert got["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4 + 0) / 4))
    assert got["mae"] == pytest.approx((1 + 0 + 2 + 0) / 4)


def test_bias_baseline_equals_the_ridge_solution(tiny_data):
    """ALS converges to the closed-form ridge regression on one-hot user/item."""
    reg_u, reg_i = 3.0, 2.0
    got = fit_biases(tiny_data, user_reg=reg_u, item_reg=reg_i, iterations=500)
    mu = tiny_data.rating.mean()
    n, n_u, n_i = tiny_data.n_interactions, tiny_data.n_users, tiny_data.n_items
    design = np.zeros((n, n_u + n_i))
    design[np.arange(n), tiny_data.user] = 1
    design[np.arange(n), n_u + tiny_data.item] = 1
    penalty = np.diag(np.r_[np.full(n_u, reg_u), np.full(n_i, reg_i)])
    solution = np.linalg.solve(design.T @ design + penalty,
                               design.T @ (tiny_data.rating - mu))  # fmt: skip
    np.testing.assert_allclose(got.user_bias, solution[:n_u], atol=1e-6)
    np.testing.assert_allclose(got.item_bias, solution[n_u:], atol=1e-6)
    assert fit_global_mean(tiny_data).mean == pytest.approx(mu)

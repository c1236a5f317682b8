"""Spectral implicit-feedback features against a dense numpy SVD."""

from __future__ import annotations

import numpy as np

from hybridrec_jax.data.interactions import (
    add_spectral_features,
    spectral_factors,
    spectral_features,
)


def _dense_normalised(ds):
    r = np.zeros((ds.n_users, ds.n_items))
    r[ds.user, ds.item] = 1.0
    du = np.maximum(r.sum(1, keepdims=True), 1)
    di = np.maximum(r.sum(0, keepdims=True), 1)
    return r / np.sqrt(du) / np.sqrt(di)


def test_randomised_svd_equals_dense_svd(tiny_data):
    # With k + oversampling >= U (60 users) the sketch spans the whole range of
    # R~, so the randomised SVD must be exact up to float32 rounding.
    k = 50
    f_user, f_item = spectral_factors(tiny_data, k)
    u, s, vt = np.linalg.svd(_dense_normalised(tiny_data))
    best_rank_k = (u[:, :k] * s[:k]) @ vt[:k]
    np.testing.assert_allclose(f_user @ f_item.T, best_rank_k, atol=1e-4)
    # Column norms of the item factor are the square roots of singular values.
    np.testing.assert_allclose(np.linalg.norm(f_item, axis=0) ** 2, s[:k], rtol=1e-4)


def test_features_fitted_on_train_only(tiny_split):
    train, test = tiny_split
    new_train, new_test = add_spectral_features(train, (test,), dim=3)
    assert new_train.user_features.shape[1] == train.user_features.shape[1] + 3
    np.testing.assert_array_equal(new_train.user_features, new_test.user_features)
    # Changing the test interactions changes nothing in the features.
    shuffled = test.subset(np.arange(test.n_interactions)[::-1][:10])
    _, other = add_spectral_features(train, (shuffled,), dim=3)
    np.testing.assert_array_equal(other.item_features, new_test.item_features)
    f_user, _ = spectral_features(train, 3)
    np.testing.assert_allclose(np.sqrt(np.mean(f_user**2, axis=0)), 1.0, rtol=1e-5)
    assert new_train.user_feature_names[-1] == "interactions_2"

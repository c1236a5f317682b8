"""Implicit-feedback features: who rated what, as a few dense columns per user and item.

SVD++'s idea is that the set of items a user rated says something about the user
even without the ratings (and the set of raters says something about an item).
Here that set is summarised once, before training, by a truncated SVD of the
degree-normalised interaction matrix of the *training* interactions:

    R~ = D_U^{-1/2} R D_I^{-1/2},   R_ui = 1 if u rated i in training,
    R~ ~= U_k S_k V_k^T,
    f_u = U_k[u] S_k^{1/2},   f_i = V_k[i] S_k^{1/2}   (then scaled to unit RMS),

and f_u, f_i are appended to the content features x_u, x_i. The products R~ @ M
and R~^T @ M are segment sums over the interactions, so the randomised SVD (Halko
et al. 2011) costs O(nnz * k) and never forms R~ densely.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.data.dataset import Dataset


def _normalised_products(users, items, n_users, n_items):
    """Closures computing R~ @ M (I, r) -> (U, r) and R~^T @ M (U, r) -> (I, r)."""
    user_degree = jnp.bincount(users, length=n_users)
    item_degree = jnp.bincount(items, length=n_items)
    weight = jax.lax.rsqrt(
        jnp.maximum(user_degree[users], 1) * jnp.maximum(item_degree[items], 1.0)
    )  # (nnz,)

    @jax.jit
    def times(m):
        return jax.ops.segment_sum(weight[:, None] * m[items], users, n_users)

    @jax.jit
    def times_transposed(m):
        return jax.ops.segment_sum(weight[:, None] * m[users], items, n_items)

    return times, times_transposed


def spectral_factors(
    train: Dataset, dim: int, seed: int = 0, power_iterations: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """(U_k S_k^{1/2} (U, dim), V_k S_k^{1/2} (I, dim)) of R~, by randomised SVD.

    Users or items without training interactions get zero rows.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> f_u, f_i = spectral_factors(tiny_dataset(), 1)
    >>> f_u.shape, f_i.shape
    ((3, 1), (2, 1))
    """
    n_users, n_items = train.n_users, train.n_items
    dim = min(dim, n_users, n_items)
    pairs = np.unique(np.stack([train.user, train.item], axis=1), axis=0)
    users, items = jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1])
    times, times_transposed = _normalised_products(users, items, n_users, n_items)
    oversampled = min(dim + 10, n_items)
    omega = jax.random.normal(jax.random.key(seed), (n_items, oversampled))
    basis, _ = jnp.linalg.qr(times(omega))  # (U, r): range of R~
    for _ in range(power_iterations):  # sharpen the spectrum: (R~ R~^T)^q R~
        basis, _ = jnp.linalg.qr(times_transposed(basis))
        basis, _ = jnp.linalg.qr(times(basis))
    small = times_transposed(basis).T  # (r, I) = Q^T R~
    u_small, s, vt = jnp.linalg.svd(small, full_matrices=False)
    root = jnp.sqrt(s[:dim])
    f_user = np.asarray((basis @ u_small)[:, :dim] * root[None, :], np.float64)
    f_item = np.asarray(vt[:dim].T * root[None, :], np.float64)
    # Fix each component's sign so the result does not depend on the QR's choice.
    sign = np.where(f_item.sum(axis=0) < 0, -1.0, 1.0)
    return f_user * sign, f_item * sign


def spectral_features(
    train: Dataset, dim: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The spectral factors scaled to unit root-mean-square per column (float32).

    Scaling without centring keeps "no training interaction" at exactly zero.
    """
    f_user, f_item = spectral_factors(train, dim, seed)

    def unit_rms(f):
        return (f / np.maximum(np.sqrt(np.mean(f**2, axis=0)), 1e-12)).astype(
            np.float32
        )

    return unit_rms(f_user), unit_rms(f_item)


def add_spectral_features(
    train: Dataset, others: tuple[Dataset, ...] = (), dim: int = 32, seed: int = 0
) -> tuple[Dataset, ...]:
    """``train`` and each of ``others`` with f_u, f_i appended to their features.

    The features are fitted on ``train`` only, so a test set gains nothing from
    its own interactions. Returns (train, *others).
    """
    if dim <= 0:
        return (train, *others)
    f_user, f_item = spectral_features(train, dim, seed)
    names_u = tuple(f"interactions_{k}" for k in range(f_user.shape[1]))
    names_i = tuple(f"interactions_{k}" for k in range(f_item.shape[1]))

    def extend(ds: Dataset) -> Dataset:
        return dataclasses.replace(
            ds,
            user_features=np.hstack([ds.user_features, f_user]),
            item_features=np.hstack([ds.item_features, f_item]),
            user_feature_names=ds.user_feature_names + names_u,
            item_feature_names=ds.item_feature_names + names_i,
        )

    return tuple(extend(ds) for ds in (train, *others))

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

#: The feature names of the interaction columns: interactions_0, interactions_1...
INTERACTION_PREFIX = "interactions_"


def interaction_columns(dataset: Dataset) -> dict[str, np.ndarray]:
    """0/1 masks of the interaction columns among the feature columns.

    Returns:
        {"user_interaction_columns": (F_u,), "item_interaction_columns":
        (F_i,)} float32, 1 where the feature name starts with
        :data:`INTERACTION_PREFIX` (the columns :func:`add_spectral_features`
        appends; names are matched to the last columns when fewer names than
        columns are known); ``model.content`` hides them for id-dropped
        examples.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> (train,) = add_spectral_features(tiny_dataset(), dim=1)
    >>> interaction_columns(train)["item_interaction_columns"].tolist()
    [0.0, 0.0, 1.0]
    """
    out = {}
    for side in ("user", "item"):
        width = getattr(dataset, f"{side}_features").shape[1]
        names = (
            tuple(getattr(dataset, f"{side}_feature_names"))[-width:] if width else ()
        )
        mask = np.zeros(width, np.float32)  # (F,)
        mask[width - len(names) :] = [n.startswith(INTERACTION_PREFIX) for n in names]
        out[f"{side}_interaction_columns"] = mask
    return out


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
    """(U_k S_k^{1/2}, V_k S_k^{1/2}) of R~, by randomised SVD.

        R~ = D_U^{-1/2} R D_I^{-1/2} ~= U_k S_k V_k^T,

    R_ui = 1 if u rated i in ``train`` (repeats count once), D_U and D_I the
    user and item degrees. Randomised SVD (Halko et al. 2011): Q spans
    (R~ R~^T)^q R~ Omega, Omega (I, min(k + 10, I)) Gaussian, then the SVD of
    Q^T R~. Users or items without training interactions get zero rows; each
    component's sign makes the item column sum non-negative.

    Args:
        train: the training interactions; ``user`` (N,) and ``item`` (N,) int.
        dim: the rank k; capped at min(U, I).
        seed: seeds Omega.
        power_iterations: q, the power iterations that sharpen the spectrum.

    Returns:
        (f_user (U, k), f_item (I, k)) float64 numpy arrays, k = min(dim, U, I).

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

    f_u = U_k[u] S_k^{1/2} / rms_u and f_i = V_k[i] S_k^{1/2} / rms_i, each
    column divided by its root mean square over all users (items). Scaling
    without centring keeps "no training interaction" at exactly zero.

    Args as :func:`spectral_factors` (with q = 4 power iterations).

    Returns:
        (f_user (U, k), f_item (I, k)) float32, k = min(dim, U, I).
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

    f_u and f_i are :func:`spectral_features` of R~ = D_U^{-1/2} R D_I^{-1/2}
    ~= U_k S_k V_k^T (README "The model"), fitted on ``train`` only, so a test
    set gains nothing from its own interactions.

    Args:
        train: the training interactions; ``user_features`` (U, F_u),
            ``item_features`` (I, F_i).
        others: Datasets over the same users and items (e.g. the test set of
            the same split, from ``Dataset.subset``).
        dim: the rank k; 0 or less adds nothing.
        seed: seeds the randomised SVD.

    Returns:
        (train, *others) with features (U, F_u + k) and (I, F_i + k) float32,
        the new columns named ``interactions_0``...; unchanged when
        ``dim <= 0``.

    Raises:
        ValueError: a Dataset of ``others`` has another number of users or
            items than ``train`` (from ``np.hstack``).

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> (train,) = add_spectral_features(tiny_dataset(), dim=1)
    >>> train.user_features.shape, train.item_features.shape
    ((3, 4), (2, 3))
    """
    if dim <= 0:
        return (train, *others)
    f_user, f_item = spectral_features(train, dim, seed)
    names_u = tuple(f"{INTERACTION_PREFIX}{k}" for k in range(f_user.shape[1]))
    names_i = tuple(f"{INTERACTION_PREFIX}{k}" for k in range(f_item.shape[1]))

    def extend(ds: Dataset) -> Dataset:
        return dataclasses.replace(
            ds,
            user_features=np.hstack([ds.user_features, f_user]),
            item_features=np.hstack([ds.item_features, f_item]),
            user_feature_names=ds.user_feature_names + names_u,
            item_feature_names=ds.item_feature_names + names_i,
        )

    return tuple(extend(ds) for ds in (train, *others))

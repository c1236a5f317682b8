"""Splits of a Dataset's interactions into row-index sets. Seeded, pure."""

from __future__ import annotations

import numpy as np

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.prepare import DataError


def random_split(
    n_rows: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle row indices with a seeded Generator and cut off ``test_fraction``.

    Args:
        n_rows: N, the number of interactions.
        test_fraction: the test share in (0, 1); the test set has
            round(N * test_fraction) rows.
        seed: seeds ``np.random.default_rng``.

    Returns:
        (train_rows, test_rows): int64, both sorted, disjoint, covering 0..N-1.

    Raises:
        ValueError: ``test_fraction`` is outside (0, 1).

    >>> train, test = random_split(10, 0.2, seed=0)
    >>> len(train), len(test), sorted(set(train) | set(test)) == list(range(10))
    (8, 2, True)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n_rows)
    n_test = int(round(n_rows * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def train_test(
    dataset: Dataset, train_rows: np.ndarray, test_rows: np.ndarray
) -> tuple[Dataset, Dataset]:
    """The two Datasets of a split (features and id maps shared).

    Args:
        dataset: the full data set.
        train_rows, test_rows: int row indices, e.g. from :func:`random_split`.

    Returns:
        (train, test), each ``dataset.subset`` of its rows.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> train, test = train_test(tiny_dataset(), np.array([0, 1]), np.array([2]))
    >>> train.n_interactions, test.n_interactions, test.n_users
    (2, 1, 3)
    """
    return dataset.subset(train_rows), dataset.subset(test_rows)


def _need_time(dataset: Dataset, what: str, hint: str = "") -> np.ndarray:
    if dataset.timestamp is None:
        raise DataError(
            f"the {what} split needs timestamps, and {dataset.name} has none "
            "(e.g. ML-1M read from a ratings table without timestamps); "
            f"{hint or 'use the random, k-fold or cold-start splits'}"
        )
    return np.asarray(dataset.timestamp)


def leave_one_out(
    dataset: Dataset, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per user, the latest interaction is held out (the NCF protocol).

    Each user with at least two interactions gives up the one with the largest
    timestamp; ties in time go to the row that comes last in the data, so the
    split is deterministic. A user with a single interaction keeps it in
    training (there is nothing to learn them from otherwise). README "Data sets"
    lists the splits.

    Without timestamps there is no "latest": with a ``seed``, each user gives up
    one interaction drawn uniformly at random (seeded, reproducible); without
    one the split is refused.

    Args:
        dataset: the interactions; ``dataset.user`` (N,) int, ``timestamp`` (N,)
            int64 or None.
        seed: only used without timestamps: the seed of the random draw.

    Returns:
        (kept_rows, held_rows): sorted int64 row indices, disjoint, covering
        0..N-1; ``held_rows`` has one row per user with >= 2 interactions.

    Raises:
        DataError: the data set has no timestamps and ``seed`` is None.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> import dataclasses
    >>> ds = dataclasses.replace(tiny_dataset(), user=np.array([0, 0, 1]),
    ...                          timestamp=np.array([5, 3, 1]))
    >>> leave_one_out(ds)
    (array([1, 2]), array([0]))
    """
    user = np.asarray(dataset.user)
    rows = np.arange(len(user))
    if dataset.timestamp is None and seed is not None:
        key = np.random.default_rng(seed).random(len(user))  # a random "time"
    else:
        key = _need_time(
            dataset,
            "leave-one-out",
            "pass seed=... to hold out one random interaction per user instead, "
            "or use the random, k-fold or cold-start splits",
        )
    # Sort by (user, key, row): the last row of each user's run is the latest,
    # and of equal times the one that comes last in the data.
    order = np.lexsort((rows, key, user))
    user_sorted = user[order]
    last = np.r_[user_sorted[1:] != user_sorted[:-1], True]
    first = np.r_[True, user_sorted[1:] != user_sorted[:-1]]
    held = order[last & ~first]  # a run of one is a single-interaction user
    return np.setdiff1d(rows, held), np.sort(held)


def time_split(
    dataset: Dataset, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """A global time cut: rows at or after the cut time are test rows.

    The cut is the ``1 - test_fraction`` quantile of the timestamps, so every
    training row is strictly older than every test row.

    Args:
        dataset: the interactions; ``timestamp`` (N,) int64.
        test_fraction: the test share in (0, 1); ties at the cut all go to the
            test set, so it may be larger.

    Returns:
        (train_rows, test_rows): int64, sorted, disjoint, covering 0..N-1.

    Raises:
        ValueError: ``test_fraction`` is outside (0, 1).
        DataError: the data set has no timestamps, or the cut falls on the
            earliest time, leaving no training row (e.g. all share one time).

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> import dataclasses
    >>> ds = dataclasses.replace(tiny_dataset(), timestamp=np.array([30, 10, 20]))
    >>> time_split(ds, 0.34)
    (array([1, 2]), array([0]))
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    time = _need_time(dataset, "time")
    ordered = np.sort(time)
    cut = ordered[min(int(round(len(time) * (1 - test_fraction))), len(time) - 1)]
    test = time >= cut
    if test.all():
        if ordered[0] == ordered[-1]:
            raise DataError("every interaction has the same time; no time cut exists")
        raise DataError(
            f"the time cut falls on the earliest time ({cut}): "
            f"{int((time == cut).sum())} of {len(time)} interactions share it, so "
            "no training row is older; lower test_fraction or use another split"
        )
    return np.flatnonzero(~test), np.flatnonzero(test)


def cold_start_split(
    dataset: Dataset, side: str, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Move every interaction of a random ``test_fraction`` of the items (or
    users) that occur to the test set: those are never seen in training.

    The held-out ids are ``rng.choice(present, n, replace=False)`` with
    ``rng = np.random.default_rng(seed)``, ``present`` the sorted ids that occur
    and ``n = max(1, round(test_fraction * len(present)))``; the cold-start
    benchmark's item set depends on this exact draw. :func:`held_out_mask`
    turns the test rows into the (I,) or (U,) mask that scorers take.

    Args:
        dataset: the interactions; ``dataset.item`` and ``dataset.user`` (N,) int.
        side: "item" or "user".
        test_fraction: the share of the present ids to hold out, in (0, 1).
        seed: the seed of the draw.

    Returns:
        (train_rows, test_rows): sorted int64 row indices, disjoint, covering
        0..N-1; no held-out id occurs in ``train_rows``.

    Raises:
        ValueError: ``side`` is neither "item" nor "user", ``test_fraction`` is
            outside (0, 1), or nothing would be left to train.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> train, test = cold_start_split(tiny_dataset(), "item", 0.5, seed=0)
    >>> sorted(np.concatenate([train, test]).tolist())
    [0, 1, 2]
    """
    if side not in ("item", "user"):
        raise ValueError(f"side must be 'item' or 'user', got {side!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    ids = dataset.item if side == "item" else dataset.user
    present = np.unique(ids)
    n_test = max(1, int(round(test_fraction * len(present))))
    if n_test >= len(present):
        raise ValueError(
            f"only {len(present)} {side}s occur: holding out {n_test} would leave "
            "none to train; lower test_fraction"
        )
    held = np.random.default_rng(seed).choice(present, n_test, replace=False)
    test = np.isin(ids, held)
    return np.flatnonzero(~test), np.flatnonzero(test)


def held_out_mask(ids: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool, True at every id in ``ids``: the cold items (or users) of a
    cold-start split, e.g. ``held_out_mask(dataset.item[test_rows], n_items)``.

    Args:
        ids: (M,) int ids in 0..n-1, repeats allowed.
        n: the number of ids (``dataset.n_items`` or ``n_users``).

    Returns:
        (n,) bool mask.

    >>> held_out_mask(np.array([2, 0, 2]), 4)
    array([ True, False,  True, False])
    """
    mask = np.zeros(n, bool)
    mask[np.asarray(ids)] = True
    return mask


def kfold_split(
    n_rows: int, n_folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a seeded ``n_folds``-fold partition is the test set.

    The rows are shuffled by ``np.random.default_rng(seed)`` and cut into
    ``n_folds`` parts of sizes differing by at most one, so the folds of one
    seed partition 0..N-1.

    Args:
        n_rows: N, the number of interactions.
        n_folds: the number of folds, >= 2.
        fold: the test fold, 0..n_folds-1.
        seed: seeds the shuffle; the same for every fold of a partition.

    Returns:
        (train_rows, test_rows): int64, sorted, disjoint, covering 0..N-1.

    Raises:
        ValueError: ``n_folds`` < 2 or ``fold`` outside 0..n_folds-1.

    >>> folds = [kfold_split(10, 5, k, seed=0)[1] for k in range(5)]
    >>> sorted(np.concatenate(folds).tolist()) == list(range(10))
    True
    """
    if n_folds < 2 or not 0 <= fold < n_folds:
        raise ValueError(f"need n_folds >= 2 and 0 <= fold < n_folds, got {fold}")
    order = np.random.default_rng(seed).permutation(n_rows)
    test = np.sort(np.array_split(order, n_folds)[fold])
    return np.setdiff1d(np.arange(n_rows), test), test

"""Splits of a Dataset's interactions into row-index sets. Seeded, pure."""

from __future__ import annotations

import numpy as np

from hybridrec_jax.data.dataset import Dataset


def random_split(
    n_rows: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle row indices with a seeded Generator and cut off ``test_fraction``.

    Returns (train_rows, test_rows), both sorted, disjoint, covering 0..n_rows-1.

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
    """The two Datasets of a split (features and id maps shared)."""
    return dataset.subset(train_rows), dataset.subset(test_rows)

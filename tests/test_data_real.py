"""Loaders on the real MovieLens copies (skipped with a reason where absent).

Each data set is loaded once per module. The copies are found in
``$HYBRIDREC_DATA/<name>`` or ``../shared/data/<name>`` beside the checkout.
"""

from __future__ import annotations

import numpy as np
import pytest

from hybridrec_jax.data import (
    find_data,
    load_ml1m,
    load_movielens_csv,
    load_ncf_ml1m,
    split_rows,
)


def _need(name: str):
    path = find_data(name)
    if path is None:
        pytest.skip(f"{name} not found in $HYBRIDREC_DATA or ../shared/data")
    return path


@pytest.fixture(scope="module")
def ncf():
    return load_ncf_ml1m(_need("ncf-ml-1m"), _need("ml-1m-partial"))


@pytest.fixture(scope="module")
def ml1m():
    return load_ml1m(_need("ml-1m-partial"))


@pytest.fixture(scope="module")
def latest_small():
    return load_movielens_csv(_need("ml-latest-small"), name="ml-latest-small")


def test_ncf_ml1m_counts(ncf):
    train = ncf.train
    assert train.n_interactions == 994_169
    assert train.n_users == 6040 and train.n_items == 3706
    assert len(np.unique(train.item)) == 3704  # 2 items occur only in the test file
    assert train.rating_range == (0.0, 1.0) and np.all(train.rating == 1.0)
    assert ncf.test_items.shape == (6040,)
    assert ncf.test_negatives.shape == (6040, 99)
    # NCF user u is ML-1M UserID u + 1; items carry their MovieID and title.
    assert np.array_equal(train.user_ids, np.arange(1, 6041))
    assert train.item_ids[0] == 1193 and train.item_titles is not None
    assert sum(n.startswith("genres=") for n in train.item_feature_names) == 18
    assert {"gender=F", "age=56", "zip_region=9"} <= set(train.user_feature_names)


def test_ncf_test_cases_are_held_out(ncf):
    train = ncf.train
    key = train.user.astype(np.int64) * 4000 + train.item
    held_out = np.arange(6040) * 4000 + ncf.test_items
    assert not np.isin(held_out, key).any()
    # The file is kept as is: 156 sampled negatives equal the held-out item.
    assert int((ncf.test_negatives == ncf.test_items[:, None]).sum()) == 156


def test_ml1m_explicit_counts(ml1m):
    assert ml1m.n_interactions == 1_000_209
    assert abs(float(ml1m.rating.mean()) - 3.5816) < 1e-4
    assert ml1m.n_users == 6040 and len(np.unique(ml1m.item)) == 3706
    assert ml1m.n_items == 3883  # every movie of movies.dat
    assert ml1m.timestamp is None
    counts = np.bincount(ml1m.rating.astype(int), minlength=6)[1:]
    assert counts.tolist() == [56174, 107557, 261197, 348971, 226310]
    train, test = split_rows(ml1m, "random", test_fraction=0.1, seed=0)
    assert len(train) + len(test) == 1_000_209


def test_ml_latest_small_counts(latest_small):
    ds = latest_small
    assert ds.n_interactions == 100_836
    assert ds.n_users == 610 and ds.n_items == 9742
    assert len(np.unique(ds.item)) == 9724
    assert ds.rating_range == (0.5, 5.0) and ds.rating.min() == 0.5
    assert ds.timestamp is not None
    train, test = split_rows(ds, "leave-one-out")
    assert len(test) == 610

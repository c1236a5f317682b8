"""MovieLens 100K from its original folder (u.data, u.user, u.item, u1..u5, ua, ub).

The files are read as GroupLens ships them: tab-separated ratings, pipe-separated
side tables, ``u.item`` in latin-1. Bad files raise :class:`DataError` naming the
file, line and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.checks import check_ids, check_ratings
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.data.readers import read_table
from hybridrec_jax.data.tables import Preparation, from_tables

ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
ML100K_USER_FEATURES = [
    FeatureSpec("age", "numeric"),
    FeatureSpec("age", "bucket", edges=(18.0, 25.0, 35.0, 45.0, 50.0, 56.0)),
    FeatureSpec("gender", "categorical"),
    FeatureSpec("occupation", "categorical"),
    FeatureSpec("zip_region", "categorical", min_count=5),
]
#: The release date in decimal years, standardised and bucketed by half years and
#: quarters up to the collection period (ratings from September 1997 to April
#: 1998): how recent a film was when it was rated, which the year alone blurs.
#: Ranking cold items (``benchmarks/cold_start.py``, 3 seeds) it takes the
#: hybrid's AUC from 0.764 to 0.792 and NDCG@10 from 0.308 to 0.345 (with id
#: dropout 0.769 / 0.311 to 0.798 / 0.360); warm, the u1, u2, u3 RMSE from
#: 0.9065, 0.8996, 0.8917 to 0.9036, 0.8968, 0.8920 (README "Cold start and the
#: future").
ML100K_RELEASE_FEATURES = [
    FeatureSpec("released", "numeric"),
    FeatureSpec(
        "released",
        "bucket",
        edges=(1996.0, 1996.5, 1997.0, 1997.25, 1997.5, 1997.75, 1998.0),
    ),
]
ML100K_ITEM_FEATURES = [
    FeatureSpec("genres", "multihot"),
    FeatureSpec("year", "numeric"),
    FeatureSpec("year", "bucket", edges=(1960.0, 1970.0, 1980.0, 1990.0, 1995.0)),
    *ML100K_RELEASE_FEATURES,
]


def _read_ratings(path: Path) -> pd.DataFrame:
    """(user, item, rating, timestamp) of ``u.data`` or a fold file, checked."""
    table = read_table(
        path,
        sep="\t",
        names=["user", "item", "rating", "timestamp"],
        numeric=("user", "item", "rating", "timestamp"),
    )
    check_ids(table, ("user", "item", "timestamp"), path)
    check_ratings(table, (1.0, 5.0), path)
    return table.astype({"user": np.int64, "item": np.int64, "timestamp": np.int64})


def ml100k_tables(data_dir: str | Path) -> tuple[pd.DataFrame, ...]:
    """Raw (ratings, users, items) tables of ML-100K, with parsed year and genres.

    Args:
        data_dir: the unpacked ``ml-100k`` folder (``u.data``, ``u.user``,
            ``u.item``).

    Returns:
        ratings (user, item, timestamp int64; rating float64), users (user
        int64, age float64, gender, occupation, zip and zip_region as text),
        items (item int64, title, release, the 19 genre flags, year float64,
        released float64 (the release date in decimal years, year + (day of
        year - 1) / days in the year), genres as lists of names).

    Raises:
        DataError: a file is missing or malformed, naming the file, line and
            column (see :func:`~hybridrec_jax.data.readers.read_table`).
    """
    data_dir = Path(data_dir)
    ratings = _read_ratings(data_dir / "u.data")
    users = read_table(
        data_dir / "u.user",
        sep="|",
        names=["user", "age", "gender", "occupation", "zip"],
        numeric=("user", "age"),
        text=("gender", "occupation", "zip"),
    )
    check_ids(users, ("user",), data_dir / "u.user")
    users = users.astype({"user": np.int64})
    users["zip_region"] = users["zip"].str.strip().str[:1]
    items = read_table(
        data_dir / "u.item",
        sep="|",
        names=["item", "title", "release", "video_release", "url", *ML100K_GENRES],
        numeric=("item", *ML100K_GENRES),
        text=("title", "release", "video_release", "url"),
        encoding="latin-1",
    )
    check_ids(items, ("item",), data_dir / "u.item")
    items = items.astype({"item": np.int64})
    items["year"] = pd.to_numeric(
        items["release"].str.extract(r"(\d{4})$")[0], errors="coerce"
    )
    date = pd.to_datetime(items["release"], format="%d-%b-%Y", errors="coerce")
    days_in_year = np.where(date.dt.is_leap_year, 366.0, 365.0)
    items["released"] = date.dt.year + (date.dt.day_of_year - 1) / days_in_year
    flags = items[list(ML100K_GENRES)].to_numpy()
    items["genres"] = [
        [g for g, on in zip(ML100K_GENRES, row, strict=True) if on] for row in flags
    ]
    return ratings, users, items


def prepare_ml100k(
    data_dir: str | Path,
    item_features: list[FeatureSpec] | None = None,
    **options,
) -> tuple[Dataset, Preparation]:
    """All 100,000 ML-100K ratings in ``u.data`` order, with encoded content.

    User content: age (standardised and bucketed), gender, occupation, first
    digit of the zip code. Item content: the 19 genre flags, release year and
    release date in decimal years (each standardised and bucketed; missing for
    one item, imputed by the median).

    Args:
        data_dir: the unpacked ``ml-100k`` folder.
        item_features: the item content, :data:`ML100K_ITEM_FEATURES` by
            default; the columns "genres", "year", "released" and "title" can
            be encoded (e.g. without :data:`ML100K_RELEASE_FEATURES`, the
            content before the release date was added).
        options: passed to :func:`from_tables` (duplicates, implicit,
            k-core...); ``missing_side`` defaults to "error".

    Returns:
        (dataset, preparation) as :func:`from_tables` returns them, ratings
        1..5.

    Raises:
        DataError: a file is missing or malformed (see :func:`ml100k_tables`).
    """
    ratings, users, items = ml100k_tables(data_dir)
    options.setdefault("missing_side", "error")
    return from_tables(
        ratings,
        users,
        items[["item", "title", "genres", "year", "released"]],
        user_features=ML100K_USER_FEATURES,
        item_features=ML100K_ITEM_FEATURES if item_features is None else item_features,
        rating_range=(1.0, 5.0),
        title_column="title",
        name="ml-100k",
        **options,
    )


def load_ml100k(
    data_dir: str | Path, item_features: list[FeatureSpec] | None = None, **options
) -> Dataset:
    """:func:`prepare_ml100k` without the Preparation."""
    return prepare_ml100k(data_dir, item_features, **options)[0]


def ml100k_fold(
    dataset: Dataset, data_dir: str | Path, fold: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of a predefined split, read from ``<fold>.base/test``.

    The fold files are subsets of ``u.data``; each row is found by its (user, item)
    pair, which is unique in ML-100K.

    Args:
        dataset: ML-100K as :func:`prepare_ml100k` returns it, with every row.
        data_dir: the ``ml-100k`` folder holding the fold files.
        fold: one of ``ML100K_FOLDS`` ("u1".."u5", "ua", "ub").

    Returns:
        (train_rows, test_rows): int64 indices into ``dataset``, in the order of
        the lines of ``<fold>.base`` and ``<fold>.test``.

    Raises:
        ValueError: ``fold`` is not in ``ML100K_FOLDS``.
        DataError: a fold file is missing or malformed, or holds a pair that
            ``dataset`` lacks (e.g. it was filtered by k-core), naming its line.
    """
    if fold not in ML100K_FOLDS:
        raise ValueError(f"fold must be one of {ML100K_FOLDS}, got {fold!r}")
    data_dir = Path(data_dir)
    key = pd.MultiIndex.from_arrays(
        [dataset.user_ids[dataset.user], dataset.item_ids[dataset.item]]
    )
    parts = []
    for suffix in ("base", "test"):
        path = data_dir / f"{fold}.{suffix}"
        table = _read_ratings(path)
        rows = key.get_indexer(pd.MultiIndex.from_frame(table[["user", "item"]]))
        if (rows < 0).any():
            raise DataError(
                "pair not found in u.data", path=str(path), row=int(np.argmin(rows)) + 1
            )
        parts.append(rows)
    return parts[0], parts[1]

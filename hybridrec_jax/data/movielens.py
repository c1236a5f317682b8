"""MovieLens 100K from its original folder (u.data, u.user, u.item, u1..u5, ua, ub).

The files are read as GroupLens ships them: tab-separated ratings, pipe-separated
side tables, ``u.item`` in latin-1. Bad files raise :class:`DataError` naming the
file, line and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.prepare import DataError
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
ML100K_ITEM_FEATURES = [
    FeatureSpec("genres", "multihot"),
    FeatureSpec("year", "numeric"),
    FeatureSpec("year", "bucket", edges=(1960.0, 1970.0, 1980.0, 1990.0, 1995.0)),
]


def read_delimited(
    path: Path,
    *,
    sep: str,
    names: list[str],
    numeric: tuple[str, ...] = (),
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a header-less delimited file, checking the column count and numbers.

    Raises:
        DataError: the file is missing or empty, a line has the wrong number of
            fields (often a wrong separator), a numeric column holds text, or the
            bytes are not valid in ``encoding``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(
            f"bytes not valid {encoding} at line {line} (byte {err.start}); "
            "pass the file's encoding",
            path=str(path),
            row=line,
        ) from err
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError("file is empty", path=str(path))
    rows = [ln.split(sep) for ln in lines]
    for number, fields in enumerate(rows, start=1):
        if len(fields) != len(names):
            raise DataError(
                f"expected {len(names)} fields separated by {sep!r}, found "
                f"{len(fields)}; is the separator right?",
                path=str(path),
                row=number,
            )
    table = pd.DataFrame(rows, columns=names)
    for column in numeric:
        converted = pd.to_numeric(table[column], errors="coerce")
        bad = converted.isna() & table[column].str.strip().ne("")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"expected a number, found {table[column].iloc[row]!r}",
                path=str(path),
                row=row + 1,
                column=column,
            )
        table[column] = converted
    return table


def _read_ratings(path: Path) -> pd.DataFrame:
    table = read_delimited(
        path,
        sep="\t",
        names=["user", "item", "rating", "timestamp"],
        numeric=("user", "item", "rating", "timestamp"),
    )
    bad = ~table["rating"].between(1, 5)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"rating {table['rating'].iloc[row]} outside 1..5",
            path=str(path),
            row=row + 1,
            column="rating",
        )
    return table.astype({"user": np.int64, "item": np.int64, "timestamp": np.int64})


def ml100k_tables(data_dir: str | Path) -> tuple[pd.DataFrame, ...]:
    """Raw (ratings, users, items) tables of ML-100K, with parsed year and genres."""
    data_dir = Path(data_dir)
    ratings = _read_ratings(data_dir / "u.data")
    users = read_delimited(
        data_dir / "u.user",
        sep="|",
        names=["user", "age", "gender", "occupation", "zip"],
        numeric=("user", "age"),
    )
    users["zip_region"] = users["zip"].str.strip().str[:1]
    items = read_delimited(
        data_dir / "u.item",
        sep="|",
        names=["item", "title", "release", "video_release", "url", *ML100K_GENRES],
        numeric=("item", *ML100K_GENRES),
        encoding="latin-1",
    )
    items["year"] = pd.to_numeric(
        items["release"].str.extract(r"(\d{4})$")[0], errors="coerce"
    )
    flags = items[list(ML100K_GENRES)].to_numpy()
    items["genres"] = [
        [g for g, on in zip(ML100K_GENRES, row, strict=True) if on] for row in flags
    ]
    return ratings, users, items


def prepare_ml100k(data_dir: str | Path, **options) -> tuple[Dataset, Preparation]:
    """All 100,000 ML-100K ratings in ``u.data`` order, with encoded content.

    User content: age (standardised and bucketed), gender, occupation, first
    digit of the zip code. Item content: the 19 genre flags, release year
    (standardised and bucketed; missing for one item, imputed by the median).
    ``options`` go to :func:`from_tables` (duplicates, implicit, k-core...).
    """
    ratings, users, items = ml100k_tables(data_dir)
    options.setdefault("missing_side", "error")
    return from_tables(
        ratings,
        users,
        items[["item", "title", "genres", "year"]],
        user_features=ML100K_USER_FEATURES,
        item_features=ML100K_ITEM_FEATURES,
        rating_range=(1.0, 5.0),
        title_column="title",
        name="ml-100k",
        **options,
    )


def load_ml100k(data_dir: str | Path, **options) -> Dataset:
    """:func:`prepare_ml100k` without the Preparation."""
    return prepare_ml100k(data_dir, **options)[0]


def ml100k_fold(
    dataset: Dataset, data_dir: str | Path, fold: str
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of a predefined split, read from ``<fold>.base/test``.

    The fold files are subsets of ``u.data``; each row is found by its (user, item)
    pair, which is unique in ML-100K.
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

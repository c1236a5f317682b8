"""MovieLens 1M: ``users.dat``, ``movies.dat`` and the ratings.

The original release has ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``).
A ratings table without timestamps is accepted too: ``ratings.csv`` style files
with a header ``user_id,movie_id,rating`` (such as ``ratings_no_timestamp.csv``);
the Dataset then has ``timestamp=None`` and time-based splits refuse it.
The ``.dat`` files are ``::``-separated and latin-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.checks import check_ids, check_ratings, check_unique
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.data.readers import read_table
from hybridrec_jax.data.tables import Preparation, from_tables

ML1M_RATING_FILES = ("ratings.dat", "ratings.csv", "ratings_no_timestamp.csv")
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care",
    "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
# ML-1M's "Age" is already a bucket code: 1 (<18), 18, 25, 35, 45, 50, 56 (56+).
ML1M_USER_FEATURES = [
    FeatureSpec("gender", "categorical"),
    FeatureSpec("age", "categorical"),
    FeatureSpec("occupation", "categorical"),
    FeatureSpec("zip_region", "categorical"),
]
ML1M_ITEM_FEATURES = [
    FeatureSpec("genres", "multihot"),
    FeatureSpec("year", "numeric"),
    FeatureSpec("year", "bucket", edges=(1960.0, 1970.0, 1980.0, 1990.0, 1995.0)),
]
YEAR_IN_TITLE = r"\((\d{4})\)\s*$"
ALIASES = {
    "user_id": "user", "userId": "user", "UserID": "user",
    "movie_id": "item", "movieId": "item", "MovieID": "item",
    "Rating": "rating", "Timestamp": "timestamp",
}  # fmt: skip


def split_genres(genres: pd.Series) -> pd.Series:
    """'A|B' -> ['A', 'B']; '(no genres listed)' and '' -> [] (vectorised).

    >>> split_genres(pd.Series(["Action|Comedy", "(no genres listed)"])).tolist()
    [['Action', 'Comedy'], []]
    """
    text = genres.fillna("").astype(str).str.strip()
    text = text.where(text.ne("(no genres listed)"), "")
    return text.str.split("|").map(lambda tags: [t for t in tags if t])


def year_from_title(titles: pd.Series) -> pd.Series:
    """The release year in 'Title (1995)', as float (NaN where absent).

    >>> year_from_title(pd.Series(["Toy Story (1995)", "Untitled"])).tolist()
    [1995.0, nan]
    """
    return pd.to_numeric(
        titles.astype(str).str.extract(YEAR_IN_TITLE)[0], errors="coerce"
    ).astype(float)


def read_users_dat(path: str | Path) -> pd.DataFrame:
    """``users.dat`` as (user, gender, age, occupation, zip, zip_region)."""
    users = read_table(
        path,
        sep="::",
        names=["user", "gender", "age", "occupation", "zip"],
        numeric=("user", "age", "occupation"),
        text=("gender", "zip"),
        encoding="latin-1",
    )
    check_ids(users, ("user", "age", "occupation"), path)
    users = users.astype({"user": np.int64, "age": np.int64, "occupation": np.int64})
    check_unique(users, "user", path)
    users["zip_region"] = users["zip"].astype(str).str.strip().str[:1]
    return users


def read_movies_dat(path: str | Path) -> pd.DataFrame:
    """``movies.dat`` as (item, title, genres [list], year)."""
    movies = read_table(
        path,
        sep="::",
        names=["item", "title", "genres"],
        numeric=("item",),
        encoding="latin-1",
    )
    check_ids(movies, ("item",), path)
    movies["item"] = movies["item"].astype(np.int64)
    check_unique(movies, "item", path)
    movies["genres"] = split_genres(movies["genres"])
    movies["year"] = year_from_title(movies["title"])
    return movies


def read_ml1m_ratings(path: str | Path) -> pd.DataFrame:
    """Ratings as (user, item, rating[, timestamp]) from either supported format.

    ``*.dat``: ``UserID::MovieID::Rating::Timestamp`` without a header.
    ``*.csv``: a header naming user (``user_id``/``userId``/``user``), movie
    (``movie_id``/``movieId``/``item``), ``rating`` and optionally ``timestamp``.
    """
    path = Path(path)
    if path.suffix == ".dat":
        table = read_table(
            path,
            sep="::",
            names=["user", "item", "rating", "timestamp"],
            numeric=("user", "item", "rating", "timestamp"),
            encoding="latin-1",
        )
        header_lines = 0
    else:
        table = read_table(
            path,
            sep=",",
            numeric=("user", "item", "rating", "timestamp"),
            required=("user", "item", "rating"),
            encoding="latin-1",
            aliases=ALIASES,
        )
        header_lines = 1
    check_ids(table, ("user", "item"), path, header_lines=header_lines)
    check_ratings(table, (1.0, 5.0), path, header_lines=header_lines)
    columns = ["user", "item", "rating"]
    if "timestamp" in table.columns:
        check_ids(table, ("timestamp",), path, header_lines=header_lines)
        columns.append("timestamp")
    out = table[columns].astype({"user": np.int64, "item": np.int64})
    if "timestamp" in out.columns:
        out["timestamp"] = out["timestamp"].astype(np.int64)
    return out


def find_ml1m_ratings(data_dir: str | Path) -> Path:
    """The first of ``ML1M_RATING_FILES`` present in ``data_dir``."""
    data_dir = Path(data_dir)
    for name in ML1M_RATING_FILES:
        if (data_dir / name).is_file():
            return data_dir / name
    raise DataError(
        f"no ratings file ({', '.join(ML1M_RATING_FILES)}) in the folder",
        path=str(data_dir),
    )


def ml1m_tables(
    data_dir: str | Path, ratings_file: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Raw (ratings, users, items) of ML-1M from its folder."""
    data_dir = Path(data_dir)
    path = Path(ratings_file) if ratings_file else find_ml1m_ratings(data_dir)
    ratings = read_ml1m_ratings(path)
    users = read_users_dat(data_dir / "users.dat")
    items = read_movies_dat(data_dir / "movies.dat")
    return ratings, users, items


def prepare_ml1m(
    data_dir: str | Path, ratings_file: str | Path | None = None, **options
) -> tuple[Dataset, Preparation]:
    """ML-1M explicit ratings (1..5) with user and movie content features.

    User content: gender, age bucket, occupation, first zip digit (one-hot).
    Item content: genres (multi-hot), year from the title (standardised and
    bucketed). Every interaction's user and movie must have a side row.
    ``options`` go to :func:`from_tables` (duplicates, implicit, k-core...).
    """
    ratings, users, items = ml1m_tables(data_dir, ratings_file)
    options.setdefault("missing_side", "error")
    return from_tables(
        ratings,
        users,
        items,
        user_features=ML1M_USER_FEATURES,
        item_features=ML1M_ITEM_FEATURES,
        rating_range=(1.0, 5.0),
        title_column="title",
        name="ml-1m",
        **options,
    )


def load_ml1m(
    data_dir: str | Path, ratings_file: str | Path | None = None, **options
) -> Dataset:
    """:func:`prepare_ml1m` without the Preparation."""
    return prepare_ml1m(data_dir, ratings_file, **options)[0]

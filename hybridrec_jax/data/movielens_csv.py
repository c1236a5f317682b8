"""The MovieLens CSV releases: ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m.

Files: ``ratings.csv`` (userId,movieId,rating,timestamp; half stars 0.5..5),
``movies.csv`` (movieId,title,genres; titles with commas are quoted, genres
pipe-separated, the year in the title), optional ``tags.csv``
(userId,movieId,tag,timestamp). UTF-8, header row, CRLF or LF line endings.
There is no user side table: user features are empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.checks import check_ids, check_ratings, check_unique
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.ml1m import ALIASES, split_genres, year_from_title
from hybridrec_jax.data.readers import read_table
from hybridrec_jax.data.tables import Preparation, from_tables

HALF_STARS = (0.5, 5.0)
CSV_ITEM_FEATURES = [
    FeatureSpec("genres", "multihot"),
    FeatureSpec("year", "numeric"),
    FeatureSpec("year", "bucket", edges=(1960.0, 1980.0, 1990.0, 2000.0, 2010.0)),
]
TITLE_TOKENS = FeatureSpec("title", "hashed", buckets=64)
TAG_TOKENS = FeatureSpec("tags", "hashed", buckets=64)


def read_ratings_csv(
    path: str | Path, rating_range: tuple[float, float] = HALF_STARS
) -> pd.DataFrame:
    """(user, item, rating, timestamp) from a MovieLens ``ratings.csv``.

    Args:
        path: the file (header ``userId,movieId,rating[,timestamp]``).
        rating_range: (low, high) inclusive, in stars.

    Returns:
        user, item (and timestamp where present) int64, rating float32.

    Raises:
        DataError: the file is missing or malformed, an id or timestamp is
            missing or fractional, or a rating is outside ``rating_range``.
    """
    table = read_table(
        path,
        sep=",",
        numeric=("user", "item", "rating", "timestamp"),
        required=("user", "item", "rating"),
        aliases=ALIASES,
    )
    check_ids(table, ("user", "item"), path, header_lines=1)
    check_ratings(table, rating_range, path, header_lines=1)
    columns = [c for c in ("user", "item", "rating", "timestamp") if c in table]
    out = table[columns].astype({"user": np.int64, "item": np.int64})
    if "timestamp" in out.columns:
        check_ids(out, ("timestamp",), path, header_lines=1)
        out["timestamp"] = out["timestamp"].astype(np.int64)
    out["rating"] = out["rating"].astype(np.float32)
    return out


def read_movies_csv(path: str | Path) -> pd.DataFrame:
    """(item, title, genres [list], year) from a MovieLens ``movies.csv``.

    Raises:
        DataError: the file is missing or malformed, or an item id is missing,
            fractional or repeated.
    """
    movies = read_table(
        path,
        sep=",",
        numeric=("item",),
        required=("item", "title", "genres"),
        quoted=True,
        aliases=ALIASES,
    )
    check_ids(movies, ("item",), path, header_lines=1)
    movies["item"] = movies["item"].astype(np.int64)
    check_unique(movies, "item", path, header_lines=1)
    movies["genres"] = split_genres(movies["genres"])
    movies["year"] = year_from_title(movies["title"])
    return movies[["item", "title", "genres", "year"]]


def read_tags_csv(path: str | Path) -> pd.DataFrame:
    """(item, tags [list]) from ``tags.csv``: every tag given to each movie,
    lower-cased, sorted and deduplicated.

    Raises:
        DataError: the file is missing or malformed, or an item id is missing
            or fractional.
    """
    tags = read_table(
        path,
        sep=",",
        numeric=("user", "item"),
        required=("item", "tag"),
        quoted=True,
        aliases=ALIASES,
    )
    check_ids(tags, ("item",), path, header_lines=1)
    tags = tags.dropna(subset=["tag"]).astype({"item": np.int64})
    return (
        tags.groupby("item")["tag"]
        .agg(lambda t: sorted(set(t.astype(str).str.lower())))
        .rename("tags")
        .reset_index()
    )


def movielens_csv_tables(
    data_dir: str | Path, *, tags: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw (ratings, items) of a CSV release; ``tags`` joins tags.csv per movie.

    Raises as :func:`read_ratings_csv`, :func:`read_movies_csv` and
    :func:`read_tags_csv`.
    """
    data_dir = Path(data_dir)
    ratings = read_ratings_csv(data_dir / "ratings.csv")
    items = read_movies_csv(data_dir / "movies.csv")
    if tags:
        items = items.merge(read_tags_csv(data_dir / "tags.csv"), on="item", how="left")
    return ratings, items


def prepare_movielens_csv(
    data_dir: str | Path,
    *,
    name: str = "ml-latest-small",
    title_tokens: bool = False,
    tags: bool = False,
    **options,
) -> tuple[Dataset, Preparation]:
    """A MovieLens CSV release as (Dataset, Preparation) on the scale 0.5..5.

    Item content: genres (multi-hot), year from the title (standardised and
    bucketed); optionally hashed title words (``title_tokens``) and hashed tags
    (``tags``; tags are written by users, with times, so they describe items
    with information from the whole period: leave them off for time splits).

    Args:
        data_dir: the unpacked release (``ratings.csv``, ``movies.csv``, and
            ``tags.csv`` for ``tags``).
        name: the data set's label in reports.
        title_tokens: add the title's words hashed into 64 buckets.
        tags: add the movie's tags hashed into 64 buckets.
        options: passed to :func:`from_tables` (duplicates, implicit,
            k-core...); ``missing_side`` defaults to "error".

    Returns:
        (dataset, preparation) as :func:`from_tables` returns them, with no user
        features and ratings 0.5..5.

    Raises:
        DataError: a file is missing or malformed, naming the file, line and
            column, or a rating's movie is not in ``movies.csv``.
    """
    ratings, items = movielens_csv_tables(data_dir, tags=tags)
    specs = list(CSV_ITEM_FEATURES)
    if title_tokens:
        specs.append(TITLE_TOKENS)
    if tags:
        specs.append(TAG_TOKENS)
    options.setdefault("missing_side", "error")
    return from_tables(
        ratings,
        None,
        items,
        item_features=specs,
        rating_range=HALF_STARS,
        title_column="title",
        name=name,
        **options,
    )


def load_movielens_csv(data_dir: str | Path, **kwargs) -> Dataset:
    """:func:`prepare_movielens_csv` without the Preparation."""
    return prepare_movielens_csv(data_dir, **kwargs)[0]

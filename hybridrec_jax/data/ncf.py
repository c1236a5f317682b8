"""The NCF leave-one-out protocol on MovieLens 1M (He et al., 2017), with content.

Files of the NCF folder:
  ``ml-1m.train.pairs``    tab-separated ``user item`` (NCF ids), one training
                           positive per line (the rebuilt ``ml-1m.train.rating``);
  ``ml-1m.test.rating``    ``user item rating timestamp``, one held-out item per
                           user, users 0..6039 in order;
  ``ml-1m.test.negative``  ``(user,item)`` then 99 sampled negative items;
  ``item_id_map.tsv``      header ``ncf_item movie_id``: NCF item -> MovieID.

NCF user = ML-1M UserID - 1; NCF item = 0-based order of first appearance of the
movie in ``ratings.dat``. The model's user and item indices ARE the NCF ids, so
the test arrays index straight into the Dataset. ``Dataset.user_ids`` and
``item_ids`` hold the ML-1M UserID and MovieID of each index.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.checks import check_ids
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.ml1m import (
    ML1M_ITEM_FEATURES,
    ML1M_USER_FEATURES,
    read_movies_dat,
    read_users_dat,
)
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.data.readers import read_table, read_text
from hybridrec_jax.data.tables import Preparation, from_tables

NCF_NEGATIVES = 99


@dataclass(frozen=True)
class NCFData:
    """The NCF ML-1M protocol: implicit training positives and ranked test cases.

    Attributes:
        train: implicit Dataset (every rating 1.0, ``rating_range`` (0, 1)); user
            index = NCF user id, item index = NCF item id; content features from
            ``users.dat`` and ``movies.dat``.
        test_items: (n_users,) int64, the held-out item of user u at position u.
        test_negatives: (n_users, 99) int64, the file's sampled negatives as they
            are (in the original file 156 of them equal the user's held-out
            test item; kept so that results compare with published NCF ones).
    """

    train: Dataset
    test_items: np.ndarray
    test_negatives: np.ndarray


def read_ncf_pairs(path: str | Path) -> pd.DataFrame:
    """(user, item) int64 from ``ml-1m.train.pairs`` (2 columns) or the original
    ``ml-1m.train.rating`` (4 columns: user, item, rating, timestamp)."""
    text = read_text(path)
    n_fields = len(text.split("\n", 1)[0].split("\t"))
    names = ["user", "item", "rating", "timestamp"][: max(2, min(n_fields, 4))]
    table = read_table(path, sep="\t", names=names, numeric=tuple(names))
    check_ids(table, ("user", "item"), path)
    return table[["user", "item"]].astype(np.int64)


def read_test_negatives(path: str | Path, n_users: int) -> np.ndarray:
    """(n_users, 99) negatives; checks that line u starts with ``(u,...)``."""
    names = ["pair", *(f"n{k}" for k in range(NCF_NEGATIVES))]
    table = read_table(path, sep="\t", names=names, numeric=tuple(names[1:]))
    if len(table) != n_users:
        raise DataError(
            f"expected {n_users} lines (one per user), found {len(table)}",
            path=str(path),
        )
    check_ids(table, tuple(names[1:]), path)
    users = pd.to_numeric(
        table["pair"].str.extract(r"^\((\d+),")[0], errors="coerce"
    ).to_numpy()
    wrong = ~(users == np.arange(n_users))
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise DataError(
            f"expected '({row},item)', found {table['pair'].iloc[row]!r}",
            path=str(path),
            row=row + 1,
            column="pair",
        )
    return table[names[1:]].to_numpy(np.int64)


def load_ncf_ml1m(ncf_dir: str | Path, ml1m_dir: str | Path) -> NCFData:
    """The NCF ML-1M training positives, test items and negatives, with content.

    Args:
        ncf_dir: folder with ``ml-1m.train.pairs`` (or ``ml-1m.train.rating``),
            ``ml-1m.test.rating``, ``ml-1m.test.negative``, ``item_id_map.tsv``.
        ml1m_dir: folder with ML-1M's ``users.dat`` and ``movies.dat``.

    Returns:
        NCFData; on the full files 994,169 training pairs, 6040 users, 3706
        items, and 6040 test cases of 1 positive + 99 negatives.

    Raises:
        DataError: a file is missing or malformed (naming the file, line and
            column).
    """
    return prepare_ncf_ml1m(ncf_dir, ml1m_dir)[0]


def prepare_ncf_ml1m(
    ncf_dir: str | Path, ml1m_dir: str | Path
) -> tuple[NCFData, Preparation]:
    """:func:`load_ncf_ml1m` and the :class:`Preparation` of its content
    features (the encoders, to save with a model). Args and Raises as there."""
    ncf_dir, ml1m_dir = Path(ncf_dir), Path(ml1m_dir)
    train_path = ncf_dir / "ml-1m.train.pairs"
    if not train_path.is_file() and (ncf_dir / "ml-1m.train.rating").is_file():
        train_path = ncf_dir / "ml-1m.train.rating"
    pairs = read_ncf_pairs(train_path)

    map_path = ncf_dir / "item_id_map.tsv"
    id_map = read_table(
        map_path, sep="\t", numeric=("ncf_item", "movie_id"),
        required=("ncf_item", "movie_id"),
    )  # fmt: skip
    check_ids(id_map, ("ncf_item", "movie_id"), map_path, header_lines=1)
    id_map = id_map.astype({"ncf_item": np.int64, "movie_id": np.int64})
    n_items = len(id_map)
    if not np.array_equal(np.sort(id_map["ncf_item"].to_numpy()), np.arange(n_items)):
        raise DataError("ncf_item must be 0..n-1, each once", path=str(map_path))
    for column in ("ncf_item", "movie_id"):
        duplicated = id_map[column].duplicated()
        if duplicated.any():
            row = int(np.flatnonzero(duplicated.to_numpy())[0])
            raise DataError(
                f"duplicate {column} {id_map[column].iloc[row]}",
                path=str(map_path),
                row=row + 2,
                column=column,
            )

    test_path = ncf_dir / "ml-1m.test.rating"
    test = read_table(
        test_path,
        sep="\t",
        names=["user", "item", "rating", "timestamp"],
        numeric=("user", "item", "rating", "timestamp"),
    )
    check_ids(test, ("user", "item"), test_path)
    users_dat = read_users_dat(ml1m_dir / "users.dat")
    n_users = len(users_dat)
    if not np.array_equal(test["user"].to_numpy(), np.arange(n_users)):
        raise DataError(
            f"expected one line per user 0..{n_users - 1} in order",
            path=str(test_path),
            column="user",
        )
    test_items = test["item"].to_numpy(np.int64)
    negatives = read_test_negatives(ncf_dir / "ml-1m.test.negative", n_users)

    for what, values, path in (
        ("training item", pairs["item"].to_numpy(), train_path),
        ("test item", test_items, test_path),
        ("negative item", negatives.ravel(), ncf_dir / "ml-1m.test.negative"),
    ):
        bad = (values < 0) | (values >= n_items)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{what} {values[row]} not in item_id_map.tsv (0..{n_items - 1})",
                path=str(path),
            )
    bad_user = (pairs["user"] < 0) | (pairs["user"] >= n_users)
    if bad_user.any():
        row = int(np.flatnonzero(bad_user.to_numpy())[0])
        raise DataError(
            f"user {pairs['user'].iloc[row]} has no row in users.dat",
            path=str(train_path),
            row=row + 1,
            column="user",
        )

    # Side tables keyed by NCF ids, so the model's index equals the NCF id.
    users = users_dat.assign(user=users_dat["user"] - 1)
    if not np.array_equal(np.sort(users["user"].to_numpy()), np.arange(n_users)):
        raise DataError(
            "users.dat must hold UserIDs 1..n, each once",
            path=str(ml1m_dir / "users.dat"),
        )
    movies = read_movies_dat(ml1m_dir / "movies.dat")
    items = id_map.merge(
        movies, left_on="movie_id", right_on="item", how="left", validate="1:1"
    )
    unknown = items["title"].isna()
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"MovieID {items['movie_id'].iloc[row]} is not in movies.dat",
            path=str(map_path),
            row=row + 2,
            column="movie_id",
        )
    items = items.drop(columns="item").rename(columns={"ncf_item": "item"})

    ratings = pairs.assign(rating=np.float32(1.0))
    dataset, preparation = from_tables(
        ratings,
        users,
        items,
        user_features=ML1M_USER_FEATURES,
        item_features=ML1M_ITEM_FEATURES,
        rating_range=(0.0, 1.0),
        title_column="title",
        missing_side="error",
        name="ncf-ml-1m",
    )
    # Indices are NCF ids; keep the ML-1M UserID and MovieID as the original ids.
    dataset = dataclasses.replace(
        dataset,
        user_ids=dataset.user_ids + 1,
        item_ids=items.set_index("item").loc[dataset.item_ids, "movie_id"].to_numpy(),
        report=(
            *dataset.report,
            f"NCF test: {n_users} held-out items, {negatives.shape[1]} negatives each",
        ),
    )
    data = NCFData(train=dataset, test_items=test_items, test_negatives=negatives)
    return data, preparation

"""Data preparation as a chain of small pandas functions.

This module has the error type and the row-level steps (ids, invalid rows,
duplicates, k-core, implicit targets); :mod:`encoders` turns side-table
columns into features.

Every function leaves its input untouched and returns what it fitted (id maps,
imputation values, category lists, means and deviations) so that data seen later
(test rows, a new user) is transformed with the statistics of the training data.
The fitted objects are plain JSON-able values, so they can be saved beside a model
without pickle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class DataError(ValueError):
    """Bad input data: the message names the file, row and column where known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(f"file {path}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.column = path, row, column


def index_ids(values: pd.Series | np.ndarray) -> pd.Index:
    """The sorted unique ids; position in the index is the model's 0..n-1 id.

    >>> list(index_ids(pd.Series([30, 10, 30, 20])))
    [10, 20, 30]
    """
    return pd.Index(pd.unique(np.asarray(values))).sort_values()


def lookup(id_index: pd.Index, values, *, what: str) -> np.ndarray:
    """Map original ids to 0..n-1; an id absent from the index is an error.

    Args:
        id_index: the sorted ids (:func:`index_ids`); position is the new id.
        values: (N,) original ids.
        what: "user" or "item", for the message.

    Returns:
        (N,) int32 positions in ``id_index``.

    Raises:
        DataError: an id is not in ``id_index`` (the first five are named).

    >>> lookup(pd.Index([10, 20, 30]), [30, 10], what="user")
    array([2, 0], dtype=int32)
    """
    codes = id_index.get_indexer(np.asarray(values))
    if (codes < 0).any():
        bad = np.asarray(values)[codes < 0][:5]
        raise DataError(f"unknown {what} ids {list(bad)}: not in the side table")
    return codes.astype(np.int32)


def drop_duplicate_interactions(
    ratings: pd.DataFrame, keep: str = "last"
) -> tuple[pd.DataFrame, int]:
    """Keep one row per (user, item): the last one, or their mean rating.

    Args:
        ratings: columns ``user``, ``item``, ``rating``, ...
        keep: "last" (the row that comes last) or "mean" (mean rating, last
            value of the other columns).

    Returns:
        (table, n_dropped): the new table (index 0..n-1) and the number of rows
        dropped.

    Raises:
        ValueError: ``keep`` is neither "last" nor "mean".
    """
    if keep == "mean":
        out = ratings.groupby(["user", "item"], as_index=False, sort=False).agg(
            {
                c: "mean" if c == "rating" else "last"
                for c in ratings.columns
                if c not in ("user", "item")
            }
        )
    elif keep == "last":
        out = ratings.drop_duplicates(["user", "item"], keep="last")
    else:
        raise ValueError(f"keep must be 'last' or 'mean', got {keep!r}")
    return out.reset_index(drop=True), len(ratings) - len(out)


def drop_invalid_interactions(
    ratings: pd.DataFrame, rating_range: tuple[float, float] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows with a missing id, a missing or non-numeric rating, or a rating
    outside ``rating_range``.

    Args:
        ratings: columns ``user``, ``item``, ``rating``, ...
        rating_range: (low, high) inclusive, in rating points; None checks no
            range.

    Returns:
        (kept, dropped): the valid rows (original index) and {reason: rows
        dropped}.

    >>> r = pd.DataFrame({"user": [1, None, 2], "item": [1, 1, 1],
    ...                   "rating": [4.0, 3.0, 9.0]})
    >>> kept, dropped = drop_invalid_interactions(r, (1.0, 5.0))
    >>> len(kept), dropped
    (1, {'missing user, item or rating': 1, 'rating outside 1..5': 1})
    """
    rating = pd.to_numeric(ratings["rating"], errors="coerce").to_numpy(float)
    no_id = ratings[["user", "item"]].isna().any(axis=1).to_numpy()
    missing = no_id | np.isnan(rating)
    dropped = {"missing user, item or rating": int(missing.sum())}
    bad = missing.copy()
    if rating_range is not None:
        low, high = rating_range
        outside = ~missing & ((rating < low) | (rating > high))
        dropped[f"rating outside {low:g}..{high:g}"] = int(outside.sum())
        bad |= outside
    return ratings.loc[~bad], dropped


def k_core(
    ratings: pd.DataFrame, min_user: int = 1, min_item: int = 1
) -> tuple[pd.DataFrame, int]:
    """Repeatedly drop users with < ``min_user`` and items with < ``min_item``
    interactions until every remaining one has enough.

    Args:
        ratings: columns ``user`` and ``item``, one row per interaction.
        min_user: the fewest interactions a kept user has.
        min_item: the fewest interactions a kept item has.

    Returns:
        (kept, rounds): the kept rows (original index) and the number of
        passes, the last one dropping nothing.

    >>> r = pd.DataFrame({"user": [1, 1, 2, 3], "item": [1, 2, 1, 1]})
    >>> kept, rounds = k_core(r, min_user=2, min_item=1)
    >>> kept["user"].tolist(), rounds
    ([1, 1], 2)
    """
    table = ratings
    rounds = 0
    while True:
        rounds += 1
        users = table["user"].map(table["user"].value_counts()) >= min_user
        items = table["item"].map(table["item"].value_counts()) >= min_item
        keep = (users & items).to_numpy()
        if keep.all():
            return table, rounds
        table = table.loc[keep]


def to_implicit(
    ratings: pd.DataFrame, threshold: float | None = None, below: str = "drop"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Explicit ratings to implicit feedback (rating 1.0 = positive).

    ``threshold=None`` makes every interaction positive. Otherwise a rating of at
    least ``threshold`` is positive and a lower one is dropped (``below="drop"``)
    or kept as an explicit negative 0.0 (``below="negative"``).

    Args:
        ratings: column ``rating`` and any others, which are kept.
        threshold: the lowest positive rating, in rating points, or None.
        below: "drop" or "negative".

    Returns:
        (table, dropped): rating float32 1.0 (or 0.0), and {reason: rows
        dropped} (empty unless ``below="drop"`` with a threshold).

    Raises:
        ValueError: ``below`` is neither "drop" nor "negative".

    >>> r = pd.DataFrame({"user": [1, 1], "item": [1, 2], "rating": [5.0, 2.0]})
    >>> out, dropped = to_implicit(r, threshold=4.0)
    >>> out["rating"].tolist(), dropped
    ([1.0], {'rating below 4 (implicit threshold)': 1})
    """
    if below not in ("drop", "negative"):
        raise ValueError(f"below must be 'drop' or 'negative', got {below!r}")
    if threshold is None:
        return ratings.assign(rating=np.float32(1.0)), {}
    positive = ratings["rating"].to_numpy(dtype=float) >= threshold
    if below == "negative":
        return ratings.assign(rating=positive.astype(np.float32)), {}
    out = ratings.loc[positive].assign(rating=np.float32(1.0))
    reason = f"rating below {threshold:g} (implicit threshold)"
    return out, {reason: int((~positive).sum())}

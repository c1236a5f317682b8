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

DUPLICATE_POLICIES = ("last", "mean", "average")


class DataError(ValueError):
    """Bad input data: the message names the file, line and column where known.

    ``row`` is the 1-based line of the file when ``path`` is given (printed as
    "line N"), else the 1-based row of an in-memory table ("row N").
    """

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
            where.append(f"{'line' if path is not None else 'row'} {row}")
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
    """Keep one row per (user, item): the latest, the last, or their mean rating.

    ``keep="last"`` keeps the row with the latest ``timestamp`` when the table
    has one (of equal times the one that comes last), else the row that comes
    last in the table (:func:`duplicate_rule` says which).

    Args:
        ratings: columns ``user``, ``item``, ``rating``, optionally ``timestamp``
            (numbers), ...
        keep: "last" or "mean" (alias "average": the mean rating, the other
            columns from the row ``"last"`` would keep).

    Returns:
        (table, n_dropped): the kept rows in table order (their index kept, so
        that later errors still name the file line) and the rows dropped.

    Raises:
        ValueError: ``keep`` is not "last", "mean" or "average".

    >>> r = pd.DataFrame({"user": [1, 1], "item": [7, 7], "rating": [5.0, 1.0],
    ...                   "timestamp": [20, 10]})
    >>> drop_duplicate_interactions(r)[0]["rating"].tolist()
    [5.0]
    """
    if keep not in DUPLICATE_POLICIES:
        raise ValueError(f"keep must be one of {DUPLICATE_POLICIES}, got {keep!r}")
    repeated = np.flatnonzero(ratings.duplicated(["user", "item"], keep=False))
    if len(repeated) == 0:
        return ratings, 0
    some = ratings.iloc[repeated]  # only the repeated pairs need ordering
    order = np.arange(len(some))
    if "timestamp" in ratings.columns:  # by time, then by position: last wins
        order = np.lexsort((order, some["timestamp"].to_numpy()))
    lost = some.iloc[order].duplicated(["user", "item"], keep="last").to_numpy()
    drop = np.zeros(len(ratings), bool)
    drop[repeated[order[lost]]] = True
    out = ratings.iloc[np.flatnonzero(~drop)]
    if keep in ("mean", "average"):
        mean = ratings.groupby(["user", "item"], sort=False)["rating"].mean()
        pairs = pd.MultiIndex.from_frame(out[["user", "item"]])
        out = out.assign(rating=mean.reindex(pairs).to_numpy())
    return out, len(ratings) - len(out)


def duplicate_rule(keep: str, has_time: bool) -> str:
    """The report's words for what :func:`drop_duplicate_interactions` kept.

    >>> duplicate_rule("last", True)
    'kept the latest by timestamp'
    """
    if keep in ("mean", "average"):
        return "kept the mean rating"
    return "kept the latest by timestamp" if has_time else "kept the last in the file"


FLOAT32_MAX = float(np.finfo(np.float32).max)


def invalid_reasons(
    ratings: pd.DataFrame, rating_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Why each row is invalid ("" if it is not) and the column at fault.

    Reasons: a missing user or item id (an empty or missing cell); a missing
    rating; a rating that is not a number, is NaN, is infinite or overflows
    float32; a rating outside ``rating_range``. Ids and ratings may be text as
    read from a file (ids stripped) or already typed.

    Args:
        ratings: columns ``user``, ``item``, ``rating``.
        rating_range: (low, high) inclusive, or None for no range check.

    Returns:
        (reason, column): two (N,) object arrays.

    >>> r = pd.DataFrame({"user": ["1", "", "2", "3"], "item": ["a"] * 4,
    ...                   "rating": ["4", "5", "NaN", "inf"]})
    >>> invalid_reasons(r, (1, 5))[0].tolist()
    ['', 'missing user or item id', 'rating is NaN', 'rating is infinite']
    """
    n = len(ratings)
    reason = np.full(n, "", dtype=object)
    column = np.full(n, "", dtype=object)

    def mark(bad: np.ndarray, why: str, where: str) -> None:
        new = bad & (reason == "")
        reason[new], column[new] = why, where

    for where in ("user", "item"):
        mark(_blank(ratings[where]), "missing user or item id", where)
    raw = ratings["rating"]
    blank = _blank(raw)
    rating = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    mark(blank, "missing rating", "rating")
    if raw.dtype.kind not in "iufb":  # text as read: "NaN" is written out
        written_nan = raw.astype(str).str.strip().str.lower().eq("nan").to_numpy()
        mark(written_nan & ~blank, "rating is NaN", "rating")
    mark(np.isnan(rating), "rating is not a number", "rating")
    mark(np.isinf(rating), "rating is infinite", "rating")
    with np.errstate(invalid="ignore"):
        mark(np.abs(rating) > FLOAT32_MAX, "rating overflows float32", "rating")
        if rating_range is not None:
            low, high = rating_range
            outside = (rating < low) | (rating > high)
            mark(outside, f"rating outside {low:g}..{high:g}", "rating")
    return reason, column


def _blank(values: pd.Series) -> np.ndarray:
    """True where a cell is missing or empty text."""
    missing = values.isna().to_numpy()
    if values.dtype.kind in "iufb":
        return missing
    return missing | values.astype(str).str.strip().eq("").to_numpy()


def drop_invalid_interactions(
    ratings: pd.DataFrame,
    rating_range: tuple[float, float] | None = None,
    *,
    invalid: str = "drop",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop the rows :func:`invalid_reasons` finds invalid, counted by reason.

    Args:
        ratings: columns ``user``, ``item``, ``rating``, ...
        rating_range: (low, high) inclusive, in rating points; None checks no
            range.
        invalid: "drop", or "error" to refuse the first invalid row.

    Raises:
        DataError: ``invalid="error"`` and an invalid row, naming its file line
            (or table row) and column.

    Returns:
        (kept, dropped): the valid rows (original index) and {reason: rows
        dropped}, only the reasons that occur.

    >>> r = pd.DataFrame({"user": [1, None, 2], "item": [1, 1, 1],
    ...                   "rating": [4.0, 3.0, 9.0]})
    >>> kept, dropped = drop_invalid_interactions(r, (1.0, 5.0))
    >>> len(kept), dropped
    (1, {'missing user or item id': 1, 'rating outside 1..5': 1})
    """
    reason, column = invalid_reasons(ratings, rating_range)
    bad = reason != ""
    if bad.any() and invalid == "error":
        from hybridrec_jax.data.checks import where  # checks imports this module

        row = int(np.flatnonzero(bad)[0])
        found = ratings[column[row]].iloc[row]
        raise DataError(
            f"invalid interaction: {reason[row]} (found {found!r}); fix the row "
            "or let invalid rows be dropped (invalid='drop', no --strict)",
            **where(ratings, row, column[row]),
        )
    counts = pd.Series(reason[bad]).value_counts(sort=False)
    dropped = {str(why): int(n) for why, n in counts.items()}
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

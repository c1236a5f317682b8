"""Checks of a table just read: ids, ratings and side-table keys.

Each names the first bad row as a 1-based file line (``header_lines`` counts the
header), so a :class:`DataError` points at the line to fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.prepare import DataError


def check_ids(
    table: pd.DataFrame,
    columns: tuple[str, ...],
    path: str | Path,
    *,
    header_lines: int = 0,
) -> None:
    """Ids must be present and whole numbers; names the first bad row.

    Args:
        table: the table as read, rows in file order; ``columns`` numeric.
        columns: the id columns to check (timestamps are checked the same way).
        path: the file, for the message.
        header_lines: lines above the first row (1 for a header), so that row
            r (0-based) is reported as file line ``r + 1 + header_lines``.

    Raises:
        DataError: the first missing (NaN), infinite or fractional value,
            naming the file,
            line and column.

    >>> check_ids(pd.DataFrame({"user": [1.0, None]}), ("user",), "r.csv")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file r.csv, line 2, column 'user': \
missing id (NaN)
    """
    for column in columns:
        values = table[column].to_numpy(dtype=float)
        gap = np.isnan(values)
        if gap.any():
            row = int(np.flatnonzero(gap)[0])
            raise DataError(
                "missing id (NaN)",
                path=str(path),
                row=row + 1 + header_lines,
                column=column,
            )
        fraction = ~np.isfinite(values) | (values != np.round(values))
        if fraction.any():
            row = int(np.flatnonzero(fraction)[0])
            raise DataError(
                f"id {values[row]} is not a whole number",
                path=str(path),
                row=row + 1 + header_lines,
                column=column,
            )


def check_ratings(
    table: pd.DataFrame,
    rating_range: tuple[float, float],
    path: str | Path,
    *,
    column: str = "rating",
    header_lines: int = 0,
) -> None:
    """Ratings must be numbers inside ``rating_range``; names the first bad row.

    Args:
        table: the table as read; ``column`` numeric.
        rating_range: (low, high), both inclusive, in rating points.
        path, header_lines: as :func:`check_ids`.
        column: the rating column.

    Raises:
        DataError: the first missing (NaN) rating or one outside
            ``rating_range``, naming the file, line and column.

    >>> check_ratings(pd.DataFrame({"rating": [4.0, 6.0]}), (1, 5), "r.csv")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file r.csv, line 2, column 'rating': \
rating 6.0 outside 1..5
    """
    low, high = rating_range
    values = table[column].to_numpy(dtype=float)
    bad = np.isnan(values) | (values < low) | (values > high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = (
            "missing rating (NaN)"
            if np.isnan(values[row])
            else f"rating {values[row]} outside {low:g}..{high:g}"
        )
        raise DataError(
            what,
            path=str(path),
            row=row + 1 + header_lines,
            column=column,
        )


def check_unique(
    table: pd.DataFrame, column: str, path: str | Path, *, header_lines: int = 0
) -> None:
    """A side table's key must not repeat; names the second occurrence.

    Args:
        table: the side table as read.
        column: its key column.
        path, header_lines: as :func:`check_ids`.

    Raises:
        DataError: the first repeated key, naming its line and that of the
            first occurrence.

    >>> check_unique(pd.DataFrame({"item": [1, 2, 1]}), "item", "movies.dat")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file movies.dat, line 3, column 'item': \
duplicate id 1 (first on line 1)
    """
    repeated = table[column].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        value = table[column].iloc[row]
        first = int(np.flatnonzero((table[column] == value).to_numpy())[0])
        raise DataError(
            f"duplicate id {value} (first on line {first + 1 + header_lines})",
            path=str(path),
            row=row + 1 + header_lines,
            column=column,
        )


def where(table: pd.DataFrame, position: int, column: str | None = None) -> dict:
    """``path``, ``row`` and ``column`` for a :class:`DataError` about a cell.

    A table read by :func:`~hybridrec_jax.data.readers.read_labelled_table`
    carries its file in ``attrs["path"]`` and each row's file line as its index;
    any other table is named by the 1-based row. ``attrs["columns"]`` maps the
    pipeline's column names back to the names the user wrote.

    >>> where(pd.DataFrame({"a": [1, 2]}), 1, "a")
    {'path': None, 'row': 2, 'column': 'a'}
    """
    written = table.attrs.get("columns", {}).get(column, column)
    path = table.attrs.get("path")
    if path is None:
        return {"path": None, "row": position + 1, "column": written}
    return {"path": path, "row": int(table.index[position]), "column": written}


def parse_times(table: pd.DataFrame, column: str = "timestamp") -> np.ndarray:
    """Times as int64 seconds since 1970-01-01 UTC; anything else is an error.

    Understood: epoch seconds (a number), ISO-8601 dates and date-times with a
    space or ``T``, with or without ``Z`` or an offset (no offset: UTC).

    Args:
        table: rows in file order (see :func:`where`).
        column: the time column.

    Returns:
        (N,) int64 seconds.

    Raises:
        DataError: a missing time or one that is neither, naming the line.

    >>> t = pd.DataFrame({"timestamp": ["1611900000", "2021-01-29T06:40:00Z"]})
    >>> parse_times(t).tolist()
    [1611900000, 1611902400]
    """
    values = table[column]
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(float)
    seconds = np.zeros(len(values), np.int64)
    is_number = np.isfinite(numbers)
    seconds[is_number] = np.floor(numbers[is_number]).astype(np.int64)
    if not is_number.all():
        text = values[~is_number].astype(str).str.strip()
        dates = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        bad = dates.isna().to_numpy()
        if bad.any():
            position = int(np.flatnonzero(~is_number)[np.flatnonzero(bad)[0]])
            found = values.iloc[position]
            raise DataError(
                f"expected a time (epoch seconds or ISO-8601 such as "
                f"2021-01-29 07:01:00 or 2021-01-29T07:01:00Z), found {found!r}",
                **where(table, position, column),
            )
        epoch = pd.Timestamp(0, tz="UTC")
        seconds[~is_number] = ((dates - epoch) // pd.Timedelta(seconds=1)).to_numpy()
    return seconds

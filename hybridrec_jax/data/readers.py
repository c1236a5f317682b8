"""Fast, strict readers for delimited files: every problem is a :class:`DataError`.

The readers use pandas' C parser (no Python loop per line), so a 25-million-line
ratings file reads in seconds. When a fast typed read fails, the file is read
again as text only to find and name the offending line and column.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.prepare import DataError

COMMON_SEPARATORS = ("\t", ",", "|", "::", ";")
_UNIT_SEPARATOR = "\x1f"  # stands in for a multi-character separator such as "::"


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file decoded; missing, empty or wrongly encoded files are errors.

    >>> read_text("no/such/file")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file no/such/file: file not found
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"bytes not valid {encoding} at line {line} (byte {err.start}); "
            "pass the file's encoding (MovieLens .dat files are latin-1)",
            path=str(path),
            row=line,
        ) from err
    if not text.strip():
        raise DataError("file is empty", path=str(path))
    return text


def _separator_hint(value: object, sep: str) -> str:
    text = str(value)
    others = [s for s in COMMON_SEPARATORS if s != sep and s in text]
    if others:
        return f"; the value holds {others[0]!r}: is the separator {sep!r} right?"
    return ""


def read_table(
    path: str | Path,
    *,
    sep: str,
    names: list[str] | None = None,
    numeric: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    encoding: str = "utf-8",
    quoted: bool = False,
    aliases: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read a delimited file; ``names`` for a header-less file, else its header.

    Args:
        path: the file.
        sep: the field separator; may be several characters ("::").
        names: column names of a header-less file; None reads the header line.
        numeric: columns that must hold numbers where the file has them
            (empty cells are allowed here; the caller decides about gaps).
        required: columns the file must have (checked against the header).
        encoding: the file's text encoding.
        quoted: honour CSV double quotes (the MovieLens CSV releases quote titles
            that hold commas); False reads quote characters as text.
        aliases: renames of header names (e.g. {"userId": "user"}), applied
            before ``numeric`` and ``required`` are checked.

    Returns:
        The table; numeric columns as float64 or int64, the others as text.

    Raises:
        DataError: the file is missing, empty or not valid ``encoding``; a line
            has more fields than expected (usually a wrong separator); a
            required column is missing; a numeric column holds text.
    """
    path = Path(path)
    if len(sep) > 1:
        # The C parser takes one character: stand in for "::" (small .dat files).
        text = read_text(path, encoding).replace(sep, _UNIT_SEPARATOR)
        parser_sep = _UNIT_SEPARATOR

        def source():
            return io.StringIO(text)
    else:
        if not path.is_file():
            raise DataError("file not found", path=str(path))
        parser_sep = sep

        def source():
            return path  # streamed by pandas: no copy of a large file in memory

    header_lines = 0 if names is not None else 1
    options = dict(
        sep=parser_sep,
        header=None if names is not None else 0,
        names=names,
        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
        engine="c",
        skip_blank_lines=True,
        encoding=encoding,
    )
    try:
        columns = pd.read_csv(source(), nrows=0, **options).columns
    except pd.errors.EmptyDataError as err:
        raise DataError("file is empty", path=str(path)) from err
    except UnicodeDecodeError:
        read_text(path, encoding)  # raises a DataError naming the line
        raise
    except pd.errors.ParserError as err:
        raise DataError(f"cannot parse the header: {err}", path=str(path)) from err
    aliases = aliases or {}
    stripped = [str(c).strip().lstrip("\ufeff") for c in columns]  # and a BOM
    columns = [aliases.get(c, c) for c in stripped]
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; the file has {columns}"
            + _separator_hint(columns[0], sep),
            path=str(path),
            column=missing[0],
        )
    options["names"] = columns  # stripped header names
    numeric = tuple(c for c in numeric if c in columns)
    dtypes = {c: "float64" for c in numeric}
    try:
        table = pd.read_csv(source(), dtype=dtypes, **options)
    except UnicodeDecodeError:
        read_text(path, encoding)  # raises a DataError naming the line
        raise
    except pd.errors.ParserError as err:
        found = re.search(r"line (\d+), saw (\d+)", str(err))
        line = int(found.group(1)) if found else None
        raise DataError(
            f"wrong number of fields ({found.group(2) if found else '?'}); "
            f"is the separator {sep!r} right?",
            path=str(path),
            row=line,
        ) from err
    except (ValueError, TypeError):
        # Slow path (text) only to name the bad cell.
        raw = pd.read_csv(source(), dtype=str, keep_default_na=False, **options)
        for column in numeric:
            values = raw[column].str.strip()
            converted = pd.to_numeric(values, errors="coerce")
            blank = values.eq("") | values.str.lower().isin(["nan", "na", "null"])
            bad = converted.isna() & ~blank
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                value = raw[column].iloc[row]
                raise DataError(
                    f"expected a number, found {value!r}" + _separator_hint(value, sep),
                    path=str(path),
                    row=_line_number(path, encoding, row, header_lines),
                    column=column,
                ) from None
        raise
    if len(table) == 0:
        raise DataError("the file has no data rows", path=str(path))
    return table


def _line_number(path: Path, encoding: str, row: int, header_lines: int) -> int:
    """1-based line of data row ``row`` (blank lines are skipped by the parser)."""
    text = read_text(path, encoding)
    if "\n\n" not in text and "\r\n\r\n" not in text:
        return row + 1 + header_lines
    lines = text.splitlines()
    seen = -header_lines
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if seen == row:
                return number
            seen += 1
    return row + 1 + header_lines


def check_ids(
    table: pd.DataFrame,
    columns: tuple[str, ...],
    path: str | Path,
    *,
    header_lines: int = 0,
) -> None:
    """Ids must be present and whole numbers; names the first bad row.

    >>> check_ids(pd.DataFrame({"user": [1.0, None]}), ("user",), "r.csv")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file r.csv, row 2, column 'user': \
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
        fraction = values != np.round(values)
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
    """Ratings must be numbers inside ``rating_range``; names the first bad row."""
    low, high = rating_range
    values = table[column].to_numpy(dtype=float)
    bad = np.isnan(values) | (values < low) | (values > high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = "missing rating" if np.isnan(values[row]) else f"rating {values[row]}"
        raise DataError(
            f"{what} outside {low:g}..{high:g}",
            path=str(path),
            row=row + 1 + header_lines,
            column=column,
        )


def check_unique(
    table: pd.DataFrame, column: str, path: str | Path, *, header_lines: int = 0
) -> None:
    """A side table's key must not repeat; names the second occurrence.

    >>> check_unique(pd.DataFrame({"item": [1, 2, 1]}), "item", "movies.dat")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file movies.dat, row 3, column 'item': \
duplicate id 1 (first on row 1)
    """
    repeated = table[column].duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        value = table[column].iloc[row]
        first = int(np.flatnonzero((table[column] == value).to_numpy())[0])
        raise DataError(
            f"duplicate id {value} (first on row {first + 1 + header_lines})",
            path=str(path),
            row=row + 1 + header_lines,
            column=column,
        )

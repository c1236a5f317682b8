"""The one table reader, strict and fast: every problem is a :class:`DataError`.

Every loader (ML-100K, ML-1M, the CSV releases, NCF, any CSV/TSV/Parquet table)
reads its files through :func:`read_table`, so bad input is reported alike,
naming the file, the 1-based line and the column (README "Data sets").
Delimited text goes through pandas' C parser (no Python loop per line), so a
25-million-line ratings file reads in seconds; only when something is wrong is
the file read again as text, to find and name the offending line.
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
PARQUET_SUFFIXES = (".parquet", ".pq")
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
            "pass the file's encoding with --encoding (encoding= in Python), "
            "e.g. latin-1 (MovieLens .dat files are latin-1)",
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
    sep: str | None = None,
    names: list[str] | None = None,
    numeric: tuple[str, ...] = (),
    text: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    encoding: str = "utf-8",
    quoted: bool = False,
    aliases: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read a delimited or Parquet file: the one reader every loader goes through.

    Args:
        path: the file; ``.parquet``/``.pq`` is read as Parquet, anything else
            as delimited text.
        sep: the field separator; may be several characters ("::"). None: tab
            for ``.tsv``/``.tab``, else a comma.
        names: column names of a header-less file; None reads the header line.
        numeric: columns that must hold numbers where the file has them
            (empty cells are allowed here; the caller decides about gaps).
        text: columns kept as text exactly as written (zip codes keep their
            leading zeros); other columns not in ``numeric`` are typed by pandas.
        required: columns the file must have (checked against the header).
        encoding: the file's text encoding.
        quoted: honour CSV double quotes (the MovieLens CSV releases quote titles
            that hold commas); False reads quote characters as text.
        aliases: renames of header names (e.g. {"userId": "user"}), applied
            before ``numeric`` and ``required`` are checked.

    Returns:
        The table, one row per non-blank data line; ``numeric`` columns as
        float64, ``text`` columns as strings, the others as pandas infers them.

    Raises:
        DataError: naming the file and, where known, the 1-based line and the
            column: the file is missing, empty or not valid ``encoding``; a line
            has more or fewer fields than the header or ``names`` (usually a
            wrong separator); a required column is missing; a numeric column
            holds text.

    >>> read_table("no/such/ratings.csv")
    Traceback (most recent call last):
    ...
    hybridrec_jax.data.prepare.DataError: file no/such/ratings.csv: file not found
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    if path.suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, numeric, required, aliases or {})
    if sep is None:
        sep = "\t" if path.suffix in (".tsv", ".tab") else ","
    if path.stat().st_size == 0:
        raise DataError("file is empty", path=str(path))
    if len(sep) > 1:
        # The C parser takes one character: stand in for "::" (small .dat files).
        content = read_text(path, encoding).replace(sep, _UNIT_SEPARATOR)
        parser_sep = _UNIT_SEPARATOR

        def source():
            return io.StringIO(content)
    else:
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
    columns = _canonical(columns, aliases or {})
    _check_required(columns, required, path, sep)
    options["names"] = columns  # stripped header names
    numeric = tuple(c for c in numeric if c in columns)
    dtypes = {c: "float64" for c in numeric} | {c: str for c in text if c in columns}
    if text == ("*",):  # every cell as written: "NaN" and "" are text too
        dtypes = dict.fromkeys(columns, str)
        options["keep_default_na"] = False
    try:
        table = pd.read_csv(source(), dtype=dtypes, **options)
    except UnicodeDecodeError:
        read_text(path, encoding)  # raises a DataError naming the line
        raise
    except pd.errors.ParserError as err:
        found = re.search(r"line (\d+), saw (\d+)", str(err))
        raise _field_count_error(
            path,
            sep,
            len(columns),
            int(found.group(2)) if found else None,
            int(found.group(1)) if found else None,
        ) from err
    except (ValueError, TypeError):
        # Slow path (text) only to name the bad cell.
        raw = pd.read_csv(
            source(), **(options | {"dtype": str, "keep_default_na": False})
        )

        def line_of(row: int) -> int:
            return _line_number(path, encoding, row, header_lines)

        _check_numbers(raw, numeric, path, sep, line_of)
        raise
    if len(table) == 0:
        what = "file is empty" if names is not None else "the file has no data rows"
        raise DataError(what, path=str(path))
    if len(columns) > 1 and table[columns[-1]].isna().any():
        # Pandas pads a short line with NaN; only then look for one (slow, rare).
        _check_short_lines(path, encoding, sep, quoted, len(columns), header_lines)
    return table


def _canonical(columns, aliases: dict[str, str]) -> list[str]:
    """Header names stripped of spaces and a BOM, then renamed by ``aliases``."""
    stripped = [str(c).strip().lstrip("\ufeff") for c in columns]
    return [aliases.get(c, c) for c in stripped]


def _check_required(
    columns: list[str], required: tuple[str, ...], path: Path, sep: str
) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; the file has {columns}"
            + _separator_hint(columns[0], sep),
            path=str(path),
            column=missing[0],
        )


def _check_numbers(table: pd.DataFrame, numeric, path: Path, sep: str, line_of):
    """Raise naming the first cell of a ``numeric`` column that is not a number;
    ``line_of(row)`` is the 1-based line of 0-based data row ``row``."""
    for column in numeric:
        values = table[column].astype(str).str.strip()
        converted = pd.to_numeric(values, errors="coerce")
        blank = values.eq("") | values.str.lower().isin(["nan", "na", "null", "none"])
        bad = converted.isna() & ~blank
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            value = table[column].iloc[row]
            raise DataError(
                f"expected a number, found {value!r}" + _separator_hint(value, sep),
                path=str(path),
                row=line_of(row),
                column=column,
            )


def _field_count_error(
    path: Path, sep: str, expected: int, found: int | None, line: int | None
) -> DataError:
    return DataError(
        f"wrong number of fields: expected {expected} separated by {sep!r}, found "
        f"{'?' if found is None else found}; is the separator right?",
        path=str(path),
        row=line,
    )


def _check_short_lines(
    path: Path, encoding: str, sep: str, quoted: bool, expected: int, header: int
) -> None:
    """Raise at the first data line with fewer than ``expected`` fields."""
    content = read_text(path, encoding).replace(sep, _UNIT_SEPARATOR)
    if quoted:
        reader = csv.reader(io.StringIO(content), delimiter=_UNIT_SEPARATOR)
        lines = ((reader.line_num, fields) for fields in reader if fields)
    else:
        lines = (
            (number, line.rstrip("\r").split(_UNIT_SEPARATOR))
            for number, line in enumerate(content.split("\n"), start=1)
            if line.strip()
        )
    for seen, (number, fields) in enumerate(lines):
        if seen >= header and len(fields) < expected:
            raise _field_count_error(path, sep, expected, len(fields), number)


def _read_parquet(
    path: Path, numeric: tuple[str, ...], required: tuple[str, ...], aliases
) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several error types
        raise DataError(f"cannot read Parquet: {err}", path=str(path)) from err
    table.columns = _canonical(table.columns, aliases)
    _check_required(list(table.columns), required, path, ",")
    numeric = tuple(c for c in numeric if c in table.columns)
    _check_numbers(table, numeric, path, ",", lambda row: row + 1)
    if len(table) == 0:
        raise DataError("the file has no data rows", path=str(path))
    converted = {c: pd.to_numeric(table[c], errors="coerce") for c in numeric}
    return table.assign(**{c: v.astype("float64") for c, v in converted.items()})


def _line_number(path: Path, encoding: str, row: int, header_lines: int) -> int:
    """1-based line of data row ``row`` (blank lines are skipped by the parser)."""
    content = read_text(path, encoding)
    if "\n\n" not in content and "\r\n\r\n" not in content:
        return row + 1 + header_lines
    seen = -header_lines
    for number, line in enumerate(content.split("\n"), start=1):
        if line.strip():
            if seen == row:
                return number
            seen += 1
    return row + 1 + header_lines

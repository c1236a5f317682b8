"""Users' own files read as written: every cell the text in the file, each row
indexed by its 1-based file line (README "Data sets").

Nothing is typed here, so ids stay labels and later checks
(:mod:`hybridrec_jax.data.checks`) name the line to fix.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.data.readers import (
    _UNIT_SEPARATOR,
    PARQUET_SUFFIXES,
    read_table,
    read_text,
)


def read_labelled_table(
    path: str | Path, *, sep: str | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Every cell as the text written in the file, indexed by 1-based file line.

    The reader of user files (README "Data sets"): nothing is typed here, so ids
    stay labels (``007`` is not ``7``) and huge numbers keep every digit; cells
    are stripped of surrounding spaces, an empty cell is ``""``. The index holds
    each row's line in the file and ``attrs["path"]`` the file, so that later
    checks name the line to fix. A quote opened inside a field must close on the
    same line: one that would swallow the following lines is an error.

    Args:
        path: a delimited text file with a header line, or a Parquet file (its
            values kept as read; index = 1-based row).
        sep: the field separator; None: tab for ``.tsv``/``.tab``, else a comma.
        encoding: the file's text encoding (``--encoding``).

    Returns:
        The table, one row per non-blank data line.

    Raises:
        DataError: as :func:`read_table`, and a quote left open at the end of a
            line, naming the line where it opened and the column.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(f, "w").write("user,item\\n007 ,A\\n\\n7,B\\n")
    >>> t = read_labelled_table(f)
    >>> t["user"].tolist(), t.index.tolist()
    (['007', '7'], [2, 4])
    """
    path = Path(path)
    if path.suffix in PARQUET_SUFFIXES:
        table = read_table(path)
        table.index = pd.RangeIndex(1, len(table) + 1)
    else:
        table = read_table(path, sep=sep, encoding=encoding, quoted=True, text=("*",))
        table.index = _data_lines(path, encoding, sep or _default_sep(path), table)
    table = table.apply(lambda c: c.str.strip() if c.dtype.kind in "OT" or
                        pd.api.types.is_string_dtype(c) else c)  # fmt: skip
    table.attrs["path"] = str(path)
    return table


def _default_sep(path: Path) -> str:
    return "\t" if path.suffix in (".tsv", ".tab") else ","


def _data_lines(path: Path, encoding: str, sep: str, table: pd.DataFrame) -> np.ndarray:
    """The 1-based file line of each data row; refuses a quote left open."""
    content = read_text(path, encoding)
    physical = content.split("\n")
    lines = np.flatnonzero([bool(line.strip()) for line in physical])[1:] + 1
    if len(lines) == len(table):
        return lines
    # Fewer rows than lines: a quoted field runs over a line end. Find it.
    reader = csv.reader(
        io.StringIO(content.replace(sep, _UNIT_SEPARATOR)), delimiter=_UNIT_SEPARATOR
    )
    header = next(reader)
    start = reader.line_num + 1
    for fields in reader:
        for name, field in zip(header, fields, strict=False):
            if "\n" in field:
                while not physical[start - 1].strip():
                    start += 1
                raise DataError(
                    f"a quote opened here is not closed on this line: it runs to "
                    f"line {reader.line_num} and would swallow "
                    f"{reader.line_num - start} lines; remove the stray quote "
                    "(or close it on the same line)",
                    path=str(path),
                    row=start,
                    column=name.strip().lstrip("\ufeff"),
                )
        start = reader.line_num + 1
    raise DataError(
        f"{len(table)} rows read from {len(lines)} data lines; is the separator "
        f"{sep!r} right?",
        path=str(path),
    )

"""Any interactions table (CSV, TSV, Parquet or a DataFrame) with optional side tables.

Column names are mapped onto the pipeline's ``user``, ``item``, ``rating`` and
``timestamp``; side-table features are inferred from the column types unless
given: numbers are standardised, a column of ``a|b|c`` lists is multi-hot, a
column with few distinct values is one-hot, long free text is hashed into
token buckets (``text_tokens``) or left out. The report lists what was chosen.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.checks import where
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.labelled import read_labelled_table
from hybridrec_jax.data.prepare import FLOAT32_MAX, DataError
from hybridrec_jax.data.tables import Preparation, from_tables

TableSource = str | Path | pd.DataFrame
MAX_CATEGORIES = 100


def _as_table(source: TableSource, sep: str | None, encoding: str) -> pd.DataFrame:
    """A file as its text (:func:`read_labelled_table`: ids stay labels, the
    index is the file line); a DataFrame as given, text cells stripped, rows
    named 1..n."""
    if not isinstance(source, pd.DataFrame):
        return read_labelled_table(source, sep=sep, encoding=encoding)
    table = source.reset_index(drop=True)
    text = [c for c in table.columns if pd.api.types.is_string_dtype(table[c])]
    stripped = {c: table[c].where(table[c].isna(), table[c].astype(str).str.strip())
                for c in text}  # fmt: skip
    return table.assign(**stripped)


def _numeric_ids(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Ids read as whole numbers (``numeric_ids=True``, ``--numeric-ids``)."""
    converted = {}
    for column in columns:
        text = table[column].astype(str).str.strip()
        numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = (text != "") & ~text.str.fullmatch(r"[+-]?\d+").fillna(False)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"numeric ids asked for, found {table[column].iloc[row]!r}; drop "
                "numeric_ids (--numeric-ids) to read ids as labels",
                **where(table, row, column),
            )
        # int64 where every id is present; a blank one (dropped later) needs Int64.
        complete = numbers.notna().all()
        converted[column] = numbers.astype("int64" if complete else "Int64")
    return table.assign(**converted)


def _typed_side(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Side-table columns whose every non-empty cell is a number become float64;
    a non-finite number is an error naming its line and column."""
    converted = {}
    for column in table.columns:
        values = table[column]
        if column == key or not pd.api.types.is_string_dtype(values):
            numbers = values if column != key else None
        else:
            text = values.fillna("").astype(str).str.strip()
            parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
            filled = text != ""
            if not filled.any() or parsed[filled].isna().any():
                continue  # text (or empty): categorical, multi-hot or free text
            numbers = converted[column] = parsed.astype("float64")
        if numbers is None or not pd.api.types.is_numeric_dtype(numbers):
            continue
        infinite = np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan))
        infinite |= np.abs(numbers.to_numpy(float, na_value=np.nan)) > FLOAT32_MAX
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise DataError(
                f"expected a finite number, found {values.iloc[row]!r}; leave the "
                "cell empty to impute it",
                **where(table, row, column),
            )
    return table.assign(**converted)


def split_tokens(value, separator: str) -> list[str] | None:
    """One multi-valued cell as its tokens: 'sport; games' -> ['games', 'sport'].

    Tokens are trimmed, empty ones dropped and sorted (order is irrelevant); a
    list is taken as its tokens; a missing or empty cell gives None. The same
    rule serves training tables and a new user's values at predict time.

    >>> split_tokens(" sport;games; ", ";"), split_tokens("", ";")
    (['games', 'sport'], None)
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return sorted({str(v).strip() for v in value} - {""})
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return sorted({t.strip() for t in str(value).split(separator)} - {""}) or None


def _as_lists(values: pd.Series, separator: str) -> pd.Series:
    """Every cell of a multi-valued column through :func:`split_tokens`."""
    return values.map(lambda value: split_tokens(value, separator)).astype(object)


def infer_feature_specs(
    table: pd.DataFrame, key: str, *, text_tokens: bool = False, separator: str = "|"
) -> list[FeatureSpec]:
    """Feature specs for every column of a side table but its key.

    By column type: bool is categorical; numbers are numeric (standardised);
    lists, or text where at least a fifth of the non-missing values hold the
    ``separator``, are multi-hot; other text with at most ``MAX_CATEGORIES`` distinct
    values is categorical; longer free text is hashed into 64 token buckets with
    ``text_tokens``, else left out.

    Args:
        table: the side table, one row per user or item.
        key: its key column ("user" or "item"), which gets no spec.
        text_tokens: hash free-text columns instead of leaving them out.
        separator: the separator of multi-valued cells.

    Returns:
        One :class:`FeatureSpec` per used column, in column order.

    >>> t = pd.DataFrame({"item": [1, 2], "year": [1990, 2000],
    ...                   "genres": ["a|b", "b"], "kind": ["x", "y"]})
    >>> [(s.column, s.kind) for s in infer_feature_specs(t, "item")]
    [('year', 'numeric'), ('genres', 'multihot'), ('kind', 'categorical')]
    """
    specs = []
    for column in table.columns:
        if column == key:
            continue
        values = table[column]
        if pd.api.types.is_bool_dtype(values):
            specs.append(FeatureSpec(column, "categorical"))
        elif pd.api.types.is_numeric_dtype(values):
            specs.append(FeatureSpec(column, "numeric"))
        elif values.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            specs.append(FeatureSpec(column, "multihot"))
        else:
            text = values.dropna().astype(str)
            holds = text.str.contains(separator, regex=False)
            if len(text) and holds.mean() >= 0.2:
                specs.append(FeatureSpec(column, "multihot", separator=separator))
            elif text.nunique() <= MAX_CATEGORIES:
                specs.append(FeatureSpec(column, "categorical"))
            elif text_tokens:
                specs.append(FeatureSpec(column, "hashed", buckets=64))
    return specs


def _side(
    source: TableSource | None,
    key: str,
    key_column: str,
    specs: list[FeatureSpec] | None,
    text_tokens: bool,
    sep: str | None,
    encoding: str,
    separator: str,
) -> tuple[pd.DataFrame | None, list[FeatureSpec]]:
    if source is None:
        return None, []
    table = _as_table(source, sep, encoding)
    if key_column not in table.columns:
        where = {} if isinstance(source, pd.DataFrame) else {"path": str(source)}
        raise DataError(
            f"side table has no key column {key_column!r}; it has "
            f"{list(table.columns)} (name it with --{key}-key / {key}_key=)",
            column=key_column,
            **where,
        )
    table = table.rename(columns={key_column: key})
    table.attrs["columns"] = {key: key_column}
    table = _typed_side(table, key)
    if specs is None:
        specs = infer_feature_specs(
            table, key, text_tokens=text_tokens, separator=separator
        )
    lists = {s.column: _as_lists(table[s.column], s.separator)
             for s in specs if s.kind == "multihot"}  # fmt: skip
    return table.assign(**lists), specs


def prepare_interactions(
    ratings: TableSource,
    users: TableSource | None = None,
    items: TableSource | None = None,
    *,
    columns: dict[str, str] | None = None,
    user_key: str | None = None,
    item_key: str | None = None,
    user_features: list[FeatureSpec] | None = None,
    item_features: list[FeatureSpec] | None = None,
    rating_range: tuple[float, float] | None = None,
    sep: str | None = None,
    text_tokens: bool = False,
    title_column: str | None = None,
    name: str = "interactions",
    encoding: str = "utf-8",
    multi_sep: str = "|",
    numeric_ids: bool = False,
    **options,
) -> tuple[Dataset, Preparation]:
    """Prepare any interactions table; see the module docstring.

    Args:
        ratings: the interactions (file or DataFrame).
        users, items: optional side tables (file or DataFrame).
        columns: {pipeline name: source column} for user, item, rating,
            timestamp; a table without a rating column is implicit feedback
            (every row a positive, rating 1.0).
        user_key, item_key: the key column of the side tables (default: the
            mapped user/item column name, else "user"/"item").
        user_features, item_features: feature specs; None infers them.
        rating_range: the rating scale; None takes the observed min and max.
        sep: field separator of text files (default by suffix).
        text_tokens: hash free-text side columns into token buckets.
        title_column: item column holding display titles.
        name: the data set's label in reports.
        encoding: the text encoding of every file (``--encoding``).
        multi_sep: what separates the values of a multi-valued side column
            (``--multi-sep``); tokens are trimmed, empty ones dropped, order
            irrelevant.
        numeric_ids: read ids as whole numbers (``--numeric-ids``); by default
            they are labels, the text in the file stripped of surrounding
            spaces (``007`` and ``7`` are two users).
        options: passed on to :func:`from_tables` (missing_side, duplicates,
            invalid, implicit, implicit_threshold, k-core minimums).

    Returns:
        (dataset, preparation) as :func:`from_tables` returns them; the report
        also lists the inferred features.

    Raises:
        DataError: a file is unreadable, the table is empty, a mapped column
            or a side table's key column is missing, or as :func:`from_tables`.

    >>> r = pd.DataFrame({"uid": ["a", "b"], "iid": [1, 2], "stars": [7, 9]})
    >>> ds, _ = prepare_interactions(r, columns={"user": "uid", "item": "iid",
    ...                              "rating": "stars"}, rating_range=(1, 10))
    >>> ds.n_users, ds.rating_range
    (2, (1.0, 10.0))
    """
    columns = dict(columns or {})
    table = _as_table(ratings, sep, encoding)
    where = {} if isinstance(ratings, pd.DataFrame) else {"path": str(ratings)}
    if len(table) == 0:
        raise DataError("the ratings table is empty", **where)
    rename = {}
    for canonical in ("user", "item", "rating", "timestamp"):
        source = columns.get(canonical, canonical)
        if source in table.columns:
            rename[source] = canonical
        elif canonical in columns or canonical in ("user", "item"):
            raise DataError(
                f"no column {source!r} for {canonical}; the table has "
                f"{list(table.columns)}",
                column=source,
                **where,
            )
    table = table.rename(columns=rename)
    table.attrs["columns"] = {new: old for old, new in rename.items()}
    if "rating" not in table.columns:
        table = table.assign(rating=np.float32(1.0))
        options.setdefault("implicit", True)
    if rating_range is not None:
        rating_range = (float(rating_range[0]), float(rating_range[1]))
    side = dict(text_tokens=text_tokens, sep=sep, encoding=encoding,
                separator=multi_sep)  # fmt: skip
    user_table, user_specs = _side(
        users, "user", user_key or columns.get("user", "user"), user_features,
        **side,
    )  # fmt: skip
    item_table, item_specs = _side(
        items, "item", item_key or columns.get("item", "item"), item_features,
        **side,
    )  # fmt: skip
    if numeric_ids:
        table = _numeric_ids(table, ("user", "item"))
        user_table = None if users is None else _numeric_ids(user_table, ("user",))
        item_table = None if items is None else _numeric_ids(item_table, ("item",))
    dataset, preparation = from_tables(
        table,
        user_table,
        item_table,
        user_features=user_specs,
        item_features=item_specs,
        rating_range=rating_range,
        title_column=title_column,
        name=name,
        **options,
    )
    inferred = [
        f"{what} features: " + ", ".join(f"{s.column} ({s.kind})" for s in specs)
        for what, specs in (("user", user_specs), ("item", item_specs))
        if specs
    ]
    multi = [f"{w}.{s.column}" for w, specs in (("user", user_specs),
             ("item", item_specs)) for s in specs if s.kind == "multihot"]  # fmt: skip
    if multi:
        inferred.append(
            f"multi-valued columns (separator {multi_sep!r}): {', '.join(multi)}"
        )
    inferred.append(
        "ids read as whole numbers (numeric_ids)"
        if numeric_ids
        else "ids read as labels (the text in the file, spaces stripped)"
    )
    report = (*dataset.report[:-1], *inferred, dataset.report[-1])
    return dataclasses.replace(dataset, report=report), preparation


def load_interactions(ratings: TableSource, **kwargs) -> Dataset:
    """:func:`prepare_interactions` without the Preparation."""
    return prepare_interactions(ratings, **kwargs)[0]

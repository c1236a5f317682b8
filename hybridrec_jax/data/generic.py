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

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.data.readers import read_table
from hybridrec_jax.data.tables import Preparation, from_tables

TableSource = str | Path | pd.DataFrame
MAX_CATEGORIES = 100


def _as_table(source: TableSource, sep: str | None) -> pd.DataFrame:
    """A DataFrame as is; a file through :func:`read_table` (CSV quoting on)."""
    if isinstance(source, pd.DataFrame):
        return source
    return read_table(source, sep=sep, quoted=True)


def infer_feature_specs(
    table: pd.DataFrame, key: str, *, text_tokens: bool = False
) -> list[FeatureSpec]:
    """Feature specs for every column of a side table but its key.

    By column type: bool is categorical; numbers are numeric (standardised);
    lists, or text where at least a fifth of the non-missing values hold a
    ``|``, are multi-hot; other text with at most ``MAX_CATEGORIES`` distinct
    values is categorical; longer free text is hashed into 64 token buckets with
    ``text_tokens``, else left out.

    Args:
        table: the side table, one row per user or item.
        key: its key column ("user" or "item"), which gets no spec.
        text_tokens: hash free-text columns instead of leaving them out.

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
            if len(text) and text.str.contains("|", regex=False).mean() >= 0.2:
                specs.append(FeatureSpec(column, "multihot"))
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
) -> tuple[pd.DataFrame | None, list[FeatureSpec]]:
    if source is None:
        return None, []
    table = _as_table(source, sep=sep)
    if key_column not in table.columns:
        where = {} if isinstance(source, pd.DataFrame) else {"path": str(source)}
        raise DataError(
            f"side table has no key column {key_column!r}; it has "
            f"{list(table.columns)}",
            column=key_column,
            **where,
        )
    table = table.rename(columns={key_column: key})
    if specs is None:
        specs = infer_feature_specs(table, key, text_tokens=text_tokens)
    for spec in specs:
        if spec.kind == "multihot":
            column = table[spec.column]
            is_text = column.map(lambda v: isinstance(v, str))
            if is_text.any():
                lists = column.where(~is_text, column.astype(str).str.split("|"))
                table = table.assign(**{spec.column: lists})
    return table, specs


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
    table = _as_table(ratings, sep=sep)
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
    if "rating" not in table.columns:
        table = table.assign(rating=np.float32(1.0))
        options.setdefault("implicit", True)
    if rating_range is not None:
        rating_range = (float(rating_range[0]), float(rating_range[1]))
    user_table, user_specs = _side(
        users, "user", user_key or columns.get("user", "user"), user_features,
        text_tokens, sep,
    )  # fmt: skip
    item_table, item_specs = _side(
        items, "item", item_key or columns.get("item", "item"), item_features,
        text_tokens, sep,
    )  # fmt: skip
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
    report = (*dataset.report[:-1], *inferred, dataset.report[-1])
    return dataclasses.replace(dataset, report=report), preparation


def load_interactions(ratings: TableSource, **kwargs) -> Dataset:
    """:func:`prepare_interactions` without the Preparation."""
    return prepare_interactions(ratings, **kwargs)[0]

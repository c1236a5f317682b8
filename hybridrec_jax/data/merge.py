"""Steps 1-5 of :func:`tables.from_tables`: clean the ratings table, then merge
it with the side tables.

Each function returns the rows it dropped, counted under their reasons, and
the report lines it adds, so that ``from_tables`` can check that no row is lost
silently (``read = kept + sum(dropped)``). Inputs are not modified.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from hybridrec_jax.data.checks import parse_times, where
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.prepare import (
    DUPLICATE_POLICIES,
    DataError,
    _blank,
    drop_duplicate_interactions,
    drop_invalid_interactions,
    duplicate_rule,
    index_ids,
    to_implicit,
)

MISSING_SIDE_POLICIES = ("impute", "drop", "error")
INTERACTION_COLUMNS = ("user", "item", "rating", "timestamp")


def _side_table(
    side: pd.DataFrame | None, key: str, ids: pd.Series, name: str
) -> pd.DataFrame:
    if side is None:
        return pd.DataFrame({key: index_ids(ids)})
    if key not in side.columns:
        raise DataError(f"{name} table has no {key!r} column", column=key)
    missing = _blank(side[key])
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"missing id in the {name} table", **where(side, row, key))
    repeated = side[key].duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        value = side[key].iloc[row]
        first = int(np.flatnonzero((side[key] == value).to_numpy())[0])
        first_at = where(side, first)
        label = "line" if first_at["path"] is not None else "row"
        raise DataError(
            f"duplicate id {value} (first on {label} {first_at['row']})",
            **where(side, row, key),
        )
    return side


def _unrated(side: pd.DataFrame, key: str, ids: pd.Series, name: str) -> list[str]:
    """A report line for side-table ids that no interaction has."""
    absent = ~side[key].isin(ids).to_numpy()
    if not absent.any():
        return []
    rows = np.flatnonzero(absent)
    places = [where(side, int(r)) for r in rows[:5]]
    label = "lines" if places[0]["path"] is not None else "rows"
    source = f" ({places[0]['path']})" if places[0]["path"] is not None else ""
    more = ", ..." if len(rows) > 5 else ""
    return [
        f"{name} table{source}: {len(rows)} ids without an interaction ({label} "
        f"{', '.join(str(p['row']) for p in places)}{more}); kept, not rated"
    ]


def _used_columns(
    side: pd.DataFrame, key: str, specs, extra: tuple[str | None, ...], report, name
):
    used = {key, *(s.column for s in specs), *(c for c in extra if c)}
    unused = [c for c in side.columns if c not in used]
    if unused:
        report.append(f"{name} table: dropped unused columns {unused}")
    return side[[c for c in side.columns if c in used]]


def clean_interactions(
    ratings: pd.DataFrame,
    rating_range: tuple[float, float] | None = None,
    *,
    invalid: str = "drop",
    duplicates: str = "last",
    implicit: bool = False,
    implicit_threshold: float | None = None,
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """Steps 1-4 of :func:`tables.from_tables`: unused columns, invalid rows,
    duplicates, implicit targets. The input is not modified.

    Args:
        ratings: columns ``user``, ``item``, ``rating`` and optionally
            ``timestamp`` (others are dropped and reported).
        rating_range: (low, high) inclusive, in rating points; None checks no
            range.
        invalid: "drop" the invalid rows, counted by reason (a missing id; a
            rating missing, not a number, NaN, infinite, beyond float32 or
            outside the range) or "error" (refuse the first, naming its line
            and column). A bad timestamp is always an error.
        duplicates: of repeated (user, item) rows keep the "last" (the latest
            by timestamp when there is one, else the file's last) or the "mean"
            (alias "average") rating.
        implicit: turn ratings into positives 1.0 with
            :func:`~hybridrec_jax.data.prepare.to_implicit`.
        implicit_threshold: with ``implicit``, ratings below it are dropped;
            None keeps every row.

    Returns:
        (table, dropped, report): the cleaned table, {reason: rows dropped}
        and the report lines.

    Raises:
        DataError: a required column is missing, the table is empty, or
            ``invalid="error"`` and a row is invalid, or a timestamp is neither
            epoch seconds nor ISO-8601 (naming the file line and column).
        ValueError: ``duplicates`` is not one of ``DUPLICATE_POLICIES``.
    """
    for column in ("user", "item", "rating"):
        if column not in ratings.columns:
            raise DataError(
                f"ratings table has no {column!r} column; it has "
                f"{list(ratings.columns)}",
                column=column,
            )
    if len(ratings) == 0:
        raise DataError("the ratings table is empty")
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(
            f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}"
        )
    dropped: dict[str, int] = {}
    report = [f"read {len(ratings)} interactions"]

    unused = [c for c in ratings.columns if c not in INTERACTION_COLUMNS]
    table = ratings[[c for c in ratings.columns if c in INTERACTION_COLUMNS]]
    table.attrs = dict(ratings.attrs)  # the file and its column names
    if unused:
        report.append(f"ratings table: dropped unused columns {unused}")

    if "timestamp" in table.columns:  # a bad time is an error, never a drop
        table = table.assign(timestamp=parse_times(table))
    table, invalid_counts = drop_invalid_interactions(
        table, rating_range, invalid=invalid
    )
    for why, count in invalid_counts.items():
        dropped[why] = count
        report.append(f"dropped {count} rows: {why}")
    table = table.assign(
        user=_ids(table["user"]),
        item=_ids(table["item"]),
        rating=pd.to_numeric(table["rating"]).astype(np.float32),
    )

    table, n_duplicates = drop_duplicate_interactions(table, keep=duplicates)
    reason = (
        f"duplicate (user, item), {duplicate_rule(duplicates, 'timestamp' in table)}"
    )
    dropped[reason] = n_duplicates
    report.append(f"dropped {n_duplicates} rows: {reason}")

    if implicit:
        table, implicit_counts = to_implicit(table, implicit_threshold)
        dropped.update(implicit_counts)
        report.append(
            "implicit feedback: every interaction is a positive (1.0)"
            if implicit_threshold is None
            else f"implicit feedback: rating >= {implicit_threshold:g} is a "
            f"positive; dropped {sum(implicit_counts.values())} rows below it"
        )
    return table, dropped, report


def _ids(values: pd.Series) -> pd.Series:
    """Ids as labels: text stripped of surrounding spaces; numbers as they are."""
    if isinstance(values.dtype, pd.Int64Dtype):  # numeric_ids, blanks dropped
        return values.astype("int64")
    if values.dtype.kind in "iufb":
        return values
    is_int = values.map(lambda v: isinstance(v, numbers.Integral | np.integer))
    if len(values) and is_int.all():  # an in-memory table's ints (object column)
        return values.astype("int64")
    return values.astype(str).str.strip()


def merge_side_tables(
    table: pd.DataFrame,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    *,
    user_features: list[FeatureSpec] = (),
    item_features: list[FeatureSpec] = (),
    title_column: str | None = None,
    missing_side: str = "impute",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, int], list[str]]:
    """Step 5 of :func:`tables.from_tables`: match interactions to side rows.

    Interactions whose user or item has no side row are kept (a side row with
    missing features is added, to be imputed), dropped or refused. Side-table
    columns that no spec uses (nor ``title_column``) are dropped and reported.

    Args:
        table: the cleaned interactions (:func:`clean_interactions`).
        users, items: side tables keyed by ``user`` and ``item``; None builds a
            key-only table of the ids in ``table``.
        user_features, item_features: the specs whose columns are kept.
        title_column: an item column kept for display.
        missing_side: "impute", "drop" or "error" (``MISSING_SIDE_POLICIES``).

    Returns:
        (table, users, items, dropped, report): the interactions, the side
        tables, {reason: rows dropped} and the report lines.

    Raises:
        DataError: a side table without its key column, with a missing or
            repeated key (its file line), or sharing no id with ``table``
            (e.g. int against text ids); ``missing_side="error"`` and an
            interaction without a side row.
    """
    dropped: dict[str, int] = {}
    report: list[str] = []
    user_given, item_given = users is not None, items is not None
    users = _side_table(users, "user", table["user"], "user")
    items = _side_table(items, "item", table["item"], "item")
    users = _used_columns(users, "user", user_features, (), report, "user")
    items = _used_columns(items, "item", item_features, (title_column,), report, "item")
    no_user = ~table["user"].isin(users["user"])
    no_item = ~table["item"].isin(items["item"])
    for what, gap, side in (("user", no_user, users), ("item", no_item, items)):
        if gap.all() and len(side):
            raise DataError(
                f"no {what} id of the ratings table is in the {what} table; the id "
                f"types are {table[what].dtype} and {side[what].dtype}",
                column=what,
            )
    for what, side, given in (("user", users, user_given), ("item", items, item_given)):
        if given:
            report += _unrated(side, what, table[what], what)
    orphan = no_user | no_item
    if orphan.any():
        if missing_side == "error":
            row = int(np.flatnonzero(orphan.to_numpy())[0])
            what = "user" if no_user.iloc[row] else "item"
            raise DataError(
                f"{what} {table[what].iloc[row]} has no row in the {what} table; "
                "add it, or keep such rows with imputed features "
                "(missing_side='impute', --missing-side impute) or drop them",
                **where(table, row, what),
            )
        if missing_side == "drop":
            table = table.loc[~orphan]
            dropped["user or item without a side-table row"] = int(orphan.sum())
            report.append(f"dropped {int(orphan.sum())} rows without a side row")
        else:
            users = pd.concat(
                [users, pd.DataFrame({"user": pd.unique(table.loc[no_user, "user"])})],
                ignore_index=True,
            )
            items = pd.concat(
                [items, pd.DataFrame({"item": pd.unique(table.loc[no_item, "item"])})],
                ignore_index=True,
            )
            report.append(
                f"kept {int(orphan.sum())} rows without a side row; their "
                "features are imputed"
            )
    return table, users, items, dropped, report

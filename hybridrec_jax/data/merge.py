"""Steps 1-5 of :func:`tables.from_tables`: clean the ratings table, then merge
it with the side tables.

Each function returns the rows it dropped, counted under their reasons, and
the report lines it adds, so that ``from_tables`` can check that no row is lost
silently (``read = kept + sum(dropped)``). Inputs are not modified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.prepare import (
    DataError,
    drop_duplicate_interactions,
    drop_invalid_interactions,
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
    missing = side[key].isna()
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise DataError(f"missing {key} id in the {name} table", row=row, column=key)
    duplicated = side[key].duplicated(keep=False)
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataError(
            f"duplicate {key} id {side[key].iloc[row]} in the {name} table",
            row=row,
            column=key,
        )
    return side


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
        invalid: "drop" the invalid rows (a missing id, a missing or
            non-numeric rating or timestamp, a rating outside the range) or
            "error" (refuse the first).
        duplicates: of repeated (user, item) rows keep the "last" or the
            "mean" rating.
        implicit: turn ratings into positives 1.0 with
            :func:`~hybridrec_jax.data.prepare.to_implicit`.
        implicit_threshold: with ``implicit``, ratings below it are dropped;
            None keeps every row.

    Returns:
        (table, dropped, report): the cleaned table, {reason: rows dropped}
        and the report lines.

    Raises:
        DataError: a required column is missing, the table is empty, or
            ``invalid="error"`` and a row is invalid (its 0-based position).
        ValueError: ``duplicates`` is neither "last" nor "mean".
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
    dropped: dict[str, int] = {}
    report = [f"read {len(ratings)} interactions"]

    unused = [c for c in ratings.columns if c not in INTERACTION_COLUMNS]
    table = ratings[[c for c in ratings.columns if c in INTERACTION_COLUMNS]]
    if unused:
        report.append(f"ratings table: dropped unused columns {unused}")

    table, invalid_counts = drop_invalid_interactions(table, rating_range)
    if "timestamp" in table.columns:
        stamp = pd.to_numeric(table["timestamp"], errors="coerce")
        no_time = stamp.isna().to_numpy()
        invalid_counts["missing or non-numeric timestamp"] = int(no_time.sum())
        table = table.loc[~no_time]
    n_invalid = sum(invalid_counts.values())
    if n_invalid and invalid == "error":
        bad = ~ratings.index.isin(table.index)
        row = int(np.flatnonzero(bad)[0])
        reason = next(r for r, n in invalid_counts.items() if n)
        raise DataError(f"invalid interaction ({reason})", row=row)
    for reason, count in invalid_counts.items():
        dropped[reason] = count
        report.append(f"dropped {count} rows: {reason}")
    table = table.assign(rating=pd.to_numeric(table["rating"]).astype(np.float32))
    if "timestamp" in table.columns:
        table = table.assign(timestamp=pd.to_numeric(table["timestamp"]))

    table, n_duplicates = drop_duplicate_interactions(table, keep=duplicates)
    reason = f"duplicate (user, item), kept {duplicates}"
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
            repeated key (0-based position), or sharing no id with ``table``
            (e.g. int against text ids); ``missing_side="error"`` and an
            interaction without a side row.
    """
    dropped: dict[str, int] = {}
    report: list[str] = []
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
    orphan = no_user | no_item
    if orphan.any():
        if missing_side == "error":
            row = int(np.flatnonzero(orphan.to_numpy())[0])
            raise DataError(
                "interaction whose user or item has no side-table row",
                row=row,
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

"""From raw pandas tables to a :class:`Dataset`: merge, drop, impute, encode, index.

The raw tables are a ratings table with columns ``user``, ``item``, ``rating`` and
optionally ``timestamp``, and optional side tables keyed by ``user`` and ``item``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.prepare import (
    DataError,
    FeatureEncoder,
    FeatureSpec,
    drop_duplicate_interactions,
    encode,
    fit_encoder,
    index_ids,
    lookup,
)

MISSING_SIDE_POLICIES = ("impute", "drop", "error")


@dataclass
class Preparation:
    """What was fitted while preparing a data set (reused for new data)."""

    user_index: pd.Index
    item_index: pd.Index
    user_encoder: FeatureEncoder
    item_encoder: FeatureEncoder


def _side_table(
    side: pd.DataFrame | None, key: str, ids: pd.Series, name: str
) -> pd.DataFrame:
    if side is None:
        return pd.DataFrame({key: index_ids(ids)})
    if key not in side.columns:
        raise DataError(f"{name} table has no {key!r} column", column=key)
    duplicated = side[key].duplicated(keep=False)
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataError(
            f"duplicate {key} id {side[key].iloc[row]} in the {name} table",
            row=row,
            column=key,
        )
    return side


def from_tables(
    ratings: pd.DataFrame,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    *,
    user_features: list[FeatureSpec] = (),
    item_features: list[FeatureSpec] = (),
    rating_range: tuple[float, float] | None = None,
    title_column: str | None = None,
    missing_side: str = "impute",
    name: str = "dataset",
) -> tuple[Dataset, Preparation]:
    """Merge, clean, encode and index raw tables into a Dataset.

    Steps, each reported in ``Dataset.report``:
      1. drop interactions with a missing user, item or rating;
      2. drop duplicate (user, item) pairs, keeping the last;
      3. merge with the side tables: an interaction whose user or item has no
         side row is kept with imputed features (``missing_side="impute"``),
         dropped ("drop") or refused ("error");
      4. index ids to 0..n-1 (every id of a side table gets an index, so items
         nobody rated can still be recommended);
      5. fit the feature encoders (impute + encode) and encode the side tables.

    >>> r = pd.DataFrame({"user": [1, 2], "item": [7, 7], "rating": [4.0, 2.0]})
    >>> ds, prep = from_tables(r)
    >>> ds.n_users, ds.n_items, ds.user_features.shape
    (2, 1, (2, 0))
    """
    if missing_side not in MISSING_SIDE_POLICIES:
        raise ValueError(f"missing_side must be one of {MISSING_SIDE_POLICIES}")
    for column in ("user", "item", "rating"):
        if column not in ratings.columns:
            raise DataError(
                f"ratings table has no {column!r} column; it has "
                f"{list(ratings.columns)}",
                column=column,
            )
    if len(ratings) == 0:
        raise DataError("the ratings table is empty")
    report = [f"read {len(ratings)} interactions"]
    invalid = ratings[["user", "item", "rating"]].isna().any(axis=1)
    table = ratings.loc[~invalid]
    report.append(f"dropped {int(invalid.sum())} rows with a missing id or rating")
    table, n_duplicates = drop_duplicate_interactions(table, keep="last")
    report.append(f"dropped {n_duplicates} duplicate (user, item) rows, kept last")

    users = _side_table(users, "user", table["user"], "user")
    items = _side_table(items, "item", table["item"], "item")
    no_user = ~table["user"].isin(users["user"])
    no_item = ~table["item"].isin(items["item"])
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

    user_index = index_ids(users["user"])
    item_index = index_ids(items["item"])
    users = users.set_index("user").reindex(user_index).reset_index()
    items = items.set_index("item").reindex(item_index).reset_index()

    user_encoder = fit_encoder(users, list(user_features))
    item_encoder = fit_encoder(items, list(item_features))
    x_user = encode(users, user_encoder)
    x_item = encode(items, item_encoder)

    rating = table["rating"].to_numpy(np.float32)
    if rating_range is None:
        rating_range = (float(rating.min()), float(rating.max()))
    timestamp = (
        table["timestamp"].to_numpy(np.int64) if "timestamp" in table.columns else None
    )
    titles = (
        items[title_column].astype(str).to_numpy()
        if title_column and title_column in items.columns
        else None
    )
    report.append(f"kept {len(table)} interactions")
    dataset = Dataset(
        user=lookup(user_index, table["user"], what="user"),
        item=lookup(item_index, table["item"], what="item"),
        rating=rating,
        user_features=x_user,
        item_features=x_item,
        user_ids=user_index.to_numpy(),
        item_ids=item_index.to_numpy(),
        rating_range=(float(rating_range[0]), float(rating_range[1])),
        timestamp=timestamp,
        user_feature_names=tuple(user_encoder.names),
        item_feature_names=tuple(item_encoder.names),
        item_titles=titles,
        name=name,
        report=tuple(report),
    )
    return dataset, Preparation(user_index, item_index, user_encoder, item_encoder)

"""From raw pandas tables to a :class:`Dataset`: merge, drop, impute, encode, index.

The raw tables are a ratings table with columns ``user``, ``item``, ``rating`` and
optionally ``timestamp``, and optional side tables keyed by ``user`` and ``item``.
No row is lost silently: every dropped interaction is counted under its reason,
and ``read = kept + sum(dropped)`` is checked before the Dataset is returned.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import (
    FeatureEncoder,
    FeatureSpec,
    encode,
    fit_encoder,
)
from hybridrec_jax.data.merge import (
    MISSING_SIDE_POLICIES,
    clean_interactions,
    merge_side_tables,
)
from hybridrec_jax.data.prepare import DataError, index_ids, k_core, lookup


@dataclass
class Preparation:
    """What was fitted while preparing a data set (reused for new data).

    Attributes:
        user_index, item_index: original id -> position (the model's index).
        user_encoder, item_encoder: the fitted feature encoders.
        n_read: interactions read.
        dropped: {reason: interactions dropped}; n_read = kept + sum(dropped).
        users, items: the side tables in index order (for refitting the
            encoders on training users and items only, see ``fit_features``).
        user_specs, item_specs: the feature specifications.
    """

    user_index: pd.Index
    item_index: pd.Index
    user_encoder: FeatureEncoder
    item_encoder: FeatureEncoder
    n_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    user_specs: tuple[FeatureSpec, ...] = ()
    item_specs: tuple[FeatureSpec, ...] = ()


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
    duplicates: str = "last",
    invalid: str = "drop",
    implicit: bool = False,
    implicit_threshold: float | None = None,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    name: str = "dataset",
) -> tuple[Dataset, Preparation]:
    """Merge, clean, encode and index raw tables into a Dataset.

    Steps, each reported in ``Dataset.report``:
      1. drop unused columns of the ratings table;
      2. drop invalid interactions (a missing id; a rating missing, not a
         number, NaN, infinite, beyond float32 or outside ``rating_range``),
         counted by reason, or, with ``invalid="error"``, refuse the first one
         (timestamps: epoch seconds or ISO-8601, anything else an error);
      3. drop duplicate (user, item) pairs, keeping the last or their mean
         rating (``duplicates="last"`` or ``"mean"``);
      4. with ``implicit=True``, turn ratings into positives (all of them, or
         those >= ``implicit_threshold``; the others are dropped);
      5. merge with the side tables: an interaction whose user or item has no
         side row is kept with imputed features (``missing_side="impute"``),
         dropped ("drop") or refused ("error");
      6. optional k-core filter (``min_user_interactions``,
         ``min_item_interactions``);
      7. index ids to 0..n-1 (every id of a side table gets an index, so items
         nobody rated can still be recommended);
      8. fit the feature encoders (impute + encode) on the side tables, which hold
         no interaction data; ``fit_features`` refits them on training rows.

    Args:
        ratings: columns ``user``, ``item``, ``rating`` and optionally
            ``timestamp`` (int seconds); one row per interaction.
        users, items: side tables keyed by ``user`` and ``item``, or None.
        user_features, item_features: :class:`FeatureSpec` per encoded column.
        rating_range: (low, high) inclusive, in rating points; None takes the
            kept ratings' min and max ((0, 1) with ``implicit``).
        title_column: an item column of display titles.
        missing_side: "impute", "drop" or "error" (step 5).
        duplicates: "last" (the latest by timestamp, else the file's last),
            "mean" or "average" (step 3).
        invalid: "drop" or "error" (step 2).
        implicit, implicit_threshold: step 4.
        min_user_interactions, min_item_interactions: step 6; 1 turns it off.
        name: the data set's label in reports.

    Returns:
        (dataset, preparation): the :class:`Dataset` (ids int32, ratings and
        features float32) and the :class:`Preparation` fitted on it.

    Raises:
        ValueError: an unknown ``missing_side``, ``invalid`` or ``duplicates``.
        DataError: a required or feature column is missing, an invalid row with
            ``invalid="error"``, a side table with a missing or repeated key or
            no id in common with ``ratings``, a row without a side row with
            ``missing_side="error"``, or no row left after cleaning.

    >>> r = pd.DataFrame({"user": [1, 2], "item": [7, 7], "rating": [4.0, 2.0]})
    >>> ds, prep = from_tables(r)
    >>> ds.n_users, ds.n_items, ds.user_features.shape
    (2, 1, (2, 0))
    """
    if missing_side not in MISSING_SIDE_POLICIES:
        raise ValueError(f"missing_side must be one of {MISSING_SIDE_POLICIES}")
    if invalid not in ("drop", "error"):
        raise ValueError(f"invalid must be 'drop' or 'error', got {invalid!r}")
    n_read = len(ratings)
    users_given, items_given = users, items
    table, dropped, report = clean_interactions(
        ratings, rating_range, invalid=invalid, duplicates=duplicates,
        implicit=implicit, implicit_threshold=implicit_threshold,
    )  # fmt: skip
    if implicit:
        rating_range = (0.0, 1.0)
    table, users, items, merge_dropped, merge_report = merge_side_tables(
        table, users, items, user_features=user_features,
        item_features=item_features, title_column=title_column,
        missing_side=missing_side,
    )  # fmt: skip
    dropped.update(merge_dropped)
    report += merge_report

    if min_user_interactions > 1 or min_item_interactions > 1:
        before = len(table)
        table, rounds = k_core(table, min_user_interactions, min_item_interactions)
        reason = (
            f"k-core (users >= {min_user_interactions}, items >= "
            f"{min_item_interactions} interactions)"
        )
        dropped[reason] = before - len(table)
        report.append(f"dropped {before - len(table)} rows: {reason}, {rounds} rounds")
    if len(table) == 0:
        raise DataError("no interaction is left after cleaning: " + "; ".join(report))
    # Without a side table, only ids that kept an interaction get an index.
    if users_given is None:
        users = users.loc[users["user"].isin(table["user"])]
    if items_given is None:
        items = items.loc[items["item"].isin(table["item"])]

    user_index = index_ids(users["user"])
    item_index = index_ids(items["item"])
    users = users.set_index("user").reindex(user_index).reset_index()
    items = items.set_index("item").reindex(item_index).reset_index()

    user_encoder = fit_encoder(users, list(user_features))
    item_encoder = fit_encoder(items, list(item_features))
    x_user = encode(users, user_encoder)
    x_item = encode(items, item_encoder)
    report.append(
        f"encoded {x_user.shape[1]} user and {x_item.shape[1]} item feature "
        "columns (missing values imputed: numeric median, categorical "
        "'unknown', multi-hot empty)"
    )

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
    kept = len(table)
    if n_read != kept + sum(dropped.values()):
        raise AssertionError(f"rows not conserved: {n_read} != {kept} + {dropped}")
    report += _heavy_drop_warning(n_read, dropped)
    report.append(
        f"kept {kept} interactions of {n_read} read "
        f"({sum(dropped.values())} dropped); {len(user_index)} users, "
        f"{len(item_index)} items"
    )
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
    preparation = Preparation(
        user_index, item_index, user_encoder, item_encoder,
        n_read=n_read, dropped=dropped, users=users, items=items,
        user_specs=tuple(user_features), item_specs=tuple(item_features),
    )  # fmt: skip
    return dataset, preparation


def _heavy_drop_warning(n_read: int, dropped: dict[str, int]) -> list[str]:
    """A warning line when cleaning dropped more than 1% of the rows read.

    >>> _heavy_drop_warning(10, {"rating outside 1..5": 6, "other": 1})
    ['WARNING: 7 of 10 rows read (70%) were dropped, mostly: rating outside \
1..5 (6 rows); is --rating-range (rating_range=) right?']
    """
    total = sum(dropped.values())
    if total <= 0.01 * n_read:
        return []
    reason, count = max(dropped.items(), key=lambda pair: pair[1])
    hint = (
        "is --rating-range (rating_range=) right?"
        if reason.startswith("rating outside")
        else "see the dropped rows above"
    )
    return [
        f"WARNING: {total} of {n_read} rows read ({total / n_read:.0%}) were "
        f"dropped, mostly: {reason} ({count} rows); {hint}"
    ]


def fit_features(
    dataset: Dataset, preparation: Preparation, train_rows: np.ndarray
) -> tuple[Dataset, Preparation]:
    """Refit imputation and encoding on the users and items of ``train_rows`` only.

    Every user and item is then encoded with those statistics, so a cold-start
    test item's year does not move the median or the mean its features use.

    Args:
        dataset, preparation: as :func:`from_tables` returned them.
        train_rows: int indices of the training interactions in ``dataset``.

    Returns:
        (dataset, preparation) with the refitted features (U, F_u), (I, F_i)
        float32 and encoders; the interactions are unchanged.

    Raises:
        ValueError: ``preparation`` keeps no side tables.

    >>> r = pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [4.0, 2.0]})
    >>> items = pd.DataFrame({"item": [1, 2], "year": [1990.0, 2000.0]})
    >>> ds, prep = from_tables(r, None, items,
    ...                        item_features=[FeatureSpec("year", "numeric")])
    >>> refit, prep2 = fit_features(ds, prep, np.array([0]))
    >>> prep2.item_encoder.features[0].mean, refit.item_features[:, 0].tolist()
    (1990.0, [0.0, 10.0])
    """
    if preparation.users is None or preparation.items is None:
        raise ValueError("this Preparation keeps no side tables to refit on")
    train_rows = np.asarray(train_rows)
    train_users = np.unique(dataset.user[train_rows])
    train_items = np.unique(dataset.item[train_rows])
    user_encoder = fit_encoder(
        preparation.users.iloc[train_users], list(preparation.user_specs)
    )
    item_encoder = fit_encoder(
        preparation.items.iloc[train_items], list(preparation.item_specs)
    )
    refit = dataclasses.replace(
        dataset,
        user_features=encode(preparation.users, user_encoder),
        item_features=encode(preparation.items, item_encoder),
        user_feature_names=tuple(user_encoder.names),
        item_feature_names=tuple(item_encoder.names),
        report=(
            *dataset.report,
            f"feature encoders refitted on the {len(train_users)} users and "
            f"{len(train_items)} items of the training rows",
        ),
    )
    return refit, dataclasses.replace(
        preparation, user_encoder=user_encoder, item_encoder=item_encoder
    )

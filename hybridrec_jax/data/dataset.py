"""The prepared data set that every model function consumes (README "Data sets").

Interactions are three aligned arrays (user, item, rating). Content features stay
per user and per item, ``user_features`` of shape (U, F_u) and ``item_features`` of
shape (I, F_i); a batch gathers its rows by index on the device, so no feature is
ever copied per interaction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Interactions with per-user and per-item content features.

    Attributes:
        user: (N,) int32 user index in 0..n_users-1.
        item: (N,) int32 item index in 0..n_items-1.
        rating: (N,) float32 target (a rating, or 1/0 for implicit feedback).
        user_features: (U, F_u) float32 encoded user content x_u.
        item_features: (I, F_i) float32 encoded item content x_i.
        user_ids: (U,) the original user id of each index.
        item_ids: (I,) the original item id of each index.
        rating_range: (low, high) of the rating scale; predictions are clipped to it.
        timestamp: (N,) int64 seconds, or None where the source has no time.
        user_feature_names: one name per column of ``user_features``.
        item_feature_names: one name per column of ``item_features``.
        item_titles: (I,) titles where known, else None.
        name: a short label for reports.
        report: the preparation report, one line per step (what was read,
            dropped and why, kept, encoded, and the split).
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    user_features: np.ndarray
    item_features: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    rating_range: tuple[float, float] = (1.0, 5.0)
    timestamp: np.ndarray | None = None
    user_feature_names: tuple[str, ...] = ()
    item_feature_names: tuple[str, ...] = ()
    item_titles: np.ndarray | None = None
    name: str = "dataset"
    report: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.user)
        if not (len(self.item) == n and len(self.rating) == n):
            raise ValueError(
                f"user, item and rating must have one length, got "
                f"{len(self.user)}, {len(self.item)}, {len(self.rating)}"
            )
        if self.timestamp is not None and len(self.timestamp) != n:
            raise ValueError("timestamp must align with the interactions")
        if self.user_features.shape[0] != len(self.user_ids):
            raise ValueError(
                f"user_features has {self.user_features.shape[0]} rows for "
                f"{len(self.user_ids)} users"
            )
        if self.item_features.shape[0] != len(self.item_ids):
            raise ValueError(
                f"item_features has {self.item_features.shape[0]} rows for "
                f"{len(self.item_ids)} items"
            )
        if n and (self.user.min() < 0 or self.user.max() >= self.n_users):
            raise ValueError("user indices must lie in 0..n_users-1")
        if n and (self.item.min() < 0 or self.item.max() >= self.n_items):
            raise ValueError("item indices must lie in 0..n_items-1")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.user)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same users, items and features with only the interactions ``rows``.

        >>> ds = tiny_dataset()
        >>> ds.subset(np.array([0, 2])).n_interactions
        2
        """
        rows = np.asarray(rows)
        return dataclasses.replace(
            self,
            user=self.user[rows],
            item=self.item[rows],
            rating=self.rating[rows],
            timestamp=None if self.timestamp is None else self.timestamp[rows],
        )

    def summary(self) -> str:
        return (
            f"{self.name}: {self.n_interactions} interactions, {self.n_users} users, "
            f"{self.n_items} items, {self.user_features.shape[1]} user features, "
            f"{self.item_features.shape[1]} item features"
        )


def tiny_dataset() -> Dataset:
    """A three-user, two-item data set for doctests."""
    return Dataset(
        user=np.array([0, 1, 2], dtype=np.int32),
        item=np.array([0, 1, 1], dtype=np.int32),
        rating=np.array([5.0, 3.0, 4.0], dtype=np.float32),
        user_features=np.eye(3, dtype=np.float32),
        item_features=np.eye(2, dtype=np.float32),
        user_ids=np.array([10, 11, 12]),
        item_ids=np.array([100, 101]),
        name="tiny",
    )

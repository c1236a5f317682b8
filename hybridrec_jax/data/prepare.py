"""Data preparation as a chain of small pandas functions (STYLE.md rule 10).

Every function leaves its input untouched and returns what it fitted (id maps,
imputation values, category lists, means and deviations) so that data seen later
(test rows, a new user) is transformed with the statistics of the training data.
The fitted objects are plain JSON-able values, so they can be saved beside a model
without pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
FEATURE_KINDS = ("categorical", "multihot", "numeric", "bucket", "hashed")


class DataError(ValueError):
    """Bad input data: the message names the file, row and column where known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(f"file {path}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.column = path, row, column


@dataclass(frozen=True)
class FeatureSpec:
    """How one raw column becomes encoded feature columns.

    Attributes:
        column: the raw column name.
        kind: "categorical" (one-hot, unseen values map to "unknown"), "multihot"
            (a list of tags per row, one column per tag), "numeric" (standardised,
            (x - mean) / std, plus a was-missing indicator), or "bucket" (one-hot of
            the interval between ``edges``), or "hashed" (the words of a text,
            or the tags of a list, hashed into ``buckets`` multi-hot columns).
        edges: bucket boundaries for kind "bucket".
        min_count: categories seen fewer times are merged into "unknown".
        buckets: number of hash buckets for kind "hashed".
    """

    column: str
    kind: str
    edges: tuple[float, ...] = ()
    min_count: int = 1
    buckets: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        if self.kind == "bucket" and len(self.edges) < 1:
            raise ValueError(f"bucket feature {self.column!r} needs edges")
        if self.kind == "hashed" and self.buckets < 1:
            raise ValueError(f"hashed feature {self.column!r} needs buckets >= 1")


@dataclass
class FittedFeature:
    """What ``fit_encoder`` learnt for one column (JSON-able)."""

    column: str
    kind: str
    categories: list[str] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    edges: list[float] = field(default_factory=list)
    fill_value: float | str | None = None
    buckets: int = 0

    def output_names(self) -> list[str]:
        if self.kind in ("categorical", "multihot"):
            return [f"{self.column}={c}" for c in self.categories]
        if self.kind == "hashed":
            return [f"{self.column}#{b}" for b in range(self.buckets)]
        if self.kind == "numeric":
            return [self.column, f"{self.column}_missing"]
        n_buckets = len(self.edges) + 1
        return [f"{self.column}_bucket{b}" for b in range(n_buckets)]


@dataclass
class FeatureEncoder:
    """An ordered list of fitted features; ``encode`` turns a table into x."""

    features: list[FittedFeature]

    @property
    def names(self) -> list[str]:
        return [name for f in self.features for name in f.output_names()]

    def to_dict(self) -> dict:
        return {"features": [asdict(f) for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureEncoder:
        return cls([FittedFeature(**f) for f in data["features"]])


def _is_missing_list(value) -> bool:
    return not isinstance(value, (list, tuple, np.ndarray, set))


def fit_encoder(table: pd.DataFrame, specs: list[FeatureSpec]) -> FeatureEncoder:
    """Learn categories, fill values, means and deviations from ``table``.

    >>> t = pd.DataFrame({"g": ["M", "F", None], "age": [20.0, None, 40.0]})
    >>> enc = fit_encoder(t, [FeatureSpec("g", "categorical"),
    ...                       FeatureSpec("age", "numeric")])
    >>> enc.names
    ['g=F', 'g=M', 'g=unknown', 'age', 'age_missing']
    """
    fitted = []
    for spec in specs:
        if spec.column not in table.columns:
            raise DataError(
                f"feature column missing; the table has {list(table.columns)}",
                column=spec.column,
            )
        values = table[spec.column]
        if spec.kind == "categorical":
            counts = values.dropna().astype(str).value_counts()
            kept = sorted(c for c, n in counts.items() if n >= spec.min_count)
            categories = [c for c in kept if c != UNKNOWN] + [UNKNOWN]
            fitted.append(FittedFeature(spec.column, spec.kind, categories=categories))
        elif spec.kind == "multihot":
            tags = sorted(str(t) for t in pd.unique(_explode_lists(values).to_numpy()))
            fitted.append(FittedFeature(spec.column, spec.kind, categories=tags))
        elif spec.kind == "hashed":
            fitted.append(FittedFeature(spec.column, spec.kind, buckets=spec.buckets))
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype(float)
            median = float(numbers.median()) if numbers.notna().any() else 0.0
            if spec.kind == "numeric":
                filled = numbers.fillna(median)
                std = float(filled.std(ddof=0)) or 1.0
                fitted.append(
                    FittedFeature(
                        spec.column,
                        spec.kind,
                        mean=float(filled.mean()),
                        std=std,
                        fill_value=median,
                    )
                )
            else:
                fitted.append(
                    FittedFeature(
                        spec.column,
                        spec.kind,
                        edges=list(spec.edges),
                        fill_value=median,
                    )
                )
    return FeatureEncoder(fitted)


def _explode_lists(values: pd.Series) -> pd.Series:
    """One row per tag, indexed by the position of its table row (vectorised).

    >>> _explode_lists(pd.Series([["a", "b"], None, []])).tolist()
    ['a', 'b']
    """
    lists = pd.Series(values.to_numpy(), index=np.arange(len(values)), dtype=object)
    lists = lists.where(~lists.map(_is_missing_list), None)
    return lists.explode().dropna()


def _tokens(values: pd.Series) -> pd.Series:
    """Lower-case word tokens of text, or the tags of lists, one per row."""
    lists = values.map(lambda v: None if _is_missing_list(v) else list(v))
    is_text = values.map(lambda v: isinstance(v, str))
    if is_text.any():
        words = values[is_text].str.lower().str.findall(r"[a-z0-9]+")
        lists = lists.where(~is_text, words)
    return _explode_lists(lists).astype(str).str.lower()


def _one_hot(rows: np.ndarray, codes: np.ndarray, n_rows: int, width: int):
    block = np.zeros((n_rows, width), np.float32)
    block[rows, codes] = 1.0
    return block


def encode(table: pd.DataFrame, encoder: FeatureEncoder) -> np.ndarray:
    """Encode ``table`` into a float32 matrix (rows, len(encoder.names)).

    Vectorised (category codes, exploded tag lists): no Python loop per row.
    Missing values are imputed with the training statistics: numeric with the
    median (and the ``_missing`` indicator set), categorical as "unknown",
    multi-hot and hashed as the empty set.

    >>> enc = fit_encoder(pd.DataFrame({"t": [["a"], ["b"]]}),
    ...                   [FeatureSpec("t", "multihot")])
    >>> encode(pd.DataFrame({"t": [["b", "z"], None]}), enc).tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    n = len(table)
    blocks = []
    for f in encoder.features:
        values = table[f.column]
        if f.kind == "categorical":
            text = values.astype(str).to_numpy(dtype=object)
            codes = pd.Index(f.categories).get_indexer(text).astype(np.int64)
            codes[(codes < 0) | values.isna().to_numpy()] = f.categories.index(UNKNOWN)
            block = _one_hot(np.arange(n), codes, n, len(f.categories))
        elif f.kind == "multihot":
            tags = _explode_lists(values)
            codes = pd.Index(f.categories).get_indexer(tags.astype(str).to_numpy())
            keep = codes >= 0
            rows = tags.index.to_numpy()[keep]
            block = _one_hot(rows, codes[keep], n, len(f.categories))
        elif f.kind == "hashed":
            tokens = _tokens(values)
            hashes = pd.util.hash_array(tokens.to_numpy(dtype=object))
            codes = (hashes % np.uint64(f.buckets)).astype(np.int64)
            block = _one_hot(tokens.index.to_numpy(), codes, n, f.buckets)
        else:
            numbers = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
            missing = np.isnan(numbers)
            filled = np.where(missing, f.fill_value, numbers)
            if f.kind == "numeric":
                block = np.stack(
                    [(filled - f.mean) / f.std, missing.astype(float)], axis=1
                ).astype(np.float32)
            else:
                bucket = np.searchsorted(np.asarray(f.edges), filled, side="right")
                block = _one_hot(np.arange(n), bucket, n, len(f.edges) + 1)
        blocks.append(block)
    if not blocks:
        return np.zeros((n, 0), np.float32)
    return np.concatenate(blocks, axis=1).astype(np.float32)


def index_ids(values: pd.Series | np.ndarray) -> pd.Index:
    """The sorted unique ids; position in the index is the model's 0..n-1 id.

    >>> list(index_ids(pd.Series([30, 10, 30, 20])))
    [10, 20, 30]
    """
    return pd.Index(pd.unique(np.asarray(values))).sort_values()


def lookup(id_index: pd.Index, values, *, what: str) -> np.ndarray:
    """Map original ids to 0..n-1; an id absent from the index is an error."""
    codes = id_index.get_indexer(np.asarray(values))
    if (codes < 0).any():
        bad = np.asarray(values)[codes < 0][:5]
        raise DataError(f"unknown {what} ids {list(bad)}: not in the side table")
    return codes.astype(np.int32)


def drop_duplicate_interactions(
    ratings: pd.DataFrame, keep: str = "last"
) -> tuple[pd.DataFrame, int]:
    """Keep one row per (user, item): the last one, or their mean rating.

    Returns the new table and the number of rows dropped.
    """
    if keep == "mean":
        out = ratings.groupby(["user", "item"], as_index=False, sort=False).agg(
            {
                c: "mean" if c == "rating" else "last"
                for c in ratings.columns
                if c not in ("user", "item")
            }
        )
    elif keep == "last":
        out = ratings.drop_duplicates(["user", "item"], keep="last")
    else:
        raise ValueError(f"keep must be 'last' or 'mean', got {keep!r}")
    return out.reset_index(drop=True), len(ratings) - len(out)


def drop_invalid_interactions(
    ratings: pd.DataFrame, rating_range: tuple[float, float] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows with a missing id, a missing or non-numeric rating, or a rating
    outside ``rating_range``. Returns the kept rows and {reason: rows dropped}.

    >>> r = pd.DataFrame({"user": [1, None, 2], "item": [1, 1, 1],
    ...                   "rating": [4.0, 3.0, 9.0]})
    >>> kept, dropped = drop_invalid_interactions(r, (1.0, 5.0))
    >>> len(kept), dropped
    (1, {'missing user, item or rating': 1, 'rating outside 1..5': 1})
    """
    rating = pd.to_numeric(ratings["rating"], errors="coerce").to_numpy(float)
    no_id = ratings[["user", "item"]].isna().any(axis=1).to_numpy()
    missing = no_id | np.isnan(rating)
    dropped = {"missing user, item or rating": int(missing.sum())}
    bad = missing.copy()
    if rating_range is not None:
        low, high = rating_range
        outside = ~missing & ((rating < low) | (rating > high))
        dropped[f"rating outside {low:g}..{high:g}"] = int(outside.sum())
        bad |= outside
    return ratings.loc[~bad], dropped


def k_core(
    ratings: pd.DataFrame, min_user: int = 1, min_item: int = 1
) -> tuple[pd.DataFrame, int]:
    """Repeatedly drop users with < ``min_user`` and items with < ``min_item``
    interactions until every remaining one has enough. Returns (rows, rounds).

    >>> r = pd.DataFrame({"user": [1, 1, 2, 3], "item": [1, 2, 1, 1]})
    >>> kept, rounds = k_core(r, min_user=2, min_item=1)
    >>> kept["user"].tolist(), rounds
    ([1, 1], 2)
    """
    table = ratings
    rounds = 0
    while True:
        rounds += 1
        users = table["user"].map(table["user"].value_counts()) >= min_user
        items = table["item"].map(table["item"].value_counts()) >= min_item
        keep = (users & items).to_numpy()
        if keep.all():
            return table, rounds
        table = table.loc[keep]


def to_implicit(
    ratings: pd.DataFrame, threshold: float | None = None, below: str = "drop"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Explicit ratings to implicit feedback (rating 1.0 = positive).

    ``threshold=None`` makes every interaction positive. Otherwise a rating of at
    least ``threshold`` is positive and a lower one is dropped (``below="drop"``)
    or kept as an explicit negative 0.0 (``below="negative"``).

    >>> r = pd.DataFrame({"user": [1, 1], "item": [1, 2], "rating": [5.0, 2.0]})
    >>> out, dropped = to_implicit(r, threshold=4.0)
    >>> out["rating"].tolist(), dropped
    ([1.0], {'rating below 4 (implicit threshold)': 1})
    """
    if below not in ("drop", "negative"):
        raise ValueError(f"below must be 'drop' or 'negative', got {below!r}")
    if threshold is None:
        return ratings.assign(rating=np.float32(1.0)), {}
    positive = ratings["rating"].to_numpy(dtype=float) >= threshold
    if below == "negative":
        return ratings.assign(rating=positive.astype(np.float32)), {}
    out = ratings.loc[positive].assign(rating=np.float32(1.0))
    reason = f"rating below {threshold:g} (implicit threshold)"
    return out, {reason: int((~positive).sum())}

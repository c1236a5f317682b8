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
FEATURE_KINDS = ("categorical", "multihot", "numeric", "bucket")


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
            the interval between ``edges``).
        edges: bucket boundaries for kind "bucket".
        min_count: categories seen fewer times are merged into "unknown".
    """

    column: str
    kind: str
    edges: tuple[float, ...] = ()
    min_count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        if self.kind == "bucket" and len(self.edges) < 1:
            raise ValueError(f"bucket feature {self.column!r} needs edges")


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

    def output_names(self) -> list[str]:
        if self.kind in ("categorical", "multihot"):
            return [f"{self.column}={c}" for c in self.categories]
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
            tags = sorted(
                {t for tags in values if not _is_missing_list(tags) for t in tags}
            )
            fitted.append(FittedFeature(spec.column, spec.kind, categories=tags))
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


def encode(table: pd.DataFrame, encoder: FeatureEncoder) -> np.ndarray:
    """Encode ``table`` row by row into a float32 matrix (rows, len(encoder.names)).

    Missing values are imputed with the training statistics: numeric with the
    median (and the ``_missing`` indicator set), categorical as "unknown",
    multi-hot as the empty set.
    """
    blocks = []
    for f in encoder.features:
        values = table[f.column]
        if f.kind == "categorical":
            index = {c: k for k, c in enumerate(f.categories)}
            unknown = index[UNKNOWN]
            codes = np.array(
                [unknown if pd.isna(v) else index.get(str(v), unknown) for v in values],
                dtype=np.int64,
            )
            block = np.zeros((len(table), len(f.categories)), np.float32)
            block[np.arange(len(table)), codes] = 1.0
        elif f.kind == "multihot":
            index = {c: k for k, c in enumerate(f.categories)}
            block = np.zeros((len(table), len(f.categories)), np.float32)
            for r, tags in enumerate(values):
                if _is_missing_list(tags):
                    continue
                for t in tags:
                    if t in index:
                        block[r, index[t]] = 1.0
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
                block = np.zeros((len(table), len(f.edges) + 1), np.float32)
                block[np.arange(len(table)), bucket] = 1.0
        blocks.append(block)
    if not blocks:
        return np.zeros((len(table), 0), np.float32)
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

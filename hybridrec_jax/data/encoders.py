"""Feature encoders: side-table columns to feature matrices, fitted on training
rows and reused for any later table.

``fit_encoder`` learns, per column, the categories, means and deviations,
fill values and bucket edges (:class:`FittedFeature`, JSON-able, so an encoder
is saved beside a model without pickle); ``encode`` applies them. Categories
seen fewer than ``min_count`` times, and any unseen later, map to "unknown";
tokens in fewer than ``min_count`` rows, and any unseen later, are dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from hybridrec_jax.data.prepare import DataError

UNKNOWN = "unknown"
FEATURE_KINDS = ("categorical", "multihot", "numeric", "bucket", "hashed", "tokens")
#: A trailing "(1995)" that kind "tokens" strips before splitting a text into words.
TRAILING_YEAR = r"\(\d{4}\)\s*$"


@dataclass(frozen=True)
class FeatureSpec:
    """How one raw column becomes encoded feature columns.

    Attributes:
        column: the raw column name.
        kind: "categorical" (one-hot, unseen values map to "unknown"), "multihot"
            (a list of tags per row, one column per tag), "numeric" (standardised,
            (x - mean) / std, plus a was-missing indicator), or "bucket" (one-hot of
            the interval between ``edges``), or "hashed" (the words of a text,
            or the tags of a list, hashed into ``buckets`` multi-hot columns),
            or "tokens" (the lower-case words of a text, a trailing "(1995)"
            removed, one multi-hot column per word of the vocabulary: the
            words found in at least ``min_count`` rows of the fitted table;
            other words, seen or not, set no column).
        edges: bucket boundaries for kind "bucket".
        min_count: categories seen fewer times are merged into "unknown"; for
            kind "tokens", words in fewer rows are left out of the vocabulary.
        buckets: number of hash buckets for kind "hashed".
        separator: for kind "multihot", what separates the values of a cell
            given as text ("music|art"), at preparation and at predict time.
    """

    column: str
    kind: str
    edges: tuple[float, ...] = ()
    min_count: int = 1
    buckets: int = 0
    separator: str = "|"

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
    separator: str = "|"

    def output_names(self) -> list[str]:
        if self.kind in ("categorical", "multihot"):
            return [f"{self.column}={c}" for c in self.categories]
        if self.kind == "tokens":
            return [f"{self.column}~{c}" for c in self.categories]
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
            fitted.append(FittedFeature(spec.column, spec.kind, categories=tags,
                                        separator=spec.separator))  # fmt: skip
        elif spec.kind == "hashed":
            fitted.append(FittedFeature(spec.column, spec.kind, buckets=spec.buckets))
        elif spec.kind == "tokens":
            words = _title_words(values)
            rows = words.groupby(words.to_numpy()).apply(lambda w: w.index.nunique())
            vocabulary = sorted(w for w, n in rows.items() if n >= spec.min_count)
            fitted.append(FittedFeature(spec.column, spec.kind, categories=vocabulary))
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


def _title_words(values: pd.Series) -> pd.Series:
    """Lower-case words of each text, a trailing "(1995)" removed, one per row,
    indexed by the position of the text's row (missing text: no words).

    >>> _title_words(pd.Series(["Toy Story (1995)", None, "Cité, La"])).tolist()
    ['toy', 'story', 'cité', 'la']
    """
    text = pd.Series(values.to_numpy(), index=np.arange(len(values)), dtype=object)
    text = text.where(text.map(lambda v: isinstance(v, str)), "")
    stripped = text.str.replace(TRAILING_YEAR, "", regex=True).str.lower()
    return stripped.str.findall(r"[^\W_]+").explode().dropna().astype(str)


def _one_hot(rows: np.ndarray, codes: np.ndarray, n_rows: int, width: int):
    block = np.zeros((n_rows, width), np.float32)
    block[rows, codes] = 1.0
    return block


def encode(table: pd.DataFrame, encoder: FeatureEncoder) -> np.ndarray:
    """Encode ``table`` into a float32 matrix (rows, len(encoder.names)).

    Vectorised (category codes, exploded tag lists): no Python loop per row.
    Missing values are imputed with the training statistics: numeric with the
    median (and the ``_missing`` indicator set), categorical as "unknown",
    multi-hot, hashed and tokens as the empty set.

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
        elif f.kind == "tokens":
            words = _title_words(values)
            codes = pd.Index(f.categories).get_indexer(words.to_numpy())
            keep = codes >= 0  # out-of-vocabulary words set no column
            rows = words.index.to_numpy()[keep]
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

"""Named data sets and splits: one entry point for the CLI, notebooks and benchmarks.

``prepare_named(name, data_dir)`` returns (Dataset, Preparation);
``split_rows(dataset, split, ...)`` returns (train_rows, test_rows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hybridrec_jax.data.assignments import parse_columns
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.generic import prepare_interactions
from hybridrec_jax.data.ml1m import prepare_ml1m
from hybridrec_jax.data.movielens import ML100K_FOLDS, ml100k_fold, prepare_ml100k
from hybridrec_jax.data.movielens_csv import prepare_movielens_csv
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.data.splits import (
    cold_start_split,
    kfold_split,
    leave_one_out,
    random_split,
    time_split,
)
from hybridrec_jax.data.synthetic import SyntheticConfig, prepare_synthetic
from hybridrec_jax.data.tables import Preparation

CSV_RELEASES = ("ml-latest-small", "ml-25m", "ml-32m")
DATASETS = ("synthetic", "ml-100k", "ml-1m", *CSV_RELEASES, "csv")
SPLITS = (
    "random", "kfold", "leave-one-out", "time", "cold-items", "cold-users",
    *ML100K_FOLDS,
)  # fmt: skip
# Folder names tried under $HYBRIDREC_DATA for each data set.
FOLDER_NAMES = {"ml-1m": ("ml-1m", "ml-1m-partial")}
RATINGS_FILES = ("ratings.csv", "ratings.tsv", "ratings.parquet", "interactions.csv")
# The folder above the package: the git checkout for an editable install.
CHECKOUT = Path(__file__).resolve().parents[2]
SHARED_DATA = CHECKOUT.parent / "shared" / "data"


@dataclass(frozen=True)
class CSVOptions:
    """How to read the generic ``csv`` data set (see ``hybridrec train --help``).

    One field per option of :func:`~hybridrec_jax.data.generic.prepare_interactions`
    and :func:`~hybridrec_jax.data.tables.from_tables`, each with a CLI flag of
    the same name (``--multi-sep``, ``--missing-side``, ...); ``invalid="error"``
    is ``--strict``.
    """

    ratings: str | None = None
    users: str | None = None
    items: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    sep: str | None = None
    rating_range: tuple[float, float] | None = None
    title_column: str | None = None
    encoding: str = "utf-8"
    multi_sep: str = "|"
    numeric_ids: bool = False
    user_key: str | None = None
    item_key: str | None = None
    missing_side: str = "impute"
    duplicates: str = "last"
    invalid: str = "drop"
    min_user_interactions: int = 1
    min_item_interactions: int = 1

    @classmethod
    def from_text(cls, columns: str = "", rating_range: str = "", **kwargs):
        """Parse 'user=uid,item=iid' and '1,10' as typed on the command line.

        Args:
            columns: ``--columns``, pipeline name = source column pairs.
            rating_range: ``--rating-range`` "LOW,HIGH"; "" for the observed.
            kwargs: the other fields.

        Raises:
            ValueError: LOW or HIGH is not a number, or a pair is not
                ``ROLE=COLUMN`` with role user, item, rating or timestamp.

        >>> CSVOptions.from_text("user=uid", "1,10").rating_range
        (1.0, 10.0)
        """
        scale = None
        if rating_range:
            low, _, high = rating_range.partition(",")
            scale = (float(low), float(high))
        return cls(columns=parse_columns(columns), rating_range=scale, **kwargs)


def default_data_dir(name: str) -> Path | None:
    """``$HYBRIDREC_DATA/<name>`` (or a known alternative name) if it exists.

    Args:
        name: the data set's folder name, e.g. "ml-1m" (also "ml-1m-partial").

    Returns:
        The folder, or None when ``$HYBRIDREC_DATA`` is unset or holds none.
    """
    root = os.environ.get("HYBRIDREC_DATA")
    return _folder_in(Path(root), name) if root else None


def find_data(name: str, given: str | Path | None = None) -> Path | None:
    """Where the unpacked copy of data set ``name`` is, for tests and benchmarks.

    Looks at ``given``, then ``$HYBRIDREC_DATA/<name>``, then
    ``<checkout>/../shared/data/<name>`` (the checkout being the folder above
    the package, for an editable install); ``ml-1m`` also answers to
    ``ml-1m-partial``. See README "Data sets".

    Args:
        name: the folder name, e.g. "ml-100k" or "ncf-ml-1m".
        given: a folder the caller chose (e.g. ``--data-dir``); returned as is,
            even when it is not a folder, so that the loader's error names it.

    Returns:
        The folder, or None when ``given`` is None and neither of the others
        is a folder.

    >>> str(find_data("ml-100k", "my/copy"))
    'my/copy'
    """
    if given:
        return Path(given)
    return default_data_dir(name) or _folder_in(SHARED_DATA, name)


def _folder_in(root: Path, name: str) -> Path | None:
    for folder in FOLDER_NAMES.get(name, (name,)):
        if (root / folder).is_dir():
            return root / folder
    return None


def _generic(data_dir: Path | None, csv: CSVOptions, options: dict):
    ratings = Path(csv.ratings) if csv.ratings else None
    base = data_dir if data_dir is not None and data_dir.is_dir() else None
    if ratings is None and data_dir is not None and data_dir.is_file():
        ratings = data_dir
    if ratings is None and base is not None:
        ratings = next((base / f for f in RATINGS_FILES if (base / f).is_file()), None)
    if ratings is None:
        raise DataError(
            "the csv data set needs --ratings-file FILE, or --data-dir pointing at "
            f"a file or a folder holding one of {RATINGS_FILES}"
        )
    if base is not None and not ratings.is_absolute() and not ratings.exists():
        ratings = base / ratings

    def side(name: str | None) -> Path | None:
        if name is None:
            return None
        path = Path(name)
        return base / path if base is not None and not path.exists() else path

    return prepare_interactions(
        ratings,
        side(csv.users),
        side(csv.items),
        columns=csv.columns,
        rating_range=csv.rating_range,
        sep=csv.sep,
        title_column=csv.title_column,
        name="csv",
        encoding=csv.encoding,
        multi_sep=csv.multi_sep,
        numeric_ids=csv.numeric_ids,
        user_key=csv.user_key,
        item_key=csv.item_key,
        **{
            "missing_side": csv.missing_side,
            "duplicates": csv.duplicates,
            "invalid": csv.invalid,
            "min_user_interactions": csv.min_user_interactions,
            "min_item_interactions": csv.min_item_interactions,
            **options,
        },
    )


def prepare_named(
    name: str,
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    csv: CSVOptions | None = None,
    **options,
) -> tuple[Dataset, Preparation]:
    """(Dataset, Preparation) of a named data set (README "Data sets").

    Args:
        name: one of ``DATASETS``.
        data_dir: the unpacked folder (for ``csv`` also a ratings file); None
            takes :func:`default_data_dir`. Unused for ``synthetic``.
        seed: seeds the synthetic data set; unused by the others.
        csv: how to read the ``csv`` data set; unused by the others.
        options: passed to the data set's loader (e.g. ``tags`` for the CSV
            releases) and on to :func:`~hybridrec_jax.data.tables.from_tables`
            (duplicates, implicit, k-core minimums, ...).

    Returns:
        (dataset, preparation) as :func:`~hybridrec_jax.data.tables.from_tables`
        returns them; features are fitted on every user and item.

    Raises:
        ValueError: ``name`` is not in ``DATASETS``, or an option is invalid.
        DataError: no folder was given or found, it is not a folder, or a file
            in it is missing or malformed (naming the file, line and column).

    >>> ds, prep = prepare_named("synthetic", seed=0)
    >>> ds.n_interactions, prep.n_read
    (100000, 100000)
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if name == "synthetic":
        return prepare_synthetic(SyntheticConfig(seed=seed), **options)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir(name)
    if name == "csv":
        return _generic(data_dir, csv or CSVOptions(), options)
    if data_dir is None:
        raise DataError(
            f"{name} needs --data-dir pointing at the unpacked folder (or "
            f"$HYBRIDREC_DATA holding it); to fetch it, `hybridrec data download "
            f"{name} --sha256 HEX` with the archive's SHA-256 from a source you "
            "trust (none is built in)"
        )
    if not data_dir.is_dir():
        raise DataError("data folder not found", path=str(data_dir))
    if name == "ml-100k":
        return prepare_ml100k(data_dir, **options)
    if name == "ml-1m":
        return prepare_ml1m(data_dir, **options)
    return prepare_movielens_csv(data_dir, name=name, **options)


def split_rows(
    dataset: Dataset,
    split: str = "random",
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    fold: int = 0,
    n_folds: int = 5,
    data_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train_rows, test_rows) of a named split (README "Data sets").

    Args:
        dataset: the interactions to split (N rows).
        split: one of ``SPLITS``: ``random``, ``kfold``, ``leave-one-out``,
            ``time``, ``cold-items``, ``cold-users`` or an ML-100K fold.
        test_fraction: the test share in (0, 1) for random, time and cold-start
            splits.
        seed: seeds the random, k-fold and cold-start splits.
        fold, n_folds: the test fold 0..n_folds-1 of the k-fold split.
        data_dir: the ``ml-100k`` folder holding the fold files ``u1.base``...

    Returns:
        (train_rows, test_rows): int64 indices into the N interactions,
        disjoint; see the split functions in :mod:`hybridrec_jax.data.splits`
        and :func:`~hybridrec_jax.data.movielens.ml100k_fold`.

    Raises:
        ValueError: an unknown split, an ML-100K fold on another data set or
            without ``data_dir``, or an out-of-range fraction or fold.
        DataError: a time-based split on data without timestamps, a split
            that leaves no test or no training rows (with the reason), or an
            unreadable fold file.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> split_rows(tiny_dataset(), "kfold", fold=1, n_folds=3)[1].shape
    (1,)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    train, test = _split(dataset, split, test_fraction, seed, fold, n_folds, data_dir)
    n_users = len(np.unique(dataset.user))
    for rows, what in ((test, "test"), (train, "training")):
        if len(rows) == 0:
            why = (
                f"each of the {n_users} users has a single interaction, and "
                "leave-one-out keeps a user's only one for training"
                if split == "leave-one-out"
                else f"{dataset.n_interactions} interactions are too few for "
                f"test_fraction {test_fraction:g}"
            )
            raise DataError(
                f"the {split} split leaves no {what} rows: {why}; use another "
                "split (--split random) or more data"
            )
    return train, test


def _split(dataset, split, test_fraction, seed, fold, n_folds, data_dir):
    if split == "random":
        return random_split(dataset.n_interactions, test_fraction, seed)
    if split == "kfold":
        return kfold_split(dataset.n_interactions, n_folds, fold, seed)
    if split == "leave-one-out":
        return leave_one_out(dataset)
    if split == "time":
        return time_split(dataset, test_fraction)
    if split in ("cold-items", "cold-users"):
        side = "item" if split == "cold-items" else "user"
        return cold_start_split(dataset, side, test_fraction, seed)
    if dataset.name != "ml-100k" or data_dir is None:
        raise ValueError(f"split {split!r} exists only for ml-100k (with --data-dir)")
    return ml100k_fold(dataset, data_dir, split)

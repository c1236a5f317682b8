"""The main job as one importable function: load, split, train, evaluate, compare.

The CLI, the notebooks and the benchmarks all call :func:`run_experiment`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.data import DATASETS as DATA_DATASETS
from hybridrec_jax.data import (
    ML100K_FOLDS,
    CSVOptions,
    Dataset,
    Preparation,
    SyntheticConfig,
    add_spectral_features,
    default_data_dir,
    fit_features,
    prepare_named,
    prepare_synthetic,
    split_rows,
    time_split,
)
from hybridrec_jax.data import SPLITS as DATA_SPLITS
from hybridrec_jax.evaluate import (
    evaluate_ratings,
    fit_biases,
    fit_global_mean,
    rating_metrics,
)
from hybridrec_jax.train import (
    CheckpointConfig,
    FitResult,
    fit,
    refit,
    require_float32,
)

#: The data sets of ``hybridrec train``: those of ``data``, and the NCF ML-1M
#: files, implicit feedback with their own test split (``--task ranking`` only).
DATASETS = (*DATA_DATASETS, "ncf-ml-1m")
SPLITS = DATA_SPLITS


def is_implicit(dataset: Dataset) -> bool:
    """Whether ``dataset`` holds positives only (a table without a rating
    column, or the NCF files): every target 1.0 on the scale (0, 1)."""
    return tuple(dataset.rating_range) == (0.0, 1.0) and bool(
        np.all(np.asarray(dataset.rating) == 1.0)
    )


def prepare_split(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    split: str = "random",
    test_fraction: float = 0.2,
    seed: int = 0,
    synthetic: SyntheticConfig | None = None,
    *,
    fold: int = 0,
    n_folds: int = 5,
    csv: CSVOptions | None = None,
    **options,
) -> tuple[Dataset, Dataset, Preparation]:
    """(train, test, preparation) for a named data set and split.

    The feature encoders (imputation, categories, means) are fitted on the users
    and items of the training rows only (README "Data sets").

    Args:
        dataset: one of ``DATASETS``.
        data_dir: the unpacked folder (``csv``: also a ratings file); None
            takes ``$HYBRIDREC_DATA/<dataset>``.
        split: one of ``SPLITS``.
        test_fraction: the test share in (0, 1) (random, time, cold-start).
        seed: seeds the split and, without ``synthetic``, the synthetic data.
        synthetic: the synthetic data set's sizes and seed (default: about
            ML-100K, generated with ``seed``).
        fold, n_folds: the test fold 0..n_folds-1 of the ``kfold`` split.
        csv: how to read the generic ``csv`` data set.
        options: passed to the loader and :func:`hybridrec_jax.data.from_tables`
            (duplicates, implicit, k-core minimums, ...).

    Returns:
        (train, test, preparation): Datasets sharing the users, items and
        features (U, F_u), (I, F_i) float32; ``train.report`` is the preparation
        report ending with the split; ``preparation`` holds the encoders fitted
        on the training rows (use them to encode new users and items).

    Raises:
        ValueError: an unknown dataset or split, an ML-100K fold on another
            data set, or an invalid fraction, fold or option.
        DataError: the data is missing or malformed (naming the file, line and
            column), or the split needs timestamps the data lacks.
    """
    if dataset == "ncf-ml-1m":
        raise ValueError(
            "ncf-ml-1m holds implicit feedback with its own test split: train it "
            "with --task ranking (hybridrec_jax.ranking_experiment)"
        )
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if dataset == "synthetic" and split in ML100K_FOLDS:
        raise ValueError(f"split {split!r} exists only for ml-100k")
    if dataset == "synthetic" and synthetic is not None:
        full, preparation = prepare_synthetic(synthetic, **options)
    else:
        data_dir = data_dir or default_data_dir(dataset)
        full, preparation = prepare_named(
            dataset, data_dir, seed=seed, csv=csv, **options
        )
    train_rows, test_rows = split_rows(
        full, split, test_fraction=test_fraction, seed=seed, fold=fold,
        n_folds=n_folds, data_dir=data_dir,
    )  # fmt: skip
    full, preparation = fit_features(full, preparation, train_rows)
    full = dataclasses.replace(
        full,
        report=(
            *full.report,
            f"split {split}: {len(train_rows)} train / {len(test_rows)} test rows",
        ),
    )
    return full.subset(train_rows), full.subset(test_rows), preparation


def load_split(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    split: str = "random",
    test_fraction: float = 0.2,
    seed: int = 0,
    synthetic: SyntheticConfig | None = None,
    **options,
) -> tuple[Dataset, Dataset]:
    """(train, test) Datasets for a named data set and split.

    Args, Returns (less the Preparation) and Raises as :func:`prepare_split`.

    >>> from hybridrec_jax.data import SyntheticConfig
    >>> train, test = load_split(synthetic=SyntheticConfig.tiny())
    >>> train.n_interactions, test.n_interactions
    (1600, 400)
    """
    train, test, _ = prepare_split(
        dataset, data_dir, split, test_fraction, seed, synthetic, **options
    )
    return train, test


def require_rating_task(train_cfg: TrainConfig) -> None:
    """Refuse a configuration the main job cannot report on (before any data).

    Raises:
        ValueError: ``loss`` other than "mse" or ``negatives`` > 0.
    """
    if train_cfg.negatives or train_cfg.loss != "mse":
        raise ValueError(
            "the rating task trains on ratings with loss='mse' and reports RMSE; "
            f"loss={train_cfg.loss!r}, negatives={train_cfg.negatives} asks for "
            "implicit feedback: give --task ranking (BCE against sampled "
            "negatives, ranking metrics), or drop --loss and --negatives"
        )


def require_ratings(train: Dataset) -> None:
    """Refuse to fit ratings to data that has none.

    Raises:
        ValueError: every target is a positive 1.0 (:func:`is_implicit`).
    """
    if is_implicit(train):
        raise ValueError(
            f"{train.name} has no ratings (no rating column: every row is a "
            "positive), so there is no RMSE to fit: train it with --task ranking"
        )


class ExperimentData(NamedTuple):
    """What the main job trains and tests on, and what it fitted to get there."""

    train: Dataset
    test: Dataset
    preparation: Preparation  # the encoders fitted on the training rows


def prepare_experiment(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    split: str = "random",
    model_cfg: ModelConfig = ModelConfig(),
    seed: int = 0,
    *,
    test_fraction: float = 0.2,
    synthetic: SyntheticConfig | None = None,
    **split_options,
) -> ExperimentData:
    """:func:`prepare_split`, then the interaction features of
    ``model_cfg.interaction_dim``, fitted on the training rows only (the test
    rows share the tables). Prepared once, used to train, test and save.

    Args and Raises as :func:`prepare_split` (``seed`` also seeds the features).
    """
    train, test, preparation = prepare_split(
        dataset, data_dir, split, test_fraction, seed, synthetic, **split_options
    )
    train, test = add_spectral_features(train, (test,), model_cfg.interaction_dim, seed)
    return ExperimentData(train, test, preparation)


def validation_split(
    train: Dataset, split: str, train_cfg: TrainConfig
) -> tuple[Dataset, Dataset | None]:
    """(training rows, validation rows) that mirror the test split, or
    (train, None) to let ``fit`` hold out its random share.

    On the ``time`` split the test rows are the future, so early stopping
    watches the latest ``validation_fraction`` of the training rows (a global
    cut, ``data.time_split``): on ML-100K (3 seeds) this takes the hybrid's
    time-split RMSE from 1.0354 to 1.0290 (README "Cold start and the future").
    The interaction features stay those of every training row.

    Args:
        train: the training interactions.
        split: the test split's name (``SPLITS``).
        train_cfg: its ``validation_fraction`` (0: no validation).
    """
    if split != "time" or train_cfg.validation_fraction <= 0:
        return train, None
    kept, held = time_split(train, train_cfg.validation_fraction)
    return train.subset(kept), train.subset(held)


def device_name() -> str:
    """'cpu', or the accelerator's kind, e.g. 'gpu: NVIDIA H100 80GB HBM3'."""
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    if kind == device.platform:
        return device.platform
    return f"{device.platform}: {kind}"


def run_experiment(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    split: str = "random",
    model_cfg: ModelConfig = ModelConfig(),
    train_cfg: TrainConfig = TrainConfig(),
    *,
    test_fraction: float = 0.2,
    progress: bool = False,
    synthetic: SyntheticConfig | None = None,
    checkpoint: CheckpointConfig | None = None,
    data: ExperimentData | None = None,
    **split_options,
) -> tuple[dict, FitResult]:
    """Train the hybrid model and two baselines; return the report and the fit.

    Loads and splits the data (:func:`load_split`, seeded by
    ``train_cfg.seed``), appends the spectral interaction features of the
    training rows (``model_cfg.interaction_dim``), trains with
    :func:`hybridrec_jax.fit` (early stopping on a validation share that
    mirrors the split: :func:`validation_split`) and scores the test rows,
    predictions clipped to the rating range; the baselines are the global mean
    and user + item biases (fitted on every training row).

    Args:
        dataset, data_dir, split, test_fraction, synthetic: as
            :func:`prepare_split`.
        model_cfg: the network.
        train_cfg: the training; it must train on ratings (``loss="mse"``, no
            negatives).
        progress: show a progress bar over epochs.
        checkpoint: checkpoints and resume (``fit``'s ``checkpoint``).
        data: the :func:`prepare_experiment` of these arguments, if already
            prepared (the CLI keeps it to save the model).
        split_options: passed to :func:`prepare_split` (fold, n_folds, csv,
            preparation options).

    Returns:
        (report, result): the JSON-able report (``test_rmse`` and ``test_mae``
        in rating points, ``baselines``, ``n_train``, ``n_test``,
        ``best_epoch``, ``epochs_run``, ``train_seconds``, ``load_seconds``,
        ``examples_per_second``, ``device``, ``jax_version``, the configs, the
        per-epoch ``history`` and the ``preparation`` report) and the
        :class:`FitResult`.

    Raises:
        ValueError: a ranking configuration (``loss`` other than "mse" or
            ``negatives`` > 0), or as :func:`prepare_split`.
        DataError: as :func:`prepare_split`.
        TrainingDiverged: the training loss became NaN or infinite, exploded,
            or the model stayed worse than the global mean.
    """
    require_float32()  # before the data is loaded
    require_rating_task(train_cfg)
    start = time.perf_counter()
    if data is None:
        data = prepare_experiment(
            dataset, data_dir, split, model_cfg, train_cfg.seed,
            test_fraction=test_fraction, synthetic=synthetic, **split_options,
        )  # fmt: skip
    train, test = data.train, data.test
    require_ratings(train)
    load_seconds = time.perf_counter() - start
    fit_rows, validation = validation_split(train, split, train_cfg)
    result = fit(fit_rows, model_cfg, train_cfg, validation, progress=progress,
                 checkpoint=checkpoint)  # fmt: skip
    result = refit(train, model_cfg, train_cfg, result, progress=progress)
    metrics = evaluate_ratings(result.params, model_cfg, test)
    baselines = {}
    for name, baseline in (("global_mean", fit_global_mean(train)),
                           ("biases", fit_biases(train))):  # fmt: skip
        prediction = np.clip(baseline.predict(test.user, test.item), *test.rating_range)
        scores = rating_metrics(prediction, test.rating)
        baselines[name] = {"test_rmse": scores["rmse"], "test_mae": scores["mae"]}
    report = {
        "dataset": dataset,
        "split": split,
        "n_train": train.n_interactions,
        "n_test": test.n_interactions,
        "test_rmse": metrics["rmse"],
        "test_mae": metrics["mae"],
        "baselines": baselines,
        **training_record(result, model_cfg, train_cfg, load_seconds),
        "preparation": list(train.report),
    }
    return report, result


def training_record(
    result: FitResult, model_cfg: ModelConfig, train_cfg: TrainConfig,
    load_seconds: float,
) -> dict:  # fmt: skip
    """The report fields of one ``fit`` shared by the rating and ranking jobs:
    epochs, seconds, throughput, device, versions, configs and history."""
    return {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "refit_epochs": result.refit_epochs,
        "train_seconds": result.train_seconds,
        "load_seconds": load_seconds,
        "examples_per_second": result.examples_per_second,
        "device": device_name(),
        "jax_version": jax.__version__,
        "model_config": asdict(model_cfg),
        "train_config": asdict(train_cfg),
        "history": result.history,
    }


def refit_note(report: dict) -> str:
    """ ", then N on every row" when the model was refitted (``train.refit``)."""
    epochs = report.get("refit_epochs", 0)
    return f", then {epochs} on every training row" if epochs else ""


def format_report(report: dict) -> str:
    """The result table printed at the end of ``hybridrec train``.

    Args:
        report: as :func:`run_experiment` returns it.

    Returns:
        The table as text, one line per model, then seconds, speed and device.
    """
    rows = [("hybrid model", report["test_rmse"], report["test_mae"])]
    rows += [
        (f"baseline: {name.replace('_', ' ')}", b["test_rmse"], b["test_mae"])
        for name, b in report["baselines"].items()
    ]
    lines = [
        f"{report['dataset']} ({report['split']} split): "
        f"{report['n_train']} train / {report['n_test']} test interactions",
        f"{'model':<26} {'test RMSE':>10} {'test MAE':>10}",
        "-" * 48,
    ]
    lines += [f"{name:<26} {rmse:>10.4f} {mae:>10.4f}" for name, rmse, mae in rows]
    lines += [
        "-" * 48,
        f"train seconds        {report['train_seconds']:.1f} "
        f"({report['epochs_run']} epochs, best {report['best_epoch']}"
        f"{refit_note(report)})",
        f"training examples/s  {report['examples_per_second']:,.0f}",
        f"device               {report['device']}",
    ]
    return "\n".join(lines)

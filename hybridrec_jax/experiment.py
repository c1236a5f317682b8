"""The main job as one importable function: load, split, train, evaluate, compare.

The CLI, the notebooks and the benchmarks all call :func:`run_experiment`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict
from pathlib import Path

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
)
from hybridrec_jax.data import SPLITS as DATA_SPLITS
from hybridrec_jax.evaluate import (
    evaluate_ratings,
    fit_biases,
    fit_global_mean,
    rating_metrics,
)
from hybridrec_jax.train import FitResult, fit

DATASETS = DATA_DATASETS
SPLITS = DATA_SPLITS


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

    ``synthetic`` sets the sizes of the synthetic data set (default: about
    ML-100K, generated with ``seed``). ``fold``/``n_folds`` pick the k-fold
    split; ``csv`` says how to read the generic ``csv`` data set; ``options`` go
    to :func:`hybridrec_jax.data.from_tables` (duplicates, k-core, ...). The
    feature encoders (imputation, categories, means) are fitted on the users and
    items of the training rows only. ``train.report`` holds the preparation
    report, ending with the split; ``preparation`` holds the encoders fitted on
    the training rows (use them to encode new users and items).
    """
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
    """(train, test) Datasets for a named data set and split; see
    :func:`prepare_split` for the options."""
    train, test, _ = prepare_split(
        dataset, data_dir, split, test_fraction, seed, synthetic, **options
    )
    return train, test


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
    **split_options,
) -> tuple[dict, FitResult]:
    """Train the hybrid model and two baselines; return the report and the fit.

    The report holds test RMSE and MAE of the model and of the baselines (global
    mean; user + item biases), train seconds, examples per second, the device
    and the data preparation report. ``split_options`` go to :func:`load_split`.
    """
    if train_cfg.negatives:
        raise ValueError(
            "the main job trains on ratings and reports RMSE: negatives="
            f"{train_cfg.negatives} asks for implicit feedback, which is trained by "
            "hybridrec_jax.fit with TrainConfig(loss='bce', negatives=k) and scored "
            "by evaluate_full_ranking (see benchmarks/ranking.py); drop --negatives"
        )
    start = time.perf_counter()
    train, test = load_split(
        dataset, data_dir, split, test_fraction, train_cfg.seed, synthetic,
        **split_options,
    )  # fmt: skip
    # Fitted on the training interactions only; the test set shares the tables.
    train, test = add_spectral_features(
        train, (test,), model_cfg.interaction_dim, train_cfg.seed
    )
    load_seconds = time.perf_counter() - start
    result = fit(train, model_cfg, train_cfg, progress=progress)
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
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_seconds": result.train_seconds,
        "load_seconds": load_seconds,
        "examples_per_second": result.examples_per_second,
        "device": device_name(),
        "jax_version": jax.__version__,
        "model_config": asdict(model_cfg),
        "train_config": asdict(train_cfg),
        "history": result.history,
        "preparation": list(train.report),
    }
    return report, result


def format_report(report: dict) -> str:
    """The result table printed at the end of ``hybridrec train``."""
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
        f"({report['epochs_run']} epochs, best {report['best_epoch']})",
        f"training examples/s  {report['examples_per_second']:,.0f}",
        f"device               {report['device']}",
    ]
    return "\n".join(lines)

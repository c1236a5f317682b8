"""The main job for implicit feedback: rank items, beside popularity and MF.

``hybridrec train --task ranking`` calls :func:`run_ranking_experiment`. Every
interaction is a positive, or, with a ``threshold``, every rating >= it;
the model trains with BCE against sampled negatives (``TrainConfig.ranking()``)
and each user's relevant test items are ranked against the full catalogue,
the items of the user's training interactions (all of them, whatever their
rating) masked (``evaluate_full_ranking``). Two baselines are fitted on the same
positives in the same run: popularity (s_i = n_i) and biased matrix
factorisation (``VARIANTS["mf"]``, trained by the same ``fit`` and
configuration). Negatives are drawn only among the items with a training
interaction, so a cold-start item is never seen in training: it is scored
through the content path with zero id rows. With ``sampled=True`` each relevant
test item is also ranked against 99 negatives (the NCF protocol; the given ones
of the NCF files).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import VARIANTS, ModelConfig, TrainConfig
from hybridrec_jax.data import (
    DataError,
    Dataset,
    Preparation,
    SyntheticConfig,
    add_spectral_features,
    default_data_dir,
    find_data,
    prepare_ncf_ml1m,
)
from hybridrec_jax.evaluate import (
    device_features,
    evaluate_full_ranking,
    evaluate_sampled,
    item_popularity,
    sample_eval_negatives,
)
from hybridrec_jax.experiment import (
    is_implicit,
    prepare_split,
    refit_note,
    training_record,
)
from hybridrec_jax.train import (
    CheckpointConfig,
    FitResult,
    fit,
    refit,
    require_float32,
)

#: The baseline MF: biased matrix factorisation, 64 factors, ids only.
MF_BASELINE = VARIANTS["mf"].replace(dot_dim=64)
#: Negatives per relevant item in the sampled protocol (He et al. 2017).
SAMPLED_NEGATIVES = 99
#: The metrics of the printed table, each at every cut-off K, then AUC.
TABLE_METRICS = ("hr", "ndcg", "recall", "map")


class RankingData(NamedTuple):
    """What the ranking job trains and tests on.

    ``train`` and ``test`` hold every interaction of the split (the training
    ones are masked when ranking, and a saved model records all as seen);
    the model trains on ``train_positives`` and ``test_positives`` are the
    relevant items. All four share the users, items and features (with the
    interaction features of ``ModelConfig.interaction_dim``).
    """

    train: Dataset
    test: Dataset
    preparation: Preparation
    train_positives: Dataset
    test_positives: Dataset
    negatives: np.ndarray | None = None  # (n_test, 99) given (the NCF files)


def require_ranking_task(train_cfg: TrainConfig) -> None:
    """Refuse a configuration that cannot train on positives alone.

    Raises:
        ValueError: ``loss`` other than "bce", or ``negatives`` = 0.
    """
    if train_cfg.loss != "bce" or train_cfg.negatives < 1:
        raise ValueError(
            "--task ranking trains on positives only, with loss='bce' against "
            f"k >= 1 sampled negatives; got loss={train_cfg.loss!r}, negatives="
            f"{train_cfg.negatives}: drop --loss, or give --negatives 1 or more"
        )


def positives(dataset: Dataset, threshold: float | None = None) -> Dataset:
    """The interactions that count as positives, each with target 1.0.

    Args:
        dataset: N interactions with ratings.
        threshold: None keeps every interaction; otherwise those with
            rating >= threshold (in rating points).

    Returns:
        The kept interactions (the same users, items and features), ratings
        1.0 float32, ``rating_range`` (0, 1).

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> positives(tiny_dataset(), threshold=4).item.tolist()
    [0, 1]
    """
    keep = np.ones(dataset.n_interactions, bool)
    if threshold is not None:
        keep = np.asarray(dataset.rating) >= threshold
    kept = dataset.subset(np.flatnonzero(keep))
    return dataclasses.replace(
        kept, rating=np.ones(kept.n_interactions, np.float32), rating_range=(0.0, 1.0)
    )


def _ncf_folders(data_dir, ml1m_dir) -> tuple[Path, Path]:
    """The NCF folder and the ML-1M folder of its content, or a DataError."""
    ncf = Path(data_dir) if data_dir else default_data_dir("ncf-ml-1m")
    if ncf is None:
        raise DataError(
            "ncf-ml-1m needs --data-dir pointing at the folder of ml-1m.train.pairs "
            "(or ml-1m.train.rating), ml-1m.test.rating, ml-1m.test.negative "
            "and item_id_map.tsv"
        )
    if not ncf.is_dir():
        raise DataError("data folder not found", path=str(ncf))
    if ml1m_dir is None:
        beside = [ncf.parent / name for name in ("ml-1m", "ml-1m-partial")]
        found = [p for p in beside if (p / "users.dat").is_file()]
        ml1m_dir = found[0] if found else find_data("ml-1m")
    if ml1m_dir is None:
        raise DataError(
            "ncf-ml-1m takes its content from ML-1M's users.dat and movies.dat: "
            "give --ml1m-dir DIR"
        )
    return ncf, Path(ml1m_dir)


def prepare_ranking(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    split: str | None = None,
    model_cfg: ModelConfig = ModelConfig(),
    seed: int = 0,
    *,
    threshold: float | None = None,
    test_fraction: float = 0.2,
    synthetic: SyntheticConfig | None = None,
    ml1m_dir: str | Path | None = None,
    **split_options,
) -> RankingData:
    """The split, its positives and the interaction features of the training rows.

    Args:
        dataset: one of ``experiment.DATASETS``; ``ncf-ml-1m`` comes with its
            test split (each user's latest item and 99 negatives).
        data_dir, test_fraction, synthetic, split_options: as
            ``experiment.prepare_split``.
        split: one of ``SPLITS`` (None: "random"; ``ncf-ml-1m``: None or
            "leave-one-out", its own).
        model_cfg: gives ``interaction_dim``.
        seed: seeds the split and the interaction features.
        threshold: the lowest positive rating; None makes every interaction
            a positive.
        ml1m_dir: ``ncf-ml-1m``: the ML-1M folder of ``users.dat`` and
            ``movies.dat`` (default: beside the NCF folder, or found by
            ``data.find_data``).

    Raises:
        ValueError: a split the data set does not have, a threshold on data
            without ratings, or as ``experiment.prepare_split``.
        DataError: as ``experiment.prepare_split``; a folder not found; no
            positive left in the training or test rows.
    """
    negatives = None
    if dataset == "ncf-ml-1m":
        if split not in (None, "leave-one-out"):
            raise ValueError(
                f"ncf-ml-1m comes with its own test split (each user's latest "
                f"item, 99 negatives): drop --split {split}"
            )
        ncf, preparation = prepare_ncf_ml1m(*_ncf_folders(data_dir, ml1m_dir))
        train = ncf.train
        n = train.n_users
        test = dataclasses.replace(
            train, user=np.arange(n, dtype=np.int32),
            item=ncf.test_items.astype(np.int32), rating=np.ones(n, np.float32),
            timestamp=None,
        )  # fmt: skip
        negatives = ncf.test_negatives
    else:
        train, test, preparation = prepare_split(
            dataset, data_dir, split or "random", test_fraction, seed, synthetic,
            **split_options,
        )  # fmt: skip
    if threshold is not None and is_implicit(train):
        raise ValueError(
            f"--threshold {threshold:g} needs ratings, and {train.name} has none "
            "(every row is a positive): drop --threshold"
        )
    train, test = add_spectral_features(train, (test,), model_cfg.interaction_dim, seed)
    train_pos, test_pos = positives(train, threshold), positives(test, threshold)
    for what, kept in (("training", train_pos), ("test", test_pos)):
        if kept.n_interactions == 0:
            raise DataError(
                f"no {what} interaction has a rating >= {threshold:g}: lower "
                "--threshold"
            )
    return RankingData(train, test, preparation, train_pos, test_pos, negatives)


def _popularity_scorers(scores: np.ndarray):
    """(full, pairs) scorers giving every user the item scores ``scores`` (I,)."""
    table = jnp.asarray(scores, jnp.float32)

    def full(params, cfg, features, users):  # (n, I)
        return jnp.broadcast_to(table, (len(users), table.shape[0]))

    def pairs(params, cfg, features, users, items):  # (N,)
        return np.asarray(scores)[np.asarray(items)]

    return full, pairs


def _sampled_cases(data: RankingData, seed: int):
    """(users, positives, negatives (n, 99)) of the sampled protocol: the given
    negatives, or 99 items drawn per relevant test item among those the user
    has no interaction with (train or test)."""
    users, items = data.test_positives.user, data.test_positives.item
    if data.negatives is not None:
        return users, items, data.negatives
    seen = tuple(np.concatenate([a, b]) for a, b in
                 ((data.train.user, data.test.user),
                  (data.train.item, data.test.item)))  # fmt: skip
    try:
        negatives = sample_eval_negatives(
            np.random.default_rng(seed), seen, users, items,
            data.train.n_items, SAMPLED_NEGATIVES,
        )  # fmt: skip
    except ValueError as err:
        raise ValueError(
            f"the sampled protocol needs {SAMPLED_NEGATIVES} items each user never "
            f"interacted with: {err}; drop --sampled"
        ) from None
    return users, items, negatives


def fit_positives(
    data: RankingData,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    progress: bool = False,
    checkpoint: CheckpointConfig | None = None,
) -> FitResult:
    """``fit`` on the training positives, then ``train.refit`` (if
    ``train_cfg.refit``): how the ranking job trains the model and MF.

    An item without a training interaction (a cold-start item) is never drawn
    as a negative: nothing about it is seen in training, and it is scored
    through the content path alone (fit returns its id rows as zeros).
    Checkpoints are those of the early-stopped fit (``train.refit``).
    """
    warm = np.bincount(data.train.item, minlength=data.train.n_items) > 0  # (I,)
    result = fit(data.train_positives, model_cfg, train_cfg, progress=progress,
                 checkpoint=checkpoint, allowed_items=warm)  # fmt: skip
    return refit(data.train_positives, model_cfg, train_cfg, result,
                 progress=progress, allowed_items=warm)  # fmt: skip


def run_ranking_experiment(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    split: str | None = None,
    model_cfg: ModelConfig = ModelConfig(),
    train_cfg: TrainConfig | None = None,
    *,
    ks: tuple[int, ...] = (10,),
    sampled: bool = False,
    threshold: float | None = None,
    progress: bool = False,
    checkpoint: CheckpointConfig | None = None,
    data: RankingData | None = None,
    **prepare_options,
) -> tuple[dict, FitResult]:
    """Train the hybrid model on positives; rank beside popularity and MF.

    Args:
        dataset, data_dir, split, threshold: as :func:`prepare_ranking`.
        model_cfg: the network.
        train_cfg: BCE with sampled negatives (None: ``TrainConfig.ranking()``);
            the MF baseline trains with the same.
        ks: cut-offs K of HR@K, NDCG@K, Recall@K, MAP@K (and Precision@K).
        sampled: also rank each relevant test item against 99 negatives.
        progress: a progress bar over the model's epochs.
        checkpoint: checkpoints and resume of the model's training.
        data: :func:`prepare_ranking` of these arguments, if already prepared.
        prepare_options: passed to :func:`prepare_ranking` (test_fraction,
            synthetic, ml1m_dir, fold, csv, ...).

    Returns:
        (report, result): the JSON-able report ("test": every full-catalogue
        metric of the model at each K with "auc", "mrr" and "n_users";
        "baselines": the same for "popularity" and "mf"; with ``sampled``,
        "sampled": {"model", "popularity", "mf"} of "sampled_hr@K", ...;
        "n_train", "n_test" positives, seconds, device, configs, history) and
        the model's :class:`FitResult`.

    Raises:
        ValueError: a configuration that is not BCE with negatives, or as
            :func:`prepare_ranking`.
        DataError: as :func:`prepare_ranking`.
        TrainingDiverged: as ``fit``.
    """
    train_cfg = TrainConfig.ranking() if train_cfg is None else train_cfg
    require_float32()
    require_ranking_task(train_cfg)
    start = time.perf_counter()
    if data is None:
        data = prepare_ranking(dataset, data_dir, split, model_cfg, train_cfg.seed,
                               threshold=threshold, **prepare_options)  # fmt: skip
    load_seconds = time.perf_counter() - start
    result = fit_positives(data, model_cfg, train_cfg, progress=progress,
                           checkpoint=checkpoint)  # fmt: skip
    mf_start = time.perf_counter()
    mf = fit_positives(data, MF_BASELINE, train_cfg)
    mf_seconds = time.perf_counter() - mf_start
    features = device_features(data.train)
    full_pop, pairs_pop = _popularity_scorers(item_popularity(data.train_positives))
    models = {"model": (result.params, model_cfg, None, None),
              "popularity": (None, None, full_pop, pairs_pop),
              "mf": (mf.params, MF_BASELINE, None, None)}  # fmt: skip
    seen = (data.train.user, data.train.item)
    relevant = (data.test_positives.user, data.test_positives.item)
    full = {
        name: evaluate_full_ranking(params, cfg, features, seen, relevant,
                                    ks=tuple(ks), scorer=scorer)
        for name, (params, cfg, scorer, _) in models.items()
    }  # fmt: skip
    report = {
        "task": "ranking",
        "dataset": dataset,
        "split": split or ("ncf" if dataset == "ncf-ml-1m" else "random"),
        "threshold": threshold,
        "ks": list(ks),
        "n_train": data.train_positives.n_interactions,
        "n_test": data.test_positives.n_interactions,
        "test": full["model"],
        "baselines": {"popularity": full["popularity"], "mf": full["mf"]},
        **training_record(result, model_cfg, train_cfg, load_seconds),
        "mf_train_seconds": mf_seconds,
        "mf_config": asdict(MF_BASELINE),
        "preparation": list(data.train.report),
    }
    if sampled:
        cases = _sampled_cases(data, train_cfg.seed)
        report["sampled"] = {
            name: evaluate_sampled(params, cfg, features, *cases, ks=tuple(ks),
                                   scorer=pairs)
            for name, (params, cfg, _, pairs) in models.items()
        }  # fmt: skip
        report["sampled_given"] = data.negatives is not None
    return report, result


def _heading(name: str) -> str:
    """A column heading: "ndcg@10" -> "NDCG@10", "sampled_hr@10" -> "HR@10"."""
    metric, at, k = name.removeprefix("sampled_").partition("@")
    labels = {"hr": "HR", "ndcg": "NDCG", "recall": "Recall", "map": "MAP"}
    return labels.get(metric, metric.upper()) + at + k


def format_ranking_report(report: dict) -> str:
    """The table printed at the end of ``hybridrec train --task ranking``.

    Args:
        report: as :func:`run_ranking_experiment` returns it.

    Returns:
        The table as text: one line per model with HR@K, NDCG@K, Recall@K,
        MAP@K at each K and AUC (full catalogue), the sampled protocol's HR@K
        and NDCG@K when present, then seconds, speed and device.
    """
    ks = report["ks"]
    names = [f"{m}@{k}" for k in ks for m in TABLE_METRICS] + ["auc"]
    rows = [("hybrid model", report["test"]),
            ("baseline: popularity", report["baselines"]["popularity"]),
            ("baseline: MF", report["baselines"]["mf"])]  # fmt: skip
    positive = ("every interaction a positive" if report["threshold"] is None
                else f"rating >= {report['threshold']:g} a positive")  # fmt: skip
    width = 22 + 10 * len(names)
    lines = [
        f"{report['dataset']} ({report['split']} split, ranking: {positive}): "
        f"{report['n_train']} train / {report['n_test']} test positives",
        f"full catalogue ({report['test']['n_users']} users; every item without a "
        "training interaction of the user is a candidate)",
        f"{'model':<22}" + "".join(f"{_heading(n):>10}" for n in names),
        "-" * width,
    ]
    lines += [f"{label:<22}" + "".join(f"{m[n]:>10.4f}" for n in names)
              for label, m in rows]  # fmt: skip
    if "sampled" in report:
        given = "the given" if report["sampled_given"] else "99 sampled"
        sampled_names = [f"sampled_{m}@{k}" for k in ks for m in ("hr", "ndcg")]
        first = report["sampled"]["model"]
        lines += [
            "-" * width,
            f"sampled (NCF protocol: each test positive against {given} "
            f"negatives; {first['sampled_n_users']} cases)",
            f"{'model':<22}" + "".join(f"{_heading(n):>10}" for n in sampled_names),
        ]
        for label, key in (("hybrid model", "model"),
                           ("baseline: popularity", "popularity"),
                           ("baseline: MF", "mf")):  # fmt: skip
            figures = report["sampled"][key]
            lines.append(
                f"{label:<22}" + "".join(f"{figures[n]:>10.4f}" for n in sampled_names)
            )
    lines += [
        "-" * width,
        f"train seconds        {report['train_seconds']:.1f} "
        f"({report['epochs_run']} epochs, best {report['best_epoch']}"
        f"{refit_note(report)}); MF "
        f"{report['mf_train_seconds']:.1f}",
        f"training examples/s  {report['examples_per_second']:,.0f}",
        f"device               {report['device']}",
    ]
    return "\n".join(lines)

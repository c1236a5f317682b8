"""Rating quality where content matters: random, time and cold-start splits.

    python -m benchmarks.splits                     # ML-100K (see --help)
    python -m benchmarks.splits --small             # a quick synthetic smoke run

For each split (random 80/20, a global time cut at 80%, 20% of the items held
out with all their ratings, 20% of the users likewise) and each seed, the data
is prepared once (``experiment.prepare_experiment``: encoders and interaction
features fitted on the training rows) and four models are scored by test RMSE,
predictions clipped to the rating scale:

- hybrid: the library's default ``ModelConfig()`` (ids, content, interaction
  features, id dropout), trained by ``fit`` with the default ``TrainConfig()``
  (early stopping, then the refit on every training row: ``train.refit``)
  and the main job's validation share (on the time split, the latest
  training rows: ``experiment.validation_split``);
- biases: mu + b_u + b_i by regularised alternating least squares;
- content-only: the same MLP on the content alone (no id rows, no biases, no
  interaction features);
- MF: biased matrix factorisation (``VARIANTS["mf"]``, 64 factors), trained
  like the hybrid.

A user or item without a training interaction has zero id rows and biases in
every model, so on the cold-start splits it is scored from content (the hybrid,
content-only) or by the global mean and the other side's bias (biases, MF).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.common import find_data, write_results
from hybridrec_jax import (
    VARIANTS,
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    fit,
    refit,
)
from hybridrec_jax.data import Dataset, interaction_columns
from hybridrec_jax.data.assignments import parse_assignments
from hybridrec_jax.evaluate import evaluate_ratings, fit_biases, rating_metrics
from hybridrec_jax.experiment import prepare_experiment, validation_split

SPLITS = ("random", "time", "cold-items", "cold-users")
CONTENT_ONLY = dict(embedding_dim=0, dot_dim=0, use_biases=False, interaction_dim=0,
                    id_dropout_user=0.0, id_dropout_item=0.0)  # fmt: skip
MODELS = ("hybrid", "biases", "content-only", "mf")


def model_configs(hybrid: ModelConfig) -> dict[str, ModelConfig]:
    """The trained models of the table: the hybrid, content-only and MF."""
    return {
        "hybrid": hybrid,
        "content-only": hybrid.replace(**CONTENT_ONLY),
        "mf": VARIANTS["mf"],
    }


def run_split(split, seed, args, hybrid: ModelConfig, train_cfg: TrainConfig):
    """{model: test RMSE} of one split and seed, and the seconds it took."""
    start = time.perf_counter()
    synthetic = SyntheticConfig.tiny() if args.small else None
    # One preparation serves every model; the interaction features are those of
    # the hybrid (the content-only model and MF do not read them).
    data = prepare_experiment(
        "synthetic" if args.small else "ml-100k", args.data_dir, split, hybrid,
        seed, test_fraction=0.2, synthetic=synthetic,
    )  # fmt: skip
    row = {}
    if "biases" in args.models:
        prediction = fit_biases(data.train).predict(data.test.user, data.test.item)
        clipped = np.clip(prediction, *data.test.rating_range)
        row["biases"] = rating_metrics(clipped, data.test.rating)["rmse"]
    for name, model_cfg in model_configs(hybrid).items():
        if name not in args.models:
            continue
        train, test = data.train, data.test
        if name != "hybrid":  # only the hybrid reads the interaction features
            train, test = without_interactions(train), without_interactions(test)
        cfg = train_cfg.replace(seed=seed)
        fit_rows, validation = validation_split(train, split, cfg)  # as the main job
        result = fit(fit_rows, model_cfg, cfg, validation)
        result = refit(train, model_cfg, cfg, result)  # as the main job
        row[name] = evaluate_ratings(result.params, model_cfg, test)["rmse"]
    return row, time.perf_counter() - start


def without_interactions(dataset: Dataset) -> Dataset:
    """``dataset`` without the interaction feature columns (content only)."""
    masks = interaction_columns(dataset)
    changes = {}
    for side in ("user", "item"):
        keep = masks[f"{side}_interaction_columns"] == 0  # (F,)
        names = getattr(dataset, f"{side}_feature_names")
        changes[f"{side}_features"] = getattr(dataset, f"{side}_features")[:, keep]
        if len(names) == len(keep):
            changes[f"{side}_feature_names"] = tuple(np.asarray(names)[keep])
    return dataclasses.replace(dataset, **changes)


def _typed(changes: dict[str, str]) -> dict:
    """ModelConfig field values from text (``--hybrid id_dropout_item=0.5``)."""
    kinds = {f.name: type(f.default) for f in dataclasses.fields(ModelConfig)}
    out = {}
    for name, text in changes.items():
        if name not in kinds:
            raise SystemExit(f"--hybrid: ModelConfig has no field {name!r}")
        kind = kinds[name]
        if kind is bool:
            out[name] = text.lower() in ("1", "true", "yes")
        elif kind is tuple:
            out[name] = tuple(int(v) for v in text.split("/") if v)
        else:
            out[name] = kind(text)
    return out


def markdown(table: dict, setting: str) -> str:
    lines = [
        f"Setting: {setting}. Test RMSE, mean ± standard deviation over the "
        "seeds (each seed draws its own random and cold-start split; the time "
        "cut is the same for every seed).",
        "",
        "| split | " + " | ".join(MODELS) + " | hybrid wins |",
        "|---|" + "---|" * (len(MODELS) + 1),
    ]
    for split, runs in table.items():
        cells = []
        for model in MODELS:
            values = np.array([run.get(model, np.nan) for run in runs])
            cells.append(f"{values.mean():.4f} ± {values.std():.4f}")
        means = {m: np.mean([run.get(m, np.nan) for run in runs]) for m in MODELS}
        wins = all(means["hybrid"] < means[m] for m in MODELS if m != "hybrid")
        lines.append(
            f"| {split} | " + " | ".join(cells) + f" | {'yes' if wins else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.splits", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--small", action="store_true", help="tiny synthetic run")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--data-dir", default=None, help="the ml-100k folder")
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--models", default=",".join(MODELS), help="a subset of " + ", ".join(MODELS)
    )
    parser.add_argument(
        "--hybrid", default="",
        help="changes to the hybrid's ModelConfig, e.g. id_dropout_item=0 "
        "(hidden_dims as 128/64)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.models = args.models.split(",")
    hybrid = ModelConfig().replace(**_typed(parse_assignments(
        args.hybrid, what="model changes", example="id_dropout_item=0.3")))  # fmt: skip
    train_cfg = TrainConfig()
    if args.small:
        hybrid = hybrid.replace(embedding_dim=4, hidden_dims=(8,), interaction_dim=2)
        train_cfg = train_cfg.replace(epochs=2, batch_size=256)
        args.seeds = args.seeds if args.seeds != "0,1,2" else "0"
    else:
        args.data_dir = find_data("ml-100k", args.data_dir)
        if args.data_dir is None:
            print("ML-100K not found: give --data-dir or set $HYBRIDREC_DATA",
                  file=sys.stderr)  # fmt: skip
            return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    table = {}
    for split in args.splits.split(","):
        table[split] = []
        for seed in seeds:
            row, seconds = run_split(split, seed, args, hybrid, train_cfg)
            table[split].append(row)
            print(f"{split:<11} seed {seed}: " + "  ".join(
                f"{m} {v:.4f}" for m, v in row.items()) + f"  ({seconds:.0f} s)",
                flush=True)  # fmt: skip
    setting = "ML-100K, 20% of the ratings (or items, users) for testing"
    if args.small:
        setting = "tiny synthetic data (--small)"
    config = {"setting": setting, "seeds": seeds, "hybrid": asdict(hybrid),
              "train_config": asdict(train_cfg),
              "content_only": asdict(model_configs(hybrid)["content-only"]),
              "mf": asdict(VARIANTS["mf"])}  # fmt: skip
    write_results("splits", config, {"rmse": table}, markdown(table, setting),
                  out_dir=args.out_dir)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cold-start items: ranking items that no training interaction mentions.

    python -m benchmarks.cold_start                   # ML-100K, seed 0 (see --help)
    python -m benchmarks.cold_start --seeds 0,1,2     # mean ± sd over three splits
    python -m benchmarks.cold_start --small           # a quick synthetic smoke run

20% of the rated items are held out with all their interactions (implicit: every
rating is a positive). Models train on the rest, drawing negatives only from the
warm items, so nothing about a cold item is seen in training. Each user with at
least one cold interaction then ranks the cold items only; relevant = the cold
items the user rated. A cold item's id rows are zero (``evaluate_cold_start``),
so:

- popularity (features): log(1 + n_i) regressed on the item content over the
  warm items, predicted for the cold ones (the same list for every user);
- mf: biased MF; without content it cannot tell cold items apart (AUC 0.5);
- hybrid: the MLP + dot branch with user and item content, scored through the
  content path (x_i W_I in the first layer, x_i V_I in the dot branch);
- hybrid + id dropout: the same, trained with ``ModelConfig``'s default id
  dropout (a share of each batch sees zero user or item id rows, as a cold
  entity has);
- the rows "(+ release date)": the same models with ML-100K's default item
  content, which now includes the release date (``ML100K_RELEASE_FEATURES``:
  how recent a film was when rated); the rows above keep the content without
  it. Synthetic data has no release date, so there these rows repeat others.

Each seed draws its own cold items and trains its own models; with several
seeds the table gives mean ± sd over them (sd with ddof 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import asdict
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from benchmarks.common import find_data, write_figures, write_results
from hybridrec_jax import (
    VARIANTS,
    SyntheticConfig,
    TrainConfig,
    fit,
    load_synthetic,
    plot_bars,
)
from hybridrec_jax.data import cold_start_split, held_out_mask, load_ml100k
from hybridrec_jax.data.movielens import (
    ML100K_ITEM_FEATURES,
    ML100K_RELEASE_FEATURES,
)
from hybridrec_jax.evaluate import (
    device_features,
    evaluate_cold_start,
    evaluate_full_ranking,
    feature_popularity,
)

RELEASE = " (+ release date)"
#: Each row: its model (None: popularity from the item content) and whether the
#: item content includes the release date.
MODELS = {
    "popularity (features)": (None, False),
    "mf": (VARIANTS["mf"].replace(dot_dim=32), False),
    "hybrid": (VARIANTS["hybrid_mlp_dot"].replace(dot_dim=32), False),
    "hybrid + id dropout": (
        VARIANTS["hybrid_mlp_dot"].replace(
            dot_dim=32, id_dropout_user=0.1, id_dropout_item=0.3
        ),
        False,
    ),
    "popularity" + RELEASE: (None, True),
    "hybrid" + RELEASE: (VARIANTS["hybrid_mlp_dot"].replace(dot_dim=32), True),
    "hybrid + id dropout" + RELEASE: (
        VARIANTS["hybrid_mlp_dot"].replace(
            dot_dim=32, id_dropout_user=0.1, id_dropout_item=0.3
        ),
        True,
    ),
}

METRICS = ("auc", "ndcg@10", "hr@10", "recall@10")
LABELS = {
    "auc": "AUC",
    "ndcg@10": "NDCG@10",
    "hr@10": "HR@10",
    "recall@10": "Recall@10",
}


def plots(record: dict) -> dict:
    """cold_start.png: each model's ranking metrics on the cold items (means)."""
    rows = {
        name: {label: r[key] for key, label in LABELS.items()}
        for name, r in record["figures"]["models"].items()
    }
    setting = record["config"]["setting"].split(" (")[0]
    fig = plot_bars(rows, ylabel="ranking the cold items", title=setting)
    return {"cold_start.png": fig}


def summarise(per_seed: list[dict]) -> dict:
    """Mean and sd (ddof 1; 0 for one seed) of each metric over the seeds.

    >>> s = summarise([{"auc": 0.7, "ndcg@10": 0.3, "hr@10": 0.8, "recall@10": 0.1,
    ...                 "n_users": 9}, {"auc": 0.8, "ndcg@10": 0.3, "hr@10": 0.8,
    ...                 "recall@10": 0.1, "n_users": 9}])
    >>> round(s["auc"], 4), round(s["auc_sd"], 4), s["n_users"]
    (0.75, 0.0707, 9)
    """
    summary = {}
    for key in METRICS:
        values = np.array([r[key] for r in per_seed], np.float64)
        summary[key] = float(values.mean())
        summary[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    summary["n_users"] = per_seed[0]["n_users"]
    summary["per_seed"] = per_seed
    return summary


def run_seed(datasets: dict, models: dict, train_cfg: TrainConfig, seed: int,
             cold_fraction: float) -> tuple[str, dict]:  # fmt: skip
    """(setting, {model name: figures}) of one split of the items."""
    train_cfg = train_cfg.replace(seed=seed)
    rows, setting = {}, ""
    for name, (model_cfg, release) in models.items():
        data = datasets[release]
        train_rows, test_rows = cold_start_split(data, "item", cold_fraction, seed)
        cold = held_out_mask(data.item[test_rows], data.n_items)  # (I,)
        train, test = data.subset(train_rows), data.subset(test_rows)
        setting = setting or (
            f"{data.name}: {int(cold.sum())} of {data.n_items} items cold "
            f"({test.n_interactions} interactions held out, "
            f"{train.n_interactions} for training)"
        )
        features = device_features(train)
        pairs = (train.user, train.item), (test.user, test.item)
        start = time.perf_counter()
        if model_cfg is None:
            popularity = jnp.asarray(feature_popularity(train), jnp.float32)

            def scorer(params, cfg, features, users, popularity=popularity):
                return jnp.broadcast_to(popularity, (len(users), popularity.shape[0]))

            figures = evaluate_full_ranking(
                None, None, features, *pairs, allowed_items=cold, scorer=scorer
            )
        else:
            result = fit(train, model_cfg, train_cfg, allowed_items=~cold)
            figures = evaluate_cold_start(
                result.params, model_cfg, features, *pairs, cold_items=cold
            )
        rows[name] = {k: figures[k] for k in (*METRICS, "n_users")}
        rows[name] |= {"seed": seed, "train_seconds": time.perf_counter() - start}
    return setting, rows


def cell(r: dict, key: str, several: bool) -> str:
    return f"{r[key]:.4f} ± {r[key + '_sd']:.4f}" if several else f"{r[key]:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cold_start", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--small", action="store_true", help="tiny synthetic run")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--data-dir", default=None, help="the ml-100k folder")
    parser.add_argument("--cold-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--seeds", default="0",
        help="comma-separated seeds: each draws its cold items and trains anew",
    )  # fmt: skip
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    train_cfg = TrainConfig(
        loss="bce",
        batch_size=2048,
        learning_rate=3e-3,
        epochs=args.epochs,
        patience=3,
        l2_embedding=1e-4,
        l2_dense=1e-5,
        validation_fraction=0.05,
        negatives=4,
    )
    models = dict(MODELS)
    if args.small:
        cfg = dataclasses.replace(SyntheticConfig.tiny(), n_items=300, seed=seeds[0])
        synthetic = load_synthetic(cfg)
        datasets = {False: synthetic, True: synthetic}
        train_cfg = train_cfg.replace(batch_size=256, epochs=2, learning_rate=1e-2)
        models = {
            n: (c and c.replace(embedding_dim=min(c.embedding_dim, 4), dot_dim=4,
                                hidden_dims=c.hidden_dims[:1] and (8,)), release)
            for n, (c, release) in models.items()
        }  # fmt: skip
    else:
        data_dir = find_data("ml-100k", args.data_dir)
        if data_dir is None:
            print(
                "ML-100K not found: give --data-dir or set $HYBRIDREC_DATA",
                file=sys.stderr,
            )
            return 2
        before = [f for f in ML100K_ITEM_FEATURES if f not in ML100K_RELEASE_FEATURES]
        datasets = {False: load_ml100k(data_dir, item_features=before),
                    True: load_ml100k(data_dir)}  # fmt: skip
    datasets = {
        k: dataclasses.replace(d, rating=np.ones_like(d.rating))
        for k, d in datasets.items()
    }
    per_seed = {name: [] for name in models}
    settings = []
    for seed in seeds:
        setting, rows = run_seed(datasets, models, train_cfg, seed, args.cold_fraction)
        settings.append(f"seed {seed}: {setting}")
        print(settings[-1], flush=True)
        for name, r in rows.items():
            per_seed[name].append(r)
            print(f"  {name}: AUC {r['auc']:.4f}, NDCG@10 {r['ndcg@10']:.4f}",
                  flush=True)  # fmt: skip
    summary = {name: summarise(runs) for name, runs in per_seed.items()}
    for name, (model_cfg, _) in models.items():
        summary[name]["model_config"] = model_cfg and asdict(model_cfg)
    several = len(seeds) > 1
    spread = f"mean ± sd over seeds {args.seeds}" if several else f"seed {seeds[0]}"
    lines = [
        f"Setting: {'; '.join(settings)}. Candidates: the cold items only; ties "
        f"count against the model. Figures: {spread}.",
        "",
        "| model | AUC | NDCG@10 | HR@10 | Recall@10 | users |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in summary.items():
        cells = " | ".join(cell(r, key, several) for key in METRICS)
        lines.append(f"| {name} | {cells} | {r['n_users']} |")
        print(lines[-1], flush=True)
    json_path = write_results(
        "cold_start",
        {
            "setting": settings[0].partition(": ")[2],
            "seeds": seeds,
            "train_config": asdict(train_cfg),
            "cold_fraction": args.cold_fraction,
        },
        {"models": summary},
        "\n".join(lines),
        out_dir=args.out_dir,
    )
    write_figures(plots, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

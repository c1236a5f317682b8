"""Cold-start items: ranking items that no training interaction mentions.

    python -m benchmarks.cold_start                 # ML-100K (see --help)
    python -m benchmarks.cold_start --small         # a quick synthetic smoke run

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
  entity has).
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
from hybridrec_jax.evaluate import (
    device_features,
    evaluate_cold_start,
    evaluate_full_ranking,
    feature_popularity,
)

MODELS = {
    "mf": VARIANTS["mf"].replace(dot_dim=32),
    "hybrid": VARIANTS["hybrid_mlp_dot"].replace(dot_dim=32),
    "hybrid + id dropout": VARIANTS["hybrid_mlp_dot"].replace(
        dot_dim=32, id_dropout_user=0.1, id_dropout_item=0.3
    ),
}


KEYS = ("auc", "ndcg@10", "hr@10", "recall@10", "n_users")
LABELS = {
    "auc": "AUC",
    "ndcg@10": "NDCG@10",
    "hr@10": "HR@10",
    "recall@10": "Recall@10",
}


def plots(record: dict) -> dict:
    """cold_start.png: each model's ranking metrics on the cold items."""
    rows = {
        name: {label: r[key] for key, label in LABELS.items()}
        for name, r in record["figures"]["models"].items()
    }
    setting = record["config"]["setting"].split(" (")[0]
    fig = plot_bars(rows, ylabel="ranking the cold items", title=setting)
    return {"cold_start.png": fig}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cold_start", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--small", action="store_true", help="tiny synthetic run")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--data-dir", default=None, help="the ml-100k folder")
    parser.add_argument("--cold-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train_cfg = TrainConfig(
        loss="bce",
        batch_size=2048,
        learning_rate=3e-3,
        epochs=args.epochs,
        patience=3,
        l2_embedding=1e-4,
        l2_dense=1e-5,
        validation_fraction=0.05,
        seed=args.seed,
        negatives=4,
    )
    models = dict(MODELS)
    if args.small:
        cfg = dataclasses.replace(SyntheticConfig.tiny(), n_items=300, seed=args.seed)
        data = load_synthetic(cfg)
        train_cfg = train_cfg.replace(batch_size=256, epochs=2, learning_rate=1e-2)
        models = {
            n: c.replace(
                embedding_dim=min(c.embedding_dim, 4),
                dot_dim=4,
                hidden_dims=c.hidden_dims[:1] and (8,),
            )
            for n, c in models.items()
        }
    else:
        data_dir = find_data("ml-100k", args.data_dir)
        if data_dir is None:
            print(
                "ML-100K not found: give --data-dir or set $HYBRIDREC_DATA",
                file=sys.stderr,
            )
            return 2
        data = load_ml100k(data_dir)
    data = dataclasses.replace(data, rating=np.ones_like(data.rating))
    train_rows, test_rows = cold_start_split(
        data, "item", args.cold_fraction, args.seed
    )
    cold = held_out_mask(data.item[test_rows], data.n_items)  # (I,)
    train, test = data.subset(train_rows), data.subset(test_rows)
    setting = (
        f"{data.name}: {int(cold.sum())} of {data.n_items} items cold "
        f"({test.n_interactions} interactions held out, "
        f"{train.n_interactions} for training)"
    )
    print(setting, flush=True)
    features = device_features(train)
    popularity = jnp.asarray(feature_popularity(train), jnp.float32)

    def popularity_scorer(params, cfg, features, users):
        return jnp.broadcast_to(popularity, (len(users), popularity.shape[0]))

    pairs = (train.user, train.item), (test.user, test.item)
    popular = evaluate_full_ranking(
        None, None, features, *pairs, allowed_items=cold, scorer=popularity_scorer
    )
    rows = {"popularity (features)": {k: popular[k] for k in KEYS}}
    for name, model_cfg in models.items():
        start = time.perf_counter()
        result = fit(train, model_cfg, train_cfg, allowed_items=~cold)
        figures = evaluate_cold_start(
            result.params, model_cfg, features, *pairs, cold_items=cold
        )
        rows[name] = {k: figures[k] for k in KEYS}
        rows[name]["train_seconds"] = time.perf_counter() - start
        rows[name]["model_config"] = asdict(model_cfg)
    lines = [
        f"Setting: {setting}. Candidates: the cold items only; ties count against "
        "the model.",
        "",
        "| model | AUC | NDCG@10 | HR@10 | Recall@10 | users |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        line = (
            f"| {name} | {r['auc']:.4f} | {r['ndcg@10']:.4f} | {r['hr@10']:.4f} "
            f"| {r['recall@10']:.4f} | {r['n_users']} |"
        )
        lines.append(line)
        print(line, flush=True)
    json_path = write_results(
        "cold_start",
        {
            "setting": setting,
            "train_config": asdict(train_cfg),
            "cold_fraction": args.cold_fraction,
        },
        {"models": rows},
        "\n".join(lines),
        out_dir=args.out_dir,
    )
    write_figures(plots, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

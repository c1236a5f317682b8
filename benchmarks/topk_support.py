"""Top-K lists and item support: a minimum support and shrinkage on ML-100K u1.

    python -m benchmarks.topk_support               # ML-100K u1 (see --help)
    python -m benchmarks.topk_support --task ranking  # the BCE model instead
    python -m benchmarks.topk_support --small       # a quick synthetic smoke run

The default rating model (what ``hybridrec train --dataset ml-100k --split u1``
trains: ``ModelConfig()``, ``TrainConfig()``, MSE, ``run_experiment``) ranks
the whole catalogue for every user; with ``--task ranking`` the default ranking
model does (``hybridrec train --task ranking --threshold 4``: BCE on the
ratings >= 4 against 4 sampled negatives, ``TrainConfig.ranking()``), whose
scores are logits. For each minimum support m and shrinkage
beta (``evaluate.support``: items with n_i < m are never recommended; the list
is ranked by s~_ui = m_u + n_i / (n_i + beta) (s_ui - m_u), n_i the item's
training ratings (every u1.base rating, whatever its value), m_u the user's
mean score) it reports:

- NDCG@10, HR@10 and Recall@10 over the full catalogue
  (``evaluate_full_ranking``): relevant = the user's u1.test items rated >= 4,
  candidates = every item the user did not rate in u1.base, ties against the
  model; a relevant item below m is a miss;
- coverage@10: the share of the catalogue that is in at least one user's
  top-10 (``serve.top_k``, every user of u1.base);
- the mean and median n_i of the items in those lists, and the share of list
  slots held by items with fewer than 5 training ratings.

The popularity baseline (s_i = n_i, the same list for everyone) is printed for
reference. One model, one fold: differences of a few thousandths are noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import asdict
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from benchmarks.common import find_data, write_figures, write_results
from hybridrec_jax import ModelConfig, SyntheticConfig, TrainConfig
from hybridrec_jax.evaluate import (
    device_features,
    evaluate_full_ranking,
    group_by_user,
    item_mask,
    item_popularity,
    item_support,
)
from hybridrec_jax.experiment import prepare_experiment, run_experiment
from hybridrec_jax.plots import new_figure
from hybridrec_jax.ranking_experiment import fit_positives, prepare_ranking
from hybridrec_jax.serve import make_recommender, top_k

MIN_SUPPORTS = (0, 5, 10, 20, 50)
SHRINKAGES = (0, 5, 10, 25, 50, 100, 250)
RANKING = ("ndcg@10", "hr@10", "recall@10")
OBSCURE = 5  # "an item with fewer than 5 training ratings"


def list_figures(items: np.ndarray, finite: np.ndarray, support: np.ndarray) -> dict:
    """Coverage@10 and the support of what the lists hold.

    Args:
        items: (U, K) each user's list; finite: (U, K) bool, the real entries.
        support: (I,) n_i.
    """
    shown = items[finite]  # every list slot that holds an item
    n = support[shown]
    return {
        "coverage@10": len(np.unique(shown)) / len(support),
        "mean_support": float(n.mean()) if n.size else float("nan"),
        "median_support": float(np.median(n)) if n.size else float("nan"),
        "obscure_share": float((n < OBSCURE).mean()) if n.size else float("nan"),
        "short_lists": int((finite.sum(axis=1) < items.shape[1]).sum()),
    }


def popularity_row(train, pairs, features) -> dict:
    """The popularity baseline: its ranking figures and its lists."""
    popularity = item_popularity(train)  # (I,) n_i
    scores = jnp.asarray(popularity)

    def scorer(params, cfg, features, users):
        return jnp.broadcast_to(scores, (len(users), scores.shape[0]))

    figures = evaluate_full_ranking(None, None, features, *pairs, scorer=scorer)
    users = np.arange(train.n_users)
    offsets, seen_items = group_by_user(train.user, train.item, train.n_users)
    seen = item_mask(offsets, seen_items, users, train.n_items)  # (U, I)
    ranked = np.where(seen, -np.inf, popularity[None, :])
    items = np.argsort(-ranked, axis=1, kind="stable")[:, :10]  # (U, 10)
    finite = np.isfinite(np.take_along_axis(ranked, items, axis=1))
    row = {k: figures[k] for k in RANKING} | {"n_users": figures["n_users"]}
    return row | list_figures(items, finite, popularity.astype(np.int64))


def grid(params, model_cfg, train, pairs, features, rec, shrinkages) -> dict:
    """{"m=M beta=B": figures} for every minimum support and shrinkage."""
    support = item_support(train.item, train.n_items)
    users = np.arange(train.n_users)
    rows = {}
    for m in MIN_SUPPORTS:
        for beta in shrinkages:
            figures = evaluate_full_ranking(
                params, model_cfg, features, *pairs, min_support=m, shrinkage=beta
            )
            items, scores = top_k(rec, users, 10, min_support=m, shrinkage=beta)
            row = {"min_support": m, "shrinkage": beta}
            row |= {k: figures[k] for k in RANKING} | {"n_users": figures["n_users"]}
            row |= list_figures(items, np.isfinite(scores), support)
            rows[f"m={m} beta={beta}"] = row
            print(format_row(f"m={m:<3} beta={beta:<3}", row), flush=True)
    return rows


HEADER = (
    f"{'setting':<16} {'NDCG@10':>8} {'HR@10':>7} {'Rec@10':>7} {'cov@10':>7} "
    f"{'mean n_i':>9} {'med n_i':>8} {'n_i<5':>6}"
)


def format_row(name: str, r: dict) -> str:
    return (
        f"{name:<16} {r['ndcg@10']:>8.4f} {r['hr@10']:>7.4f} {r['recall@10']:>7.4f} "
        f"{r['coverage@10']:>7.4f} {r['mean_support']:>9.1f} "
        f"{r['median_support']:>8.1f} {r['obscure_share']:>6.3f}"
    )


def markdown(setting: str, rows: dict, popularity: dict) -> str:
    lines = [
        f"Setting: {setting}",
        "",
        "| min_support m | shrinkage beta | NDCG@10 | HR@10 | Recall@10 | "
        "coverage@10 | mean n_i | median n_i | slots with n_i < 5 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in [*rows.items(), ("popularity", popularity)]:
        m, beta = r.get("min_support", "–"), r.get("shrinkage", "–")
        label = "popularity baseline" if name == "popularity" else f"{m} | {beta}"
        if name == "popularity":
            label += " | –"
        lines.append(
            f"| {label} | {r['ndcg@10']:.4f} | {r['hr@10']:.4f} | "
            f"{r['recall@10']:.4f} | {r['coverage@10']:.4f} | "
            f"{r['mean_support']:.1f} | {r['median_support']:.1f} | "
            f"{r['obscure_share']:.3f} |"
        )
    lines += [
        "",
        "n_i: the item's training ratings; coverage@10: the share of the "
        "catalogue in at least one user's top-10; ties count against the model.",
    ]
    return "\n".join(lines)


def plots(record: dict) -> dict:
    """topk_support[_ranking].png: NDCG@10 and coverage@10 against beta (a
    symlog axis), one line per m, the popularity baseline dashed."""
    figures, name = record["figures"], record["config"].get("name", "topk_support")
    fig, axes = new_figure(2, size=(9.0, 3.4))
    for ax, key, label in zip(
        axes, ("ndcg@10", "coverage@10"), ("NDCG@10", "coverage@10"), strict=True
    ):
        lines: dict = {}
        for r in figures["grid"].values():
            lines.setdefault(r["min_support"], []).append((r["shrinkage"], r[key]))
        for m, points in lines.items():
            beta, value = zip(*sorted(points), strict=True)
            ax.plot(beta, value, marker="o", label=f"m = {m}")
        ax.axhline(figures["popularity"][key], color="gray", ls="--",
                   label="popularity")  # fmt: skip
        betas = sorted({r["shrinkage"] for r in figures["grid"].values()})
        ax.set_xscale("symlog", linthresh=5)
        ax.set_xlim(0, 1.3 * max(betas))
        ax.set_xticks(betas, [f"{b:g}" for b in betas])
        ax.minorticks_off()
        ax.set(xlabel="shrinkage beta", title=label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    config = record["config"]
    model = (
        "rating model (MSE)" if config["task"] == "rating" else "ranking model (BCE)"
    )
    fig.suptitle(f"{config['dataset']} {config['split']}, the default {model}")
    return {f"{name}.png": fig}


def rating_model(dataset, data_dir, split, model_cfg, train_cfg, threshold, options):
    """The default rating model: (params, train, relevant test pairs, summary)."""
    data = prepare_experiment(dataset, data_dir, split, model_cfg, train_cfg.seed,
                              **options)  # fmt: skip
    report, result = run_experiment(dataset, data_dir, split, model_cfg, train_cfg,
                                    data=data, **options)  # fmt: skip
    test = data.test
    relevant = test.rating >= threshold
    summary = (f"the default rating model (MSE; test RMSE {report['test_rmse']:.4f}, "
               f"{report['epochs_run']} epochs)")  # fmt: skip
    relevant_pairs = (test.user[relevant], test.item[relevant])
    return result.params, data.train, relevant_pairs, summary


def ranking_model(dataset, data_dir, split, model_cfg, train_cfg, threshold, options):
    """The default ranking model, as ``run_ranking_experiment`` trains it."""
    data = prepare_ranking(dataset, data_dir, split, model_cfg, train_cfg.seed,
                           threshold=threshold, **options)  # fmt: skip
    result = fit_positives(data, model_cfg, train_cfg)
    test = data.test_positives
    summary = (
        f"the default ranking model (BCE on ratings >= {threshold:g}, "
        f"{train_cfg.negatives} negatives; {len(result.history)} epochs, "
        f"then {result.refit_epochs} on every pair)"
    )
    return result.params, data.train, (test.user, test.item), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.topk_support", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--small", action="store_true", help="tiny synthetic run")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--data-dir", default=None, help="the ml-100k folder")
    parser.add_argument("--threshold", type=float, default=4.0,
                        help="relevant test items are rated >= this")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--task",
        choices=("rating", "ranking"),
        default="rating",
        help="the default rating (MSE) or ranking (BCE) model",
    )
    parser.add_argument("--shrinkages", default=",".join(map(str, SHRINKAGES)),
                        help="the betas, comma-separated")  # fmt: skip
    args = parser.parse_args(argv)
    shrinkages = tuple(float(b) if "." in b else int(b)
                       for b in args.shrinkages.split(","))  # fmt: skip
    model_cfg = ModelConfig()
    train_model = rating_model if args.task == "rating" else ranking_model
    train_cfg = TrainConfig() if args.task == "rating" else TrainConfig.ranking()
    train_cfg = train_cfg.replace(seed=args.seed)
    if args.small:
        model_cfg = ModelConfig.tiny()
        train_cfg = train_cfg.replace(epochs=2, batch_size=512)
        dataset, data_dir, split = "synthetic", None, "random"
        options = {"synthetic": dataclasses.replace(SyntheticConfig.tiny(),
                                                    seed=args.seed)}  # fmt: skip
    else:
        dataset, split, options = "ml-100k", "u1", {}
        data_dir = find_data("ml-100k", args.data_dir)
        if data_dir is None:
            print("ML-100K not found: give --data-dir or set $HYBRIDREC_DATA",
                  file=sys.stderr)  # fmt: skip
            return 2
    params, train, relevant, summary = train_model(
        dataset, data_dir, split, model_cfg, train_cfg, args.threshold, options
    )
    pairs = (train.user, train.item), relevant
    setting = (
        f"{dataset} {split}: {train.n_interactions} training ratings, "
        f"{len(relevant[0])} test ratings >= {args.threshold:g} relevant, "
        f"{train.n_items} items; {summary}"
    )
    print(setting, flush=True)
    print(HEADER, flush=True)
    features = device_features(train)
    rec = make_recommender(params, model_cfg, train, train_cfg=train_cfg)
    rows = grid(params, model_cfg, train, pairs, features, rec, shrinkages)
    popular = popularity_row(train, pairs, features)
    print(format_row("popularity", popular), flush=True)
    name = "topk_support" + ("_ranking" if args.task == "ranking" else "")
    json_path = write_results(
        name,
        {
            "name": name,
            "task": args.task,
            "setting": setting,
            "dataset": dataset,
            "split": split,
            "threshold": args.threshold,
            "min_supports": MIN_SUPPORTS,
            "shrinkages": shrinkages,
            "model_config": asdict(model_cfg),
            "train_config": asdict(train_cfg),
        },
        {"grid": rows, "popularity": popular},
        markdown(setting, rows, popular),
        out_dir=args.out_dir,
    )
    write_figures(plots, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rating quality against published numbers: ML-100K u1..u5 and ML-1M 90/10.

    python -m benchmarks.quality                    # real data (see --help)
    python -m benchmarks.quality --small            # a quick synthetic smoke run

Every figure is a test-set RMSE with predictions clipped to the rating scale,
from ``hybridrec_jax.run_experiment`` with the library's default configuration;
the test rows are read once per configuration (early stopping uses a validation
split of the training rows). NCF ML-1M ranking figures come from
``benchmarks/ranking.py`` and are copied here when its results file exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, find_data, write_figures, write_results
from benchmarks.ranking import PUBLISHED as PUBLISHED_NCF
from hybridrec_jax import ModelConfig, SyntheticConfig, TrainConfig, run_experiment
from hybridrec_jax.data import DATASETS
from hybridrec_jax.plots import new_figure

PUBLISHED = {
    "ml-100k u1": [
        ("GC-MC + features", 0.905, "Berg et al. 2017, Graph Convolutional Matrix "
         "Completion, Table 3"),
        ("GraphRec + features", 0.897, "Rashed et al. 2019, Attribute-aware "
         "Non-linear Co-embeddings of Graph Features (GraphRec), RecSys"),
        ("GLocal-K", 0.8889, "Han et al. 2021, GLocal-K, CIKM"),
    ],
    "ml-100k 5-fold": [
        ("Surprise SVD", 0.934, "surprise.readthedocs.io benchmarks (random 5-fold)"),
        ("Surprise SVD++", 0.919, "surprise.readthedocs.io benchmarks "
         "(random 5-fold)"),
    ],
    "ml-1m 90/10": [
        ("GLocal-K", 0.8227, "Han et al. 2021"),
        ("Sparse FC", 0.824, "Muller et al. 2018, Kernelized synapses"),
        ("I-AutoRec", 0.831, "Sedhain et al. 2015, AutoRec"),
        ("GC-MC", 0.832, "Berg et al. 2017"),
        ("BiasedMF", 0.845, "as reported by Sedhain et al. 2015 / Han et al. 2021"),
    ],
}  # fmt: skip


def ncf_table(ranking: dict) -> str:
    """Markdown: every variant of ``ranking.json`` beside the published NCF runs."""
    lines = [
        "NCF ML-1M (leave-one-out; from `benchmarks/ranking.py`, best variant "
        f"{ranking['best_variant']}):",
        "",
        "| model | sampled HR@10 | sampled NDCG@10 | full HR@10 | full NDCG@10 |",
        "|---|---|---|---|---|",
    ]
    for name, f in ranking["variants"].items():
        lines.append(
            f"| hybridrec_jax {name} | {f['sampled_hr@10']:.4f} | "
            f"{f['sampled_ndcg@10']:.4f} | {f['full_hr@10']:.4f} | "
            f"{f['full_ndcg@10']:.4f} |"
        )
    for name, hr, ndcg, _ in PUBLISHED_NCF:
        lines.append(f"| {name} (published) | {hr} | {ndcg} | – | – |")
    lines.append("")
    lines.append(
        "Sampled: the test item against the 99 negatives of the NCF file. "
        "Full: against every item the user has not rated in training."
    )
    return "\n".join(lines)


# (key of the figures, panel title, key of PUBLISHED) of each data set drawn.
PANELS = (
    ("ml-100k u1", "ML-100K u1", "ml-100k u1"),
    ("ml-100k folds", "ML-100K u1..u5, mean ± sd", "ml-100k 5-fold"),
    ("ml-1m 90/10", "ML-1M random 90/10, mean ± sd", "ml-1m 90/10"),
    ("synthetic", "synthetic (smoke run)", None),
)


def panel_rows(figures: dict, key: str, published: list) -> list[tuple]:
    """(label, RMSE, sd, colour) of one data set: ours, the biases baseline,
    the published models; best (lowest) first."""
    found = figures[key]
    if isinstance(found, dict):  # several runs
        ours = (found["mean_rmse"], found["std_rmse"])
        biases = float(np.mean([r["biases_rmse"] for r in found["runs"]]))
    else:  # one figure (ML-100K u1): its baseline is that fold's
        ours = (found, 0.0)
        runs = figures.get("ml-100k folds", {}).get("runs", [])
        biases = next((r["biases_rmse"] for r in runs if r["split"] == "u1"), None)
    rows = [("hybridrec_jax", *ours, "tab:red")]
    if biases is not None:
        rows.append(("biases baseline", biases, 0.0, "tab:gray"))
    rows += [(name, value, 0.0, "tab:blue") for name, value, _ in published]
    return sorted(rows, key=lambda row: row[1])


def plots(record: dict) -> dict:
    """quality.png: each data set's test RMSE beside the baseline and the
    published models (lower is better)."""
    figures, published = record["figures"], record["config"]["published"]
    panels = [
        (title, panel_rows(figures, key, published.get(refs, [])))
        for key, title, refs in PANELS
        if figures.get(key) is not None
    ]
    fig, axes = new_figure(len(panels), size=(4.4 * len(panels), 3.0))
    for ax, (title, rows) in zip(axes, panels, strict=True):
        labels, rmse, sd, colours = zip(*rows, strict=True)
        at = np.arange(len(rows))
        ax.errorbar(rmse, at, xerr=sd, fmt="none", ecolor="black", capsize=3)
        ax.scatter(rmse, at, c=colours, zorder=3)
        ax.set_yticks(at, labels)
        ax.invert_yaxis()  # best on top
        ax.set(title=title, xlabel="test RMSE (lower is better)")
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
    return {"quality.png": fig}


def one_run(dataset, data_dir, split, model_cfg, train_cfg, test_fraction=0.2,
            synthetic=None):  # fmt: skip
    report, _ = run_experiment(
        dataset, data_dir, split, model_cfg, train_cfg,
        test_fraction=test_fraction, synthetic=synthetic,
    )  # fmt: skip
    return {
        "split": split,
        "seed": train_cfg.seed,
        "test_rmse": report["test_rmse"],
        "test_mae": report["test_mae"],
        "biases_rmse": report["baselines"]["biases"]["test_rmse"],
        "train_seconds": report["train_seconds"],
        "best_epoch": report["best_epoch"],
    }


def summarise(runs: list[dict]) -> dict:
    rmse = np.array([r["test_rmse"] for r in runs])
    return {
        "mean_rmse": float(rmse.mean()),
        "std_rmse": float(rmse.std(ddof=1)) if len(rmse) > 1 else 0.0,
        "min_rmse": float(rmse.min()),
        "max_rmse": float(rmse.max()),
        "runs": runs,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--ml100k-dir", default=None)
    parser.add_argument("--ml1m-dir", default=None)
    parser.add_argument("--folds", default="u1,u2,u3,u4,u5")
    parser.add_argument("--ml1m-seeds", type=int, default=3)
    parser.add_argument(
        "--hidden-dims", default="256,128",
        help="MLP widths for this benchmark (the library default is 128,64: "
        "faster, slightly worse)",
    )  # fmt: skip
    parser.add_argument("--small", action="store_true", help="synthetic smoke run")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument(
        "--embedding-updates", default=TrainConfig.embedding_updates,
        choices=("row_sparse", "dense"), help="how the id tables are updated",
    )  # fmt: skip
    args = parser.parse_args(argv)

    hidden = tuple(int(w) for w in args.hidden_dims.split(",") if w)
    model_cfg = ModelConfig(hidden_dims=hidden)
    train_cfg = TrainConfig(embedding_updates=args.embedding_updates)
    sections, figures = [], {}
    if args.small:
        model_cfg = ModelConfig.tiny()
        train_cfg = train_cfg.replace(epochs=2, batch_size=512)
        figures["synthetic"] = summarise(
            [
                one_run(
                    "synthetic",
                    None,
                    "random",
                    model_cfg,
                    train_cfg,
                    synthetic=SyntheticConfig.tiny(),
                )
            ]  # fmt: skip
        )
    ml100k = None if args.small else find_data("ml-100k", args.ml100k_dir)
    if ml100k is not None:
        runs = []
        for fold in args.folds.split(","):
            runs.append(one_run("ml-100k", ml100k, fold, model_cfg, train_cfg))
            print(f"ml-100k {fold}: RMSE {runs[-1]['test_rmse']:.4f}", flush=True)
        figures["ml-100k folds"] = summarise(runs)
        figures["ml-100k u1"] = (
            runs[0]["test_rmse"] if runs[0]["split"] == "u1" else None
        )
    ml1m = None if args.small else find_data("ml-1m-partial", args.ml1m_dir)
    if ml1m is None and not args.small:
        ml1m = find_data("ml-1m", args.ml1m_dir)
    if ml1m is not None and "ml-1m" in DATASETS and args.ml1m_seeds > 0:
        runs = []
        for seed in range(args.ml1m_seeds):
            runs.append(
                one_run("ml-1m", ml1m, "random", model_cfg,
                        train_cfg.replace(seed=seed), test_fraction=0.1)
            )  # fmt: skip
            print(f"ml-1m 90/10 seed {seed}: RMSE {runs[-1]['test_rmse']:.4f}",
                  flush=True)  # fmt: skip
        figures["ml-1m 90/10"] = summarise(runs)

    ranking_file = Path(args.out_dir) / "ranking.json"
    if ranking_file.is_file() and not args.small:
        ranking = json.loads(ranking_file.read_text())["figures"]
        figures["ncf ml-1m (from ranking.json)"] = ranking

    lines = ["| data, protocol | hybridrec_jax RMSE | biases baseline | published |",
             "|---|---|---|---|"]  # fmt: skip
    for key, label, published in (
        ("ml-100k folds", "ML-100K u1..u5 mean ± sd", "ml-100k 5-fold"),
        ("ml-1m 90/10", "ML-1M random 90/10, mean ± sd over seeds", "ml-1m 90/10"),
        ("synthetic", "synthetic (smoke)", None),
    ):
        if key not in figures:
            continue
        f = figures[key]
        biases = np.mean([r["biases_rmse"] for r in f["runs"]])
        refs = "; ".join(f"{n} {v}" for n, v, _ in PUBLISHED.get(published, []))
        lines.append(
            f"| {label} | {f['mean_rmse']:.4f} ± {f['std_rmse']:.4f} "
            f"({len(f['runs'])} runs) | {biases:.4f} | {refs} |"
        )
    if figures.get("ml-100k u1") is not None:
        refs = "; ".join(f"{n} {v}" for n, v, _ in PUBLISHED["ml-100k u1"])
        lines.append(f"| ML-100K u1 | {figures['ml-100k u1']:.4f} | | {refs} |")
    sections.append("\n".join(lines))
    if "ncf ml-1m (from ranking.json)" in figures:
        sections.append(ncf_table(figures["ncf ml-1m (from ranking.json)"]))
    sources = [f"- {n} ({v}): {src}" for rows in PUBLISHED.values()
               for n, v, src in rows]  # fmt: skip
    sources += [f"- {n} ({hr} / {ndcg}): {src}" for n, hr, ndcg, src in PUBLISHED_NCF]
    sections.append("Sources:\n" + "\n".join(sources))
    config = {"model": asdict(model_cfg), "train": asdict(train_cfg),
              "published": PUBLISHED, "published_ncf": PUBLISHED_NCF}  # fmt: skip
    markdown = "\n\n".join(sections)
    json_path = write_results("quality", config, figures, markdown, Path(args.out_dir))
    print(markdown)
    write_figures(plots, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

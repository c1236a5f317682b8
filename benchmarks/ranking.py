"""Top-K ranking on the NCF ML-1M protocol, every model variant, sampled and full.

    python -m benchmarks.ranking                    # NCF ML-1M (see --help)
    python -m benchmarks.ranking --small            # a quick synthetic smoke run

Each variant of ``hybridrec_jax.VARIANTS`` is trained by ``fit`` on the NCF
training pairs with BCE and k sampled negatives per positive (resampled every
epoch), early-stopped on the full-ranking HR@10 of one leave-one-out validation
item per user taken from the training pairs (the user's latest), then, with
``--refit`` (the default), trained again on every training pair for the number
of epochs early stopping chose. The test item of each user is then ranked two
ways:

- sampled (the NCF protocol of He et al. 2017): against the 99 negatives of
  ``ml-1m.test.negative``; the published numbers use this one;
- full: against every item the user has no training interaction with.

Hybrid variants get the users' and items' content (NCF ids mapped back to
MovieLens: gender, age, occupation, zip region; genres, year) plus the
interaction summaries of ``data.interactions`` fitted on the training pairs.
The script also times full-catalogue evaluation of all users with the
factorised scorer beside the plain one (``model.forward`` on every pair).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.common import find_data, write_figures, write_results
from hybridrec_jax import (
    VARIANTS,
    SyntheticConfig,
    TrainConfig,
    load_synthetic,
    plot_bars,
)
from hybridrec_jax.data import add_spectral_features, leave_one_out, load_ncf_ml1m
from hybridrec_jax.evaluate import (
    device_features,
    evaluate_full_ranking,
    evaluate_sampled,
    sample_eval_negatives,
    score_all,
    score_all_plain,
)
from hybridrec_jax.plots import new_figure
from hybridrec_jax.train import fit, neumf_from_pretrained, refit

# NCF ML-1M, sampled protocol: (model, HR@10, NDCG@10, source).
PUBLISHED = [
    ("NeuMF with pre-training", 0.726, 0.445, "He et al. 2017 (NCF), ML-1M"),
    ("SLIM", 0.716, 0.447, "Ning and Karypis 2011, as run on the NCF protocol "
     "by Ferrari Dacrema et al. 2019 (RecSys) and quoted by Rendle et al. 2020"),
]  # fmt: skip


def load_ncf(ncf_dir: Path, ml1m_dir: Path):
    """(train Dataset, test items (U,), test negatives (U, 99))."""
    data = load_ncf_ml1m(ncf_dir, ml1m_dir)
    return data.train, data.test_items, data.test_negatives


def load_small(seed: int = 0):
    """Tiny synthetic implicit data with a leave-one-out test item per user."""
    cfg = dataclasses.replace(SyntheticConfig.tiny(), n_items=300, seed=seed)
    data = load_synthetic(cfg)
    data = dataclasses.replace(data, rating=np.ones_like(data.rating))
    kept, held = leave_one_out(data, seed=seed)
    train, test = data.subset(kept), data.subset(held)
    users = np.arange(train.n_users)
    test_items = np.full(train.n_users, -1)
    test_items[test.user] = test.item
    users = users[test_items >= 0]
    negatives = sample_eval_negatives(
        np.random.default_rng(seed),
        (train.user, train.item),
        users,
        test_items[users],
        train.n_items,
        n_negatives=20,
    )
    return train, test_items, negatives


def run_variant(
    name, model_cfg, train, test_items, negatives, args, train_cfg, initial=None
):
    """Train one variant (from the parameters ``initial`` with a fresh optimiser,
    if given) and evaluate it both ways."""
    if model_cfg.use_features and args.interaction_dim:
        (train,) = add_spectral_features(train, (), args.interaction_dim, args.seed)
    start = time.perf_counter()
    n_negatives = args.negatives
    if model_cfg.hidden_dims:  # the MLP family: dearer per example
        n_negatives = args.mlp_negatives or args.negatives
        if initial is None:
            train_cfg = train_cfg.replace(epochs=args.mlp_epochs or train_cfg.epochs)
    train_cfg = train_cfg.replace(negatives=n_negatives)
    train_cfg = train_cfg.replace(refit=args.refit)
    selected = fit(train, model_cfg, train_cfg, params=initial)
    # The validation item is each user's latest training pair, the one most
    # like the next-item test: train again on every pair, as many epochs as
    # early stopping chose, from the same seed (and initial parameters, if any).
    result = refit(train, model_cfg, train_cfg, selected, params=initial)
    seconds = time.perf_counter() - start
    features = device_features(train)
    users = np.flatnonzero(test_items >= 0)
    sampled = evaluate_sampled(
        result.params, model_cfg, features, users, test_items[users], negatives
    )
    full = evaluate_full_ranking(
        result.params,
        model_cfg,
        features,
        (train.user, train.item),
        (users, test_items[users]),
        ks=(10,),
    )
    row = {
        "sampled_hr@10": sampled["sampled_hr@10"],
        "sampled_ndcg@10": sampled["sampled_ndcg@10"],
        "full_hr@10": full["hr@10"],
        "full_ndcg@10": full["ndcg@10"],
        "full_mrr": full["mrr"],
        "full_auc": full["auc"],
        "n_users": full["n_users"],
        "epochs_run": len(selected.history),
        "best_epoch": selected.best_epoch,
        "val_hr@10_best": selected.best_metric,
        "refit_on_all_pairs": bool(args.refit),
        "negatives": n_negatives,
        "max_epochs": train_cfg.epochs,
        "train_seconds": seconds,
        "examples_per_second": result.examples_per_second,
        "model_config": asdict(model_cfg),
    }
    print(
        f"{name:<16} sampled HR@10 {row['sampled_hr@10']:.4f} NDCG@10 "
        f"{row['sampled_ndcg@10']:.4f} | full HR@10 {row['full_hr@10']:.4f} NDCG@10 "
        f"{row['full_ndcg@10']:.4f} | {seconds:.0f} s, {row['epochs_run']} epochs "
        f"(best {row['best_epoch']})",
        flush=True,
    )
    return row, result.params, features


def time_evaluation(params, model_cfg, features, train, test_items, repeats=3):
    """Seconds to rank every item for every user: factorised vs plain scorer."""
    users = np.flatnonzero(test_items >= 0)
    pairs = (train.user, train.item), (users, test_items[users])

    def run(scorer, chunk):
        return evaluate_full_ranking(
            params, model_cfg, features, *pairs, scorer=scorer, chunk_size=chunk
        )

    timings = {}
    for label, scorer, chunk, n in (
        ("factorised", score_all, 1024, repeats),
        ("plain", score_all_plain, 128, 1),
    ):
        run(scorer, chunk)  # compile and warm up
        seconds = []
        for _ in range(n):
            start = time.perf_counter()
            run(scorer, chunk)  # returns host floats: blocks on the results
            seconds.append(time.perf_counter() - start)
        timings[label] = float(np.median(seconds))
    return timings


def markdown(rows: dict, timing: dict, setting: str) -> str:
    lines = [
        f"Setting: {setting}.",
        "",
        "| variant | sampled HR@10 | sampled NDCG@10 | full HR@10 | full NDCG@10 "
        "| full AUC | negatives | epochs (best) | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['sampled_hr@10']:.4f} | {r['sampled_ndcg@10']:.4f} | "
            f"{r['full_hr@10']:.4f} | {r['full_ndcg@10']:.4f} | {r['full_auc']:.4f} "
            f"| {r['negatives']} | {r['epochs_run']} ({r['best_epoch']}) "
            f"| {r['train_seconds']:.0f} |"
        )
    lines += [
        "",
        "Epochs (best): epochs run with the validation item held out, and the "
        "best of them; with refit the variant is then trained again on every "
        "training pair for the best number of epochs. "
        "Sampled: the test item against the 99 negatives of the NCF file (He et al. "
        "2017). Full: against every item without a training interaction. Ties "
        "count against the model.",
        "",
        "Published (sampled protocol, ML-1M, HR@10 / NDCG@10):",
        "",
    ]
    lines += [f"- {m}: {hr:.4f} / {nd:.4f} ({src})" for m, hr, nd, src in PUBLISHED]
    lines += [
        "",
        "Full-catalogue evaluation of every user against every item (scoring, "
        "masking, all metrics), seconds after compile (median of 3):",
        "",
        "| variant | factorised scorer | plain scorer |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {t['factorised']:.2f} | {t['plain']:.2f} |"
        for name, t in timing.items()
    ]
    return "\n".join(lines)


def plots(record: dict) -> dict:
    """ranking.png: HR@10 and NDCG@10 of every variant, sampled (beside the
    published runs) and full; the seconds of a full evaluation by each scorer."""
    figures = record["figures"]
    metrics = {"sampled_hr@10": "sampled HR@10", "sampled_ndcg@10": "sampled NDCG@10",
               "full_hr@10": "full HR@10", "full_ndcg@10": "full NDCG@10"}  # fmt: skip
    rows = {name: {label: r[key] for key, label in metrics.items()}
            for name, r in figures["variants"].items()}  # fmt: skip
    for run in figures["published_sampled"]:
        rows[f"{run['model']} (published)"] = {
            "sampled HR@10": run["hr@10"], "sampled NDCG@10": run["ndcg@10"]
        }  # fmt: skip
    seconds = {scorer: {name: t[scorer] for name, t in
                        figures["evaluation_seconds"].items()}
               for scorer in ("factorised", "plain")}  # fmt: skip
    fig, (quality, timing) = new_figure(2, size=(13, 4.2), width_ratios=[4, 1])
    plot_bars(rows, ax=quality, labels=False, title="leave-one-out test item")
    plot_bars(seconds, ax=timing, ylabel="seconds to rank every user's items",
              title="full evaluation")  # fmt: skip
    return {"ranking.png": fig}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ranking", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--small", action="store_true", help="tiny synthetic run")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--ncf-dir", default=None, help="folder of the NCF files")
    parser.add_argument("--ml1m-dir", default=None, help="ML-1M users/movies")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--negatives", type=int, default=8)
    parser.add_argument("--sampler", default="uniform")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--l2-embedding", type=float, default=3e-3)
    parser.add_argument(
        "--mlp-negatives",
        type=int,
        default=4,
        help="negatives per positive for the variants with an MLP (0: --negatives)",
    )
    parser.add_argument(
        "--mlp-epochs",
        type=int,
        default=8,
        help="epoch cap for the variants with an MLP (0: --epochs)",
    )
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--finetune-learning-rate", type=float, default=5e-4)
    parser.add_argument("--interaction-dim", type=int, default=64)
    parser.add_argument(
        "--dot-dim",
        type=int,
        default=128,
        help="width of the dot branch of every variant that has one",
    )
    parser.add_argument(
        "--timed-variants",
        default=None,
        help="comma-separated variants whose evaluation is timed right after "
        "training (default: mf; the best is timed at the end)",
    )
    parser.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after early stopping, retrain on every training pair for the chosen "
        "number of epochs",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--embedding-updates", default=TrainConfig.embedding_updates,
        choices=("row_sparse", "dense"), help="how the id tables are updated",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = {
        name: VARIANTS[name].replace(dot_dim=args.dot_dim)
        if VARIANTS[name].dot_dim
        else VARIANTS[name]
        for name in args.variants.split(",")
    }
    train_cfg = TrainConfig(
        loss="bce",
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        patience=args.patience,
        l2_embedding=args.l2_embedding,
        l2_dense=0.0,
        validation_fraction=0.05,
        seed=args.seed,
        negatives=args.negatives,
        sampler=args.sampler,
        embedding_updates=args.embedding_updates,
    )
    if args.small:
        train, test_items, negatives = load_small(args.seed)
        train_cfg = train_cfg.replace(batch_size=256, epochs=2, learning_rate=1e-2)
        args.interaction_dim = min(args.interaction_dim, 4)
        args.mlp_epochs = 0  # the tiny run's 2 epochs for every variant
        variants = {
            name: cfg.replace(
                embedding_dim=min(cfg.embedding_dim, 4),
                dot_dim=min(cfg.dot_dim, 4),
                hidden_dims=cfg.hidden_dims[:1] and (8,),
            )
            for name, cfg in variants.items()
        }
        setting = "tiny synthetic data (--small), 20 sampled negatives per test item"
    else:
        ncf_dir = find_data("ncf-ml-1m", args.ncf_dir)
        ml1m_dir = find_data("ml-1m-partial", args.ml1m_dir)
        if ncf_dir is None or ml1m_dir is None:
            print(
                "NCF ML-1M files not found: give --ncf-dir and --ml1m-dir, or set "
                "$HYBRIDREC_DATA",
                file=sys.stderr,
            )
            return 2
        train, test_items, negatives = load_ncf(ncf_dir, ml1m_dir)
        setting = (
            f"NCF ML-1M, {train.n_interactions} training pairs, "
            f"{train.n_users} users, {train.n_items} items"
        )
    print(setting, flush=True)
    config = {
        "setting": setting,
        "train_config": asdict(train_cfg),
        "negatives": args.negatives,
        "mlp_negatives": args.mlp_negatives,
        "mlp_epochs": args.mlp_epochs,
        "dot_dim": args.dot_dim,
        "refit": args.refit,
        "sampler": args.sampler,
        "interaction_dim": args.interaction_dim,
    }

    def save(rows, timing):
        """Write the results so far (after every variant: a long run that is
        stopped keeps what it measured)."""
        best = max(rows, key=lambda n: rows[n]["sampled_hr@10"])
        figures = {
            "variants": rows,
            "best_variant": best,
            "evaluation_seconds": timing,
            "published_sampled": [
                {"model": m, "hr@10": hr, "ndcg@10": nd, "source": s}
                for m, hr, nd, s in PUBLISHED
            ],
        }
        json_path = write_results(
            "ranking", config, figures, markdown(rows, timing, setting),
            out_dir=args.out_dir,
        )  # fmt: skip
        return best, json_path

    timed = args.timed_variants.split(",") if args.timed_variants else ["mf"]
    timing = {}

    def time_it(name):
        params, features = fitted[name]
        timing[name] = time_evaluation(
            params, variants[name], features, train, test_items,
            repeats=1 if args.small else 3,
        )  # fmt: skip
        print(
            f"full evaluation of {int((test_items >= 0).sum())} users ({name}): "
            f"factorised {timing[name]['factorised']:.2f} s, plain "
            f"{timing[name]['plain']:.2f} s",
            flush=True,
        )

    rows, fitted = {}, {}
    for name, cfg in variants.items():
        rows[name], params, features = run_variant(
            name, cfg, train, test_items, negatives, args, train_cfg
        )
        fitted[name] = (params, features)
        if name in timed:
            time_it(name)
        save(rows, timing)
    if {"gmf", "mlp", "neumf"} <= set(variants):
        # NCF's pre-training: NeuMF starts from the trained GMF and MLP.
        name, cfg = "neumf_pretrained", variants["neumf"]
        start = neumf_from_pretrained(fitted["gmf"][0], fitted["mlp"][0])
        tune_cfg = train_cfg.replace(
            learning_rate=args.finetune_learning_rate, epochs=args.finetune_epochs
        )
        rows[name], params, features = run_variant(
            name, cfg, train, test_items, negatives, args, tune_cfg, start
        )
        fitted[name] = (params, features)
        variants[name] = cfg
    best, _ = save(rows, timing)
    if best not in timing:
        time_it(best)
    _, json_path = save(rows, timing)
    write_figures(plots, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

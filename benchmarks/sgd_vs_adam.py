"""SGD against Adam on the same model, data and epoch budget.

    python -m benchmarks.sgd_vs_adam              # ML-100K u1 if found
    python -m benchmarks.sgd_vs_adam --small      # quick smoke run

For each optimiser a small learning-rate sweep (and momentum 0 / 0.9 for SGD),
each setting over several seeds, every run for the same number of epochs with no
early stopping. Validation RMSE (a seeded 5% split of the training rows) is
recorded per epoch and against wall time. The best setting of each optimiser is
chosen by its mean best validation RMSE; the test set is not used here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, find_data, write_figures, write_results
from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    TrainingDiverged,
    fit,
    load_split,
    plot_seed_bands,
    plot_sweep,
    run_curves,
)
from hybridrec_jax.data import add_spectral_features

SWEEP = {
    "adam": [{"learning_rate": lr} for lr in (1e-3, 2e-3, 5e-3)],
    "sgd": [{"learning_rate": lr, "momentum": 0.9} for lr in (0.01, 0.03, 0.1)]
    + [{"learning_rate": lr, "momentum": 0.0} for lr in (0.1, 0.3, 1.0)],
}


def run_setting(train, model_cfg, base_cfg, optimizer, setting, seeds):
    """Curves of every seed for one optimiser setting (None where it diverged)."""
    curves = []
    for seed in seeds:
        cfg = base_cfg.replace(optimizer=optimizer, seed=seed, **setting)
        try:
            result = fit(train, model_cfg, cfg)
        except TrainingDiverged as err:
            print(f"  {optimizer} {setting} seed {seed}: {err}", flush=True)
            curves.append(None)
            continue
        # Seconds from the start, the compile epoch counted at the mean epoch time.
        curve = run_curves(result.history)
        curves.append({k: curve[k] for k in ("val_rmse", "train_loss", "seconds")})
    return curves


def first_reaching(values, times, target):
    """(epoch, seconds) at which ``values`` first reaches ``target`` or (None, None)."""
    for k, v in enumerate(values):
        if v <= target:
            return k + 1, float(times[k])
    return None, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sgd_vs_adam", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data-dir", default=None, help="ML-100K folder")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args(argv)

    model_cfg = ModelConfig()
    base_cfg = TrainConfig(epochs=args.epochs, patience=0)
    sweep = SWEEP
    data_dir = find_data("ml-100k", args.data_dir)
    if args.small:
        model_cfg = ModelConfig.tiny()
        base_cfg = base_cfg.replace(epochs=3, batch_size=128)
        sweep = {"adam": SWEEP["adam"][:1], "sgd": SWEEP["sgd"][:1]}
        train, _ = load_split("synthetic", synthetic=SyntheticConfig.tiny())
        data_name, seeds = "synthetic (small)", range(min(args.seeds, 2))
    elif data_dir is not None:
        train, _ = load_split("ml-100k", data_dir, "u1")
        data_name, seeds = "ML-100K u1.base", range(args.seeds)
    else:
        train, _ = load_split("synthetic")
        data_name, seeds = "synthetic", range(args.seeds)
    (train,) = add_spectral_features(train, (), model_cfg.interaction_dim)

    results = {}
    for optimizer, settings in sweep.items():
        for setting in settings:
            name = f"{optimizer} " + " ".join(f"{k}={v}" for k, v in setting.items())
            curves = run_setting(train, model_cfg, base_cfg, optimizer, setting, seeds)
            finished = [c for c in curves if c is not None]
            best = [min(c["val_rmse"]) for c in finished]
            results[name] = {
                "optimizer": optimizer,
                "setting": setting,
                "diverged_seeds": len(curves) - len(finished),
                "best_val_rmse_mean": float(np.mean(best)) if best else None,
                "best_val_rmse_std": float(np.std(best, ddof=1)) if len(best) > 1
                else 0.0,
                "curves": curves,
            }  # fmt: skip
            print(f"{name}: best val RMSE {results[name]['best_val_rmse_mean']}",
                  flush=True)  # fmt: skip

    def score(r):
        ok = r["best_val_rmse_mean"] is not None and r["diverged_seeds"] == 0
        return r["best_val_rmse_mean"] if ok else np.inf

    winners = {
        opt: min((r for r in results.values() if r["optimizer"] == opt), key=score)
        for opt in sweep
    }
    ranked = sorted(winners.items(), key=lambda kv: score(kv[1]))
    (win_name, win), (lose_name, lose) = ranked[0], ranked[-1]
    # The target: within 1% of the loser's best, so both can be timed to it.
    target = score(lose) * 1.01
    reach = {}
    for opt, r in winners.items():
        epochs, secs = [], []
        for c in r["curves"]:
            mean_curve = c["val_rmse"]
            e, s = first_reaching(mean_curve, c["seconds"], target)
            epochs.append(e)
            secs.append(s)
        reach[opt] = {"epochs": epochs, "seconds": secs}

    figures = {
        "data": data_name,
        "seeds": len(list(seeds)),
        "epochs": base_cfg.epochs,
        "winner": win_name,
        "winner_setting": win["setting"],
        "loser_setting": lose["setting"],
        "winner_best_val_rmse": score(win),
        "loser_best_val_rmse": score(lose),
        "margin_rmse": score(lose) - score(win),
        "target_val_rmse": target,
        "reach_target": reach,
        "sweep": {
            k: {kk: vv for kk, vv in v.items() if kk != "curves"}
            for k, v in results.items()
        },  # fmt: skip
        "curves": {k: v["curves"] for k, v in results.items()},
    }
    rows = ["| setting | best val RMSE (mean ± sd) | diverged seeds |", "|---|---|---|"]
    for name, r in results.items():
        mean = r["best_val_rmse_mean"]
        shown = "–" if mean is None else f"{mean:.4f} ± {r['best_val_rmse_std']:.4f}"
        rows.append(f"| {name} | {shown} | {r['diverged_seeds']} |")
    reach_rows = [
        f"- {opt}: epochs {reach[opt]['epochs']}, seconds "
        f"{[None if s is None else round(s, 2) for s in reach[opt]['seconds']]}"
        for opt in winners
    ]
    markdown = "\n".join(
        [
            f"Data: {data_name}; model: default ModelConfig; {base_cfg.epochs} epochs, "
            f"batch {base_cfg.batch_size}, {figures['seeds']} seeds per setting.",
            "",
            f"**Winner: {win_name}** ({win['setting']}), best validation RMSE "
            f"{score(win):.4f} against {lose_name} ({lose['setting']}) "
            f"{score(lose):.4f}: better by {score(lose) - score(win):.4f}, "
            f"mean over {figures['seeds']} seeds.",
            "",
            *rows,
            "",
            f"Epochs and seconds (per seed) to reach validation RMSE <= {target:.4f}"
            " (1% above the loser's best):",
            *reach_rows,
            "",
            "Plots: sgd_vs_adam_epochs.png, sgd_vs_adam_seconds.png (mean ± sd over "
            "seeds of the best setting of each optimiser), sgd_vs_adam_sweep.png.",
        ]
    )
    json_path = write_results(
        "sgd_vs_adam", {"model": asdict(model_cfg), "train": asdict(base_cfg),
                        "sweep": sweep}, figures, markdown, Path(args.out_dir),
    )  # fmt: skip
    print(markdown)
    write_figures(plots, json_path)
    return 0


def setting_name(optimizer: str, setting: dict) -> str:
    """The short label of a setting: "sgd lr=0.1 momentum=0.9"."""
    short = {"learning_rate": "lr"}
    return " ".join(
        [optimizer, *(f"{short.get(k, k)}={v}" for k, v in setting.items())]
    )


def plots(record: dict) -> dict:
    """The figures of a results record ({file name: Figure}).

    - epochs / seconds: the best setting of each optimiser, training loss and
      validation RMSE (mean ± sd over seeds) against epoch, and against
      training seconds;
    - sweep: the best validation RMSE of every setting against its learning
      rate, one line per optimiser (and momentum).
    """
    figures = record["figures"]
    best = {figures["winner"]: figures["winner_setting"]}
    loser = {r["optimizer"] for r in figures["sweep"].values()} - set(best)
    best |= dict.fromkeys(loser, figures["loser_setting"])
    runs = {
        setting_name(r["optimizer"], r["setting"]): figures["curves"][name]
        for name, r in figures["sweep"].items()
        if best.get(r["optimizer"]) == r["setting"]
    }
    metrics = ("train_loss", "val_rmse")
    sweep = {}
    for name, r in figures["sweep"].items():
        rest = {k: v for k, v in r["setting"].items() if k != "learning_rate"}
        line = sweep.setdefault(setting_name(r["optimizer"], rest), {})
        line[r["setting"]["learning_rate"]] = [
            None if c is None else min(c["val_rmse"]) for c in figures["curves"][name]
        ]
    return {
        "sgd_vs_adam_epochs.png": plot_seed_bands(runs, metrics, ("epoch",)),
        "sgd_vs_adam_seconds.png": plot_seed_bands(runs, metrics, ("seconds",)),
        "sgd_vs_adam_sweep.png": plot_sweep(sweep),
    }


if __name__ == "__main__":
    sys.exit(main())

"""Training cost against catalogue size: dense vs row-sparse updates, 1 vs N devices.

    python -m benchmarks.scale                 # 10^4 .. 10^7, dense to 10^6, 8 devices
    python -m benchmarks.scale --small         # a quick smoke run

The same interactions and model at every size (200,000 random interactions,
8 random content features a side, batch 1024, MLP 128-64, embedding 32,
dropout 0.2, Adam 1e-3), only the numbers of users and items (equal) grow. Each
configuration runs in its own process (its peak resident memory is its own,
and N simulated CPU devices need XLA_FLAGS before JAX starts) through the
public ``fit`` with no validation; examples/s counts the epochs after the
first, which includes the compile. Then one epoch the size of MovieLens-25M
(162,541 users, 59,047 items, 25,000,095 interactions), row-sparse, 1 device.
If PyTorch is importable (it is not a dependency; ``--torch-python`` names an
interpreter that has it), the same sizes are trained with
``nn.Embedding(sparse=True)`` + ``SparseAdam`` (tables) and Adam (MLP)
(``benchmarks.torch_scale``).
Results: benchmarks/results/scale_<platform>.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import RESULTS, write_figures, write_results
from benchmarks.torch_scale import peak_rss_gib, random_interactions

SIZES = (10**4, 10**5, 10**6, 10**7)
ML25M = {"users": 162_541, "items": 59_047, "interactions": 25_000_095}


def synthetic(n_users, n_items, n_interactions, seed=0):
    """Random interactions and content, as a ``Dataset``
    (``torch_scale.random_interactions``: PyTorch trains on the same draws)."""
    from hybridrec_jax.data.dataset import Dataset

    arrays = random_interactions(n_users, n_items, n_interactions, seed)
    return Dataset(**arrays, user_ids=np.arange(n_users), item_ids=np.arange(n_items),
                   name=f"random {n_users} x {n_items}")  # fmt: skip


def tree_bytes(tree) -> int:
    import jax

    return int(sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree)))


def run_one(spec: dict) -> dict:
    """Train one configuration in this process; the figures as a dict."""
    import jax

    from hybridrec_jax import ModelConfig, TrainConfig
    from hybridrec_jax.train import fit

    data = synthetic(spec["users"], spec["items"], spec["interactions"])
    model = ModelConfig(embedding_dim=32, hidden_dims=(128, 64), dot_dim=0,
                        interaction_dim=0, dropout=0.2)  # fmt: skip
    cfg = TrainConfig(
        learning_rate=1e-3, batch_size=1024, epochs=spec["epochs"],
        validation_fraction=0.0, patience=0, embedding_updates=spec["updates"],
        devices=spec["devices"],
    )  # fmt: skip
    start = time.perf_counter()
    result = fit(data, model, cfg)
    seconds = [h["seconds"] for h in result.history]
    return {
        **spec,
        "examples_per_second": result.examples_per_second,
        "epoch_seconds": seconds,
        "wall_seconds": time.perf_counter() - start,
        "params_gib": tree_bytes(result.state.params) / 2**30,
        "optimizer_state_gib": tree_bytes(result.state.opt_state) / 2**30,
        "peak_rss_gib": peak_rss_gib(),
        "device": f"{jax.devices()[0].platform} x {jax.device_count()}",
        "final_loss": result.history[-1]["train_loss"],
    }


def in_subprocess(spec: dict, timeout: float, torch_python: str | None = None) -> dict:
    env = dict(os.environ)
    if spec["devices"] > 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                            f"device_count={spec['devices']}").strip()  # fmt: skip
    argv = [sys.executable, "-m", "benchmarks.scale", "--one", json.dumps(spec)]
    if spec.get("library") == "pytorch":
        argv = [torch_python, "-m", "benchmarks.torch_scale", json.dumps(spec)]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"did not finish in {timeout:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        return {**spec, "error": f"exit {done.returncode}: {tail[0]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| library | updates | devices | users = items | ex/s (M) | vs smallest | "
        "params GiB | opt. state GiB | peak RSS GiB | epoch s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = {}
    for r in rows:
        key = (r.get("library", "hybridrec_jax"), r["updates"], r["devices"])
        if "error" in r:
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {r['users']:,} | "
                         f"{r['error']} | | | | | |")  # fmt: skip
            continue
        base.setdefault(key, r["examples_per_second"])
        steady = r["epoch_seconds"][1:] or r["epoch_seconds"]
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {r['users']:,} | "
            f"{r['examples_per_second'] / 1e6:.3f} | "
            f"{r['examples_per_second'] / base[key]:.2f}x | "
            f"{_fmt(r.get('params_gib'))} | {_fmt(r.get('optimizer_state_gib'))} | "
            f"{r['peak_rss_gib']:.2f} | {np.median(steady):.2f} |"
        )
    return "\n".join(lines)


def series(rows: list[dict]) -> dict[str, list[tuple[int, dict]]]:
    """Runs grouped by "library, updates, N devices", sorted by catalogue size
    (the runs with equal numbers of users and items, without errors)."""
    out = {}
    for r in rows:
        if "error" in r or r["users"] != r["items"] or "label" in r:
            continue
        name = f"{r.get('library', 'hybridrec_jax')}, {r['updates']}"
        if r["devices"] > 1:
            name += f", {r['devices']} devices"
        out.setdefault(name, []).append((r["users"], r))
    return {name: sorted(points, key=lambda p: p[0]) for name, points in out.items()}


def plots(record: dict) -> dict:
    """scale.png: examples/s and peak memory against the catalogue size."""
    from hybridrec_jax.plots import new_figure

    fig, (speed, memory) = new_figure(ncols=2, size=(10, 3.8))
    for name, points in series(record["figures"]["runs"]).items():
        sizes = [size for size, _ in points]
        speed.plot(sizes, [r["examples_per_second"] for _, r in points], "o-",
                   label=name)  # fmt: skip
        memory.plot(sizes, [r["peak_rss_gib"] for _, r in points], "o-", label=name)
    for ax, label in ((speed, "training examples / s"), (memory, "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users = items")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    speed.legend(fontsize=8)
    device = record["device"]
    speed.set_title(f"{device['platform']} ({device['cpu_cores']} cores)")
    memory.set_title("params + optimiser state + data")
    return {f"scale_{device['platform']}.png": fig}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--small", action="store_true", help="a quick smoke run")
    parser.add_argument("--sizes", default=None, help="comma-separated, e.g. 1e4,1e6")
    parser.add_argument("--dense-max", type=float, default=1e6,
                        help="largest size trained with dense updates")  # fmt: skip
    parser.add_argument("--devices", type=int, default=8,
                        help="the multi-device runs (simulated on a CPU)")  # fmt: skip
    parser.add_argument("--sharded-max", type=float, default=1e6,
                        help="largest size trained on --devices devices")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--interactions", type=int, default=200_000)
    parser.add_argument("--no-ml25m", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--torch-python", default=None, metavar="PYTHON",
        help="an interpreter with PyTorch for its column (default: this one, "
        "if it imports torch)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return 0
    if args.small:
        sizes, interactions, epochs = (10**3, 10**4), 5_000, 2
    else:
        sizes, interactions, epochs = SIZES, args.interactions, args.epochs
    if args.sizes:
        sizes = tuple(int(float(s)) for s in args.sizes.split(","))
    specs = []
    for size in sizes:
        base = {"users": size, "items": size, "interactions": interactions,
                "epochs": epochs, "devices": 1}  # fmt: skip
        specs.append({**base, "updates": "row_sparse"})
        if size <= args.dense_max:
            specs.append({**base, "updates": "dense"})
        if args.devices > 1 and size <= args.sharded_max:
            specs.append({**base, "updates": "row_sparse", "devices": args.devices})
    if not args.small and not args.no_ml25m:
        specs.append({**ML25M, "epochs": 2, "devices": 1, "updates": "row_sparse",
                      "label": "ML-25M-sized"})  # fmt: skip
    torch_python = args.torch_python
    if torch_python is None and importlib.util.find_spec("torch") is not None:
        torch_python = sys.executable
    if torch_python is not None and not args.small:
        specs += [{"users": s, "items": s, "interactions": interactions,
                   "epochs": epochs, "devices": 1, "updates": "sparse (SparseAdam)",
                   "library": "pytorch"} for s in sizes]  # fmt: skip
    rows = []
    for spec in specs:
        row = in_subprocess(spec, args.timeout, torch_python)
        rows.append(row)
        shown = {k: row.get(k) for k in ("library", "updates", "devices", "users",
                                         "examples_per_second", "peak_rss_gib",
                                         "error")}  # fmt: skip
        print(json.dumps(shown, default=str), flush=True)
    by_updates = {}
    for r in rows:
        if "error" not in r and r["devices"] == 1 and r["users"] == r["items"]:
            key = (r.get("library", "hybridrec_jax"), r["updates"])
            by_updates.setdefault(key, {})[r["users"]] = r["examples_per_second"]
    figures = {"runs": rows}
    sparse = by_updates.get(("hybridrec_jax", "row_sparse"), {})
    if sparse:
        lo, hi = min(sparse), max(sparse)
        figures["row_sparse_ratio_largest_to_smallest"] = sparse[hi] / sparse[lo]
        figures["ratio_sizes"] = [lo, hi]
    torch_sparse = by_updates.get(("pytorch", "sparse (SparseAdam)"), {})
    common = sorted(set(sparse) & set(torch_sparse))
    if common:
        figures["vs_pytorch_sparse"] = {s: sparse[s] / torch_sparse[s] for s in common}
    body = [table(rows)]
    if "row_sparse_ratio_largest_to_smallest" in figures:
        lo, hi = figures["ratio_sizes"]
        body.append(f"\nRow-sparse ex/s at {hi:,} users and items is "
                    f"{figures['row_sparse_ratio_largest_to_smallest']:.2f}x the "
                    f"figure at {lo:,}.")  # fmt: skip
    if common:
        body.append(
            "hybridrec_jax row-sparse / PyTorch SparseAdam ex/s: "
            + ", ".join(
                f"{s:,}: {r:.2f}x" for s, r in figures["vs_pytorch_sparse"].items()
            )
        )
    else:
        body.append("PyTorch was not importable: no PyTorch column.")
    body.append("\nSimulated CPU devices share the same cores: the N-device rows "
                "show that the sharded program runs and what it costs, not a "
                "speed-up.")  # fmt: skip
    config = {"sizes": list(sizes), "interactions": interactions, "epochs": epochs,
              "dense_max": args.dense_max, "devices": args.devices}  # fmt: skip
    import jax

    platform = jax.devices()[0].platform
    path = write_results(f"scale_{platform}", config, figures, "\n".join(body),
                         out_dir=args.out_dir)  # fmt: skip
    write_figures(plots, path)
    print("\n".join(body))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training and scoring throughput on whatever device JAX sees (CPU, GPU, TPU).

    python benchmarks/throughput.py                  # ML-100K features if found
    python benchmarks/throughput.py --small          # quick smoke run

Measures, after a compile and warm-up, blocking on results:
- training examples/s of the scanned epoch against batch size (256 .. 65536)
  and against embedding size, for the default hybrid model;
- the jitted single step fed batch by batch against the scanned epoch;
- full-catalogue scoring pairs/s (every user against every item);
- achieved FLOP/s from XLA's cost analysis of the compiled epoch, against the
  device's peak where it is known (GPUs by name; CPUs are not estimated).
Results go to benchmarks/results/throughput_<platform>.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, find_data, timed, write_results  # noqa: E402
from hybridrec_jax import (  # noqa: E402
    Batch,
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    device_features,
    init_params,
    load_split,
    make_jit_train_step,
    make_optimizer,
    make_train_epoch,
    predict,
)
from hybridrec_jax.data.interactions import add_spectral_features  # noqa: E402

# Dense float32 peak FLOP/s (no sparsity), from the vendors' data sheets.
PEAK_FLOPS = {
    "H100": 67e12,  # SXM, FP32 CUDA cores (TF32 tensor cores: 495e12)
    "H200": 67e12,
    "A100": 19.5e12,
    "V100": 15.7e12,
    "L4": 30.3e12,
    "T4": 8.1e12,
}


def peak_for(kind: str) -> float | None:
    return next((v for k, v in PEAK_FLOPS.items() if k in kind), None)


def setup(train, model_cfg, train_cfg):
    optimizer = make_optimizer(train_cfg)
    params = init_params(
        jax.random.key(0), model_cfg, train.n_users, train.n_items,
        train.user_features.shape[1], train.item_features.shape[1], 3.5,
    )  # fmt: skip
    data = tuple(jnp.asarray(a) for a in (train.user, train.item, train.rating))
    return optimizer, params, data, device_features(train)


def epoch_throughput(train, model_cfg, train_cfg, repeats):
    """(examples/s, FLOP/s) of the scanned epoch."""
    optimizer, params, data, features = setup(train, model_cfg, train_cfg)
    epoch = make_train_epoch(model_cfg, train_cfg, optimizer)
    state = {"params": params, "opt": optimizer.init(params), "k": 0}

    def run():
        state["k"] += 1
        state["params"], state["opt"], losses = epoch(
            state["params"], state["opt"], data, features, jax.random.key(state["k"])
        )
        return losses

    seconds = timed(run, repeats=repeats)
    # XLA counts a loop body once, so cost one step and multiply by the batches.
    size = train_cfg.batch_size
    batch = Batch(*(a[:size] for a in data), jnp.ones(size, jnp.float32))
    step = make_jit_train_step(model_cfg, train_cfg, optimizer)
    compiled = step.lower(
        state["params"], state["opt"], batch, features, jax.random.key(0)
    ).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    n_batches = -(-train.n_interactions // size)
    flops = float(cost.get("flops", 0.0)) * n_batches if cost else 0.0
    return train.n_interactions / seconds, flops / seconds if flops else None


def step_throughput(train, model_cfg, train_cfg, repeats):
    """examples/s of the jitted step called once per batch from Python."""
    optimizer, params, data, features = setup(train, model_cfg, train_cfg)
    step = make_jit_train_step(model_cfg, train_cfg, optimizer)
    size = train_cfg.batch_size
    n_batches = train.n_interactions // size
    order = np.random.default_rng(0).permutation(train.n_interactions)
    batches = [
        Batch(
            *(a[order[b * size : (b + 1) * size]] for a in data),
            jnp.ones(size, jnp.float32),
        )
        for b in range(n_batches)
    ]  # fmt: skip; prefetched device arrays
    state = {"params": params, "opt": optimizer.init(params)}

    def run():
        for b, batch in enumerate(batches):
            state["params"], state["opt"], loss = step(
                state["params"], state["opt"], batch, features, jax.random.key(b)
            )
        return loss

    seconds = timed(run, repeats=repeats)
    return n_batches * size / seconds


def scoring_throughput(train, model_cfg, repeats):
    """Pairs/s of scoring every user against every item (chunked predict)."""
    _, params, _, features = setup(train, model_cfg, TrainConfig())
    users = np.repeat(np.arange(train.n_users, dtype=np.int32), train.n_items)
    items = np.tile(np.arange(train.n_items, dtype=np.int32), train.n_users)
    try:  # the factorised scorer, where the library has it
        from hybridrec_jax.scoring import score_all

        def run():
            return score_all(params, model_cfg, features, jnp.arange(train.n_users))

        name = "factorised score_all"
    except ImportError:

        def run():
            return predict(params, model_cfg, features, users, items, chunk_size=65536)

        name = "chunked predict"
    seconds = timed(run, repeats=repeats)
    return len(users) / seconds, seconds, name


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="ML-100K folder")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out-dir", default=str(RESULTS))
    args = parser.parse_args(argv)

    data_dir = find_data("ml-100k", args.data_dir)
    model_cfg = ModelConfig()
    if args.small:
        train, _ = load_split("synthetic", synthetic=SyntheticConfig.tiny())
        data_name = "synthetic (tiny)"
    elif data_dir is None:
        train, _ = load_split("synthetic")
        data_name = "synthetic (ML-100K-sized)"
    else:
        train, _ = load_split("ml-100k", data_dir, "u1")
        data_name = "ML-100K u1.base features"
    batch_sizes = [256, 1024, 4096, 16384, 65536]
    embedding_dims = [16, 32, 64, 128]
    hidden_choices = [(64,), (128,), (128, 64), (256, 128)]
    if args.small:
        batch_sizes, embedding_dims, hidden_choices = [1024], [], []
        args.repeats = 1
    (train,) = add_spectral_features(train, (), model_cfg.interaction_dim)

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    peak = peak_for(kind) if device.platform == "gpu" else None
    by_batch = {}
    for size in batch_sizes:
        cfg = TrainConfig(batch_size=size)
        examples, flops = epoch_throughput(train, model_cfg, cfg, args.repeats)
        by_batch[size] = {"examples_per_second": examples, "flops_per_second": flops}
        print(f"batch {size}: {examples:,.0f} examples/s", flush=True)
    by_dim = {}
    for dim in embedding_dims:
        cfg = model_cfg.replace(embedding_dim=dim)
        examples, _ = epoch_throughput(train, cfg, TrainConfig(), args.repeats)
        by_dim[dim] = examples
        print(f"embedding {dim}: {examples:,.0f} examples/s", flush=True)
    by_hidden = {}
    for hidden in hidden_choices:
        cfg = model_cfg.replace(hidden_dims=hidden)
        examples, _ = epoch_throughput(train, cfg, TrainConfig(), args.repeats)
        by_hidden["-".join(map(str, hidden))] = examples
        print(f"hidden {hidden}: {examples:,.0f} examples/s", flush=True)
    step_rate = step_throughput(train, model_cfg, TrainConfig(), args.repeats)
    scan_rate = by_batch.get(1024, {}).get("examples_per_second")
    pairs_rate, score_seconds, scorer = scoring_throughput(train, model_cfg,
                                                           args.repeats)  # fmt: skip
    best_batch = max(by_batch, key=lambda b: by_batch[b]["examples_per_second"])
    figures = {
        "data": data_name,
        "n_train": train.n_interactions,
        "by_batch_size": by_batch,
        "by_embedding_dim": by_dim,
        "by_hidden_dims": by_hidden,
        "jitted_step_examples_per_second": step_rate,
        "scanned_epoch_examples_per_second": scan_rate,
        "peak_batch_size": best_batch,
        "scoring_pairs_per_second": pairs_rate,
        "scoring_seconds_all_users": score_seconds,
        "scorer": scorer,
        "device_peak_flops": peak,
    }
    rows = ["| batch | examples/s | achieved GFLOP/s | of peak |", "|---|---|---|---|"]
    for size, r in by_batch.items():
        f = r["flops_per_second"]
        share = f"{f / peak:.1%}" if (f and peak) else "not estimated"
        shown = f"{f / 1e9:.1f}" if f else "–"
        rows.append(f"| {size} | {r['examples_per_second']:,.0f} | {shown} | {share} |")
    dim_rows = ["| embedding dim | examples/s (batch 1024) |", "|---|---|"]
    dim_rows += [f"| {d} | {v:,.0f} |" for d, v in by_dim.items()]
    hidden_rows = ["| hidden layers | examples/s (batch 1024) |", "|---|---|"]
    hidden_rows += [f"| {h} | {v:,.0f} |" for h, v in by_hidden.items()]
    markdown = "\n".join(
        [
            f"Data: {data_name} ({train.n_interactions} training rows); model: "
            f"default ModelConfig (hidden {model_cfg.hidden_dims}); Adam. Each "
            f"figure: the median of {args.repeats} timed epochs after a warm-up.",
            "",
            *rows,
            "",
            f"Peak at batch {best_batch}.",
            "",
            *dim_rows,
            "",
            *hidden_rows,
            "",
            f"- jitted step fed batch by batch (batch 1024): {step_rate:,.0f} "
            "examples/s",
            f"- scanned epoch (batch 1024): {scan_rate:,.0f} examples/s"
            if scan_rate
            else "- scanned epoch: –",
            f"- full-catalogue scoring ({scorer}): {pairs_rate:,.0f} pairs/s "
            f"({score_seconds:.3f} s for {train.n_users} x {train.n_items})",
        ]
    )
    platform = device.platform
    write_results(
        f"throughput_{platform}",
        {"model": asdict(model_cfg), "batch_sizes": batch_sizes,
         "embedding_dims": embedding_dims, "repeats": args.repeats},
        figures, markdown, Path(args.out_dir),
    )  # fmt: skip
    print(markdown)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.1f} s")
    sys.exit(code)

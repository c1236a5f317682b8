"""Training and scoring throughput on whatever device JAX sees (CPU, GPU, TPU).

    python -m benchmarks.throughput                  # ML-100K features if found
    python -m benchmarks.throughput --small          # quick smoke run

Measures, after a compile and warm-up, blocking on results:
- training examples/s of the scanned epoch against batch size (256 .. 65536)
  and against embedding size, for the default hybrid model;
- the jitted single step fed batch by batch against the scanned epoch;
- full-catalogue scoring pairs/s (every user against every item);
- achieved FLOP/s from XLA's cost analysis of the compiled epoch, against the
  device's peak where it is known (GPUs by name) or can be estimated (CPUs,
  from /proc/cpuinfo).
Results go to benchmarks/results/throughput_<platform>.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import RESULTS, find_data, timed, write_figures, write_results
from hybridrec_jax import (
    Batch,
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    device_features,
    epoch_order,
    init_params,
    load_split,
    make_jit_train_step,
    make_optimizer,
    make_train_epoch,
    score_all,
)
from hybridrec_jax.data import add_spectral_features
from hybridrec_jax.plots import new_figure

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


def cpu_peak(cpuinfo: str, cores: int) -> tuple[float, str] | None:
    """Estimated float32 peak FLOP/s of a CPU: cores x clock x FLOP per cycle.

    FLOP per cycle assumes two fused multiply-add pipes as wide as the widest
    vector unit the flags list (an FMA is 2 FLOP; AVX-512 has 16 float32 lanes,
    AVX2 8, SSE 4): 64, 32 or 16. The clock is the ``cpu MHz`` the kernel
    reports, under a hypervisor often the nominal clock; turbo runs faster, and
    some chips have one AVX-512 pipe, so the share of peak is an estimate.
    """
    clocks = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)]
    flag_lines = re.findall(r"^flags\s*:(.*)$", cpuinfo, re.M)
    if not clocks or not flag_lines:
        return None
    flags = set(flag_lines[0].split())
    lanes = 16 if "avx512f" in flags else 8 if {"avx2", "fma"} <= flags else 4
    unit = "AVX-512" if lanes == 16 else "AVX2+FMA" if lanes == 8 else "SSE"
    mhz = max(clocks)
    per_cycle = 2 * 2 * lanes  # 2 pipes x 2 FLOP per FMA x lanes
    note = (f"{cores} cores x {mhz / 1000:.2f} GHz (cpu MHz) x {per_cycle} "
            f"FLOP/cycle ({unit}, 2 FMA pipes assumed)")  # fmt: skip
    return cores * mhz * 1e6 * per_cycle, note


def device_peak(device) -> tuple[float | None, str]:
    """(peak FLOP/s, where it comes from) for a JAX device."""
    if device.platform == "gpu":
        peak = peak_for(getattr(device, "device_kind", ""))
        return peak, "vendor data sheet (float32)" if peak else "unknown GPU"
    if device.platform == "cpu":
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None, "not estimated (no /proc/cpuinfo)"
        cores = len(os.sched_getaffinity(0))
        estimate = cpu_peak(cpuinfo, cores)
        return estimate if estimate else (None, "not estimated")
    return None, "not estimated"


def setup(train, model_cfg, train_cfg):
    optimizer = make_optimizer(train_cfg)
    params = init_params(
        jax.random.key(0), model_cfg, train.n_users, train.n_items,
        train.user_features.shape[1], train.item_features.shape[1], 3.5,
    )  # fmt: skip
    data = tuple(jnp.asarray(a) for a in (train.user, train.item, train.rating))
    return optimizer, params, data, device_features(train)


def epoch_runner(train, model_cfg, train_cfg):
    """(run, FLOPs per epoch): run() trains one scanned epoch, as ``fit`` does
    (the host-drawn row order included), and blocks on its losses."""
    optimizer, params, data, features = setup(train, model_cfg, train_cfg)
    epoch = make_train_epoch(model_cfg, train_cfg, optimizer)
    state = {"params": params, "opt": optimizer.init(params), "k": 0}

    def run():
        state["k"] += 1
        order = epoch_order(0, state["k"], train.n_interactions)
        state["params"], state["opt"], losses = epoch(
            state["params"], state["opt"], data, features, order,
            jax.random.key(state["k"]),
        )  # fmt: skip
        return jax.block_until_ready(losses)

    # XLA counts a loop body once, so cost one step and multiply by the batches.
    size = train_cfg.batch_size
    batch = Batch(*(a[:size] for a in data), jnp.ones(size, jnp.float32))
    step = make_jit_train_step(model_cfg, train_cfg, optimizer)
    compiled = step.lower(params, state["opt"], batch, features, jax.random.key(0))
    cost = compiled.compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    n_batches = -(-train.n_interactions // size)
    flops = float(cost.get("flops", 0.0)) * n_batches if cost else 0.0
    return run, flops


def step_runner(train, model_cfg, train_cfg):
    """run(): the jitted step called once per batch from Python, over one epoch
    of prefetched device batches; returns the number of examples it trained on."""
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
        return jax.block_until_ready(loss)

    return run, n_batches * size


def round_robin_seconds(runners: dict, repeats: int) -> dict:
    """Median seconds per call of each runner, timed in turns.

    After two warm-up calls each, every round calls every runner once, so that
    a slow spell of the machine (other work, clock changes) falls on all of
    them alike instead of on whichever was timed then.
    """
    for run in runners.values():
        run()
        run()
    seconds = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in seconds.items()}


def scoring_throughput(train, model_cfg, repeats):
    """Pairs/s of scoring every user against every item (the factorised scorer)."""
    _, params, _, features = setup(train, model_cfg, TrainConfig())
    users = jnp.arange(train.n_users)

    def run():
        return score_all(params, model_cfg, features, users)

    seconds = timed(run, repeats=repeats)
    return train.n_users * train.n_items / seconds, seconds, "factorised score_all"


def plots(record: dict) -> dict:
    """throughput_<platform>.png: training examples/s against batch size (with
    the share of the device's peak FLOP/s), embedding size and hidden layers."""
    figures = record["figures"]
    peak = figures["device_peak_flops"]
    by_batch = {int(b): r for b, r in figures["by_batch_size"].items()}
    by_dim = {int(d): v for d, v in figures["by_embedding_dim"].items()}
    by_hidden = figures["by_hidden_dims"]
    shown = [p for p in (by_batch, by_dim, by_hidden) if p]
    fig, axes = new_figure(len(shown), size=(4.2 * len(shown), 3.4))
    axes = iter(axes)
    ax = next(axes)
    sizes = sorted(by_batch)
    rates = [by_batch[b]["examples_per_second"] for b in sizes]
    ax.plot(sizes, rates, "o-")
    for size, rate in zip(sizes, rates, strict=True):
        flops = by_batch[size]["flops_per_second"]
        if flops and peak:
            ax.annotate(f"{flops / peak:.0%}", (size, rate), textcoords="offset "
                        "points", xytext=(0, 6), ha="center", fontsize=7)  # fmt: skip
    share = ", % of peak FLOP/s" if peak else ""
    ax.set(xscale="log", xlabel=f"batch size{share}", ylabel="training examples/s",
           title=f"{figures['data']}, {record['device']['kind']}")  # fmt: skip
    ax.set_xticks(sizes, [str(b) for b in sizes])
    if by_dim:
        ax = next(axes)
        dims = sorted(by_dim)
        ax.plot(dims, [by_dim[d] for d in dims], "o-")
        ax.set(xscale="log", xlabel="embedding dim (batch 1024)")
        ax.set_xticks(dims, [str(d) for d in dims])
    if by_hidden:
        ax = next(axes)
        ax.bar(list(by_hidden), list(by_hidden.values()))
        ax.set(xlabel="hidden layers (batch 1024)")
    for ax in fig.axes:
        ax.set_ylim(0, 1.15 * ax.dataLim.y1)  # room for the labels above
        ax.yaxis.set_major_formatter(lambda v, _: f"{v / 1e3:,.0f}k")
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    return {f"throughput_{record['device']['platform']}.png": fig}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0]
    )
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
    peak, peak_source = device_peak(device)
    # Every distinct (model, batch size) once: the default model at batch 1024
    # is a row of all three tables.
    settings = {("batch", size): (model_cfg, size) for size in batch_sizes}
    settings |= {("embedding", d): (model_cfg.replace(embedding_dim=d), 1024)
                 for d in embedding_dims}  # fmt: skip
    settings |= {("hidden", h): (model_cfg.replace(hidden_dims=h), 1024)
                 for h in hidden_choices}  # fmt: skip
    runners, flops_per_epoch, names = {}, {}, {}
    for setting, (cfg, size) in settings.items():
        name = (cfg, size)
        names[setting] = name
        if name not in runners:
            run, flops = epoch_runner(train, cfg, TrainConfig(batch_size=size))
            runners[name], flops_per_epoch[name] = run, flops
    run_steps, step_examples = step_runner(train, model_cfg, TrainConfig())
    runners["jitted step"] = run_steps
    print(f"timing {len(runners)} settings in turns, {args.repeats} rounds",
          flush=True)  # fmt: skip
    seconds = round_robin_seconds(runners, args.repeats)

    def rate(setting):
        return train.n_interactions / seconds[names[setting]]

    by_batch = {}
    for size in batch_sizes:
        name = names[("batch", size)]
        flops = flops_per_epoch[name] / seconds[name] if flops_per_epoch[name] else None
        by_batch[size] = {"examples_per_second": rate(("batch", size)),
                          "flops_per_second": flops}  # fmt: skip
        print(f"batch {size}: {by_batch[size]['examples_per_second']:,.0f} "
              "examples/s", flush=True)  # fmt: skip
    by_dim = {d: rate(("embedding", d)) for d in embedding_dims}
    by_hidden = {"-".join(map(str, h)): rate(("hidden", h)) for h in hidden_choices}
    step_rate = step_examples / seconds["jitted step"]
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
        "device_peak_source": peak_source,
    }
    rows = ["| batch | examples/s | achieved GFLOP/s | of peak |", "|---|---|---|---|"]
    for size, r in by_batch.items():
        f = r["flops_per_second"]
        share = f"{f / peak:.0%}" if (f and peak) else "not estimated"
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
            f"figure: the median of {args.repeats} timed epochs after two warm-up "
            "epochs; the settings are timed in turns (one epoch of each per round), "
            "so a slow spell of the machine falls on all of them alike. Epochs "
            "include drawing the row order on the host, as `fit` does.",
            "",
            *rows,
            "",
            f"Peak at batch {best_batch}. GFLOP/s: XLA's cost analysis of one "
            "compiled step times the batches, over the epoch's seconds. Device "
            "peak: "
            + (f"{peak / 1e9:,.0f} GFLOP/s, " if peak else "")
            + peak_source
            + ".",
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
    json_path = write_results(
        f"throughput_{platform}",
        {"model": asdict(model_cfg), "batch_sizes": batch_sizes,
         "embedding_dims": embedding_dims, "repeats": args.repeats},
        figures, markdown, Path(args.out_dir),
    )  # fmt: skip
    print(markdown)
    write_figures(plots, json_path)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.1f} s")
    sys.exit(code)

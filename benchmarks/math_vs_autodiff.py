"""Time one training step: hand-derived backward pass against ``jax.grad``.

Both steps are jit-compiled, warmed up and timed with ``block_until_ready``, in
alternating rounds, on one fixed batch of ML-100K-sized synthetic data; the
update is the same optax Adam. The hand pass
(``hybridrec_jax.paper.hand_value_and_grad``) has no dropout, so dropout is off for
both. Run from the repository root:

    python -m benchmarks.math_vs_autodiff            # ML-100K-sized, writes results
    python -m benchmarks.math_vs_autodiff --small    # seconds, for the tests
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import write_results
from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    device_features,
    init_params,
    load_synthetic,
)
from hybridrec_jax.paper import make_hand_train_step
from hybridrec_jax.train import Batch, make_optimizer, make_train_step


def variants(small: bool) -> dict[str, ModelConfig]:
    no_dropout = dict(dropout=0.0, id_dropout_user=0.0, id_dropout_item=0.0)
    base = ModelConfig.tiny() if small else ModelConfig(**no_dropout)
    return {
        "mlp": base.replace(dot_dim=0),
        "mlp+dot": base.replace(dot_dim=base.embedding_dim),
    }


def interleaved_seconds(steps: dict, args: tuple, rounds: int, block: int = 10):
    """Median seconds per call of each step, timed in alternating rounds.

    Each round times ``block`` back-to-back calls of every step in turn (blocking
    on the last result), so that a slow spell of a shared machine hits both.
    """
    for step in steps.values():
        jax.block_until_ready(step(*args))  # compile and warm up
    samples = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(block):
                out = step(*args)
            jax.block_until_ready(out)
            samples[name].append((time.perf_counter() - start) / block)
    return {name: float(np.median(s)) for name, s in samples.items()}


def time_variant(data, model_cfg, train_cfg, repeats: int) -> dict:
    """Median seconds per step for both backward passes, and their agreement."""
    features = device_features(data)
    params = init_params(
        jax.random.key(0), model_cfg, data.n_users, data.n_items,
        data.user_features.shape[1], data.item_features.shape[1],
        global_mean=float(np.mean(data.rating)),
    )  # fmt: skip
    rows = np.random.default_rng(0).integers(
        0, data.n_interactions, train_cfg.batch_size
    )
    batch = Batch(
        jnp.asarray(data.user[rows], jnp.int32),
        jnp.asarray(data.item[rows], jnp.int32),
        jnp.asarray(data.rating[rows], jnp.float32),
        jnp.ones(len(rows), jnp.float32),
    )
    # The hand-written step follows the paper's dense update of the whole pytree.
    optimizer = make_optimizer(train_cfg.replace(embedding_updates="dense"))
    opt_state = optimizer.init(params)
    steps = {
        "autodiff": jax.jit(make_train_step(model_cfg, train_cfg, optimizer)),
        "hand": jax.jit(make_hand_train_step(model_cfg, train_cfg, optimizer)),
    }
    args = (params, opt_state, batch, features, jax.random.key(1))
    seconds = interleaved_seconds(steps, args, rounds=repeats)
    (p_auto, _, loss_auto), (p_hand, _, loss_hand) = (
        step(*args) for step in steps.values()
    )
    max_diff = max(
        float(jnp.max(jnp.abs(a - b))) if a.size else 0.0
        for a, b in zip(jax.tree.leaves(p_auto), jax.tree.leaves(p_hand), strict=True)
    )
    return {
        "ms_per_step_autodiff": 1e3 * seconds["autodiff"],
        "ms_per_step_hand": 1e3 * seconds["hand"],
        "ratio_hand_over_autodiff": seconds["hand"] / seconds["autodiff"],
        "examples_per_second_autodiff": train_cfg.batch_size / seconds["autodiff"],
        "examples_per_second_hand": train_cfg.batch_size / seconds["hand"],
        "loss_difference": abs(float(loss_auto) - float(loss_hand)),
        "max_param_difference_after_one_step": max_diff,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny data, few repeats")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed rounds of 10 steps"
    )
    parser.add_argument("--out-dir", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.small else 30)
    data_cfg = SyntheticConfig.tiny() if args.small else SyntheticConfig()
    data = load_synthetic(data_cfg)
    train_cfg = TrainConfig(batch_size=args.batch_size)
    figures = {
        name: time_variant(data, model_cfg, train_cfg, repeats)
        for name, model_cfg in variants(args.small).items()
    }
    lines = [
        "| model | jax.grad ms/step | hand ms/step | hand / jax.grad | "
        "max param diff |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        lines.append(
            f"| {name} | {f['ms_per_step_autodiff']:.3f} | {f['ms_per_step_hand']:.3f}"
            f" | {f['ratio_hand_over_autodiff']:.2f} | "
            f"{f['max_param_difference_after_one_step']:.1e} |"
        )
        print(
            f"{name}: jax.grad {f['ms_per_step_autodiff']:.3f} ms/step, hand "
            f"{f['ms_per_step_hand']:.3f} ms/step, ratio hand/jax.grad "
            f"{f['ratio_hand_over_autodiff']:.2f}"
        )
    config = {
        "data": f"synthetic {data.n_users} users x {data.n_items} items, "
        f"{data.n_interactions} ratings",
        "batch_size": train_cfg.batch_size,
        "optimizer": "optax.adam",
        "timing": f"median over {repeats} alternating rounds of 10 steps",
        "models": {name: vars(cfg) for name, cfg in variants(args.small).items()},
    }
    markdown = (
        "One jit-compiled training step (forward, backward, Adam update) on one "
        "fixed batch, after a warm-up; median over alternating rounds of 10 steps "
        "(hand and jax.grad take turns, so machine load hits both); dropout off "
        "(the hand backward pass has none).\n\n" + "\n".join(lines)
    )
    write_results("math_vs_autodiff", config, figures, markdown, out_dir=args.out_dir)
    return figures


if __name__ == "__main__":
    main()

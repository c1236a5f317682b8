"""The ``hybridrec`` command. Thin: every flag maps to one config field.

hybridrec train                                  # synthetic data, offline
hybridrec train --dataset ml-100k --data-dir DIR --split u1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.experiment import DATASETS, SPLITS, format_report, run_experiment
from hybridrec_jax.train import TrainingDiverged


def _parse_ints(text: str) -> tuple[int, ...]:
    """'128,64' -> (128, 64); '' or 'none' -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(int(part) for part in text.split(","))


def _add_config_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """One ``--field-name`` flag per dataclass field, typed from its annotation."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        help_text = f"{config_class.__name__}.{f.name} (default: {f.default!r})"
        if kind is bool:
            parser.add_argument(
                flag, dest=f.name, default=None,
                action=argparse.BooleanOptionalAction, help=help_text,
            )  # fmt: skip
        elif kind == tuple[int, ...]:
            parser.add_argument(
                flag, dest=f.name, default=None, type=_parse_ints,
                help=help_text + "; comma-separated",
            )  # fmt: skip
        else:
            parser.add_argument(
                flag, dest=f.name, default=None, type=kind, help=help_text
            )


def _config_from_args(args: argparse.Namespace, config_class):
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_class)
        if getattr(args, f.name, None) is not None
    }
    return config_class(**given)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridrec",
        description="Hybrid neural recommender (embeddings + content) in JAX.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train and evaluate the hybrid model beside two baselines",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--dataset", choices=DATASETS, default="synthetic")
    train.add_argument(
        "--data-dir", type=Path, default=None,
        help="folder of the unpacked data set (ml-100k: u.data, u.user, u.item, ...)",
    )  # fmt: skip
    train.add_argument("--split", choices=SPLITS, default="random")
    train.add_argument(
        "--test-fraction", type=float, default=0.2, help="for the random split"
    )
    train.add_argument("--output-json", type=Path, default=None)
    train.add_argument("--no-progress", action="store_true")
    model_group = train.add_argument_group("model (ModelConfig)")
    _add_config_flags(model_group, ModelConfig)
    train_group = train.add_argument_group("training (TrainConfig)")
    _add_config_flags(train_group, TrainConfig)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    model_cfg = _config_from_args(args, ModelConfig)
    train_cfg = _config_from_args(args, TrainConfig)
    report, _ = run_experiment(
        args.dataset,
        args.data_dir,
        args.split,
        model_cfg,
        train_cfg,
        test_fraction=args.test_fraction,
        progress=not args.no_progress,
    )
    print(format_report(report))
    if args.output_json:
        args.output_json.parent.mkdir(parents=True, exist_ok=True)
        args.output_json.write_text(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
    except (DataError, ValueError, TrainingDiverged) as err:
        print(f"hybridrec: error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

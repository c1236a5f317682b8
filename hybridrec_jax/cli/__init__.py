"""The ``hybridrec`` command. Thin: every flag maps to one config field.

hybridrec train                                  # synthetic data, offline
hybridrec train --dataset ml-100k --data-dir DIR --split u1
hybridrec train --task ranking --dataset ml-100k --data-dir DIR --threshold 4
hybridrec train --dataset csv --data-dir ratings.csv --columns user=uid,item=iid
hybridrec train --plot curves.png                 # training curves as a PNG
hybridrec data download ml-1m --sha256 HEX        # into the cache folder
hybridrec data prepare ml-1m --data-dir DIR       # print the preparation report
hybridrec evaluate --model DIR --interactions new.csv   # metrics of a saved model
hybridrec predict --model DIR --pairs pairs.csv --out scores.csv

One module per group of commands: :mod:`hybridrec_jax.cli.train` (``train``),
:mod:`hybridrec_jax.cli.data` (``data``, and the data-set flags ``train``
shares), :mod:`hybridrec_jax.cli.serve` (``recommend``, ``evaluate``,
``predict``); :mod:`hybridrec_jax.cli.flags` holds what they share.
"""

from __future__ import annotations

import argparse
import sys

from hybridrec_jax.cli.data import _add_data_parser, cmd_data
from hybridrec_jax.cli.serve import (
    _add_pairs_parsers,
    _add_recommend_parser,
    cmd_pairs,
    cmd_recommend,
)
from hybridrec_jax.cli.train import _add_train_parser, cmd_train
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.serve.checkpoint import CheckpointError
from hybridrec_jax.train import TrainingDiverged

__all__ = [
    "build_parser",
    "cmd_data",
    "cmd_pairs",
    "cmd_recommend",
    "cmd_train",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``train`` (a flag per config field), ``data``, ``recommend``,
    ``evaluate`` and ``predict``."""
    parser = argparse.ArgumentParser(
        prog="hybridrec",
        description="Hybrid neural recommender (embeddings + content) in JAX.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(commands)
    _add_data_parser(commands)
    _add_recommend_parser(commands)
    _add_pairs_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``hybridrec`` on ``argv`` (None: ``sys.argv[1:]``); returns the exit
    status, 0, or 2 after printing a DataError, ValueError, TrainingDiverged,
    CheckpointError or OSError (an output that cannot be written) to stderr
    (argparse exits with 2 itself on bad flags)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "data":
            return cmd_data(args)
        if args.command == "recommend":
            return cmd_recommend(args)
        if args.command in ("evaluate", "predict"):
            return cmd_pairs(args)
    except (DataError, ValueError, TrainingDiverged, CheckpointError,
            OSError) as err:  # fmt: skip
        print(f"hybridrec: error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2

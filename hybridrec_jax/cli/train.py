"""``hybridrec train``: the rating task (:func:`run_experiment`) and the
ranking task (:func:`run_ranking_experiment`), their flags and the checks of
output paths made before any data is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hybridrec_jax.cli.data import _add_data_flags, _csv_options
from hybridrec_jax.cli.flags import (
    _add_config_flags,
    _config_from_args,
    _HelpFormatter,
    _parse_ints,
)
from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.experiment import (
    format_report,
    prepare_experiment,
    require_rating_task,
    run_experiment,
)
from hybridrec_jax.plots import plot_history, require_matplotlib
from hybridrec_jax.ranking_experiment import (
    format_ranking_report,
    prepare_ranking,
    require_ranking_task,
    run_ranking_experiment,
)
from hybridrec_jax.serve.outputs import check_writable, write_outputs
from hybridrec_jax.train import CheckpointConfig


def _add_train_parser(commands) -> None:
    """``hybridrec train``: data, task, outputs, checkpoints, hosts, then a flag
    per ``ModelConfig`` and ``TrainConfig`` field."""
    train = commands.add_parser(
        "train",
        help="train and evaluate the hybrid model beside two baselines",
        formatter_class=_HelpFormatter,
    )
    _add_data_flags(train)
    _add_task_flags(train)
    train.add_argument(
        "--output-json",
        type=Path,
        default=None,
        help="also write the report (figures, configs, history) as JSON",
    )
    train.add_argument(
        "--no-progress", action="store_true", help="no progress bar over epochs"
    )
    train.add_argument(
        "--plot", type=Path, default=None, metavar="PNG",
        help="write the training curves (train loss, validation metric per "
        "epoch) here; needs matplotlib (the `plot` extra)",
    )  # fmt: skip
    train.add_argument(
        "--save-model", type=Path, default=None, metavar="DIR",
        help="save the trained model for `hybridrec recommend`; every (user, "
        "item) of the data set, train and test rows, is recorded as seen",
    )  # fmt: skip
    checkpoints = train.add_argument_group("checkpoints (resume a killed run)")
    checkpoints.add_argument(
        "--checkpoint-dir", type=Path, default=None, metavar="DIR",
        help="write checkpoints here: at each new best epoch, at the end and "
        "every --checkpoint-every epochs",
    )  # fmt: skip
    checkpoints.add_argument(
        "--checkpoint-every", type=int, default=0, metavar="N",
        help="also every N epochs (0: best and last only)",
    )  # fmt: skip
    checkpoints.add_argument(
        "--keep-checkpoints", type=int, default=3, metavar="K",
        help="how many checkpoints to keep",
    )  # fmt: skip
    checkpoints.add_argument(
        "--resume", action="store_true",
        help="continue from the newest checkpoint in --checkpoint-dir (the same "
        "data and settings; only --epochs may change)",
    )  # fmt: skip
    hosts = train.add_argument_group(
        "many hosts (one process per host; with --devices 0 the mesh spans all)"
    )
    hosts.add_argument(
        "--coordinator-address", default=None, metavar="HOST:PORT",
        help="process 0's address; default $JAX_COORDINATOR_ADDRESS",
    )  # fmt: skip
    hosts.add_argument(
        "--num-processes", type=int, default=None, metavar="N",
        help="default $JAX_NUM_PROCESSES",
    )  # fmt: skip
    hosts.add_argument(
        "--process-id", type=int, default=None, metavar="I",
        help="this process, 0..N-1; default $JAX_PROCESS_ID",
    )  # fmt: skip
    hosts.add_argument(
        "--distributed", action="store_true",
        help="join a multi-process run from the environment variables above or "
        "the cluster JAX detects (SLURM, Open MPI, ...); implied by the flags",
    )  # fmt: skip
    model_group = train.add_argument_group("model (ModelConfig)")
    _add_config_flags(model_group, ModelConfig)
    train_group = train.add_argument_group("training (TrainConfig)")
    _add_config_flags(train_group, TrainConfig)


def _add_task_flags(parser: argparse.ArgumentParser) -> None:
    """``--task`` and what only the ranking task reads."""
    group = parser.add_argument_group("task")
    group.add_argument(
        "--task", choices=("rating", "ranking"), default="rating",
        help="rating: fit the ratings (MSE), report RMSE/MAE beside the global "
        "mean and biases; ranking: implicit feedback (every interaction a "
        "positive, or rating >= --threshold), BCE against --negatives sampled "
        "negatives (TrainConfig.ranking() defaults: loss bce, negatives 4, "
        "learning rate 3e-3, l2-embedding 1e-4, batch 2048, 20 epochs, "
        "patience 3), full-catalogue HR, NDCG, Recall, MAP@K and AUC beside "
        "popularity and MF",
    )  # fmt: skip
    group.add_argument(
        "--threshold", type=float, default=None,
        help="ranking: a rating >= this is a positive; lower ones are neither "
        "positives nor candidates (default: every interaction is a positive)",
    )  # fmt: skip
    group.add_argument(
        "--ks", type=_parse_ints, default=(10,), metavar="K,...",
        help="ranking: the cut-offs K (default: 10)",
    )  # fmt: skip
    group.add_argument(
        "--sampled", action="store_true",
        help="ranking: also the NCF sampled protocol, each test positive against "
        "99 negatives (ncf-ml-1m: the file's; else drawn among the items the "
        "user never interacted with)",
    )  # fmt: skip
    group.add_argument(
        "--ml1m-dir", type=Path, default=None, metavar="DIR",
        help="ncf-ml-1m: the ML-1M folder of users.dat and movies.dat (default: "
        "ml-1m beside --data-dir, or $HYBRIDREC_DATA/ml-1m)",
    )  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    """``hybridrec train``: :func:`run_experiment` (``--task ranking``:
    :func:`run_ranking_experiment`), print, save; returns 0.

    Raises as those; :func:`main` reports it and returns 2."""
    import jax

    model_cfg = _config_from_args(args, ModelConfig)
    hosts = (args.coordinator_address, args.num_processes, args.process_id)
    if args.distributed or any(value is not None for value in hosts):
        from hybridrec_jax.train.distributed import initialize

        index, count = initialize(*hosts)
        print(f"process {index} of {count}: {jax.device_count()} devices in all")
    split_options = dict(test_fraction=args.test_fraction, fold=args.fold,
                         n_folds=args.n_folds, csv=_csv_options(args))  # fmt: skip
    if args.task == "ranking":
        train_cfg = _config_from_args(args, TrainConfig, TrainConfig.ranking)
        require_ranking_task(train_cfg)  # before any data is read
        if not args.ks or min(args.ks) < 1:
            raise ValueError(f"--ks needs cut-offs K >= 1, got {args.ks}")
        checkpoint = _check_outputs(args)
        data = prepare_ranking(
            args.dataset, args.data_dir, args.split, model_cfg, train_cfg.seed,
            threshold=args.threshold, ml1m_dir=args.ml1m_dir, **split_options,
        )  # fmt: skip
        report, result = run_ranking_experiment(
            args.dataset, args.data_dir, args.split, model_cfg, train_cfg,
            ks=args.ks, sampled=args.sampled, threshold=args.threshold,
            progress=not args.no_progress, checkpoint=checkpoint, data=data,
        )  # fmt: skip
        table = format_ranking_report(report)
    else:
        train_cfg = _config_from_args(args, TrainConfig)
        require_rating_task(train_cfg)  # before any data is read
        for flag, value in (("--threshold", args.threshold),
                            ("--sampled", args.sampled or None)):  # fmt: skip
            if value is not None:
                raise ValueError(f"{flag} belongs to --task ranking: add it")
        checkpoint = _check_outputs(args)
        split = args.split or "random"
        data = prepare_experiment(
            args.dataset, args.data_dir, split, model_cfg, train_cfg.seed,
            **split_options,
        )  # fmt: skip
        report, result = run_experiment(
            args.dataset, args.data_dir, split, model_cfg, train_cfg,
            test_fraction=args.test_fraction, progress=not args.no_progress,
            checkpoint=checkpoint, data=data,
        )  # fmt: skip
        table = format_report(report)
    print("\n".join(report.get("preparation", [])))
    print(table)
    from hybridrec_jax.serve.saved_model import save_experiment_model

    def save(folder):
        return save_experiment_model(folder, result, model_cfg, train_cfg, data)

    if jax.process_index() != 0:  # every process trained; process 0 writes
        return 0
    write_outputs(report, args.output_json, args.save_model, save)
    if args.save_model:
        print(f"model saved to {args.save_model}")
    if args.plot:
        plot_history(report["history"], args.plot)
        print(f"training curves written to {args.plot}")
    return 0


def _check_outputs(args: argparse.Namespace) -> CheckpointConfig | None:
    """Refuse unwritable output paths before training; the checkpoint config."""
    outputs = ((args.save_model, "--save-model", True),
               (args.output_json, "--output-json", False),
               (args.checkpoint_dir, "--checkpoint-dir", True),
               (args.plot, "--plot", False))  # fmt: skip
    for path, flag, folder in outputs:
        if path is not None:
            check_writable(path, flag, folder=folder)
    if args.plot is not None:
        try:
            require_matplotlib()
        except ImportError as err:  # reported like any other bad flag
            raise ValueError(str(err)) from None
    if args.checkpoint_dir is None:
        if args.resume:
            raise ValueError("--resume needs --checkpoint-dir DIR")
        return None
    return CheckpointConfig(args.checkpoint_dir, every=args.checkpoint_every,
                            keep=args.keep_checkpoints, resume=args.resume)  # fmt: skip

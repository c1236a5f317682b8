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
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from hybridrec_jax.config import (
    ACTIVATIONS,
    EMBEDDING_UPDATES,
    LOSSES,
    OPTIMIZERS,
    SAMPLERS,
    ModelConfig,
    TrainConfig,
)
from hybridrec_jax.data import DATASETS as DATA_DATASETS
from hybridrec_jax.data import RELEASES, CSVOptions, download
from hybridrec_jax.data.assignments import parse_columns
from hybridrec_jax.data.download import default_cache
from hybridrec_jax.data.merge import MISSING_SIDE_POLICIES
from hybridrec_jax.data.prepare import DUPLICATE_POLICIES, DataError
from hybridrec_jax.experiment import (
    DATASETS,
    SPLITS,
    format_report,
    load_split,
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
from hybridrec_jax.serve.checkpoint import CheckpointError
from hybridrec_jax.serve.outputs import check_writable, write_outputs
from hybridrec_jax.train import CheckpointConfig, TrainingDiverged


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where the help does not already say it."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default in (None, ""):
            return action.help
        return super()._get_help_string(action)


def _parse_ints(text: str) -> tuple[int, ...]:
    """'128,64' -> (128, 64); '' or 'none' -> () (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(int(part) for part in text.split(","))


def _support_count(text: str) -> int:
    """--min-support: a whole number >= 0, else argparse's error naming the flag."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 0 (the fewest training interactions of "
            f"a recommended item; 0: no minimum), got {text!r}"
        )
    return value


def _shrinkage(text: str) -> float:
    """--shrinkage: a finite number >= 0, else argparse's error naming the flag."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(
            f"expected a finite number >= 0 (beta in n_i / (n_i + beta); 0: no "
            f"shrinkage), got {text!r}"
        )
    return value


# The allowed values of the config fields that take one of a few names.
_CHOICES = {
    "activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "loss": LOSSES,
    "sampler": SAMPLERS, "embedding_updates": EMBEDDING_UPDATES,
}  # fmt: skip


_NOTES = {
    "metric": "; '' picks rmse for --loss mse, hr@10 for --loss bce",
    "momentum": "; --optimizer sgd only",
    "embedding_updates": "; row_sparse: only the id rows a batch touches",
}


def _add_config_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """One ``--field-name`` flag per dataclass field, typed from its annotation."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        help_text = f"{config_class.__name__}.{f.name} (default: {f.default!r})"
        help_text += _NOTES.get(f.name, "")
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
                flag, dest=f.name, default=None, type=kind, help=help_text,
                choices=_CHOICES.get(f.name),
            )  # fmt: skip


def _config_from_args(args: argparse.Namespace, config_class, make=None):
    """``make(**flags given)``; ``make`` defaults to the class itself (its
    defaults), e.g. ``TrainConfig.ranking`` for the ranking task's."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_class)
        if getattr(args, f.name, None) is not None
    }
    return (make or config_class)(**given)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``train`` (a flag per config field), ``data`` and ``recommend``."""
    parser = argparse.ArgumentParser(
        prog="hybridrec",
        description="Hybrid neural recommender (embeddings + content) in JAX.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
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

    data = commands.add_parser("data", help="download or prepare a data set")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    fetch = data_commands.add_parser(
        "download",
        help="fetch a MovieLens release from GroupLens, check its SHA-256, unpack",
        formatter_class=_HelpFormatter,
    )
    fetch.add_argument("name", choices=sorted(RELEASES))
    fetch.add_argument(
        "--sha256", default=None,
        help="the archive's expected SHA-256 (required: none is built in)",
    )  # fmt: skip
    fetch.add_argument(
        "--cache-dir", type=Path, default=None,
        help="default: $HYBRIDREC_CACHE or ~/.cache/hybridrec",
    )  # fmt: skip
    fetch.add_argument(
        "--data-dir", type=Path, default=None,
        help="offline: a folder holding NAME/ or NAME.zip; nothing is fetched",
    )  # fmt: skip
    fetch.add_argument("--url", default=None, help="a mirror instead of GroupLens")
    prepare = data_commands.add_parser(
        "prepare",
        help="prepare a data set and a split; print the preparation report",
        formatter_class=_HelpFormatter,
    )
    _add_data_flags(prepare, positional=True, choices=DATA_DATASETS)
    prepare.add_argument("--seed", type=int, default=0)
    _add_recommend_parser(commands)
    _add_pairs_parsers(commands)
    return parser


def _add_support_flags(parser, shrinkage_note: str = "") -> None:
    """--min-support and --shrinkage of ``recommend`` and ``evaluate``."""
    parser.add_argument(
        "--min-support", type=_support_count, default=0, metavar="N",
        help="never list an item with fewer than N training interactions "
        "(0: no minimum; README \"Top-K lists and item support\")",
    )  # fmt: skip
    parser.add_argument(
        "--shrinkage", type=_shrinkage, default=0.0, metavar="BETA",
        help="rank by m_u + n_i/(n_i + BETA) (s_ui - m_u), m_u the user's mean "
        "score, n_i the item's training interactions (0: by s_ui);"
        + shrinkage_note,
    )  # fmt: skip


def _add_pairs_parsers(commands) -> None:
    """``hybridrec evaluate`` and ``hybridrec predict``: a saved model on a file."""
    evaluate = commands.add_parser(
        "evaluate",
        help="rating and ranking metrics of a saved model on an interactions file",
        formatter_class=_HelpFormatter,
    )
    predict = commands.add_parser(
        "predict",
        help="a saved model's scores of the (user, item) pairs of a file, as CSV",
        formatter_class=_HelpFormatter,
    )
    for command, flag, what in ((evaluate, "--interactions", "interactions"),
                                (predict, "--pairs", "pairs")):  # fmt: skip
        command.add_argument(
            "--model", type=Path, required=True,
            help="saved model folder (train --save-model)",
        )  # fmt: skip
        command.add_argument(
            flag, type=Path, required=True, dest="file",
            help=f"CSV, TSV or Parquet of {what}: a header with user and item "
            "columns (and rating, optional); ids are read as labels",
        )  # fmt: skip
        command.add_argument(
            "--columns", default="",
            help="column mapping, e.g. user=uid,item=movie,rating=stars",
        )  # fmt: skip
        command.add_argument("--sep", default=None, help="default: by file suffix")
        command.add_argument("--encoding", default="utf-8")
        command.add_argument(
            "--output-json", type=Path, default=None,
            help="also write the counts and figures as JSON",
        )  # fmt: skip
    evaluate.add_argument(
        "--ks", type=_parse_ints, default=(10,), metavar="K,...",
        help="cut-offs K of the ranking metrics (default: 10)",
    )  # fmt: skip
    evaluate.add_argument(
        "--threshold", type=float, default=None,
        help="relevant items are those rated >= this (default: every pair)",
    )  # fmt: skip
    _add_support_flags(evaluate)
    predict.add_argument(
        "--out", type=Path, default=None,
        help="write the CSV here (default: print it)",
    )  # fmt: skip


def cmd_pairs(args: argparse.Namespace) -> int:
    """``hybridrec evaluate`` or ``hybridrec predict``: print (or write) the
    figures or the scores; returns 0.

    Raises DataError (a bad file, naming its line and column), ValueError or
    CheckpointError (an unreadable model folder)."""
    from hybridrec_jax.serve import pairs as pair_files
    from hybridrec_jax.serve.saved_model import load_recommender

    for path, flag in ((getattr(args, "out", None), "--out"),
                       (args.output_json, "--output-json")):  # fmt: skip
        if path is not None:
            check_writable(path, flag, folder=False)
    if args.command == "evaluate" and (not args.ks or min(args.ks) < 1):
        raise ValueError(f"--ks needs cut-offs K >= 1, got {args.ks}")
    model = load_recommender(args.model)
    table = pair_files.read_pairs(args.file, parse_columns(args.columns),
                                  sep=args.sep, encoding=args.encoding)  # fmt: skip
    if args.command == "evaluate":
        report = pair_files.evaluate_pairs(
            model, table, ks=args.ks, threshold=args.threshold,
            min_support=args.min_support, shrinkage=args.shrinkage,
        )  # fmt: skip
        print(pair_files.format_evaluation(report))
    else:
        scores, report = pair_files.score_pairs(model, table)
        if args.out is None:
            print(scores.to_csv(index=False), end="")
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            scores.to_csv(args.out, index=False)
            print(f"{len(scores)} scores written to {args.out}")
        if report["rows"]:
            print(
                f"note: {report['rows']} pairs name ids the model does not know "
                f"({report['users']} users, {report['items']} items); their score "
                "is empty", file=sys.stderr,
            )  # fmt: skip
    if args.output_json is not None:
        args.output_json.write_text(json.dumps(report, indent=2, default=float))
    return 0


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


def _add_data_flags(
    parser: argparse.ArgumentParser, positional: bool = False, choices=DATASETS
):
    """Data set, folder, split and the generic ``csv`` reader's options."""
    if positional:
        parser.add_argument("dataset", choices=choices)
    else:
        parser.add_argument(
            "--dataset",
            choices=choices,
            default="synthetic",
            help="built-in synthetic data (offline), a MovieLens "
            "release (--data-dir), the NCF ML-1M files (ncf-ml-1m, --task "
            "ranking only) or your own table (csv)",
        )
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="folder of the unpacked data set (ml-100k: u.data, u.user, u.item; "
        "ml-1m: users.dat, movies.dat, ratings.dat or a ratings CSV; CSV "
        "releases: ratings.csv, movies.csv); csv: a ratings file or its folder",
    )  # fmt: skip
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="default: random (ncf-ml-1m: its own test, each user's latest "
        "item); u1..u5, ua, ub: the ML-100K folds only",
    )
    parser.add_argument(
        "--test-fraction", type=float, default=0.2,
        help="for the random, time and cold-start splits",
    )  # fmt: skip
    parser.add_argument("--fold", type=int, default=0, help="for --split kfold")
    parser.add_argument("--n-folds", type=int, default=5, help="for --split kfold")
    group = parser.add_argument_group("generic csv data set (--dataset csv)")
    group.add_argument("--ratings-file", default=None, help="CSV, TSV or Parquet")
    group.add_argument("--users-file", default=None, help="user side table")
    group.add_argument("--items-file", default=None, help="item side table")
    group.add_argument(
        "--columns", default="",
        help="column mapping, e.g. user=uid,item=movie,rating=stars,timestamp=ts",
    )  # fmt: skip
    group.add_argument("--sep", default=None, help="default: by file suffix")
    group.add_argument(
        "--rating-range", default="",
        help="LOW,HIGH of the rating scale (default: observed min and max)",
    )  # fmt: skip
    group.add_argument("--title-column", default=None, help="item titles")
    group.add_argument(
        "--encoding", default="utf-8",
        help="text encoding of every file, e.g. latin-1",
    )  # fmt: skip
    group.add_argument(
        "--multi-sep", default="|", metavar="SEP",
        help="separator of multi-valued side columns (tags=music|art)",
    )  # fmt: skip
    group.add_argument(
        "--numeric-ids", action="store_true",
        help="read ids as whole numbers (default: labels, so 007 and 7 differ)",
    )  # fmt: skip
    group.add_argument(
        "--user-key", default=None,
        help="key column of --users-file (default: the user column)",
    )  # fmt: skip
    group.add_argument(
        "--item-key", default=None,
        help="key column of --items-file (default: the item column)",
    )  # fmt: skip
    group.add_argument(
        "--missing-side", choices=MISSING_SIDE_POLICIES, default="impute",
        help="interactions whose user or item has no side row",
    )  # fmt: skip
    group.add_argument(
        "--duplicates", choices=DUPLICATE_POLICIES, default="last",
        help="repeated (user, item): last = latest by timestamp, else the file's last",
    )  # fmt: skip
    group.add_argument(
        "--strict", action="store_true",
        help="an invalid row is an error naming its line (default: dropped, counted)",
    )  # fmt: skip
    group.add_argument(
        "--min-user-interactions", type=int, default=1,
        help="k-core: fewest interactions of a kept user",
    )  # fmt: skip
    group.add_argument(
        "--min-item-interactions", type=int, default=1,
        help="k-core: fewest interactions of a kept item",
    )  # fmt: skip


def _csv_options(args: argparse.Namespace) -> CSVOptions:
    return CSVOptions.from_text(
        columns=args.columns,
        rating_range=args.rating_range,
        ratings=args.ratings_file,
        users=args.users_file,
        items=args.items_file,
        sep=args.sep,
        title_column=args.title_column,
        encoding=args.encoding,
        multi_sep=args.multi_sep,
        numeric_ids=args.numeric_ids,
        user_key=args.user_key,
        item_key=args.item_key,
        missing_side=args.missing_side,
        duplicates=args.duplicates,
        invalid="error" if args.strict else "drop",
        min_user_interactions=args.min_user_interactions,
        min_item_interactions=args.min_item_interactions,
    )


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


def _add_recommend_parser(commands) -> None:
    """``hybridrec recommend``: top-K from a model saved by ``train --save-model``."""
    rec = commands.add_parser(
        "recommend",
        help="top-K items for a user, a new user or an item, from a saved model",
        formatter_class=_HelpFormatter,
    )
    rec.add_argument("--model", type=Path, required=True, help="saved model folder")
    rec.add_argument("-k", "--top-k", type=int, default=10, dest="k")
    target = rec.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", help="a known user id; seen items are excluded")
    target.add_argument(
        "--new-user", metavar="NAME=VALUE,...",
        help="features of a user the model never saw, e.g. age=25,gender=F",
    )  # fmt: skip
    target.add_argument("--similar-items", metavar="ITEM_ID", help="an item id")
    target.add_argument(
        "--all-users", action="store_true", help="top-K for every user (see --output)"
    )
    rec.add_argument("--output", type=Path, default=None, help="CSV for --all-users")
    _add_support_flags(rec, " not for --similar-items")


def cmd_recommend(args: argparse.Namespace) -> int:
    """``hybridrec recommend``: print or write a saved model's top K; returns 0.

    Raises ValueError (``--all-users`` without ``--output``, an unknown id or
    feature) or CheckpointError (an unreadable model folder)."""
    from hybridrec_jax.serve import recommend
    from hybridrec_jax.serve.saved_model import load_recommender

    if args.output is not None:
        check_writable(args.output, "--output", folder=False)
    if args.similar_items is not None and args.shrinkage:
        raise ValueError(
            "--shrinkage ranks a user's list by shrunk scores; --similar-items "
            "ranks by cosine similarity and takes --min-support only: drop "
            "--shrinkage"
        )
    options = {"min_support": args.min_support, "shrinkage": args.shrinkage}
    model = load_recommender(args.model)
    if args.all_users:
        if args.output is None:
            raise ValueError("--all-users writes a CSV: give --output FILE")
        table = recommend.recommend_all(model, args.k, **options)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output, index=False)
        print(f"{len(table)} recommendations for {len(model.user_ids)} users "
              f"written to {args.output}")  # fmt: skip
        _print_notes(table)
        return 0
    if args.user is not None:
        table = recommend.recommend_user(model, args.user, args.k, **options)
    elif args.new_user is not None:
        values = recommend.parse_feature_values(args.new_user)
        table = recommend.recommend_new_user(model, values, args.k, **options)
    else:
        table = recommend.similar_items(model, args.similar_items, args.k,
                                        min_support=args.min_support)  # fmt: skip
    _print_notes(table)
    print(recommend.format_table(table) if len(table) else _nothing_found(args))
    return 0


def _print_notes(table) -> None:
    for note in table.attrs.get("notes", ()):
        print(f"note: {note}")


def _nothing_found(args: argparse.Namespace) -> str:
    """The sentence printed instead of an empty table."""
    if args.k <= 0:
        return f"-k {args.k} asks for no recommendations: give -k 1 or more"
    if args.min_support > 0:
        return (
            "no recommendations: no item left with at least "
            f"{args.min_support} training interactions (--min-support)"
        )
    if args.user is not None:
        return f"no recommendations: user {args.user} has seen every item"
    return "no recommendations: the model knows no other item to rank"


def cmd_data(args: argparse.Namespace) -> int:
    """``hybridrec data download`` or ``data prepare``: print the folder or the
    preparation report; returns 0. Raises DataError or ValueError."""
    if args.data_command == "download":
        folder = download(
            args.name,
            cache_dir=args.cache_dir or default_cache(),
            sha256=args.sha256,
            url=args.url,
            data_dir=args.data_dir,
        )
        print(folder)
        return 0
    train, test = load_split(
        args.dataset,
        args.data_dir,
        args.split or "random",
        args.test_fraction,
        args.seed,
        fold=args.fold,
        n_folds=args.n_folds,
        csv=_csv_options(args),
    )
    print("\n".join(train.report))
    print(train.summary())
    print(f"rating range {train.rating_range[0]:g}..{train.rating_range[1]:g}")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())

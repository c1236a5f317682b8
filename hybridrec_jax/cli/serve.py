"""The commands that read a model saved by ``hybridrec train --save-model``:
``recommend`` (top K for a user, a new user, an item or every user),
``evaluate`` and ``predict`` (metrics or scores on a file of pairs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hybridrec_jax.cli.flags import _HelpFormatter, _parse_ints
from hybridrec_jax.data.assignments import parse_columns
from hybridrec_jax.serve.outputs import check_writable


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

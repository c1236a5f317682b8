"""``hybridrec data download`` and ``data prepare``, and the data-set flags
(data set, folder, split, the generic ``csv`` reader's options) that
``hybridrec train`` shares with ``data prepare``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hybridrec_jax.cli.flags import _HelpFormatter
from hybridrec_jax.data import DATASETS as DATA_DATASETS
from hybridrec_jax.data import RELEASES, CSVOptions, download
from hybridrec_jax.data.download import default_cache
from hybridrec_jax.data.merge import MISSING_SIDE_POLICIES
from hybridrec_jax.data.prepare import DUPLICATE_POLICIES
from hybridrec_jax.experiment import DATASETS, SPLITS, load_split


def _add_data_parser(commands) -> None:
    """``hybridrec data download`` and ``hybridrec data prepare``."""
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

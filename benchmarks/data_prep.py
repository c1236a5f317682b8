"""Seconds and peak memory of data preparation: real copies and 25 million rows.

    python -m benchmarks.data_prep                 # ML-100K, NCF ML-1M, 25M rows
    python -m benchmarks.data_prep --small         # 1M synthetic rows

(from the repository root, so that ``benchmarks`` is importable).

Cases:
- ``ml-100k``: read and prepare the ML-100K folder (if found);
- ``ncf-ml-1m``: read and prepare the NCF ML-1M files with ML-1M content (if
  found);
- ``synthetic-25m``: a synthetic interactions table of 25 million rows (about
  the size of ML-25M: 162,541 users, 59,047 items, half stars, timestamps,
  skewed activity and popularity, so some (user, item) pairs repeat), built
  vectorised in memory, then prepared by ``from_tables`` (invalid rows,
  duplicates, side-table merge, encoding, indexing).

Each case runs in a fresh Python process, so the figures do not mix. Memory is
that process's peak resident set size from ``resource.getrusage(RUSAGE_SELF)
.ru_maxrss`` (KiB on Linux), reported as the peak and as the increase over the
same process's peak after imports (the cost of the case itself). Seconds are
wall-clock of the case (for the synthetic case, generation and preparation are
timed apart). Results go to benchmarks/results/data_prep.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, write_results
from hybridrec_jax.data import find_data

REPO = Path(__file__).resolve().parents[1]  # the child runs from here

FULL_ROWS = 25_000_000
SMALL_ROWS = 1_000_000


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_table(n_rows: int, seed: int = 0):
    """(ratings, users, items) with ``n_rows`` interactions, all vectorised.

    Columns are drawn straight into compact dtypes (int32 ids, float32 ratings,
    int64 seconds); users and items follow power laws, so the head repeats
    some pairs, which the duplicate step then resolves.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_users, n_items = 162_541, 59_047
    ratings = pd.DataFrame(
        {
            "user": (n_users * rng.random(n_rows, np.float32) ** 1.5).astype(np.int32)
            + 1,
            "item": (n_items * rng.random(n_rows, np.float32) ** 3).astype(np.int32)
            + 1,
            "rating": rng.integers(1, 11, n_rows, dtype=np.int8).astype(np.float32) / 2,
            "timestamp": rng.integers(789_652_009, 1_574_327_703, n_rows),
        }
    )
    genres = np.array(
        ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller"]
    )
    flags = rng.random((n_items, len(genres))) < 0.25
    genre_lists = pd.Series(list(flags)).map(lambda row: list(genres[row]))
    users = pd.DataFrame(
        {
            "user": np.arange(1, n_users + 1),
            "age": np.where(rng.random(n_users) < 0.05, np.nan,
                            rng.integers(16, 70, n_users)),
            "gender": rng.choice(np.array(["F", "M"]), n_users),
            "occupation": rng.integers(0, 21, n_users),
        }
    )  # fmt: skip
    items = pd.DataFrame(
        {
            "item": np.arange(1, n_items + 1),
            "genres": genre_lists,
            "year": rng.integers(1920, 2020, n_items).astype(float),
        }
    )
    return ratings, users, items


def run_case(case: str, n_rows: int) -> dict:
    """Run one case in this process; return its figures."""
    import numpy as np  # noqa: F401  (counted in the import baseline)
    import pandas as pd  # noqa: F401

    from hybridrec_jax.data import FeatureSpec, from_tables, load_ml100k, load_ncf_ml1m

    base = peak_mib()
    start = time.perf_counter()
    out: dict = {}
    if case == "ml-100k":
        ds = load_ml100k(find_data("ml-100k"))
    elif case == "ncf-ml-1m":
        ds = load_ncf_ml1m(find_data("ncf-ml-1m"), find_data("ml-1m-partial")).train
    else:
        ratings, users, items = synthetic_table(n_rows)
        out["generate_seconds"] = time.perf_counter() - start
        out["generate_peak_mib"] = peak_mib()
        start = time.perf_counter()
        ds, prep = from_tables(
            ratings,
            users,
            items,
            user_features=[
                FeatureSpec("age", "numeric"),
                FeatureSpec("gender", "categorical"),
                FeatureSpec("occupation", "categorical"),
            ],
            item_features=[
                FeatureSpec("genres", "multihot"),
                FeatureSpec("year", "numeric"),
            ],
            rating_range=(0.5, 5.0),
            name=case,
        )
        out["dropped"] = prep.dropped
    seconds = time.perf_counter() - start
    out.update(
        seconds=seconds,
        peak_mib=peak_mib(),
        import_peak_mib=base,
        rows_kept=int(ds.n_interactions),
        users=int(ds.n_users),
        items=int(ds.n_items),
        report=list(ds.report),
    )
    return out


def run_in_child(case: str, n_rows: int) -> dict:
    """``run_case`` in a fresh interpreter, so peak memory is the case's own."""
    args = ["--case", case, "--rows", str(n_rows)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.data_prep", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="1M synthetic rows")
    parser.add_argument("--rows", type=int, default=None, help="synthetic rows")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n_rows = args.rows or (SMALL_ROWS if args.small else FULL_ROWS)
    if args.case:  # child process
        print(json.dumps(run_case(args.case, n_rows)))
        return 0

    cases = [c for c, d in (("ml-100k", "ml-100k"), ("ncf-ml-1m", "ncf-ml-1m"))
             if find_data(d) is not None]  # fmt: skip
    if "ncf-ml-1m" in cases and find_data("ml-1m-partial") is None:
        cases.remove("ncf-ml-1m")
    label = f"synthetic-{n_rows // 1_000_000}m" if n_rows >= 1_000_000 else (
        f"synthetic-{n_rows}"
    )  # fmt: skip
    figures = {}
    for case in [*cases, label]:
        figures[case] = run_in_child(case, n_rows)
        f = figures[case]
        print(
            f"{case:<16} {f['seconds']:8.2f} s  peak {f['peak_mib']:8.0f} MiB "
            f"(+{f['peak_mib'] - f['import_peak_mib']:.0f} over imports)  "
            f"{f['rows_kept']} rows kept",
            flush=True,
        )
    rows = [
        "| case | seconds | peak RSS MiB | over imports MiB | rows kept | users | "
        "items |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case, f in figures.items():
        rows.append(
            f"| {case} | {f['seconds']:.2f} | {f['peak_mib']:.0f} | "
            f"{f['peak_mib'] - f['import_peak_mib']:.0f} | {f['rows_kept']} | "
            f"{f['users']} | {f['items']} |"
        )
    synthetic = figures[label]
    markdown = "\n".join(
        [
            "Data preparation: wall-clock seconds and peak memory per case, each in "
            "a fresh process. Memory is the peak resident set size "
            "(`resource.getrusage(RUSAGE_SELF).ru_maxrss`), also shown as the "
            "increase over the peak after imports.",
            "",
            *rows,
            "",
            f"The synthetic table ({n_rows} rows) took "
            f"{synthetic['generate_seconds']:.2f} s to generate (peak "
            f"{synthetic['generate_peak_mib']:.0f} MiB); the seconds above are "
            "`from_tables` alone. Its preparation report:",
            "",
            *[f"    {line}" for line in synthetic["report"]],
        ]
    )
    config = {"synthetic_rows": n_rows, "small": args.small, "cases": list(figures)}
    write_results("data_prep", config, figures, markdown, out_dir=args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

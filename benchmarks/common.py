"""Shared plumbing for the benchmark scripts: environment facts and result files.

Every benchmark runs from the repository root as ``python -m benchmarks.NAME``.
Data folders are found by :func:`hybridrec_jax.data.find_data` (re-exported).

Every benchmark writes ``benchmarks/results/<name>.json`` (for scripts) and
``<name>.md`` (for people) with its command, versions, device, configuration and
figures, and draws its plots from that JSON file as PNG files beside it
(:func:`write_figures`; ``python -m benchmarks.figures`` redraws them all).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jax

from hybridrec_jax.data import find_data  # re-exported for the benchmark scripts
from hybridrec_jax.plots import save_figure

__all__ = [
    "RESULTS",
    "command",
    "environment",
    "find_data",
    "timed",
    "write_figures",
    "write_results",
]

RESULTS = Path(__file__).resolve().parent / "results"


def command() -> str:
    """The command line that started this process, as it is typed again.

    A benchmark started as ``python -m benchmarks.NAME ARGS`` gives exactly
    that; a console script (``pytest ...``) gives its name and arguments.
    """
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:  # python -m MODULE
        launcher = ["python", "-m", spec.name.removesuffix(".__main__")]
    else:
        launcher = [Path(sys.argv[0]).name]
    return " ".join([*launcher, *sys.argv[1:]])


def environment() -> dict:
    """Versions, device and machine facts recorded beside every figure."""
    versions = {}
    for package in ("jax", "jaxlib", "optax", "flax", "numpy", "pandas"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    device = jax.devices()[0]
    return {
        "command": command(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "versions": versions,
        "device": {
            "platform": device.platform,
            "kind": getattr(device, "device_kind", device.platform),
            "count": jax.device_count(),
            "cpu_cores": os.cpu_count(),
            "machine": platform.machine(),
        },
    }


def write_results(
    name: str, config: dict, figures: dict, markdown: str, out_dir: Path | None = None
) -> Path:
    """Write ``<name>.json`` and ``<name>.md``; return the JSON path.

    ``markdown`` is the human-readable body (tables); the header with command,
    device and versions is added here.
    """
    out_dir = Path(out_dir) if out_dir is not None else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    record = {**env, "config": config, "figures": figures}
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    dev = env["device"]
    header = [
        f"# {name}",
        "",
        f"- command: `{env['command']}`",
        f"- date: {env['date']}",
        f"- device: {dev['platform']} ({dev['kind']}), {dev['count']} device(s), "
        f"{dev['cpu_cores']} CPU cores, {dev['machine']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v),
        "",
    ]
    body = "\n".join(header) + "\n" + markdown.strip() + "\n"
    (out_dir / f"{name}.md").write_text(body)
    return json_path


def write_figures(figures, json_path: Path) -> list[Path]:
    """Draw a benchmark's plots from its results file and write them beside it.

    Args:
        figures: the benchmark's ``figures(record) -> {file name: Figure}``.
        json_path: the ``<name>.json`` that :func:`write_results` wrote.

    Returns:
        The PNG files written; none, with a line saying why, when matplotlib
        is not installed (it is optional: the results stand without plots).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install -e '.[plot]')")
        return []
    json_path = Path(json_path)
    record = json.loads(json_path.read_text())
    written = []
    for file_name, fig in figures(record).items():
        written.append(json_path.parent / file_name)
        save_figure(fig, written[-1])
        print(f"plot: {written[-1]}")
    return written


def timed(fn, *args, repeats: int = 5):
    """Median seconds of ``fn(*args)`` after one warm-up call, blocking on results."""
    jax.block_until_ready(fn(*args))  # compile and warm up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return seconds[len(seconds) // 2]

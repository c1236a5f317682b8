"""A run's outputs: tried before training, never lost after it.

:func:`check_writable` tries every output path before the long work starts;
:func:`write_outputs` writes the report and model of a finished run and, if
that fails, keeps both in a fresh folder and says where.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from hybridrec_jax.serve import atomic
from hybridrec_jax.serve.atomic import fresh_name


def check_writable(path: str | Path, what: str, *, folder: bool) -> None:
    """Raise ``OSError`` unless ``path`` can be written (before a long run).

    The nearest existing folder on the way to ``path`` must accept a new file
    (tried, not guessed from permission bits, which the superuser ignores);
    an existing ``path`` must be a folder if ``folder``, else a file.

    Args:
        path: the output.
        what: how the user gave it (``--save-model``), named in the message.
        folder: whether the output is a folder.

    Raises:
        OSError: saying which path cannot be written and why.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if path.is_dir() else "a file"
        wanted = "folder" if folder else "file"
        raise OSError(f"{what} {path} is {kind}: give a {wanted}")
    probe_in = path if path.is_dir() else path.parent
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    try:
        if not probe_in.is_dir():
            raise NotADirectoryError(f"{probe_in} is not a folder")
        probe = fresh_name(probe_in, "probe")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as err:
        raise OSError(
            f"{what} {path} cannot be written ({err.strerror or err}): choose "
            "another path before training starts"
        ) from None


def write_outputs(
    report: dict,
    output_json: Path | None = None,
    model_dir: Path | None = None,
    save: Callable[[Path], object] | None = None,
) -> None:
    """Write a finished run's report and model; never lose them.

    Both paths were checked before training (``atomic.check_writable``), but
    a disk can fill or a folder vanish in the meantime: if either write fails,
    the report and the model (``save(folder)``) go to a fresh folder in the
    system's temporary folder instead, and the error names it.

    Args:
        report: ``run_experiment``'s report (JSON-able).
        output_json: the report's file, or None.
        model_dir: the model's folder, or None.
        save: ``save(folder)`` writes the model (e.g. a partial
            :func:`save_experiment_model`).

    Raises:
        OSError: a write failed; the message says where both were kept.
    """
    try:
        if output_json is not None:
            output_json.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_file(output_json, json.dumps(report, indent=2).encode())
        if model_dir is not None:
            save(model_dir)
    except OSError as err:
        rescue = Path(tempfile.mkdtemp(prefix="hybridrec-rescued-"))
        (rescue / "report.json").write_text(json.dumps(report, indent=2))
        if save is not None:
            save(rescue / "model")
        raise OSError(
            f"could not write the outputs ({err}); the trained model and the "
            f"report were kept in {rescue} (model/ and report.json)"
        ) from None

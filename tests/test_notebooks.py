"""Every notebook in notebooks/ runs top to bottom, draws its figures without a
warning, and is stored with its figures, so a reader sees them without running it.

Executing compares nothing against the stored outputs: the stored ones come from
an earlier run (``HYBRIDREC_SMALL=1``) and only need to hold figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]
# The figures each notebook draws; one not listed here must draw at least one.
FIGURES = {
    "00_quickstart.ipynb": 2,  # training curves; predicted vs true ratings
    "01_data_preparation.ipynb": 1,  # feature distributions
    "02_math_walkthrough.ipynb": 2,  # gradient error per layer; optimiser gaps
    "03_sgd_vs_adam.ipynb": 2,  # learning-rate sweep; seed bands
    "04_cold_start.ipynb": 2,  # cold vs warm per model; new users' top 10
    "05_scale.ipynb": 1,  # ex/s and memory against catalogue size (+ the bench)
}
WARNINGS = ("IProgress", "TqdmWarning")  # tqdm's notebook bar without ipywidgets


def code_outputs(notebook) -> list:
    return [out for cell in notebook.cells if cell.cell_type == "code"
            for out in cell.outputs]  # fmt: skip


def n_figures(notebook) -> int:
    return sum("image/png" in out.get("data", {}) for out in code_outputs(notebook))


def stderr(notebook) -> str:
    return "".join(out.get("text", "") for out in code_outputs(notebook)
                   if out.get("name") == "stderr")  # fmt: skip


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_and_draws_its_figures(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # Notebooks read HYBRIDREC_SMALL to pick their quick settings.
    monkeypatch.setenv("HYBRIDREC_SMALL", "1")
    # The kernel imports this checkout's package, whichever copy is installed.
    path_list = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path_list))
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # count only what this run draws
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )  # fmt: skip
    client.execute()
    assert n_figures(notebook) >= FIGURES.get(path.name, 1)
    printed = stderr(notebook)
    assert not any(w in printed for w in WARNINGS), printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_with_its_figures(path):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(path, as_version=4)
    assert n_figures(notebook) >= FIGURES.get(path.name, 1), (
        f"{path.name} is stored without its figures: run it with "
        "HYBRIDREC_SMALL=1 and save it with its outputs"
    )
    outputs = code_outputs(notebook)
    assert not [out for out in outputs if out.output_type == "error"]
    printed = stderr(notebook)
    assert not any(w in printed for w in WARNINGS), printed

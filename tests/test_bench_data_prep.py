"""The data preparation benchmark runs once on its small setting."""

from __future__ import annotations

import json


def test_data_prep_small(tmp_path):
    from benchmarks import data_prep

    assert (
        data_prep.main(["--small", "--rows", "200000", "--out-dir", str(tmp_path)]) == 0
    )
    record = json.loads((tmp_path / "data_prep.json").read_text())
    figures = record["figures"]["synthetic-200000"]
    assert figures["seconds"] > 0 and figures["peak_mib"] > 0
    kept = figures["rows_kept"]
    assert kept + sum(figures["dropped"].values()) == 200_000
    assert record["config"]["small"] is True
    assert "peak RSS MiB" in (tmp_path / "data_prep.md").read_text()

"""The README's Python example runs as written, so it cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.M | re.S)


def test_readme_python_block_runs(tmp_path, monkeypatch, capsys):
    (block,) = python_blocks(README.read_text())
    monkeypatch.chdir(tmp_path)  # the block saves a model in the working folder
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert (tmp_path / "my_model").is_dir()
    out = capsys.readouterr().out
    assert "'rmse'" in out and out.count("Synthetic item") == 5

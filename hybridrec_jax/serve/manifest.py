"""The checkpoint manifest: its schema, its digest, and one-line refusals.

``checkpoint.json`` is checked field by field before anything in it is used, so
a missing key, a size written as text or an unknown configuration field is
refused with the file and the field named, never a traceback. Its ``digest``
is the SHA-256 of the manifest's other fields (canonical JSON), and the
manifest holds the SHA-256 of the arrays file: one digest covers both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from pathlib import Path

from hybridrec_jax.config import ModelConfig, TrainConfig

FORMAT = "hybridrec-checkpoint"
FORMAT_VERSION = 2
ARRAYS_NAME = re.compile(r"arrays-[0-9a-f]{16}\.msgpack")
DTYPES = ("float32", "float64", "int32", "int64", "uint8", "bool")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, of another version or of another model."""


def refuse(path: Path, field: str, problem: str) -> CheckpointError:
    """The one-line error: ``<file>: field '<field>' <problem>``."""
    return CheckpointError(f"{path}: field '{field}' {problem}")


def digest(manifest: dict) -> str:
    """SHA-256 of the canonical JSON of ``manifest`` without its "digest".

    >>> digest({"a": 1, "digest": "x"}) == digest({"a": 1})
    True
    """
    body = {k: v for k, v in manifest.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(path: Path, field: str, value, kind: str) -> None:
    ok = {
        "int": _is_int(value) and value >= 0,
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "ints": isinstance(value, list) and all(_is_int(v) for v in value),
    }[kind]
    if not ok:
        names = {"int": "a non-negative integer", "ints": "a list of integers"}
        raise refuse(path, field, f"must be {names.get(kind, kind)}, got {value!r}")


def config_from(path: Path, field: str, cls, data):
    """A ``ModelConfig`` or ``TrainConfig`` from its manifest dict, each field
    type-checked against the dataclass annotation."""
    _expect(path, field, data, "dict")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for name in sorted(set(data) - names):
        raise refuse(path, f"{field}.{name}", f"is not a {cls.__name__} field")
    for name in sorted(names - set(data)):
        raise refuse(path, f"{field}.{name}", "is missing")
    kinds = {int: "int", float: "float", str: "str", bool: "bool",
             tuple[int, ...]: "ints"}  # fmt: skip
    for name, value in data.items():
        kind = kinds[hints[name]]
        if kind == "int" and _is_int(value):  # a seed may be any integer
            continue
        _expect(path, f"{field}.{name}", value, kind)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        raise refuse(path, field, f"is invalid: {err}") from None


SIZES = ("n_users", "n_items", "n_user_features", "n_item_features")


def validate(path: Path, manifest) -> tuple[ModelConfig, TrainConfig | None]:
    """Check every field of a parsed manifest; return its configurations.

    Raises:
        CheckpointError: naming ``path`` and the first field that is wrong.
    """
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise refuse(path, "format", f"is not {FORMAT!r}: not a checkpoint manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise refuse(
            path, "version",
            f"is {manifest.get('version')!r}; this hybridrec_jax reads version "
            f"{FORMAT_VERSION}: re-save the model with this version",
        )  # fmt: skip
    fields = {"arrays_file": "str", "arrays_sha256": "str", "arrays": "dict",
              "model_config": "dict", "sizes": "dict", "epoch": "int",
              "has_opt_state": "bool", "has_best_params": "bool",
              "metadata": "dict", "digest": "str"}  # fmt: skip
    for field, kind in fields.items():
        if field not in manifest:
            raise refuse(path, field, "is missing")
        _expect(path, field, manifest[field], kind)
    if not ARRAYS_NAME.fullmatch(manifest["arrays_file"]):
        name = manifest["arrays_file"]
        raise refuse(path, "arrays_file", "is not a file name of the form "
                     f"arrays-<16 hex>.msgpack: {name!r}")  # fmt: skip
    for name in SIZES:
        _expect(path, f"sizes.{name}", manifest["sizes"].get(name), "int")
    for name, spec in manifest["arrays"].items():
        _expect(path, f"arrays.{name}", spec, "dict")
        if spec.get("dtype") not in DTYPES:
            raise refuse(path, f"arrays.{name}.dtype", f"must be one of {DTYPES}")
        _expect(path, f"arrays.{name}.shape", spec.get("shape"), "ints")
    model_cfg = config_from(path, "model_config", ModelConfig, manifest["model_config"])
    train_cfg = manifest.get("train_config", "missing")
    if train_cfg == "missing":
        raise refuse(path, "train_config", "is missing")
    if train_cfg is not None:
        train_cfg = config_from(path, "train_config", TrainConfig, train_cfg)
    if manifest["has_opt_state"] and train_cfg is None:
        raise refuse(path, "train_config", "is needed to read the optimiser state")
    if manifest["digest"] != digest(manifest):
        raise refuse(
            path, "digest",
            "does not match the manifest: it was edited or is corrupt (the "
            "digest covers every field and, through arrays_sha256, the arrays)",
        )  # fmt: skip
    return model_cfg, train_cfg

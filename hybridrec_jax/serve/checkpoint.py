"""Checkpoints: parameters, optimiser state, configuration and metadata, no pickle.

A checkpoint is a folder of two files:

- ``arrays.msgpack``: ``flax.serialization`` msgpack of {"params", "opt_state",
  "arrays"} (pytrees as state dicts; numpy arrays as typed binary blobs);
- ``checkpoint.json``: the format name and version, the SHA-256 of the arrays
  file, the model and training configurations, the table sizes, the epoch and
  any JSON metadata (id maps, feature names, encoders, titles).

Each file is written to a temporary file in the same folder and moved into place
with ``os.replace`` (atomic on POSIX), the arrays first and the manifest last.
Loading checks the version, the checksum (a manifest that does not match its
arrays, e.g. after an interrupted overwrite, is refused) and that every array
has the shape the configuration implies; any failure raises
:class:`CheckpointError` saying what is wrong. Nothing is ever unpickled, so a
checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.model import Params, init_params
from hybridrec_jax.train import make_optimizer

FORMAT = "hybridrec-checkpoint"
FORMAT_VERSION = 1
ARRAYS_FILE = "arrays.msgpack"
MANIFEST_FILE = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, of another version or of another model."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes:
        params: the parameter pytree of ``model.init_params`` (numpy arrays).
        model_cfg: the model configuration.
        sizes: {"n_users": U, "n_items": I, "n_user_features": F_u,
            "n_item_features": F_i}.
        train_cfg: the training configuration, if saved.
        opt_state: the optimiser state (the pytree of
            ``train.make_optimizer(train_cfg).init``), if saved.
        epoch: the epochs trained (``fit(state=...)`` resumes after it).
        arrays: named numpy arrays, dtypes and shapes as saved.
        metadata: the JSON metadata.
    """

    params: Params
    model_cfg: ModelConfig
    sizes: dict[str, int]
    train_cfg: TrainConfig | None = None
    opt_state: Any = None
    epoch: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then os.replace it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sizes(params: Params) -> dict[str, int]:
    emb, dense = params["embeddings"], params["dense"]
    return {
        "n_users": int(emb["user_bias"].shape[0]),
        "n_items": int(emb["item_bias"].shape[0]),
        "n_user_features": int(dense["user_feature_dot"].shape[0]),
        "n_item_features": int(dense["item_feature_dot"].shape[0]),
    }


def save_checkpoint(
    directory: str | Path,
    params: Params,
    model_cfg: ModelConfig,
    *,
    train_cfg: TrainConfig | None = None,
    opt_state: Any = None,
    epoch: int = 0,
    arrays: dict[str, np.ndarray] | None = None,
    metadata: dict | None = None,
    n_user_features: int | None = None,
    n_item_features: int | None = None,
) -> Path:
    """Write a checkpoint folder (created if needed); return its path.

    Args:
        directory: the folder; files already there are replaced atomically.
        params, model_cfg: the model (``model.init_params`` pytree).
        train_cfg, opt_state, epoch: to resume training (optional): the
            configuration, ``TrainingState.opt_state`` and ``.epoch``.
        arrays: named numpy arrays (features, id maps, seen pairs).
        metadata: JSON-serialisable facts (feature names, encoders, titles).
        n_user_features, n_item_features: F_u, F_i when the model does not use
            features (its V tables are then empty and do not tell).

    Returns:
        ``directory`` as a Path.

    Raises:
        ValueError: ``opt_state`` without ``train_cfg`` (needed to rebuild the
            state's structure on loading).

    >>> import tempfile
    >>> from hybridrec_jax.model import init_params
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = save_checkpoint(folder, p, ModelConfig.tiny(), epoch=3)
    ...     ckpt = load_checkpoint(folder)
    >>> ckpt.epoch, ckpt.sizes["n_items"], ckpt.params["embeddings"]["user"].shape
    (3, 7, (5, 4))
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if opt_state is not None and train_cfg is None:
        raise ValueError("saving opt_state needs train_cfg to rebuild its structure")
    sizes = _sizes(params)
    for name, value in (("n_user_features", n_user_features),
                        ("n_item_features", n_item_features)):  # fmt: skip
        if value is not None:
            sizes[name] = int(value)
    payload = {
        "params": serialization.to_state_dict(jax.device_get(params)),
        "arrays": {k: np.asarray(v) for k, v in (arrays or {}).items()},
    }
    if opt_state is not None:
        payload["opt_state"] = serialization.to_state_dict(jax.device_get(opt_state))
    blob = serialization.msgpack_serialize(payload)
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arrays_sha256": hashlib.sha256(blob).hexdigest(),
        "model_config": dataclasses.asdict(model_cfg),
        "train_config": None if train_cfg is None else dataclasses.asdict(train_cfg),
        "sizes": sizes,
        "epoch": int(epoch),
        "has_opt_state": opt_state is not None,
        "metadata": metadata or {},
    }
    _atomic_write(directory / ARRAYS_FILE, blob)
    _atomic_write(directory / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())
    return directory


def _config(cls, data: dict):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise CheckpointError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**data)


def _restore(template, state, what: str, directory: Path):
    """from_state_dict with every leaf checked against the template's shape."""
    try:
        restored = serialization.from_state_dict(template, state)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(
            f"{what} in {directory} do not match the saved configuration: {err}"
        ) from err
    shapes = jax.tree.map(lambda x: tuple(x.shape), template)
    got = jax.tree.map(lambda x: tuple(np.shape(x)), restored)
    if shapes != got:
        raise CheckpointError(
            f"{what} in {directory} have shapes {got}, the configuration implies "
            f"{shapes}"
        )
    return jax.tree.map(np.asarray, restored)


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Read and verify a folder written by :func:`save_checkpoint`.

    Args:
        directory: the folder.

    Returns:
        A :class:`Checkpoint`; the optimiser state only if one was saved.

    Raises:
        CheckpointError: missing files, another format or version, a checksum
            mismatch, or arrays that do not fit the saved configuration.
    """
    directory = Path(directory)
    manifest_path, arrays_path = directory / MANIFEST_FILE, directory / ARRAYS_FILE
    if not manifest_path.is_file() or not arrays_path.is_file():
        raise CheckpointError(
            f"{directory} is not a checkpoint: it needs {MANIFEST_FILE} and "
            f"{ARRAYS_FILE} (write one with `hybridrec train --save-model DIR`)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{manifest_path} is corrupt: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path} is not a {FORMAT} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{directory} has checkpoint format version {manifest.get('version')}; "
            f"this hybridrec_jax reads version {FORMAT_VERSION}: re-save it with "
            "the version that wrote it"
        )
    blob = arrays_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != manifest["arrays_sha256"]:
        raise CheckpointError(
            f"{arrays_path} does not match the checksum in {MANIFEST_FILE}: the "
            "checkpoint is corrupt or was only partly overwritten"
        )
    try:
        payload = serialization.msgpack_restore(blob)
    except Exception as err:  # msgpack raises several unrelated types
        raise CheckpointError(f"{arrays_path} cannot be decoded: {err}") from err
    model_cfg = _config(ModelConfig, manifest["model_config"])
    train_cfg = (
        None
        if manifest["train_config"] is None
        else _config(TrainConfig, manifest["train_config"])
    )
    sizes = manifest["sizes"]
    template = jax.eval_shape(
        lambda: init_params(
            jax.random.key(0), model_cfg, sizes["n_users"], sizes["n_items"],
            sizes["n_user_features"], sizes["n_item_features"],
        )
    )  # fmt: skip
    params = _restore(template, payload.get("params", {}), "parameters", directory)
    opt_state = None
    if manifest.get("has_opt_state"):
        opt_template = jax.eval_shape(make_optimizer(train_cfg).init, template)
        opt_state = _restore(
            opt_template, payload.get("opt_state", {}), "optimiser state", directory
        )
    return Checkpoint(
        params=params,
        model_cfg=model_cfg,
        sizes=sizes,
        train_cfg=train_cfg,
        opt_state=opt_state,
        epoch=manifest["epoch"],
        arrays=dict(payload.get("arrays", {})),
        metadata=manifest["metadata"],
    )

"""Checkpoints: parameters, optimiser state, configuration and metadata, no pickle.

A checkpoint is a folder of two files:

- ``arrays-<hash>.msgpack``: ``flax.serialization`` msgpack of {"params",
  "opt_state", "best_params", "arrays"} (pytrees as state dicts; numpy arrays
  as typed binary blobs);
- ``checkpoint.json``, the manifest (:mod:`~hybridrec_jax.serve.manifest`): the
  format and version, the arrays file's name and SHA-256, the dtype and shape
  of every named array, the model and training configurations, the table
  sizes, the epoch, JSON metadata (id maps, feature names, encoders, titles)
  and a digest of all of it.

Saving is crash-safe (:mod:`~hybridrec_jax.serve.atomic`): the arrays go to a
new file named by their hash, then the manifest, which names that file, is
replaced in one atomic rename; only then is the previous arrays file removed.
A process killed at any instant leaves the old checkpoint or the new one, never
a mix, and the next save removes what it left behind.

Loading validates the manifest field by field, then its digest, the arrays'
checksum, every array's dtype and shape, the parameters' shapes against the
configuration, and refuses NaN or infinite parameters: each failure is one
:class:`CheckpointError` line naming the file and the field. Nothing is ever
unpickled, so a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.model import Params, init_params
from hybridrec_jax.serve import atomic, manifest
from hybridrec_jax.serve.manifest import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    refuse,
)
from hybridrec_jax.train.step import make_optimizer

MANIFEST_FILE = "checkpoint.json"

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST_FILE", "Checkpoint",
           "CheckpointError", "load_checkpoint", "save_checkpoint"]  # fmt: skip


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
        best_params: the best parameters so far (training checkpoints).
        path: the manifest that was read.
    """

    params: Params
    model_cfg: ModelConfig
    sizes: dict[str, int]
    train_cfg: TrainConfig | None = None
    opt_state: Any = None
    epoch: int = 0
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    best_params: Params | None = None
    path: Path | None = None


def _sizes(params: Params) -> dict[str, int]:
    emb, dense = params["embeddings"], params["dense"]
    return {
        "n_users": int(emb["user_bias"].shape[0]),
        "n_items": int(emb["item_bias"].shape[0]),
        "n_user_features": int(dense["user_feature_dot"].shape[0]),
        "n_item_features": int(dense["item_feature_dot"].shape[0]),
    }


def encode(
    params: Params,
    model_cfg: ModelConfig,
    *,
    train_cfg: TrainConfig | None = None,
    opt_state: Any = None,
    best_params: Params | None = None,
    epoch: int = 0,
    arrays: dict[str, np.ndarray] | None = None,
    metadata: dict | None = None,
    sizes: dict[str, int] | None = None,
) -> tuple[dict, bytes]:
    """(manifest, arrays blob) of a checkpoint: the two files' contents.

    Arguments as :func:`save_checkpoint`; ``sizes`` overrides entries of the
    sizes read from ``params``. Device arrays are copied to the host here.
    """
    if opt_state is not None and train_cfg is None:
        raise ValueError("saving opt_state needs train_cfg to rebuild its structure")
    arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
    payload = {"params": serialization.to_state_dict(jax.device_get(params)),
               "arrays": arrays}  # fmt: skip
    for name, tree in (("opt_state", opt_state), ("best_params", best_params)):
        if tree is not None:
            payload[name] = serialization.to_state_dict(jax.device_get(tree))
    blob = serialization.msgpack_serialize(payload)
    arrays_sha256 = hashlib.sha256(blob).hexdigest()
    body = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arrays_file": f"arrays-{arrays_sha256[:16]}.msgpack",
        "arrays_sha256": arrays_sha256,
        "arrays": {
            k: {"dtype": str(v.dtype), "shape": list(v.shape)}
            for k, v in arrays.items()
        },  # fmt: skip
        "model_config": dataclasses.asdict(model_cfg),
        "train_config": None if train_cfg is None else dataclasses.asdict(train_cfg),
        "sizes": {**_sizes(params), **{k: int(v) for k, v in (sizes or {}).items()}},
        "epoch": int(epoch),
        "has_opt_state": opt_state is not None,
        "has_best_params": best_params is not None,
        "metadata": metadata or {},
    }
    return {**body, "digest": manifest.digest(body)}, blob


def manifest_bytes(body: dict) -> bytes:
    """The manifest file's bytes (readable JSON)."""
    return json.dumps(body, indent=1).encode()


def save_checkpoint(
    directory: str | Path,
    params: Params,
    model_cfg: ModelConfig,
    *,
    train_cfg: TrainConfig | None = None,
    opt_state: Any = None,
    best_params: Params | None = None,
    epoch: int = 0,
    arrays: dict[str, np.ndarray] | None = None,
    metadata: dict | None = None,
    n_user_features: int | None = None,
    n_item_features: int | None = None,
) -> Path:
    """Write a checkpoint folder (created if needed); return its path.

    A checkpoint already in the folder stays loadable until the new one is
    complete (module docstring).

    Args:
        directory: the folder.
        params, model_cfg: the model (``model.init_params`` pytree).
        train_cfg, opt_state, epoch: to resume training (optional): the
            configuration, ``TrainingState.opt_state`` and ``.epoch``.
        best_params: the best parameters so far (training checkpoints).
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
    sizes = {name: value for name, value in (("n_user_features", n_user_features),
             ("n_item_features", n_item_features)) if value is not None}  # fmt: skip
    if train_cfg is not None and opt_state is not None:
        # "auto" is saved as what the state was made with, so loading rebuilds it.
        row_sparse = isinstance(opt_state, dict) and set(opt_state) == {"dense", "rows"}
        if train_cfg.embedding_updates == "auto":
            train_cfg = train_cfg.replace(
                embedding_updates="row_sparse" if row_sparse else "dense"
            )
    body, blob = encode(
        params, model_cfg, train_cfg=train_cfg, opt_state=opt_state,
        best_params=best_params, epoch=epoch, arrays=arrays, metadata=metadata,
        sizes=sizes,
    )  # fmt: skip
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    commit(directory, body, blob)
    return directory


def commit(directory: Path, body: dict, blob: bytes) -> None:
    """Write the arrays, then switch the manifest to them; remove the old ones."""
    atomic.clean_leftovers(directory)
    atomic.write_file(directory / body["arrays_file"], blob)
    atomic.write_file(directory / MANIFEST_FILE, manifest_bytes(body))
    for stale in directory.glob("arrays*.msgpack"):
        if stale.name != body["arrays_file"]:
            stale.unlink(missing_ok=True)


def _restore(template, state, field_name: str, path: Path):
    """from_state_dict with every leaf checked against the template's shape
    and dtype, and refused if not finite."""
    try:
        restored = serialization.from_state_dict(template, state)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise refuse(path, field_name, f"does not match the saved configuration: "
                     f"{str(err).splitlines()[0]}") from None  # fmt: skip
    leaves = jax.tree_util.tree_leaves_with_path(restored)
    expected = jax.tree.leaves(template)
    for (where, leaf), want in zip(leaves, expected, strict=True):
        name = field_name + jax.tree_util.keystr(where)
        leaf = np.asarray(leaf)
        if leaf.shape != want.shape or leaf.dtype != want.dtype:
            implied = f"{want.dtype}{list(want.shape)}"
            raise refuse(path, name, f"is {leaf.dtype}{list(leaf.shape)}; the "
                         f"configuration implies {implied}")  # fmt: skip
        if leaf.dtype.kind == "f" and not np.isfinite(leaf).all():
            raise refuse(path, name, "holds NaN or infinite values: the model "
                         "diverged before it was saved; retrain it")  # fmt: skip
    return jax.tree.map(np.asarray, restored)


def _read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{directory} is not a checkpoint: it has no {MANIFEST_FILE} (write "
            "one with `hybridrec train --save-model DIR`)"
        )
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt: not JSON ({err})") from None


def _read_payload(directory: Path, body: dict) -> dict:
    path = directory / body["arrays_file"]
    if not path.is_file():
        raise refuse(directory / MANIFEST_FILE, "arrays_file",
                     f"names {path.name}, which is missing")  # fmt: skip
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != body["arrays_sha256"]:
        raise refuse(path, "arrays_sha256", f"of {MANIFEST_FILE} does not match "
                     "this file: it is corrupt or was only partly written")  # fmt: skip
    try:
        payload = serialization.msgpack_restore(blob)
    except Exception:  # msgpack raises several unrelated types
        raise refuse(path, "arrays", "cannot be decoded") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("arrays"), dict):
        raise refuse(path, "arrays", "is not a table of named arrays")
    arrays = payload["arrays"]
    if set(arrays) != set(body["arrays"]):
        raise refuse(path, "arrays", f"holds {sorted(arrays)}, the manifest lists "
                     f"{sorted(body['arrays'])}")  # fmt: skip
    for name, spec in body["arrays"].items():
        value = arrays[name]
        if not isinstance(value, np.ndarray) or str(value.dtype) != spec["dtype"] or (
            list(value.shape) != spec["shape"]):  # fmt: skip
            raise refuse(path, f"arrays.{name}", f"is not {spec['dtype']}"
                         f"{spec['shape']} as the manifest says")  # fmt: skip
    return payload


def load_checkpoint(directory: str | Path, *, optimizer=None) -> Checkpoint:
    """Read and verify a folder written by :func:`save_checkpoint`.

    Args:
        directory: the folder.
        optimizer: the optimiser whose state was saved (default:
            ``train.make_optimizer(train_cfg)``); its ``init`` gives the
            state's structure.

    Returns:
        A :class:`Checkpoint`; the optimiser state and best parameters only if
        saved.

    Raises:
        CheckpointError: one line naming the file and the field: a missing
            file, another format or version, an invalid or edited manifest, a
            checksum mismatch, arrays that do not fit the configuration, or
            parameters that are not finite.
    """
    directory = Path(directory)
    body = _read_manifest(directory)
    path = directory / MANIFEST_FILE
    model_cfg, train_cfg = manifest.validate(path, body)
    payload = _read_payload(directory, body)
    sizes = body["sizes"]
    template = jax.eval_shape(
        lambda: init_params(
            jax.random.key(0), model_cfg, sizes["n_users"], sizes["n_items"],
            sizes["n_user_features"], sizes["n_item_features"],
        )
    )  # fmt: skip
    arrays_path = directory / body["arrays_file"]
    params = _restore(template, payload.get("params"), "params", arrays_path)
    best = None
    if body["has_best_params"]:
        best = _restore(template, payload.get("best_params"), "best_params",
                        arrays_path)  # fmt: skip
    opt_state = None
    if body["has_opt_state"]:
        optimizer = optimizer or make_optimizer(train_cfg)
        opt_template = jax.eval_shape(optimizer.init, template)
        opt_state = _restore(opt_template, payload.get("opt_state"), "opt_state",
                             arrays_path)  # fmt: skip
    return Checkpoint(
        params=params, model_cfg=model_cfg, sizes=sizes, train_cfg=train_cfg,
        opt_state=opt_state, epoch=body["epoch"], arrays=dict(payload["arrays"]),
        metadata=body["metadata"], best_params=best, path=path,
    )  # fmt: skip

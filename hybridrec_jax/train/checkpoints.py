"""Checkpoints inside ``fit``: a killed run resumes and ends as if never stopped.

A checkpoint folder holds up to ``keep`` checkpoints ``epoch-000012-<hex>/``
(each a :mod:`~hybridrec_jax.serve.checkpoint` folder) and a pointer file ``LATEST``
naming the newest. Each checkpoint is written into a fresh hidden folder,
fsynced, renamed into place, and only then is ``LATEST`` switched to it (one
atomic rename), so a process killed at any instant leaves the previous
checkpoint loadable; what a killed save left behind is removed at the next
start.

A checkpoint holds everything the loop carries from one epoch to the next:
the parameters and optimiser state, the best parameters, the best score, the
epochs since the best, the history (:class:`Tracker`), plus a fingerprint of
the training data and features and both configurations. Epoch e's order and
keys derive from (seed, e), so resuming from it gives the parameters and
figures of the uninterrupted run, bit for bit on the same machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.model import Params
from hybridrec_jax.serve import atomic
from hybridrec_jax.serve.checkpoint import (
    MANIFEST_FILE,
    CheckpointError,
    encode,
    load_checkpoint,
    manifest_bytes,
)

POINTER = "LATEST"


@dataclass(frozen=True)
class CheckpointConfig:
    """Where and when ``fit`` writes checkpoints.

    Attributes:
        directory: the checkpoint folder (created if needed).
        every: also write one every this many epochs (0: only at each new
            best epoch and at the end).
        keep: how many checkpoints to keep (the newest).
        resume: continue from the newest checkpoint in ``directory`` if there
            is one; without it a folder holding checkpoints is refused.
    """

    directory: str | Path
    every: int = 0
    keep: int = 3
    resume: bool = False

    def __post_init__(self) -> None:
        if self.every < 0 or self.keep < 1:
            raise ValueError("checkpoint every must be >= 0 and keep >= 1")


@dataclass
class Tracker:
    """The early-stopping bookkeeping, carried from epoch to epoch.

    Attributes:
        history: one record per epoch (``FitResult.history``).
        best_params: a device copy of the best parameters so far.
        best_score: sign * metric of the best epoch (lower is better).
        best_epoch: its epoch (0: none yet).
        since_best: validations since the best one.
    """

    history: list[dict] = field(default_factory=list)
    best_params: Params | None = None
    best_score: float = np.inf
    best_epoch: int = 0
    since_best: int = 0

    def update(self, epoch: int, score: float, params: Params, patience: int) -> bool:
        """Record epoch ``epoch``'s score; True when early stopping says stop."""
        if score < self.best_score:
            self.best_score, self.since_best, self.best_epoch = score, 0, epoch
            # A device copy: the buffers of params go to the next epoch.
            self.best_params = jax.tree.map(jnp.copy, params)
            return False
        self.since_best += 1
        return bool(patience) and self.since_best >= patience

    def to_json(self) -> dict:
        return {
            "history": json.loads(json.dumps(self.history, default=float)),
            "best_score": None if np.isinf(self.best_score) else self.best_score,
            "best_epoch": self.best_epoch,
            "since_best": self.since_best,
        }


def fingerprint(*arrays) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes (None entries count too).

    >>> fingerprint(np.arange(3)) == fingerprint(np.arange(3))
    True
    >>> fingerprint(np.arange(3)) == fingerprint(np.arange(1, 4))
    False
    """
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _age(folder: Path) -> tuple[int, int]:
    """(write time, epoch) of a checkpoint folder ``epoch-000012-<hex>``: the
    last written is the newest, even if a killed run left a later epoch."""
    try:
        return folder.stat().st_mtime_ns, int(folder.name.split("-")[1])
    except (IndexError, ValueError, OSError):
        return 0, -1


class TrainingCheckpoints:
    """The checkpoint folder of one run (module docstring).

    Args:
        cfg: where and when.
        model_cfg, train_cfg: the run's configurations (a resumed run must
            have the same, ``epochs`` aside).
        fingerprint: of the training data, features and validation data.

    Raises:
        CheckpointError: the folder holds checkpoints and ``cfg.resume`` is off.
    """

    def __init__(self, cfg: CheckpointConfig, model_cfg: ModelConfig,
                 train_cfg: TrainConfig, fingerprint: str):  # fmt: skip
        self.cfg, self.model_cfg, self.train_cfg = cfg, model_cfg, train_cfg
        self.fingerprint = fingerprint
        self.directory = Path(cfg.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic.clean_leftovers(self.directory)  # of saves killed earlier
        if not cfg.resume and self._folders():
            raise CheckpointError(
                f"{self.directory} already holds checkpoints: pass resume=True "
                "(--resume) to continue that run, or choose an empty folder"
            )

    def _folders(self) -> list[Path]:
        """The checkpoint folders, the oldest written first."""
        return sorted(self.directory.glob("epoch-*"), key=_age)

    def latest(self) -> Path | None:
        """The checkpoint ``LATEST`` names (the newest folder if it is lost)."""
        pointer = self.directory / POINTER
        if pointer.is_file():
            name = pointer.read_text().strip()
            if (self.directory / name / MANIFEST_FILE).is_file():
                return self.directory / name
        folders = self._folders()
        return folders[-1] if folders else None

    def restore(self, params: Params, optimizer):
        """(params, opt_state, epoch, tracker, stopped_early) of the newest
        checkpoint, or None when there is none.

        Args:
            params: parameters of the run's shapes (the template).
            optimizer: the run's optimiser (the state's structure).

        Raises:
            CheckpointError: the checkpoint is corrupt, or was written for
                other data or configurations.
        """
        folder = self.latest()
        if folder is None:
            return None
        ckpt = load_checkpoint(folder, optimizer=optimizer)
        state = ckpt.metadata.get("training")
        if not isinstance(state, dict) or ckpt.best_params is None:
            raise CheckpointError(f"{ckpt.path}: field 'metadata.training' is "
                                  "missing: not a training checkpoint")  # fmt: skip
        self._check_same_run(ckpt, state)
        if jax.tree.structure(params) != jax.tree.structure(ckpt.params):
            raise CheckpointError(f"{ckpt.path}: field 'params' has another "
                                  "structure than this run's model")  # fmt: skip
        best = state["best_score"]
        tracker = Tracker(
            history=state["history"],
            best_params=jax.tree.map(jnp.array, ckpt.best_params),
            best_score=np.inf if best is None else best,
            best_epoch=state["best_epoch"],
            since_best=state["since_best"],
        )
        return ckpt.params, ckpt.opt_state, ckpt.epoch, tracker, state["stopped_early"]

    def _check_same_run(self, ckpt, state: dict) -> None:
        if state.get("fingerprint") != self.fingerprint:
            raise CheckpointError(
                f"{ckpt.path}: field 'metadata.training.fingerprint' differs: the "
                "checkpoint was written for other training data or features "
                "(data set, split, seed, interaction_dim): resume with the same "
                "data, or start in another --checkpoint-dir"
            )
        saved = dataclasses.asdict(ckpt.train_cfg)
        now = dataclasses.asdict(self.train_cfg)
        differ = [f"train_config.{k}: saved {saved[k]!r}, now {now[k]!r}"
                  for k in now if k != "epochs" and saved[k] != now[k]]  # fmt: skip
        if ckpt.model_cfg != self.model_cfg:
            saved, now = (dataclasses.asdict(c) for c in (ckpt.model_cfg,
                                                          self.model_cfg))  # fmt: skip
            differ += [f"model_config.{k}: saved {saved[k]!r}, now {now[k]!r}"
                       for k in now if saved[k] != now[k]]  # fmt: skip
        if differ:
            raise CheckpointError(
                f"{ckpt.path}: the run had other settings ({'; '.join(differ)}): "
                "resume with the same settings (only --epochs may change), or "
                "start in another --checkpoint-dir"
            )

    def due(self, epoch: int, improved: bool, finished: bool) -> bool:
        """Whether epoch ``epoch`` is checkpointed."""
        every = self.cfg.every and epoch % self.cfg.every == 0
        return bool(every or improved or finished)

    def save(self, epoch: int, params: Params, opt_state, tracker: Tracker,
             stopped_early: bool) -> Path:  # fmt: skip
        """Write the checkpoint of epoch ``epoch`` (host copies made here),
        point ``LATEST`` to it and drop all but the newest ``keep``."""
        metadata = {"training": {**tracker.to_json(), "stopped_early": stopped_early,
                                 "fingerprint": self.fingerprint}}  # fmt: skip
        body, blob = encode(
            params, self.model_cfg, train_cfg=self.train_cfg, opt_state=opt_state,
            best_params=tracker.best_params, epoch=epoch, metadata=metadata,
        )  # fmt: skip
        # A fresh name: a run killed before LATEST moved on may have left a
        # folder of this epoch, and LATEST may still name it.
        name = f"epoch-{epoch:06d}-{secrets.token_hex(3)}"
        folder = self.directory / name
        files = {body["arrays_file"]: blob, MANIFEST_FILE: manifest_bytes(body)}
        atomic.write_folder(folder, files)
        atomic.write_file(self.directory / POINTER, name.encode())
        for old in self._folders()[: -self.cfg.keep]:
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return folder

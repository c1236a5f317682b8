"""Faults: killed runs resume bit for bit, killed saves never lose the previous
checkpoint, divergence stops with advice, outputs are checked before training,
and JAX_ENABLE_X64 is refused with one line.

The subprocess tests run ``hybridrec`` on a 2000-rating CSV with a two-wide
model and share a persistent compilation cache, so each run costs about its
start-up; every random choice is seeded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pandas as pd
import pytest

from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    init_params,
    load_synthetic,
)
from hybridrec_jax.cli import main
from hybridrec_jax.data import random_split
from hybridrec_jax.experiment import load_split, prepare_experiment
from hybridrec_jax.serve.atomic import TMP_PREFIX
from hybridrec_jax.serve.checkpoint import CheckpointError, load_checkpoint
from hybridrec_jax.serve.saved_model import (
    load_recommender,
    save_experiment_model,
)
from hybridrec_jax.train import CheckpointConfig, TrainingDiverged, fit
from hybridrec_jax.train.divergence import check_progress

TINY = ["--embedding-dim", "2", "--hidden-dims", "4", "--interaction-dim", "2",
        "--no-progress"]  # fmt: skip
MODEL = ModelConfig(embedding_dim=2, hidden_dims=(4,), interaction_dim=0,
                    dropout=0.1)  # fmt: skip
# Overfits the tiny data: the best epoch comes early and early stopping ends it.
OVERFIT = TrainConfig(batch_size=32, epochs=12, patience=3, learning_rate=5e-2,
                      l2_embedding=0.0, validation_fraction=0.2)  # fmt: skip


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(a), jax.device_get(b))


def figures(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


@pytest.fixture(scope="module")
def tiny_train():
    data = load_synthetic(SyntheticConfig.tiny())
    rows, _ = random_split(data.n_interactions, 0.2, seed=0)
    return data.subset(rows)


# Checkpoints in fit ------------------------------------------------------------


def test_resume_past_the_best_epoch_is_bit_identical(tiny_train, tmp_path):
    """The issue's case: a run resumed after its best epoch once returned the
    last parameters. Stopped after epoch k (past the best), resumed to the end,
    it returns the uninterrupted run's best parameters, state and figures."""
    straight = fit(tiny_train, MODEL, OVERFIT,
                   checkpoint=CheckpointConfig(tmp_path / "a", every=1))  # fmt: skip
    assert straight.best_epoch < len(straight.history) < OVERFIT.epochs
    k = straight.best_epoch + 1  # past the best: epochs since best = 1
    ck = CheckpointConfig(tmp_path / "b", every=1)
    fit(tiny_train, MODEL, OVERFIT.replace(epochs=k), checkpoint=ck)
    resumed = fit(tiny_train, MODEL, OVERFIT,
                  checkpoint=CheckpointConfig(tmp_path / "b", resume=True))  # fmt: skip
    assert_trees_equal(resumed.params, straight.params)
    assert_trees_equal(resumed.state.params, straight.state.params)
    assert_trees_equal(resumed.state.opt_state, straight.state.opt_state)
    assert resumed.best_epoch == straight.best_epoch
    assert resumed.best_metric == straight.best_metric
    assert figures(resumed.history) == figures(straight.history)
    # A finished run resumes to its result without training.
    again = fit(tiny_train, MODEL, OVERFIT,
                checkpoint=CheckpointConfig(tmp_path / "b", resume=True))  # fmt: skip
    assert_trees_equal(again.params, straight.params)
    assert figures(again.history) == figures(straight.history)


def test_checkpoint_folder_keeps_the_last_k_and_cleans_leftovers(tiny_train, tmp_path):
    cfg = OVERFIT.replace(epochs=5, patience=0)
    fit(tiny_train, MODEL, cfg, checkpoint=CheckpointConfig(tmp_path, every=1, keep=2))
    folders = sorted(p.name[:12] for p in tmp_path.glob("epoch-*"))
    assert folders == ["epoch-000004", "epoch-000005"]
    assert (tmp_path / "LATEST").read_text().startswith("epoch-000005-")
    (tmp_path / f"{TMP_PREFIX}epoch-000006-dead").mkdir()  # a killed save
    (tmp_path / f"{TMP_PREFIX}LATEST-dead").write_text("x")
    resume = CheckpointConfig(tmp_path, every=1, keep=2, resume=True)
    fit(tiny_train, MODEL, cfg.replace(epochs=6), checkpoint=resume)
    assert not list(tmp_path.glob(TMP_PREFIX + "*"))
    assert (tmp_path / "LATEST").read_text().startswith("epoch-000006-")
    assert len(list(tmp_path.glob("epoch-*"))) == 2


def test_checkpoints_at_each_new_best_and_at_the_end(tiny_train, tmp_path):
    result = fit(tiny_train, MODEL, OVERFIT,
                 checkpoint=CheckpointConfig(tmp_path, keep=99))  # fmt: skip
    rmse = [h["val_rmse"] for h in result.history]
    best = [e for e, r in enumerate(rmse, 1) if r < min(rmse[: e - 1], default=9)]
    written = sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("epoch-*"))
    assert written == [*best, len(rmse)] and best[-1] == result.best_epoch


def test_resume_refuses_other_data_settings_or_a_used_folder(tiny_train, tmp_path):
    cfg = OVERFIT.replace(epochs=2, patience=0)
    fit(tiny_train, MODEL, cfg, checkpoint=CheckpointConfig(tmp_path))
    resume = CheckpointConfig(tmp_path, resume=True)
    other = tiny_train.subset(np.arange(tiny_train.n_interactions - 1))
    with pytest.raises(CheckpointError, match="fingerprint.*other training data"):
        fit(other, MODEL, cfg.replace(epochs=3), checkpoint=resume)
    features = dataclasses.replace(
        tiny_train, user_features=tiny_train.user_features + 1
    )
    with pytest.raises(CheckpointError, match="fingerprint.*other training data"):
        fit(features, MODEL, cfg.replace(epochs=3), checkpoint=resume)
    with pytest.raises(CheckpointError, match="learning_rate: saved 0.05, now 0.1"):
        fit(tiny_train, MODEL, cfg.replace(epochs=3, learning_rate=0.1),
            checkpoint=resume)  # fmt: skip
    with pytest.raises(CheckpointError, match="model_config.dropout"):
        fit(tiny_train, MODEL.replace(dropout=0.0), cfg.replace(epochs=3),
            checkpoint=resume)  # fmt: skip
    with pytest.raises(CheckpointError, match="already holds checkpoints.*--resume"):
        fit(tiny_train, MODEL, cfg, checkpoint=CheckpointConfig(tmp_path))


# Kill -9 ------------------------------------------------------------------------


def _env(tmp: Path) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(tmp / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")  # fmt: skip
    env.pop("JAX_ENABLE_X64", None)
    return env


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory) -> Path:
    """The tiny synthetic ratings (2000) as a CSV for `--dataset csv`."""
    data = load_synthetic(SyntheticConfig.tiny())
    csv = tmp_path_factory.mktemp("data") / "ratings.csv"
    pd.DataFrame({"user": data.user_ids[data.user], "item": data.item_ids[data.item],
                  "rating": data.rating}).to_csv(csv, index=False)  # fmt: skip
    return csv


def _train_command(csv: Path, out: Path, ck: Path) -> list[str]:
    return [sys.executable, "-m", "hybridrec_jax.cli", "train", "--dataset", "csv",
            "--data-dir", str(csv), "--epochs", "12", "--patience", "0",
            "--batch-size", "64", "--checkpoint-dir", str(ck),
            "--checkpoint-every", "1", "--resume", "--save-model", str(out / "model"),
            "--output-json", str(out / "report.json"), *TINY]  # fmt: skip


def test_sigkilled_training_resumes_to_the_uninterrupted_model(tmp_path, ratings_csv):
    """`hybridrec train --checkpoint-dir --resume` killed with SIGKILL at seeded
    random instants after a checkpoint exists, then resumed: the final saved
    model and the figures equal an uninterrupted run's, bit for bit."""
    csv = ratings_csv
    env, rng = _env(tmp_path), np.random.default_rng(14)
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_train_command(csv, ref, tmp_path / "ck-ref"), env=env,
                   check=True, capture_output=True)  # fmt: skip
    latest, kills, epochs_killed = tmp_path / "ck" / "LATEST", 0, []

    def epoch_done() -> int:  # the epoch of the newest checkpoint (0: none)
        return int(latest.read_text().split("-")[1]) if latest.exists() else 0

    for _ in range(3):
        target = epoch_done() + int(rng.integers(1, 4))  # 1 to 3 epochs on
        proc = subprocess.Popen(
            _train_command(csv, run, tmp_path / "ck"), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None and epoch_done() < target:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.02))  # inside the next epoch or its save
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
            epochs_killed.append(epoch_done())
        proc.wait()
        if (run / "model").exists() or epoch_done() >= 10:
            break
    assert kills >= 2  # three unless a run outpaced its kill
    subprocess.run(_train_command(csv, run, tmp_path / "ck"), env=env, check=True,
                   capture_output=True)  # fmt: skip
    a, b = load_checkpoint(ref / "model"), load_checkpoint(run / "model")
    assert_trees_equal(a.params, b.params)
    assert a.epoch == b.epoch
    ra, rb = (json.loads((p / "report.json").read_text()) for p in (ref, run))
    assert ra["test_rmse"] == rb["test_rmse"] and ra["best_epoch"] == rb["best_epoch"]
    assert figures(ra["history"]) == figures(rb["history"])
    print(f"\nSIGKILLed after the checkpoints of epochs {epochs_killed}, resumed: "
          f"test RMSE {rb['test_rmse']:.4f} both")  # fmt: skip


SAVER = """
import sys, numpy as np, jax
from hybridrec_jax import ModelConfig, TrainConfig, init_params
from hybridrec_jax.serve.checkpoint import save_checkpoint
from hybridrec_jax.train.checkpoints import (CheckpointConfig,
    TrainingCheckpoints, Tracker)
model_dir, ck_dir = sys.argv[1:3]
cfg, train_cfg = ModelConfig.tiny(), TrainConfig.tiny()
base = init_params(jax.random.key(0), cfg, 50, 40, 3, 2)
big = {"blob": np.random.default_rng(0).random(1_000_000)}  # 8 MB: slow saves
store = TrainingCheckpoints(CheckpointConfig(ck_dir, keep=2, resume=True),
                            cfg, train_cfg, "fp")
for k in range(1, 10_000):
    params = jax.tree.map(lambda x: x + k, base)
    save_checkpoint(model_dir, params, cfg, epoch=k, arrays=big)
    store.save(k, params, None, Tracker(best_params=params), False)
    print(k, flush=True)
"""


def test_killed_saves_leave_the_previous_checkpoint_loadable(tmp_path):
    """A process saving a model and a training checkpoint over and over is
    SIGKILLed at seeded random instants; after each kill both load, hold one
    consistent version, and the next start removes what the kill left."""
    from hybridrec_jax.train.checkpoints import TrainingCheckpoints

    model_dir, ck_dir = tmp_path / "model", tmp_path / "ck"
    base = init_params(jax.random.key(0), ModelConfig.tiny(), 50, 40, 3, 2)
    rng, leftovers = np.random.default_rng(14), 0
    cfg = CheckpointConfig(ck_dir, keep=2, resume=True)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(model_dir), str(ck_dir)],
            env=_env(tmp_path), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        proc.stdout.readline()  # one save done
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = load_checkpoint(model_dir)  # never unloadable
        expected = jax.tree.map(lambda x, k=ckpt.epoch: x + k, base)
        assert_trees_equal(ckpt.params, expected)  # one version, never a mix
        leftovers += len(list(model_dir.glob(TMP_PREFIX + "*")))
        leftovers += len(list(ck_dir.glob(TMP_PREFIX + "*")))
        store = TrainingCheckpoints(cfg, ModelConfig.tiny(), TrainConfig.tiny(), "fp")
        assert not list(ck_dir.glob(TMP_PREFIX + "*"))  # cleaned at the start
        params, _, epoch, _, _ = store.restore(base, None)
        assert_trees_equal(params, jax.tree.map(lambda x, k=epoch: x + k, base))
        assert len(list(ck_dir.glob("epoch-*"))) <= 3
    print(f"\n{leftovers} leftovers of killed saves found and cleaned")


class Crash(Exception):
    """A simulated power cut at one system call."""


def _trace(monkeypatch, crash_at=None):
    """Record atomic's file-system calls; raise Crash at the call ``crash_at``."""
    from hybridrec_jax.serve import atomic

    events = []

    def spy(name, real):
        def call(*args, **kwargs):
            if crash_at is not None and len(events) == crash_at:
                raise Crash(name)
            target = (
                args[0] if name != "fsync" else os.readlink(f"/proc/self/fd/{args[0]}")
            )
            events.append(
                (
                    name,
                    Path(target).name,
                    *(Path(a).name for a in args[1:2] if name in ("replace", "rename")),
                )
            )
            return real(*args, **kwargs)

        return call

    for name in ("open", "fsync", "replace", "rename"):
        monkeypatch.setattr(atomic.os, name, spy(name, getattr(os, name)))
    return events


def test_saves_write_aside_fsync_then_rename(tmp_path, monkeypatch):
    """Every file is created under a hidden temporary name, fsynced, then
    renamed; the folder is fsynced after; the arrays before the manifest."""
    params = init_params(jax.random.key(0), ModelConfig.tiny(), 5, 7, 3, 2)
    from hybridrec_jax.serve.checkpoint import save_checkpoint

    events = _trace(monkeypatch)
    save_checkpoint(tmp_path, params, ModelConfig.tiny())
    created = [e[1] for e in events if e[0] == "open" and e[1] != tmp_path.name]
    assert created and all(n.startswith(TMP_PREFIX) for n in created)
    renames = [e for e in events if e[0] == "replace"]
    assert [e[2] for e in renames][-1] == "checkpoint.json"  # the switch is last
    for _, tmp, final in renames:
        i = events.index(("replace", tmp, final))
        assert ("fsync", tmp) in events[:i]  # the data is on disk first
        assert ("fsync", tmp_path.name) in events[i + 1 :]  # then the name


@pytest.mark.parametrize("crash_at", range(12))
def test_a_save_cut_at_any_call_keeps_the_old_model(tmp_path, monkeypatch, crash_at):
    from hybridrec_jax.serve.checkpoint import save_checkpoint

    cfg = ModelConfig.tiny()
    old = init_params(jax.random.key(0), cfg, 5, 7, 3, 2)
    new = jax.tree.map(lambda x: x + 1, old)
    save_checkpoint(tmp_path, old, cfg, epoch=1)
    _trace(monkeypatch, crash_at)
    try:
        save_checkpoint(tmp_path, new, cfg, epoch=2)
    except Crash:
        pass
    monkeypatch.undo()
    ckpt = load_checkpoint(tmp_path)
    assert_trees_equal(ckpt.params, old if ckpt.epoch == 1 else new)
    save_checkpoint(tmp_path, new, cfg, epoch=3)  # the next save cleans up
    assert len(list(tmp_path.iterdir())) == 2


# Divergence ---------------------------------------------------------------------


def test_adam_at_learning_rate_10_stops_with_advice(capsys):
    """On the default synthetic data Adam at lr 10 once ended with exit 0 and
    test RMSE 2.85 (biases baseline 0.85)."""
    assert main(["train", "--learning-rate", "10", "--epochs", "8", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "training diverged" in err and "epoch" in err
    assert "lower learning rate (now 10 with adam)" in err


def test_divergence_rules_for_any_optimiser():
    cfg = TrainConfig(optimizer="sgd")
    fine = [{"epoch": e, "train_loss": 1.0 / e, "val_rmse": 0.9} for e in (1, 2, 3)]
    check_progress(fine, cfg, baseline_rmse=1.0)
    exploded = [*fine[:2], {"epoch": 3, "train_loss": 4.01, "val_rmse": 0.9}]
    with pytest.raises(TrainingDiverged, match="epoch 3 .*4 times.*with sgd"):
        check_progress(exploded, cfg, baseline_rmse=1.0)
    worse = [{**h, "val_rmse": 1.6} for h in fine]  # 1.6 > 1.5 * 1.0
    with pytest.raises(TrainingDiverged, match="after epoch 3 .*training mean"):
        check_progress(worse, cfg, baseline_rmse=1.0)
    check_progress(worse[:2], cfg, baseline_rmse=1.0)  # too early to tell
    overfit = [*fine, {"epoch": 4, "train_loss": 0.2, "val_rmse": 1.5}]
    check_progress(overfit, cfg, baseline_rmse=1.0)  # early stopping's job


# JAX_ENABLE_X64 -------------------------------------------------------------------


def test_x64_is_refused_with_one_line(tmp_path):
    env = {**_env(tmp_path), "JAX_ENABLE_X64": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "hybridrec_jax.cli", "train", "--epochs", "1", *TINY],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unset JAX_ENABLE_X64" in proc.stderr


# Outputs ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--save-model", "--output-json",
                                  "--checkpoint-dir"])  # fmt: skip
def test_unwritable_outputs_are_refused_before_training(tmp_path, capsys, flag):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    start = time.perf_counter()
    assert main(["train", flag, str(blocker / "out"), *TINY]) == 2
    err = capsys.readouterr()
    assert f"{flag} {blocker / 'out'} cannot be written" in err.err
    assert "hybrid model" not in err.out  # nothing was trained
    assert time.perf_counter() - start < 5


def test_recommend_output_is_checked_first(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["recommend", "--model", str(tmp_path), "--all-users", "--output",
            str(blocker / "top.csv")]  # fmt: skip
    assert main(args) == 2
    assert "--output" in capsys.readouterr().err


def test_failed_write_after_training_keeps_the_model(
    tmp_path, capsys, monkeypatch, ratings_csv
):
    """The path went bad during training: the model and report are kept in a
    rescue folder, and the message says where."""
    import tempfile

    from hybridrec_jax.cli import train as cli_train

    monkeypatch.setattr(cli_train, "check_writable", lambda *a, **k: None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["train", "--dataset", "csv", "--data-dir", str(ratings_csv), "--epochs",
            "1", "--save-model", str(blocker / "m"), *TINY]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    (rescue,) = tmp_path.glob("hybridrec-rescued-*")
    assert f"kept in {rescue}" in err
    assert load_recommender(rescue / "model").user_ids.size == 60
    assert "test_rmse" in json.loads((rescue / "report.json").read_text())


# Seen items ----------------------------------------------------------------------


def test_saved_model_never_recommends_an_item_rated_anywhere(tmp_path):
    """`train --save-model` records train and test pairs as seen: no user is
    offered an item they rated in the data given, test rows included."""
    tiny, train_cfg, model_cfg = SyntheticConfig.tiny(), TrainConfig(), MODEL
    train, test = load_split(synthetic=tiny, seed=train_cfg.seed)
    f_u, f_i = (t.shape[1] + model_cfg.interaction_dim
                for t in (train.user_features, train.item_features))  # fmt: skip
    params = init_params(jax.random.key(0), model_cfg, train.n_users, train.n_items,
                         f_u, f_i)  # fmt: skip
    result = SimpleNamespace(params=params, best_epoch=1)  # what is saved of a fit
    data = prepare_experiment(model_cfg=model_cfg, seed=train_cfg.seed, synthetic=tiny)
    save_experiment_model(tmp_path, result, model_cfg, train_cfg, data)
    rec = load_recommender(tmp_path)
    for u in range(train.n_users):
        seen = rec.seen_items[rec.seen_offsets[u] : rec.seen_offsets[u + 1]]
        rated = np.concatenate([train.item[train.user == u], test.item[test.user == u]])
        assert set(seen.tolist()) == set(rated.tolist())
    assert test.n_interactions and np.isin(test.item, rec.seen_items).any()

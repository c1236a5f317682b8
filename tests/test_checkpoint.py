"""Checkpoints: exact round trip, refusal of corrupt or mismatched folders, resume."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    init_params,
    load_synthetic,
)
from hybridrec_jax.serve.checkpoint import (
    ARRAYS_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from hybridrec_jax.train import TrainingState, fit, make_optimizer

CFG = ModelConfig(
    embedding_dim=3, hidden_dims=(4,), dot_dim=2, interaction_dim=0, dropout=0.0
)
TRAIN = TrainConfig(
    loss="bce", negatives=4, batch_size=128, epochs=4, patience=0,
    learning_rate=1e-2, validation_fraction=0.0,
)  # fmt: skip


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture
def saved(tmp_path):
    params = init_params(jax.random.key(0), CFG, 5, 7, 3, 2)
    opt_state = make_optimizer(TRAIN).init(params)
    arrays = {"user_ids": np.arange(10, 15), "x": np.eye(2, dtype=np.float32)}
    save_checkpoint(
        tmp_path / "ck",
        params,
        CFG,
        train_cfg=TRAIN,
        opt_state=opt_state,
        epoch=7,
        arrays=arrays,
        metadata={"titles": ["a", None]},
    )
    return tmp_path / "ck", params, opt_state, arrays


def test_round_trip_is_exact(saved):
    path, params, opt_state, arrays = saved
    ckpt = load_checkpoint(path)
    assert_trees_equal(ckpt.params, jax.device_get(params))
    assert_trees_equal(ckpt.opt_state, jax.device_get(opt_state))
    assert ckpt.model_cfg == CFG and ckpt.train_cfg == TRAIN
    assert ckpt.epoch == 7
    assert ckpt.metadata == {"titles": ["a", None]}
    for name, value in arrays.items():
        np.testing.assert_array_equal(ckpt.arrays[name], value)
        assert ckpt.arrays[name].dtype == value.dtype


def test_no_pickle_and_no_temporary_files_left(saved):
    path = saved[0]
    assert sorted(p.name for p in path.iterdir()) == [ARRAYS_FILE, MANIFEST_FILE]
    assert not (path / ARRAYS_FILE).read_bytes().startswith(b"\x80")  # pickle


def test_corrupt_arrays_are_refused(saved):
    path = saved[0]
    blob = bytearray((path / ARRAYS_FILE).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (path / ARRAYS_FILE).write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)


def test_other_version_is_refused(saved):
    path = saved[0]
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["version"] = FORMAT_VERSION + 1
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(path)


def test_mismatched_configuration_is_refused(saved):
    path = saved[0]
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["model_config"]["hidden_dims"] = [6]
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="shapes|match"):
        load_checkpoint(path)


def test_missing_or_garbage_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    (tmp_path / ARRAYS_FILE).write_bytes(b"")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path)


def test_overwrite_replaces_the_checkpoint(saved):
    path, params, _, _ = saved
    doubled = jax.tree.map(lambda x: 2 * x, params)
    save_checkpoint(path, doubled, CFG)
    ckpt = load_checkpoint(path)
    assert_trees_equal(ckpt.params, jax.device_get(doubled))
    assert ckpt.opt_state is None and ckpt.train_cfg is None


def test_resume_from_checkpoint_equals_uninterrupted_training(tmp_path):
    data = load_synthetic(SyntheticConfig.tiny())
    data = dataclasses.replace(data, rating=np.ones_like(data.rating))
    straight = fit(data, CFG, TRAIN)
    first = fit(data, CFG, TRAIN.replace(epochs=2))
    save_checkpoint(
        tmp_path / "ck",
        first.state.params,
        CFG,
        train_cfg=TRAIN,
        opt_state=first.state.opt_state,
        epoch=first.state.epoch,
    )
    ckpt = load_checkpoint(tmp_path / "ck")
    state = TrainingState(ckpt.params, ckpt.opt_state, ckpt.epoch)
    resumed = fit(data, CFG, ckpt.train_cfg, state=state)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
        straight.state.params,
        resumed.state.params,
    )

"""Checkpoints: exact round trip, and every kind of corruption refused with one
line naming the file and the field (never a traceback, never another model)."""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
import pytest
from flax import serialization

from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    init_params,
    load_synthetic,
)
from hybridrec_jax.serve import checkpoint, manifest
from hybridrec_jax.serve.checkpoint import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from hybridrec_jax.serve.saved_model import load_recommender, save_model
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
    best = jax.tree.map(lambda x: x + 1, params)
    opt_state = make_optimizer(TRAIN).init(params)
    arrays = {"user_ids": np.arange(10, 15), "x": np.eye(2, dtype=np.float32)}
    save_checkpoint(
        tmp_path / "ck", params, CFG, train_cfg=TRAIN, opt_state=opt_state,
        best_params=best, epoch=7, arrays=arrays, metadata={"titles": ["a", None]},
    )  # fmt: skip
    return tmp_path / "ck", params, opt_state, arrays, best


def arrays_file(path):
    return path / json.loads((path / MANIFEST_FILE).read_text())["arrays_file"]


def resign(path, edit_manifest=None, edit_payload=None):
    """Rewrite a checkpoint with edits and valid checksums: what a buggy or
    hostile writer could produce, which only the content checks can refuse."""
    body = json.loads((path / MANIFEST_FILE).read_text())
    blob = arrays_file(path).read_bytes()
    if edit_payload is not None:
        payload = serialization.msgpack_restore(blob)
        edit_payload(payload)
        blob = serialization.msgpack_serialize(payload)
        body["arrays"] = {k: {"dtype": str(v.dtype), "shape": list(v.shape)}
                          for k, v in payload["arrays"].items()}  # fmt: skip
    sha = checkpoint.hashlib.sha256(blob).hexdigest()
    body.update(arrays_sha256=sha, arrays_file=f"arrays-{sha[:16]}.msgpack")
    if edit_manifest is not None:
        edit_manifest(body)
    body["digest"] = manifest.digest(body)
    checkpoint.commit(path, body, blob)


def refused(path, *needles, load=load_checkpoint):
    """Loading raises one CheckpointError line holding every needle."""
    with pytest.raises(CheckpointError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def edit_json(path, edit):
    body = json.loads((path / MANIFEST_FILE).read_text())
    edit(body)
    (path / MANIFEST_FILE).write_text(json.dumps(body))


def test_round_trip_is_exact(saved):
    path, params, opt_state, arrays, best = saved
    ckpt = load_checkpoint(path)
    assert_trees_equal(ckpt.params, jax.device_get(params))
    assert_trees_equal(ckpt.best_params, jax.device_get(best))
    assert_trees_equal(ckpt.opt_state, jax.device_get(opt_state))
    # "auto" is saved as the updates the state was made with (no sizes: row-sparse).
    assert ckpt.model_cfg == CFG
    assert ckpt.train_cfg == TRAIN.replace(embedding_updates="row_sparse")
    assert ckpt.epoch == 7
    assert ckpt.metadata == {"titles": ["a", None]}
    for name, value in arrays.items():
        np.testing.assert_array_equal(ckpt.arrays[name], value)
        assert ckpt.arrays[name].dtype == value.dtype


def test_no_pickle_and_no_temporary_files_left(saved):
    path = saved[0]
    names = sorted(p.name for p in path.iterdir())
    assert names == [arrays_file(path).name, MANIFEST_FILE]
    assert not arrays_file(path).read_bytes().startswith(b"\x80")  # pickle


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_honour_the_umask(tmp_path, umask):
    params = init_params(jax.random.key(0), CFG, 5, 7, 3, 2)
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "ck", params, CFG)
    finally:
        os.umask(old)
    for path in (tmp_path / "ck" / MANIFEST_FILE, arrays_file(tmp_path / "ck")):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# One test per kind of corruption -------------------------------------------


def test_flipped_byte_in_arrays(saved):
    path = saved[0]
    blob = bytearray(arrays_file(path).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    arrays_file(path).write_bytes(bytes(blob))
    refused(path, arrays_file(path).name, "'arrays_sha256'")


def test_truncated_arrays(saved):
    path = saved[0]
    arrays_file(path).write_bytes(arrays_file(path).read_bytes()[:100])
    refused(path, arrays_file(path).name, "'arrays_sha256'")


def test_missing_arrays_file(saved):
    path = saved[0]
    name = arrays_file(path).name
    arrays_file(path).unlink()
    refused(path, MANIFEST_FILE, "'arrays_file'", name, "missing")


def test_manifest_not_json(saved):
    path = saved[0]
    (path / MANIFEST_FILE).write_text("{not json")
    refused(path, MANIFEST_FILE, "not JSON")


def test_missing_folder(tmp_path):
    refused(tmp_path, "not a checkpoint", MANIFEST_FILE)


def test_other_version(saved):
    path = saved[0]
    edit_json(path, lambda m: m.update(version=FORMAT_VERSION + 1))
    refused(path, MANIFEST_FILE, "'version'")


@pytest.mark.parametrize(
    "field, value", [("activation", "tanh"), ("use_biases", False)]
)
def test_edited_configuration_is_caught_by_the_digest(saved, field, value):
    """The issue's case: a valid configuration edit used to load silently."""
    path = saved[0]
    edit_json(path, lambda m: m["model_config"].update({field: value}))
    refused(path, MANIFEST_FILE, "'digest'")


def test_edited_metadata_is_caught_by_the_digest(saved):
    path = saved[0]
    edit_json(path, lambda m: m["metadata"].update(titles=["b", None]))
    refused(path, MANIFEST_FILE, "'digest'")


def test_missing_key(saved):
    path = saved[0]
    edit_json(path, lambda m: m.pop("sizes"))
    refused(path, MANIFEST_FILE, "'sizes' is missing")


def test_size_written_as_text(saved):
    path = saved[0]
    edit_json(path, lambda m: m["sizes"].update(n_users="5"))
    refused(path, MANIFEST_FILE, "'sizes.n_users'", "integer")


def test_unknown_configuration_field(saved):
    path = saved[0]
    edit_json(path, lambda m: m["model_config"].update(depth=3))
    refused(path, MANIFEST_FILE, "'model_config.depth'", "not a ModelConfig")


def test_configuration_field_of_the_wrong_type(saved):
    path = saved[0]
    edit_json(path, lambda m: m["train_config"].update(learning_rate="fast"))
    refused(path, MANIFEST_FILE, "'train_config.learning_rate'")


def test_invalid_configuration_value(saved):
    path = saved[0]
    edit_json(path, lambda m: m["model_config"].update(activation="bogus"))
    refused(path, MANIFEST_FILE, "'model_config'", "activation")


def test_arrays_file_outside_the_folder(saved):
    path = saved[0]
    edit_json(path, lambda m: m.update(arrays_file="../../etc/passwd"))
    refused(path, MANIFEST_FILE, "'arrays_file'")


def test_resigned_configuration_implying_other_shapes(saved):
    path = saved[0]
    resign(path, lambda m: m["model_config"].update(hidden_dims=[6]))
    refused(path, "'params", "configuration implies")


def test_resigned_sizes_implying_other_shapes(saved):
    path = saved[0]
    resign(path, lambda m: m["sizes"].update(n_users=6))
    refused(path, "'params", "configuration implies")


def test_array_that_differs_from_its_manifest_entry(saved):
    path = saved[0]
    resign(path, lambda m: m["arrays"]["x"].update(shape=[3, 2]))
    refused(path, arrays_file(path).name, "'arrays.x'")


@pytest.mark.parametrize("tree", ["params", "best_params", "opt_state"])
def test_non_finite_parameters(saved, tree):
    path = saved[0]

    def poison(payload):
        leaves, treedef = jax.tree.flatten(payload[tree])
        leaves = [np.full_like(x, np.nan) if x.dtype.kind == "f" and x.size else x
                  for x in leaves]  # fmt: skip
        payload[tree] = jax.tree.unflatten(treedef, leaves)

    resign(path, edit_payload=poison)
    refused(path, f"'{tree}", "NaN")


# Saved models: every table checked against the sizes --------------------------


@pytest.fixture
def saved_model(tmp_path):
    data = load_synthetic(SyntheticConfig.tiny())
    f_u, f_i = data.user_features.shape[1], data.item_features.shape[1]
    params = init_params(jax.random.key(0), CFG, data.n_users, data.n_items, f_u, f_i)
    save_model(tmp_path / "m", params, CFG, data)
    load_recommender(tmp_path / "m")  # loads as saved
    return tmp_path / "m", data


def _cut(name, rows):
    def edit(payload):
        payload["arrays"][name] = payload["arrays"][name][:rows]

    return edit


def test_feature_table_cut_short(saved_model):
    """The issue's case: users 901-943 once got the features of user 900."""
    path, data = saved_model
    resign(path, edit_payload=_cut("user_features", data.n_users - 3))
    refused(path, MANIFEST_FILE, "'arrays.user_features'", load=load_recommender)


def test_id_map_cut_short(saved_model):
    path, data = saved_model
    resign(path, edit_payload=_cut("item_ids", data.n_items - 1))
    refused(path, MANIFEST_FILE, "'arrays.item_ids'", load=load_recommender)


def test_seen_pairs_out_of_range(saved_model):
    path, data = saved_model

    def edit(payload):
        payload["arrays"]["seen_item"] = payload["arrays"]["seen_item"] + 1000

    resign(path, edit_payload=edit)
    refused(path, MANIFEST_FILE, "'arrays.seen_item'", load=load_recommender)


def test_seen_pairs_of_unequal_length(saved_model):
    path, _ = saved_model
    resign(path, edit_payload=_cut("seen_user", 5))
    refused(path, MANIFEST_FILE, "'arrays.seen_", load=load_recommender)


def test_titles_cut_short(saved_model):
    path, _ = saved_model
    resign(path, lambda m: m["metadata"].update(item_titles=["only one"]))
    refused(path, MANIFEST_FILE, "'metadata.item_titles'", load=load_recommender)


def test_feature_names_cut_short(saved_model):
    path, _ = saved_model
    resign(path, lambda m: m["metadata"].update(user_feature_names=["age"]))
    refused(path, MANIFEST_FILE, "'metadata.user_feature_names'",
            load=load_recommender)  # fmt: skip


def test_overwrite_replaces_the_checkpoint(saved):
    path, params, *_ = saved
    doubled = jax.tree.map(lambda x: 2 * x, params)
    save_checkpoint(path, doubled, CFG)
    ckpt = load_checkpoint(path)
    assert_trees_equal(ckpt.params, jax.device_get(doubled))
    assert ckpt.opt_state is None and ckpt.train_cfg is None
    assert len(list(path.glob("arrays*"))) == 1  # the old arrays removed


def test_resume_from_checkpoint_equals_uninterrupted_training(tmp_path):
    data = load_synthetic(SyntheticConfig.tiny())
    data = dataclasses.replace(data, rating=np.ones_like(data.rating))
    straight = fit(data, CFG, TRAIN)
    first = fit(data, CFG, TRAIN.replace(epochs=2))
    save_checkpoint(
        tmp_path / "ck", first.state.params, CFG, train_cfg=TRAIN,
        opt_state=first.state.opt_state, epoch=first.state.epoch,
    )  # fmt: skip
    ckpt = load_checkpoint(tmp_path / "ck")
    state = TrainingState(ckpt.params, ckpt.opt_state, ckpt.epoch)
    resumed = fit(data, CFG, ckpt.train_cfg, state=state)
    assert_trees_equal(straight.state.params, resumed.state.params)


def test_recommend_refuses_a_nan_model_with_one_line(saved_model, capsys):
    """The issue's case: a NaN model printed an empty list with exit status 0."""
    from hybridrec_jax.cli import main

    path, data = saved_model

    def poison(payload):
        bias = payload["params"]["embeddings"]["item_bias"]
        payload["params"]["embeddings"]["item_bias"] = np.full_like(bias, np.nan)

    resign(path, edit_payload=poison)
    assert main(["recommend", "--model", str(path), "--user",
                 str(data.user_ids[0])]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'params['embeddings']['item_bias']'" in err
    assert "NaN" in err

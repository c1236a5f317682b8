"""Training: loss falls, one compile, reproducible, scan equals a loop, divergence."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import (
    Batch,
    ModelConfig,
    TrainConfig,
    TrainingDiverged,
    TrainingState,
    device_features,
    evaluate_ratings,
    fit,
    init_params,
    load_checkpoint,
    make_jit_train_step,
    make_optimizer,
    make_train_epoch,
    make_train_step,
    objective,
    save_checkpoint,
)
from hybridrec_jax.train.step import epoch_batches, epoch_order


def _init(data, cfg, seed=0):
    return init_params(
        jax.random.key(seed), cfg, data.n_users, data.n_items,
        data.user_features.shape[1], data.item_features.shape[1],
        global_mean=float(data.rating.mean()),
    )  # fmt: skip


def _batch(data, rows):
    return Batch(
        jnp.asarray(data.user[rows]), jnp.asarray(data.item[rows]),
        jnp.asarray(data.rating[rows]), jnp.ones(len(rows), jnp.float32),
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_fit(tiny_split, tiny_model_cfg):
    train, _ = tiny_split
    cfg = TrainConfig(batch_size=64, epochs=8, patience=0, learning_rate=1e-2,
                      validation_fraction=0.1)  # fmt: skip
    return fit(train, tiny_model_cfg, cfg)


def test_loss_falls(tiny_fit):
    losses = [h["train_loss"] for h in tiny_fit.history]
    assert losses[-1] < 0.8 * losses[0]
    assert all(np.isfinite(losses))


def test_history_records_metrics_and_seconds(tiny_fit):
    for record in tiny_fit.history:
        assert {"epoch", "train_loss", "seconds", "val_rmse", "val_mae"} <= set(record)
        assert record["seconds"] > 0
    assert tiny_fit.examples_per_second > 0


def test_same_seed_gives_identical_parameters(tiny_split, tiny_model_cfg):
    train, _ = tiny_split
    cfg = TrainConfig(batch_size=64, epochs=2, patience=0, validation_fraction=0.0)
    a = fit(train, tiny_model_cfg, cfg).params
    b = fit(train, tiny_model_cfg, cfg).params
    c = fit(train, tiny_model_cfg, cfg.replace(seed=1)).params
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))
    assert not np.array_equal(a["embeddings"]["user"], c["embeddings"]["user"])


def _count_compiles():
    """A list that grows by one name per XLA compilation while registered."""
    compiled = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    return compiled, listener


def test_a_second_identical_fit_compiles_nothing(tiny_split, tiny_model_cfg):
    """The public fit, not a step it does not use: the second call with the same
    shapes and configuration (another seed and epoch count) hits every cache."""
    train, _ = tiny_split
    cfg = TrainConfig(batch_size=64, epochs=2, patience=0, validation_fraction=0.1)
    fit(train, tiny_model_cfg, cfg)
    compiled, listener = _count_compiles()
    try:
        fit(train, tiny_model_cfg, cfg.replace(seed=1, epochs=3))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiled == []
    # The counter does count: a new model shape compiles.
    compiled, listener = _count_compiles()
    try:
        fit(train, tiny_model_cfg.replace(hidden_dims=(6,)), cfg)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiled


def test_jit_step_does_not_recompile(tiny_split, tiny_model_cfg, tiny_train_cfg):
    train, _ = tiny_split
    optimizer = make_optimizer(tiny_train_cfg)
    step = make_jit_train_step(tiny_model_cfg, tiny_train_cfg, optimizer)
    params = _init(train, tiny_model_cfg)
    opt_state = optimizer.init(params)
    features = device_features(train)
    for start in (0, 64, 128):
        batch = _batch(train, np.arange(start, start + 64))
        params, opt_state, loss = step(params, opt_state, batch, features,
                                       jax.random.key(start))  # fmt: skip
    assert step._cache_size() == 1
    assert np.isfinite(float(loss))


def test_scanned_epoch_equals_a_loop_of_steps(tiny_split):
    """The lax.scan epoch is the same computation as stepping batch by batch."""
    train, _ = tiny_split
    model_cfg = ModelConfig(embedding_dim=4, hidden_dims=(8,), dot_dim=4, dropout=0.2)
    train_cfg = TrainConfig(batch_size=100, learning_rate=1e-2)  # last batch padded
    optimizer = make_optimizer(train_cfg)
    features = device_features(train)
    data = tuple(jnp.asarray(a) for a in (train.user, train.item, train.rating))
    key = jax.random.key(3)
    same_key = jax.random.clone(key)  # the loop below reuses it on purpose
    order = epoch_order(0, 1, train.n_interactions)
    params = _init(train, model_cfg)
    epoch = make_train_epoch(model_cfg, train_cfg, optimizer)
    scanned, _, losses = epoch(
        params, optimizer.init(params), data, features, order, key
    )

    params = _init(train, model_cfg)
    opt_state = optimizer.init(params)
    step = make_jit_train_step(model_cfg, train_cfg, optimizer)
    rows, mask = epoch_batches(jnp.asarray(order), 100)
    step_keys = jax.random.split(same_key, rows.shape[0])
    looped = []
    for b in range(rows.shape[0]):
        batch = Batch(data[0][rows[b]], data[1][rows[b]], data[2][rows[b]], mask[b])
        params, opt_state, loss = step(params, opt_state, batch, features, step_keys[b])
        looped.append(float(loss))
    np.testing.assert_allclose(losses, looped, rtol=1e-5)
    for x, y in zip(jax.tree.leaves(scanned), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def test_padding_rows_do_not_change_the_loss(
    tiny_split, tiny_model_cfg, tiny_train_cfg
):
    train, _ = tiny_split
    params = _init(train, tiny_model_cfg)
    features = device_features(train)
    real = _batch(train, np.arange(10))
    padded = Batch(
        jnp.concatenate([real.users, jnp.zeros(6, jnp.int32)]),
        jnp.concatenate([real.items, jnp.zeros(6, jnp.int32)]),
        jnp.concatenate([real.targets, jnp.full(6, 99.0)]),
        jnp.concatenate([real.mask, jnp.zeros(6)]),
    )
    loss = jax.jit(objective, static_argnums=(1, 2))
    a = loss(params, tiny_model_cfg, tiny_train_cfg, real, features)
    b = loss(params, tiny_model_cfg, tiny_train_cfg, padded, features)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_epoch_batches_cover_every_row_once():
    order = epoch_order(0, 1, 10)
    rows, mask = epoch_batches(jnp.asarray(order), 4)
    assert rows.shape == (3, 4)
    real = np.asarray(rows)[np.asarray(mask) == 1]
    assert real.tolist() == order.tolist()  # in the epoch's order
    assert sorted(real.tolist()) == list(range(10))


def test_epoch_order_is_seeded_and_differs_by_epoch():
    first = epoch_order(7, 1, 1000)
    np.testing.assert_array_equal(first, epoch_order(7, 1, 1000))  # reproducible
    assert first.dtype == np.int32
    assert sorted(first.tolist()) == list(range(1000))  # a permutation
    assert not np.array_equal(first, epoch_order(7, 2, 1000))  # a new epoch
    assert not np.array_equal(first, epoch_order(8, 1, 1000))  # a new seed


def test_epoch_order_is_uniform():
    """Over 6000 draws of a permutation of 3 rows, each of the 6 orders comes up
    1000 times: a chi-squared test with 5 degrees of freedom (p = 0.001: 20.5)."""
    counts = {}
    for epoch in range(6000):
        order = tuple(epoch_order(0, epoch, 3).tolist())
        counts[order] = counts.get(order, 0) + 1
    assert len(counts) == 6
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 20.5


def test_sgd_is_the_paper_update(tiny_split, tiny_model_cfg):
    """With momentum 0, one step is theta - eta * grad J."""
    train, _ = tiny_split
    cfg = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=0.1)
    model_cfg = dataclasses.replace(tiny_model_cfg, dropout=0.0)
    params = _init(train, model_cfg)
    batch, features = _batch(train, np.arange(32)), device_features(train)
    grads = jax.jit(jax.grad(objective), static_argnums=(1, 2))(
        params, model_cfg, cfg, batch, features
    )
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    optimizer = make_optimizer(cfg)
    new, _, _ = jax.jit(make_train_step(model_cfg, cfg, optimizer))(
        params, optimizer.init(params), batch, features, None
    )
    for x, y in zip(jax.tree.leaves(new), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_divergence_stops_with_the_step_named(tiny_split, tiny_model_cfg):
    train, _ = tiny_split
    cfg = TrainConfig(optimizer="sgd", learning_rate=1e6, momentum=0.0,
                      batch_size=64, epochs=3, validation_fraction=0.0)  # fmt: skip
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch \d+.*learning rate"):
        fit(train, tiny_model_cfg, cfg)


def test_early_stopping_keeps_the_best_parameters(tiny_split, tiny_model_cfg):
    train, _ = tiny_split
    cfg = TrainConfig(batch_size=32, epochs=30, patience=2, learning_rate=5e-2,
                      l2_embedding=0.0, validation_fraction=0.2)  # fmt: skip
    result = fit(train, tiny_model_cfg, cfg)
    val_rmse = [h["val_rmse"] for h in result.history]
    assert result.best_epoch == int(np.argmin(val_rmse)) + 1
    assert len(result.history) < 30  # it stopped early on this overfitting setup
    # The returned parameters are those of the best epoch, not the last.
    from hybridrec_jax.data import random_split

    _, val_rows = random_split(train.n_interactions, 0.2, cfg.seed)
    got = evaluate_ratings(result.params, tiny_model_cfg, train.subset(val_rows))
    assert got["rmse"] == pytest.approx(min(val_rmse), rel=1e-5)


RESUME_CFG = TrainConfig(batch_size=64, epochs=4, patience=0, learning_rate=1e-2,
                         validation_fraction=0.0)  # fmt: skip


def _assert_close_trees(a, b):
    jax.tree.map(
        lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), a, b
    )


def test_resuming_equals_training_straight_through(tiny_split, tmp_path):
    """Two epochs, a checkpoint of the state (msgpack), two more epochs from it:
    the parameters and optimiser state of four epochs straight through."""
    train, _ = tiny_split
    model_cfg = ModelConfig(embedding_dim=4, hidden_dims=(8,), dropout=0.2)
    straight = fit(train, model_cfg, RESUME_CFG)
    first = fit(train, model_cfg, RESUME_CFG.replace(epochs=2))
    assert isinstance(first.state, TrainingState) and first.state.epoch == 2
    save_checkpoint(tmp_path / "ck", first.state.params, model_cfg,
                    train_cfg=RESUME_CFG, opt_state=first.state.opt_state,
                    epoch=first.state.epoch)  # fmt: skip
    ckpt = load_checkpoint(tmp_path / "ck")
    state = TrainingState(ckpt.params, ckpt.opt_state, ckpt.epoch)
    resumed = fit(train, model_cfg, RESUME_CFG, state=state)
    assert [h["epoch"] for h in resumed.history] == [3, 4]
    assert resumed.state.epoch == straight.state.epoch == 4
    _assert_close_trees(resumed.state.params, straight.state.params)
    _assert_close_trees(resumed.state.opt_state, straight.state.opt_state)
    # Not trained again from scratch: epochs 3 and 4 differ from epochs 1 and 2.
    assert resumed.history[0]["train_loss"] < first.history[0]["train_loss"]


def test_fit_copies_the_callers_arrays(tiny_split, tiny_model_cfg):
    """The compiled epoch donates its inputs; fit must not hand it the caller's."""
    train, _ = tiny_split
    params = _init(train, tiny_model_cfg)
    fit(train, tiny_model_cfg, RESUME_CFG.replace(epochs=1), params=params)
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(params))
    first = fit(train, tiny_model_cfg, RESUME_CFG.replace(epochs=1))
    state = jax.tree.map(jnp.asarray, first.state)  # device arrays this time
    fit(train, tiny_model_cfg, RESUME_CFG.replace(epochs=2), state=state)
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(state[:2]))


def test_fit_refuses_a_state_with_nothing_left_to_train(tiny_split, tiny_model_cfg):
    train, _ = tiny_split
    sparse_cfg = RESUME_CFG.replace(epochs=2, embedding_updates="row_sparse")
    done = fit(train, tiny_model_cfg, sparse_cfg)
    # A row-sparse state resumed with dense updates: named, not a crash inside.
    with pytest.raises(ValueError, match="embedding_updates='dense'"):
        fit(train, tiny_model_cfg, RESUME_CFG.replace(
            epochs=3, embedding_updates="dense"), state=done.state)  # fmt: skip
    with pytest.raises(ValueError, match="after epoch 2.*raise TrainConfig.epochs"):
        fit(train, tiny_model_cfg, RESUME_CFG.replace(epochs=2), state=done.state)
    with pytest.raises(ValueError, match="not both"):
        fit(train, tiny_model_cfg, RESUME_CFG, params=done.params, state=done.state)


def test_rating_validation_must_be_a_dataset(tiny_split, tiny_model_cfg):
    train, test = tiny_split
    with pytest.raises(TypeError, match="needs a Dataset"):
        fit(train, tiny_model_cfg, RESUME_CFG, validation=(test.user, test.item))


@pytest.mark.parametrize("negatives", [0, 2])
def test_entities_without_training_interactions_have_zero_id_rows(
    tiny_data, tiny_model_cfg, negatives
):
    """A cold item or user (no training interaction) is scored by content alone:
    its embeddings and biases are exactly zero in what fit returns."""
    from hybridrec_jax.data import cold_start_split, held_out_mask

    train_rows, test_rows = cold_start_split(tiny_data, "item", 0.2, seed=0)
    train = tiny_data.subset(train_rows)
    cold = held_out_mask(tiny_data.item[test_rows], tiny_data.n_items)
    cfg = RESUME_CFG.replace(epochs=2)
    if negatives:
        train = dataclasses.replace(train, rating=np.ones_like(train.rating))
        cfg = cfg.replace(loss="bce", negatives=negatives)
    result = fit(train, tiny_model_cfg.replace(dot_dim=4), cfg)
    emb = result.params["embeddings"]
    for name in ("item", "item_dot", "item_bias"):
        assert not np.any(np.asarray(emb[name])[cold])
        assert np.any(np.asarray(emb[name])[~cold])  # the warm rows are trained
    never = np.bincount(train.user, minlength=train.n_users) == 0
    for name in ("user", "user_dot", "user_bias"):
        assert not np.any(np.asarray(emb[name])[never])


def test_progress_bar_counts_the_epochs_run(tiny_split, tiny_model_cfg, monkeypatch):
    """With early stopping the bar ends full at the epochs actually run."""
    import importlib

    # The module, not the function ``hybridrec_jax.train.fit`` it exports.
    fit_module = importlib.import_module("hybridrec_jax.train.fit")

    bars = []

    class Recorded(fit_module.tqdm):
        def close(self):
            bars.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(fit_module, "tqdm", Recorded)
    train, _ = tiny_split
    cfg = TrainConfig(batch_size=32, epochs=30, patience=2, learning_rate=5e-2,
                      l2_embedding=0.0, validation_fraction=0.2)  # fmt: skip
    result = fit(train, tiny_model_cfg, cfg, progress=True)
    run = len(result.history)
    assert run < 30  # the setup stops early (as in the early-stopping test)
    assert bars[0] == (run, run)


def test_streaming_from_host_equals_the_in_memory_epoch(tiny_split, tiny_model_cfg):
    """A device budget smaller than the interactions streams them in chunks of
    whole batches (several per epoch, the last one short); the steps, batches
    and dropout keys are those of the in-memory epoch, so the parameters are."""
    from hybridrec_jax.train.streaming import ROW_BYTES, chunk_batches

    train, _ = tiny_split
    cfg = TrainConfig(batch_size=32, epochs=3, patience=0, validation_fraction=0.1)
    model_cfg = tiny_model_cfg.replace(dropout=0.3)  # each batch its own dropout key
    # 4 batches per chunk: n_batches is not a multiple, so the last chunk is short.
    budget = 4 * 2 * ROW_BYTES * 32 / 2**20
    assert chunk_batches(budget, 32) == 4
    n_batches = -(-int(0.9 * train.n_interactions) // 32)
    assert n_batches > 4 and n_batches % 4
    in_memory = fit(train, model_cfg, cfg)
    streamed = fit(train, model_cfg, cfg.replace(device_data_mib=budget))
    assert streamed.streamed and not in_memory.streamed
    _assert_close_trees(streamed.params, in_memory.params)
    _assert_close_trees(streamed.state.opt_state, in_memory.state.opt_state)
    for ours, theirs in zip(streamed.history, in_memory.history, strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6)
        assert ours["val_rmse"] == pytest.approx(theirs["val_rmse"], rel=1e-6)


def test_auto_embedding_updates_follow_the_catalogue_size(tiny_split, tiny_model_cfg):
    """Dense up to AUTO_DENSE_MAX_ROWS users plus items, row-sparse above; the
    result says which, and its optimiser state has that structure."""
    from hybridrec_jax.config import AUTO_DENSE_MAX_ROWS

    train, _ = tiny_split
    cfg = TrainConfig(batch_size=64, epochs=1, validation_fraction=0.0)
    assert cfg.embedding_updates == "auto"
    small = fit(train, tiny_model_cfg, cfg)
    assert small.embedding_updates == "dense"
    assert "rows" not in small.state.opt_state
    assert cfg.resolved(AUTO_DENSE_MAX_ROWS, 1).embedding_updates == "row_sparse"
    assert cfg.resolved(AUTO_DENSE_MAX_ROWS - 1, 1).embedding_updates == "dense"
    assert cfg.resolved(None, None).embedding_updates == "row_sparse"
    forced = fit(train, tiny_model_cfg, cfg.replace(embedding_updates="row_sparse"))
    assert forced.embedding_updates == "row_sparse"
    assert set(forced.state.opt_state) == {"dense", "rows"}


def test_streaming_with_sampled_negatives_equals_the_in_memory_epoch(
    tiny_split, tiny_model_cfg
):
    """Implicit feedback: positives and each epoch's negatives beyond the budget
    are drawn on the host and stream; the draws, batches and keys are those of
    the in-memory epoch, so the parameters and validation figures are."""
    from hybridrec_jax.train.streaming import ROW_BYTES

    train, _ = tiny_split
    cfg = TrainConfig(loss="bce", negatives=3, batch_size=32, epochs=2, patience=0,
                      learning_rate=1e-2)  # fmt: skip
    budget = 3 * 2 * ROW_BYTES * 32 / 2**20  # 3 batches a chunk
    model_cfg = tiny_model_cfg.replace(dropout=0.3)
    in_memory = fit(train, model_cfg, cfg)
    streamed = fit(train, model_cfg, cfg.replace(device_data_mib=budget))
    assert streamed.streamed and not in_memory.streamed
    assert streamed.n_train == in_memory.n_train > 4 * 3 * 32
    _assert_close_trees(streamed.params, in_memory.params)
    for ours, theirs in zip(streamed.history, in_memory.history, strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6)
        assert ours["val_hr@10"] == pytest.approx(theirs["val_hr@10"], abs=1e-9)

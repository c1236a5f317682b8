"""Train and evaluate on 1 device and on a mesh of N, print the differences.

Run by tests/test_multidevice.py in a subprocess that simulates N CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=N), so the rest of the suite
keeps one device. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np

import hybridrec_jax
from hybridrec_jax import ModelConfig, SyntheticConfig, TrainConfig, load_synthetic
from hybridrec_jax.data import leave_one_out, random_split
from hybridrec_jax.evaluate.protocols import evaluate_full_ranking, evaluate_ratings
from hybridrec_jax.evaluate.scoring import device_features
from hybridrec_jax.model.sharding import mesh_of
from hybridrec_jax.train import fit


def max_difference(a, b) -> float:
    return (
        max(
            float(np.max(np.abs(np.asarray(x) - np.asarray(y)), initial=0.0))
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )
        if jax.tree.leaves(a)
        else 0.0
    )


def batch_split_constraints(data, model, n_devices: int, batch_size: int = 96) -> int:
    """How many (batch_size,) int32 arrays (the batch's user and item ids) the
    mesh epoch's program constrains to be split across the ``data`` axis.

    The results are equal with or without the split (each device would then
    hold the whole batch); only the program tells them apart. 96 rows: no
    table of the tiny data set has that many.
    """
    from hybridrec_jax import init_params
    from hybridrec_jax.model.sharding import make_mesh, pad_rows, replicated, shard
    from hybridrec_jax.train.step import epoch_order, make_optimizer, make_train_epoch

    cfg = TrainConfig.tiny().replace(batch_size=batch_size)
    mesh, opt = make_mesh(n_devices), make_optimizer(cfg)
    widths = data.user_features.shape[1], data.item_features.shape[1]
    params = init_params(jax.random.key(0), model, data.n_users, data.n_items, *widths)
    params, state, features = shard(
        pad_rows((params, opt.init(params), device_features(data)), n_devices), mesh
    )
    rows = (np.asarray(data.user, np.int32), np.asarray(data.item, np.int32),
            np.asarray(data.rating, np.float32))  # fmt: skip
    rows, order = jax.device_put(
        (rows, epoch_order(0, 1, data.n_interactions)), replicated(mesh)
    )
    text = (
        make_train_epoch(model, cfg, opt, mesh)
        .lower(params, state, rows, features, order, jax.random.key(1))
        .as_text()
    )
    ids = f"tensor<{batch_size}xi32>"
    return sum(
        ids in line
        and ("sharding_constraint" in line or "@Sharding" in line)
        and ('{"data"}' in line or f"devices=[{n_devices}]" in line)
        for line in text.splitlines()
    )


def main() -> None:
    n_devices = int(sys.argv[1])
    data = load_synthetic(SyntheticConfig.tiny())
    model = ModelConfig.tiny().replace(dropout=0.2, interaction_dim=0)
    out = {"devices_seen": jax.device_count(), "n_users": data.n_users,
           "n_items": data.n_items, "package": hybridrec_jax.__file__}  # fmt: skip
    train_rows, test_rows = random_split(data.n_interactions, 0.2, seed=0)
    train, test = data.subset(train_rows), data.subset(test_rows)
    features = device_features(train)
    cases = {
        "explicit_lazy_adam": TrainConfig.tiny().replace(
            batch_size=64, embedding_updates="row_sparse"
        ),
        "explicit_dense_adam": TrainConfig.tiny().replace(
            batch_size=64, embedding_updates="dense"
        ),
        "implicit_sgd": TrainConfig.tiny().replace(
            batch_size=64,
            loss="bce",
            negatives=2,
            optimizer="sgd",
            momentum=0.0,
            embedding_updates="row_sparse",
        ),
    }
    for name, cfg in cases.items():
        kept, held = leave_one_out(train, seed=0) if cfg.negatives else (None, None)
        fit_train = train.subset(kept) if kept is not None else train
        one = fit(fit_train, model, cfg.replace(validation_fraction=0.0))
        many = fit(fit_train, model, cfg.replace(validation_fraction=0.0,
                                                 devices=n_devices))  # fmt: skip
        sharded = mesh_of(many.state.params) is not None
        if cfg.negatives:
            pairs = (fit_train.user, fit_train.item)
            held_pairs = (train.user[held], train.item[held])
            metrics = [
                evaluate_full_ranking(
                    r.params, model, features, pairs, held_pairs, ks=(5, 10)
                )  # fmt: skip
                for r in (one, many)
            ]
        else:
            metrics = [evaluate_ratings(r.params, model, test, features)
                       for r in (one, many)]  # fmt: skip
        out[name] = {
            "param_difference": max_difference(one.params, many.params),
            "opt_state_difference": max_difference(one.state.opt_state,
                                                   many.state.opt_state),
            "shapes_equal": jax.tree.map(np.shape, one.params)
            == jax.tree.map(np.shape, many.params),
            "params_moved": max_difference(one.params, fit(
                fit_train, model, cfg.replace(validation_fraction=0.0, epochs=1)
            ).params),
            "sharded": sharded,
            "metrics_one": metrics[0],
            "metrics_many": metrics[1],
        }  # fmt: skip
    # Full-catalogue scores of the sharded model: split by users across the
    # devices, equal to the one-device scores.
    from hybridrec_jax.evaluate.scoring import score_all

    one = fit(
        train, model, cases["explicit_lazy_adam"].replace(validation_fraction=0.0)
    )
    users = np.arange(data.n_users)
    scores_one = score_all(one.params, model, features, users)
    many = fit(train, model, cases["explicit_lazy_adam"].replace(
        validation_fraction=0.0, devices=n_devices))  # fmt: skip
    scores_many = score_all(many.params, model, features, users, chunk_size=20)
    out["scores"] = {
        "difference": float(np.max(np.abs(np.asarray(scores_one)
                                          - np.asarray(scores_many)))),
        "devices": len(scores_many.sharding.device_set),
        "shape_equal": scores_one.shape == scores_many.shape,
    }  # fmt: skip
    # After a one-epoch fit has compiled the epoch, a fit of four compiles
    # nothing: each epoch returns the parameters laid out as it took them, so
    # epochs 2.. reuse the program of epoch 1.
    cfg = cases["explicit_lazy_adam"].replace(validation_fraction=0.0,
                                              devices=n_devices)  # fmt: skip
    plain = model.replace(dot_dim=0)  # empty dot tables (k = 0) too
    fit(train, plain, cfg.replace(epochs=1))
    compiled = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    fit(train, plain, cfg.replace(seed=1, epochs=4))
    jax.monitoring.unregister_event_duration_listener(listener)
    out["second_fit_compiles"] = len(compiled)
    out["batch_split_constraints"] = batch_split_constraints(data, model, n_devices)
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()

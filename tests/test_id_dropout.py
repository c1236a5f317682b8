"""Id dropout (DropoutNet): a dropped example is scored as a cold entity is."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax import ModelConfig, TrainConfig, init_params
from hybridrec_jax.dropout import ID_ROWS, id_dropout
from hybridrec_jax.model import embedding_rows, forward, zero_entity_rows
from hybridrec_jax.model.params import SIDE_TABLES
from hybridrec_jax.train.step import Batch, objective

U, I, F_U, F_I, K = 6, 7, 3, 4, 2  # the last K feature columns are interactions


def test_id_rows_are_the_model_side_tables():
    assert ID_ROWS == SIDE_TABLES


def test_rates_sides_and_kept_rows():
    """Over 20,000 examples the dropped shares are the rates (binomial 4.5
    sigma); the two sides are independent; kept rows are untouched."""
    batch = 20_000
    rows = {n: jnp.ones((batch, 3)) for n in ("user", "item", "user_dot", "item_dot")}
    rows |= {"user_bias": jnp.ones(batch), "item_bias": jnp.ones(batch)}
    out = id_dropout(rows, jax.random.key(1), 0.1, 0.3)
    user_kept, item_kept = np.asarray(out["user_kept"]), np.asarray(out["item_kept"])
    for kept, rate in ((user_kept, 0.1), (item_kept, 0.3)):
        assert abs((1 - kept.mean()) - rate) < 4.5 * np.sqrt(rate * (1 - rate) / batch)
    both = np.mean(~user_kept & ~item_kept)
    assert abs(both - 0.03) < 4.5 * np.sqrt(0.03 * 0.97 / batch)
    for side, kept in (("user", user_kept), ("item", item_kept)):
        for name in ID_ROWS[side]:
            value = np.asarray(out[name]).reshape(batch, -1)
            assert (value[kept] == 1).all() and (value[~kept] == 0).all()
    same = id_dropout(rows, jax.random.key(1), 0.0, 0.0)
    assert same.keys() == rows.keys()  # rate 0: no mask, no change


def _model():
    cfg = ModelConfig.tiny().replace(id_dropout_user=0.5, id_dropout_item=0.5)
    params = init_params(jax.random.key(0), cfg, U, I, F_U, F_I, global_mean=3.0)
    params["embeddings"]["user_bias"] = jnp.arange(U, dtype=jnp.float32) / 10
    params["embeddings"]["item_bias"] = jnp.arange(I, dtype=jnp.float32) / 10
    x = jax.random.normal(jax.random.key(2), (U + I, max(F_U, F_I)))
    columns = lambda f: jnp.asarray([0.0] * (f - K) + [1.0] * K)  # noqa: E731
    features = {"user": x[:U, :F_U], "item": x[U:, :F_I],
                "user_interaction_columns": columns(F_U),
                "item_interaction_columns": columns(F_I)}  # fmt: skip
    return cfg, params, features


def test_a_dropped_example_scores_as_a_cold_entity():
    """forward on id-dropped rows equals, example by example, forward with
    that user (item) made cold: id rows and biases zero, interaction columns
    zero (what a cold entity has at test time)."""
    cfg, params, features = _model()
    users = jnp.array([0, 1, 2, 3, 4, 5, 0, 1])
    items = jnp.array([0, 1, 2, 3, 4, 5, 6, 6])
    rows = id_dropout(embedding_rows(params, users, items), jax.random.key(3),
                      0.5, 0.5)  # fmt: skip
    got = forward(params, cfg, users, items, features, rows=rows)
    kept = {side: np.asarray(rows[f"{side}_kept"]) for side in ("user", "item")}
    assert not kept["user"].all() and not kept["item"].all()  # both sides drop
    for b in range(len(users)):
        u, i = int(users[b]), int(items[b])
        cold = {"users": None if kept["user"][b] else [u],
                "items": None if kept["item"][b] else [i]}  # fmt: skip
        p = zero_entity_rows(params, **cold)
        f = dict(features)
        if not kept["user"][b]:
            f["user"] = f["user"].at[u, F_U - K :].set(0.0)
        if not kept["item"][b]:
            f["item"] = f["item"].at[i, F_I - K :].set(0.0)
        want = forward(p, cfg, users[b : b + 1], items[b : b + 1], f)
        np.testing.assert_allclose(got[b], want[0], rtol=1e-5, atol=1e-6)


def test_the_objective_draws_id_dropout_only_when_training():
    """With a key (training) the objective sees dropped rows; without one
    (evaluation) it does not; hidden dropout off does not switch it off."""
    cfg, params, features = _model()
    cfg = cfg.replace(dropout=0.0)
    assert cfg.uses_training_key and not ModelConfig.tiny().uses_training_key
    batch = Batch(jnp.arange(U), jnp.arange(U), jnp.full(U, 4.0), jnp.ones(U))
    train_cfg = TrainConfig(l2_embedding=0.0, l2_dense=0.0)
    plain = objective(params, cfg, train_cfg, batch, features)
    dropped = objective(params, cfg, train_cfg, batch, features, jax.random.key(4))
    assert float(plain) != pytest.approx(float(dropped))
    no_id = cfg.replace(id_dropout_user=0.0, id_dropout_item=0.0)
    again = objective(params, no_id, train_cfg, batch, features, jax.random.key(4))
    assert float(again) == pytest.approx(float(plain))


@pytest.mark.parametrize("field", ["id_dropout_user", "id_dropout_item"])
def test_rates_outside_zero_one_are_refused(field):
    with pytest.raises(ValueError, match=f"{field} must lie in"):
        ModelConfig(**{field: 1.0})


def test_fit_gives_the_epoch_the_interaction_column_masks(monkeypatch, tiny_split):
    """With id dropout, fit hands the compiled epoch the masks of the
    interaction columns (the last interaction_dim feature columns)."""
    import importlib

    from hybridrec_jax.data import add_spectral_features

    fit_module = importlib.import_module("hybridrec_jax.train.fit")  # not .fit()

    seen = {}
    real = fit_module.make_train_epoch

    def spy(*args, **kwargs):
        epoch = real(*args, **kwargs)

        def wrapped(params, opt_state, data, features, order, key):
            seen.update(features)
            return epoch(params, opt_state, data, features, order, key)

        return wrapped

    monkeypatch.setattr(fit_module, "make_train_epoch", spy)
    (train,) = add_spectral_features(tiny_split[0], (), dim=2)
    cfg = ModelConfig.tiny().replace(id_dropout_item=0.3)
    fit_module.fit(train, cfg, TrainConfig.tiny().replace(epochs=1))
    mask = np.asarray(seen["item_interaction_columns"])
    width = train.item_features.shape[1]
    assert mask.tolist() == [0.0] * (width - 2) + [1.0, 1.0]

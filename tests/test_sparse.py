"""Row-sparse updates of the id tables (train/sparse.py) against independent
truth: dense optax where the rules agree exactly, a per-row numpy Adam where
they do not, and the step's jaxpr for the claim that no table-sized work is done.
"""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hybridrec_jax import ModelConfig, TrainConfig, init_params
from hybridrec_jax.model import SIDE_TABLES
from hybridrec_jax.train import Batch, make_optimizer, make_train_step
from hybridrec_jax.train.sparse import RowSparseOptimizer, touched_rows

N_USERS, N_ITEMS, F_U, F_I = 9, 11, 3, 2
MODEL = ModelConfig(embedding_dim=4, hidden_dims=(8,), dot_dim=3, interaction_dim=0,
                    dropout=0.0)  # fmt: skip


def _setup(seed=0):
    params = init_params(jax.random.key(seed), MODEL, N_USERS, N_ITEMS, F_U, F_I, 3.0)
    # Nonzero biases, so that every table's update is visible.
    emb = params["embeddings"]
    emb["user_bias"] = 0.1 * jax.random.normal(jax.random.key(7), (N_USERS,))
    emb["item_bias"] = 0.1 * jax.random.normal(jax.random.key(8), (N_ITEMS,))
    rng = np.random.default_rng(seed)
    features = {
        "user": jnp.asarray(rng.normal(size=(N_USERS, F_U)), jnp.float32),
        "item": jnp.asarray(rng.normal(size=(N_ITEMS, F_I)), jnp.float32),
    }
    return params, features


def _batches(n_steps, size=16, seed=0, cover_all=False, padding=0):
    """Random batches with duplicate ids and ``padding`` masked rows at the end."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_steps):
        users = rng.integers(0, N_USERS, size)
        items = rng.integers(0, N_ITEMS, size)
        if cover_all:  # every user and item in every batch
            users[:N_USERS] = np.arange(N_USERS)
            items[:N_ITEMS] = np.arange(N_ITEMS)
        mask = np.ones(size, np.float32)
        if padding:
            mask[-padding:] = 0.0
        out.append(Batch(jnp.asarray(users, jnp.int32), jnp.asarray(items, jnp.int32),
                         jnp.asarray(rng.uniform(1, 5, size), jnp.float32),
                         jnp.asarray(mask)))  # fmt: skip
    return out


def _train(cfg, batches, params, features):
    opt = make_optimizer(cfg)
    step = jax.jit(make_train_step(MODEL, cfg, opt))
    state = opt.init(params)
    for batch in batches:
        params, state, _ = step(params, state, batch, features, None)
    return params, state


def _close(a, b, rtol=1e-5, atol=1e-6):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_touched_rows_are_distinct_padded_and_invert():
    ids = jnp.asarray([4, 1, 4, 7, 1, 0], jnp.int32)
    mask = jnp.asarray([1, 1, 1, 1, 1, 0], jnp.float32)  # the 0 is padding
    unique, inverse, first = touched_rows(ids, mask, n_rows=10)
    assert unique.tolist() == [1, 4, 7, 10, 10, 10]
    np.testing.assert_array_equal(np.asarray(unique)[np.asarray(inverse)][:5],
                                  np.asarray(ids)[:5])  # fmt: skip
    np.testing.assert_array_equal(np.asarray(ids)[np.asarray(first)[:3]], [1, 4, 7])


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_row_sparse_equals_dense_where_the_rules_agree(optimizer):
    """Plain SGD and Adagrad: an untouched row has a zero gradient, which moves
    nothing under the dense rule either, so the two agree over many steps."""
    params, features = _setup()
    cfg = TrainConfig(optimizer=optimizer, momentum=0.0, learning_rate=0.05,
                      batch_size=16)  # fmt: skip
    batches = _batches(30, padding=3)
    sparse, _ = _train(cfg, batches, params, features)
    dense, _ = _train(cfg.replace(embedding_updates="dense"), batches, params,
                      features)  # fmt: skip
    moved = np.abs(
        np.asarray(sparse["embeddings"]["user"] - params["embeddings"]["user"])
    )
    assert moved.max() > 1e-3  # the steps did train the tables
    _close(sparse, dense)


def test_momentum_sgd_equals_dense_when_every_row_is_touched_and_is_lazy():
    """Lazy momentum: with every row in every batch it is optax.sgd(eta, mu);
    a row a batch does not touch keeps its row and its momentum buffer."""
    params, features = _setup()
    cfg = TrainConfig(optimizer="sgd", momentum=0.9, learning_rate=0.02,
                      batch_size=32)  # fmt: skip
    batches = _batches(10, size=32, cover_all=True)
    sparse, state = _train(cfg, batches, params, features)
    dense, _ = _train(cfg.replace(embedding_updates="dense"), batches, params, features)
    _close(sparse, dense)
    # One more batch without user 0: its row and buffer stay where they were.
    batch = _batches(1, size=32, seed=1)[0]
    batch = batch._replace(users=jnp.maximum(batch.users, 1))
    step = jax.jit(make_train_step(MODEL, cfg, make_optimizer(cfg)))
    after, after_state, _ = step(sparse, state, batch, features, None)
    for name in SIDE_TABLES["user"]:
        np.testing.assert_array_equal(after["embeddings"][name][0],
                                      sparse["embeddings"][name][0])  # fmt: skip
        np.testing.assert_array_equal(after_state["rows"][name]["momentum"][0],
                                      state["rows"][name]["momentum"][0])  # fmt: skip
    assert np.abs(np.asarray(state["rows"]["user"]["momentum"][0])).max() > 0


def test_lazy_adam_equals_dense_adam_when_every_row_is_touched():
    params, features = _setup()
    cfg = TrainConfig(learning_rate=0.01, batch_size=32)
    batches = _batches(20, size=32, cover_all=True)
    sparse, _ = _train(cfg, batches, params, features)
    dense, _ = _train(cfg.replace(embedding_updates="dense"), batches, params, features)
    _close(sparse, dense)


def _numpy_lazy_adam(table, grads_per_step, eta):
    """Per-row lazy Adam, one row at a time, from its definition."""
    table = np.array(table, np.float64)
    m, v = np.zeros_like(table), np.zeros_like(table)
    count = np.zeros(table.shape[0], np.int64)
    for grads in grads_per_step:  # {row: summed gradient}
        for r, g in grads.items():
            count[r] += 1
            m[r] = 0.9 * m[r] + 0.1 * g
            v[r] = 0.999 * v[r] + 0.001 * g**2
            m_hat = m[r] / (1 - 0.9 ** count[r])
            v_hat = v[r] / (1 - 0.999 ** count[r])
            table[r] -= eta * m_hat / (np.sqrt(v_hat) + 1e-8)
    return table, count


def test_lazy_adam_equals_a_per_row_reference_with_partial_batches():
    """The model's dense part is frozen (only the tables train), so each step's
    row gradients come from jax.grad of the objective wrt the full table, a
    second route to the gradient; the rows then follow the numpy reference."""
    from hybridrec_jax.train.step import objective

    params, features = _setup()
    eta = 0.05
    cfg = TrainConfig(learning_rate=eta, batch_size=8)
    opt = make_optimizer(cfg)
    frozen = RowSparseOptimizer(optax.set_to_zero(), opt.rule, eta)
    step = jax.jit(make_train_step(MODEL, cfg, frozen))
    state = frozen.init(params)
    p = params
    grads_per_step = []
    for batch in _batches(12, size=8, padding=2):
        # User 8 is never in a batch: its row must stay where it started.
        batch = batch._replace(users=jnp.minimum(batch.users, N_USERS - 2))
        full = jax.grad(objective)(p, MODEL, cfg, batch, features)["embeddings"]
        rows = np.unique(np.asarray(batch.users)[np.asarray(batch.mask) > 0])
        grads_per_step.append({int(r): np.asarray(full["user"][r]) for r in rows})
        p, state, _ = step(p, state, batch, features, None)
    expected, count = _numpy_lazy_adam(params["embeddings"]["user"], grads_per_step,
                                       eta)  # fmt: skip
    np.testing.assert_allclose(p["embeddings"]["user"], expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(state["rows"]["user_count"], count)
    assert (count == 0).any() and (count > 0).any()  # some rows never touched


def test_untouched_rows_and_their_state_do_not_change():
    params, features = _setup()
    cfg = TrainConfig(learning_rate=0.05, batch_size=8)
    batch = _batches(1, size=8, padding=3)[0]
    # The padding rows point at user 0 and item 0, which no real row touches.
    users = np.array(batch.users)
    users[:5] = np.where(users[:5] == 0, 1, users[:5])
    users[5:] = 0
    batch = batch._replace(users=jnp.asarray(users))
    new, state = _train(cfg, [batch], params, features)
    untouched = np.setdiff1d(np.arange(N_USERS), users[:5])
    assert 0 in untouched
    for name in SIDE_TABLES["user"]:
        np.testing.assert_array_equal(
            np.asarray(new["embeddings"][name])[untouched],
            np.asarray(params["embeddings"][name])[untouched],
        )
        np.testing.assert_array_equal(
            np.asarray(state["rows"][name]["mu"])[untouched], 0.0
        )
    assert (np.asarray(state["rows"]["user_count"])[untouched] == 0).all()
    touched = np.unique(users[:5])
    assert (np.asarray(state["rows"]["user_count"])[touched] == 1).all()


def _table_sized_primitives(cfg, n_users):
    params = init_params(jax.random.key(0), MODEL, n_users, N_ITEMS, F_U, F_I, 3.0)
    features = {"user": jnp.zeros((n_users, F_U)), "item": jnp.zeros((N_ITEMS, F_I))}
    opt = make_optimizer(cfg)
    batch = _batches(1)[0]
    jaxpr = jax.make_jaxpr(make_train_step(MODEL, cfg, opt))(
        params, opt.init(params), batch, features, None
    )
    names = set()

    def visit(jpr):
        for eqn in jpr.eqns:
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                visit(sub)
            if any(getattr(v.aval, "shape", ())[:1] == (n_users,) for v in eqn.outvars):
                names.add(eqn.primitive.name)

    visit(jaxpr.jaxpr)
    return names


def test_the_row_sparse_step_writes_tables_only_by_scatter():
    """Every operation whose output has a table's number of rows is a scatter
    of touched rows: no table-shaped gradient, no dense optimiser pass. The
    dense step, checked the same way, does table-sized arithmetic."""
    n_users = 1013  # a size no batch or layer has
    sparse = _table_sized_primitives(TrainConfig(batch_size=16), n_users)
    assert sparse and sparse <= {"scatter"}, sparse
    dense = _table_sized_primitives(
        TrainConfig(batch_size=16, embedding_updates="dense"), n_users
    )
    assert dense - {"scatter", "scatter-add"}, dense

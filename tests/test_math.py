"""The hand-written math equals autodiff and optax.

The gradient oracle is plain autodiff of :func:`plain_objective`, a forward pass
written here from the README's equations without any model code (no
``model.first_layer`` and its custom VJP, no blocks, no shared helpers), itself
checked against finite differences. Against it: the hand backward pass and
``jax.grad`` of ``train.objective`` (float64, rtol 1e-10, fixed and
property-based shapes and flags). Optax's SGD and Adam over 100 steps of the
real model are the optimisers' oracle. tests/PLANTED_BUGS_paper.md lists the
bugs each test was seen to catch.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from hybridrec_jax import (
    ModelConfig,
    TrainConfig,
    device_features,
    evaluate_ratings,
    init_params,
    losses,
    model,
)
from hybridrec_jax.paper import backprop, hand_optim
from hybridrec_jax.paper import math as hm
from hybridrec_jax.train import (
    Batch,
    epoch_order,
    make_optimizer,
    make_train_epoch,
    make_train_step,
    objective,
)
from tests.reference import PLAIN_ACTIVATIONS, plain_forward

RTOL, ATOL = 1e-10, 1e-13  # float64; atol only for entries that cancel to ~0
# One case shared by the fixed-shape tests, so eager ops compile once for all.
PARAMETRIZED_CFG = ModelConfig(
    embedding_dim=3, hidden_dims=(5, 4), dot_dim=2, dropout=0.0
)
#: seed, model, n_users, n_items, F_u, F_i, batch size, padding: ids repeat.
PARAMETRIZED_CASE = (0, PARAMETRIZED_CFG, 4, 5, 2, 3, 9, 2)

# ---------------------------------------------------------------- the oracle

PLAIN_LOSSES = {
    "mse": lambda out, y: (out - y) ** 2,
    # -[y log s(z) + (1 - y) log(1 - s(z))] = log(1 + e^z) - y z
    "bce": lambda z, y: jnp.logaddexp(0.0, z) - y * z,
}


def plain_objective(params, model_cfg, train_cfg, batch, features):
    """J(theta) straight from the README's equations, for autodiff to differentiate.

    a^0 = [P_u ; Q_i ; x_u ; x_i], a^{l+1} = sigma(a^l W^l + b^l), then the head,
    the biases and <P'_u + x_u V_U, Q'_i + x_i V_I>; the masked mean of loss plus
    lambda_e (every touched row and bias squared), plus lambda_w (every weight
    matrix squared).
    """
    emb, dense = params["embeddings"], params["dense"]
    u, i = batch.users, batch.items
    out = plain_forward(params, model_cfg, u, i, features)
    touched = [emb[name][u] for name in ("user", "user_dot", "user_bias")]
    touched += [emb[name][i] for name in ("item", "item_dot", "item_bias")]
    penalty = sum(jnp.sum(r**2, axis=tuple(range(1, r.ndim))) for r in touched)
    weights = [layer["W"] for layer in dense["layers"]] + [
        dense["head"]["w"], dense["user_feature_dot"], dense["item_feature_dot"],
    ]  # fmt: skip
    omega = sum(jnp.sum(w**2) for w in weights)
    per_example = (
        PLAIN_LOSSES[train_cfg.loss](out, batch.targets)
        + train_cfg.l2_embedding * penalty
    )
    mean = jnp.sum(batch.mask * per_example) / jnp.maximum(jnp.sum(batch.mask), 1)
    return mean + train_cfg.l2_dense * omega


def make_case(
    seed, model_cfg, n_users, n_items, f_u, f_i, batch_size, n_padding=0, loss="mse"
):
    """Random float64 params, features and a batch (call inside enable_x64).

    Built with numpy on the shapes of ``init_params``: no eager JAX op per array,
    which would compile once per new shape.
    """
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(
        lambda k: init_params(k, model_cfg, n_users, n_items, f_u, f_i),
        jax.random.key(0),
    )
    # Every leaf random, biases included, so that every penalty term is exercised.
    params = jax.tree.map(
        lambda s: jnp.asarray(0.5 * rng.standard_normal(s.shape)), shapes
    )
    features = {
        "user": jnp.asarray(rng.standard_normal((n_users, f_u))),
        "item": jnp.asarray(rng.standard_normal((n_items, f_i))),
    }
    m = batch_size + n_padding
    if loss == "mse":
        targets = rng.integers(1, 6, m).astype(np.float64)
    else:
        targets = (rng.random(m) < 0.5).astype(np.float64)
    batch = Batch(
        jnp.asarray(rng.integers(0, n_users, m)),
        jnp.asarray(rng.integers(0, n_items, m)),
        jnp.asarray(targets),
        jnp.asarray((np.arange(m) < batch_size).astype(np.float64)),
    )
    return params, features, batch


def assert_trees_close(actual, expected, rtol=RTOL, atol=ATOL):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert a.shape == e.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


@partial(jax.jit, static_argnums=(1, 2))
def three_gradients(params, model_cfg, train_cfg, batch, features):
    """(J, grads) by hand, by jax.grad of train.objective and by plain autodiff."""
    args = (params, model_cfg, train_cfg, batch, features)
    return (
        backprop.hand_value_and_grad(*args),
        jax.value_and_grad(objective)(*args),
        jax.value_and_grad(plain_objective)(*args),
    )


def assert_gradients_equal_plain_autodiff(
    params, model_cfg, train_cfg, batch, features, jit=True
):
    # Eager dispatch compiles each op once per shape: cheapest when many cases
    # share shapes. One jit compile per case is cheapest when shapes vary.
    compare = three_gradients if jit else three_gradients.__wrapped__
    hand, production, (J, grads) = compare(
        params, model_cfg, train_cfg, batch, features
    )
    assert J.dtype == jnp.float64 and hand[1]["dense"]["head"]["b"].dtype == J.dtype
    for name, (J_other, grads_other) in (("hand", hand), ("objective", production)):
        np.testing.assert_allclose(float(J_other), float(J), rtol=RTOL, err_msg=name)
        assert_trees_close(grads_other, grads)


def test_hand_grad_eager_equals_jit():
    model_cfg = PARAMETRIZED_CFG
    with jax.enable_x64(True):
        params, features, batch = make_case(*PARAMETRIZED_CASE)
        eager = backprop.hand_grad(params, model_cfg, TrainConfig(), batch, features)
        jitted = jax.jit(backprop.hand_grad, static_argnums=(1, 2))(
            params, model_cfg, TrainConfig(), batch, features
        )
        assert_trees_close(eager, jitted)


# ---------------------------------------------------------------- equations


@pytest.mark.parametrize("name", sorted(hm.ACTIVATIONS))
def test_activation_derivative_equals_grad(name):
    sigma, sigma_prime = hm.ACTIVATIONS[name]
    with jax.enable_x64(True):
        z = jnp.linspace(-4.0, 4.0, 17) + 0.01  # avoid relu's kink at exactly 0
        np.testing.assert_allclose(
            sigma_prime(z), jax.vmap(jax.grad(sigma))(z), rtol=1e-12
        )
        np.testing.assert_allclose(sigma(z), PLAIN_ACTIVATIONS[name](z), rtol=1e-12)


def test_math_uses_the_models_functions():
    """Each function is defined once: math.py re-uses the model's and the losses'."""
    assert hm.dense_layer is model.dense_layer
    for name, (sigma, _) in hm.ACTIVATIONS.items():
        assert sigma is model.ACTIVATION_FUNCTIONS[name]
    assert hm.LOSSES["mse"][0] is losses.squared_error
    assert hm.LOSSES["bce"][0] is losses.sigmoid_binary_cross_entropy


def test_dense_layer_is_the_papers_column_form():
    a, W, b = jnp.array([[1.0, 2.0, 3.0]]), jnp.arange(6.0).reshape(3, 2), jnp.ones(2)
    column = W.T @ a[0] + b  # sigma(W a + b) with the paper's W = our W^T
    np.testing.assert_allclose(hm.dense_layer(a, W, b)[0], column)
    np.testing.assert_allclose(column, [1 + 0 + 2 * 2 + 3 * 4, 1 + 1 + 2 * 3 + 3 * 5])


def test_loss_derivatives_equal_grad():
    with jax.enable_x64(True):
        y_hat, y = jnp.array([0.1, 0.7, 0.4]), jnp.array([0.0, 1.0, 1.0])
        z = jnp.array([-3.0, 0.5, 2.0])
        for loss, derivative, x in (
            (*hm.LOSSES["mse"], 3 * y_hat),
            (hm.binary_cross_entropy, hm.binary_cross_entropy_derivative, y_hat),
            (*hm.LOSSES["bce"], z),
        ):
            np.testing.assert_allclose(
                derivative(x, y), jax.vmap(jax.grad(loss))(x, y), rtol=1e-12
            )


def test_bce_probability_form_equals_logit_form():
    z, y = jnp.array([-2.0, 0.0, 3.0, 0.7]), jnp.array([1.0, 0.0, 1.0, 0.25])
    p = 1 / (1 + np.exp(-np.asarray(z)))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p))  # the correct formula
    np.testing.assert_allclose(hm.binary_cross_entropy(p, y), expected, rtol=1e-6)
    np.testing.assert_allclose(
        losses.sigmoid_binary_cross_entropy(z, y), expected, rtol=1e-6
    )
    # Stable where sigmoid rounds to 1: the loss of a confident wrong logit is ~z.
    far = hm.binary_cross_entropy_from_logit(jnp.array(200.0), jnp.array(0.0))
    assert np.isfinite(far) and abs(float(far) - 200.0) < 1e-4


# ---------------------------------------------------------------- backprop


@pytest.mark.parametrize("l2", [False, True], ids=["no_l2", "l2"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("activation", sorted(hm.ACTIVATIONS))
def test_hand_grad_equals_plain_autodiff(activation, loss, l2):
    model_cfg = PARAMETRIZED_CFG.replace(activation=activation)
    train_cfg = TrainConfig(
        loss=loss, l2_embedding=0.1 if l2 else 0.0, l2_dense=0.01 if l2 else 0.0
    )
    with jax.enable_x64(True):
        params, features, batch = make_case(*PARAMETRIZED_CASE, loss)
        assert_gradients_equal_plain_autodiff(
            params, model_cfg, train_cfg, batch, features, jit=False
        )


@settings(max_examples=6, deadline=None)
@example(  # batch size 1, no MLP, no dot branch, no features
    hidden=[], activation="relu", loss="mse", l2=True, embedding_dim=1, dot_dim=0,
    use_features=False, use_biases=True, n_users=1, n_items=1, f_u=0, f_i=0,
    batch_size=1, n_padding=0, seed=0,
)  # fmt: skip
@example(  # one user: every row repeats its id; 3 layers, dot branch, features
    hidden=[3, 2, 4], activation="sigmoid", loss="bce", l2=True, embedding_dim=2,
    dot_dim=2, use_features=True, use_biases=True, n_users=1, n_items=2, f_u=2,
    f_i=1, batch_size=6, n_padding=1, seed=1,
)  # fmt: skip
@example(  # the head is the first layer, with content, dot branch, no biases
    hidden=[], activation="tanh", loss="bce", l2=False, embedding_dim=2,
    dot_dim=1, use_features=True, use_biases=False, n_users=3, n_items=2, f_u=2,
    f_i=1, batch_size=4, n_padding=1, seed=2,
)  # fmt: skip
@given(
    hidden=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    activation=st.sampled_from(sorted(hm.ACTIVATIONS)),
    loss=st.sampled_from(["mse", "bce"]),
    l2=st.booleans(),
    embedding_dim=st.integers(1, 3),
    dot_dim=st.integers(0, 2),
    use_features=st.booleans(),
    use_biases=st.booleans(),
    n_users=st.integers(1, 4),
    n_items=st.integers(1, 4),
    f_u=st.integers(0, 2),
    f_i=st.integers(0, 2),
    batch_size=st.integers(1, 6),
    n_padding=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_hand_grad_equals_plain_autodiff_on_random_shapes(
    hidden, activation, loss, l2, embedding_dim, dot_dim, use_features, use_biases,
    n_users, n_items, f_u, f_i, batch_size, n_padding, seed,
):  # fmt: skip
    # Few users and items, so ids repeat within a batch (scatter-add).
    model_cfg = ModelConfig(
        embedding_dim=embedding_dim, hidden_dims=tuple(hidden), activation=activation,
        dot_dim=dot_dim, use_features=use_features, use_biases=use_biases,
        dropout=0.0,
    )  # fmt: skip
    train_cfg = TrainConfig(
        loss=loss, l2_embedding=0.05 if l2 else 0.0, l2_dense=0.02 if l2 else 0.0
    )
    with jax.enable_x64(True):
        params, features, batch = make_case(
            seed, model_cfg, n_users, n_items, f_u, f_i, batch_size, n_padding, loss
        )
        assert_gradients_equal_plain_autodiff(
            params, model_cfg, train_cfg, batch, features
        )


def test_padding_rows_do_not_count():
    """Changing the ids and targets of padding rows changes neither J nor grads."""
    model_cfg, train_cfg = PARAMETRIZED_CFG, TrainConfig(l2_embedding=0.1)
    with jax.enable_x64(True):
        params, features, batch = make_case(*PARAMETRIZED_CASE)
        real = batch.mask > 0
        other = Batch(
            jnp.where(real, batch.users, (batch.users + 1) % 4),
            jnp.where(real, batch.items, (batch.items + 2) % 5),
            jnp.where(real, batch.targets, 5.0 - batch.targets),
            batch.mask,
        )
        padded = backprop.hand_value_and_grad(
            params, model_cfg, train_cfg, batch, features
        )
        changed = backprop.hand_value_and_grad(
            params, model_cfg, train_cfg, other, features
        )
        assert_trees_close(changed, padded)
        assert float(jnp.sum(batch.mask)) < len(batch.mask)  # there is padding


def test_gradients_match_finite_differences():
    """check_grads of the oracle and of train.objective; the hand gradient along
    a random direction v against (J(theta + eps v) - J(theta - eps v)) / (2 eps),
    which is <dJ/dtheta, v> + O(eps^2). J sums both losses: one compile."""
    model_cfg = ModelConfig(embedding_dim=2, hidden_dims=(3,), dot_dim=2, dropout=0.0)
    train_cfgs = [
        TrainConfig(loss=loss, l2_embedding=0.1, l2_dense=0.01)
        for loss in ("mse", "bce")
    ]
    with jax.enable_x64(True):
        params, features, batch = make_case(2, model_cfg, 3, 4, 2, 1, 5, 1, "bce")

        def both_losses(function):
            return jax.jit(lambda p: sum(
                function(p, model_cfg, t, batch, features) for t in train_cfgs
            ))  # fmt: skip

        J = both_losses(objective)
        for f in (both_losses(plain_objective), J):
            check_grads(f, (params,), order=1, modes=("rev",), eps=1e-6, atol=1e-6,
                        rtol=1e-6)  # fmt: skip
        rng = np.random.default_rng(0)
        v = jax.tree.map(lambda x: jnp.asarray(rng.standard_normal(x.shape)), params)
        eps = 1e-5
        shifted = [jax.tree.map(lambda x, d, s=s: x + s * eps * d, params, v)
                   for s in (1, -1)]  # fmt: skip
        difference = (J(shifted[0]) - J(shifted[1])) / (2 * eps)
        grads = jax.tree.map(
            jnp.add,
            *(backprop.hand_grad(params, model_cfg, t, batch, features)
              for t in train_cfgs),
        )  # fmt: skip
        directional = sum(
            jnp.vdot(g, d)
            for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(v), strict=True)
        )
        np.testing.assert_allclose(float(directional), float(difference), rtol=1e-7)


# ---------------------------------------------------------------- optimisers


@pytest.fixture(scope="module")
def real_model(tiny_split):
    train, test = tiny_split
    model_cfg = ModelConfig.tiny()
    params = init_params(
        jax.random.key(3), model_cfg, train.n_users, train.n_items,
        train.user_features.shape[1], train.item_features.shape[1],
        float(np.mean(train.rating)),
    )  # fmt: skip
    return model_cfg, params, train, test, device_features(train)


@pytest.mark.parametrize(
    ("optimizer", "momentum"),
    [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0), ("adagrad", 0.0)],
)
def test_hand_optimizer_equals_optax_over_100_steps(real_model, optimizer, momentum):
    model_cfg, params, train, _, features = real_model
    # The hand optimisers follow the dense rules over the whole pytree.
    train_cfg = TrainConfig.tiny().replace(
        optimizer=optimizer, momentum=momentum, learning_rate=0.01,
        embedding_updates="dense",
    )  # fmt: skip
    runs = []
    for opt in (make_optimizer(train_cfg), hand_optim.hand_optimizer(train_cfg)):
        step = jax.jit(make_train_step(model_cfg, train_cfg, opt))
        p, state = params, opt.init(params)
        rng = np.random.default_rng(0)  # the same batches for both optimisers
        for _ in range(100):
            rows = rng.integers(0, train.n_interactions, train_cfg.batch_size)
            batch = Batch(
                jnp.asarray(train.user[rows]), jnp.asarray(train.item[rows]),
                jnp.asarray(train.rating[rows]), jnp.ones(len(rows)),
            )  # fmt: skip
            p, state, _ = step(p, state, batch, features, None)
        runs.append(p)
    moved = jnp.abs(runs[0]["dense"]["head"]["w"] - params["dense"]["head"]["w"])
    assert float(jnp.max(moved)) > 1e-3  # the 100 steps did train
    assert_trees_close(runs[1], runs[0], rtol=1e-5, atol=1e-6)


def test_hand_train_step_equals_train_step(real_model):
    model_cfg, params, train, _, features = real_model
    train_cfg = TrainConfig.tiny().replace(embedding_updates="dense")
    opt = make_optimizer(train_cfg)
    batch = Batch(
        jnp.asarray(train.user[:64]), jnp.asarray(train.item[:64]),
        jnp.asarray(train.rating[:64]), jnp.ones(64),
    )  # fmt: skip
    state = opt.init(params)
    ours = jax.jit(hand_optim.make_hand_train_step(model_cfg, train_cfg, opt))(
        params, state, batch, features
    )
    theirs = jax.jit(make_train_step(model_cfg, train_cfg, opt))(
        params, state, batch, features, None
    )
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)
    assert_trees_close(ours[0], theirs[0], rtol=1e-5, atol=1e-6)


def test_training_with_hand_adam_reaches_optax_rmse(real_model):
    model_cfg, params, train, test, features = real_model
    train_cfg = TrainConfig.tiny()
    data = (
        jnp.asarray(train.user, jnp.int32),
        jnp.asarray(train.item, jnp.int32),
        jnp.asarray(train.rating, jnp.float32),
    )
    rmse = {}
    for name, opt in (("optax", optax.adam(0.01)), ("hand", hand_optim.adam(0.01))):
        epoch = make_train_epoch(model_cfg, train_cfg, opt)
        p = jax.tree.map(jnp.copy, params)  # the epoch donates its inputs
        state = opt.init(p)
        for e in range(5):
            order = epoch_order(train_cfg.seed, e, train.n_interactions)
            p, state, _ = epoch(p, state, data, features, order, jax.random.key(e))
        rmse[name] = evaluate_ratings(p, model_cfg, test, features)["rmse"]
    start = evaluate_ratings(params, model_cfg, test, features)["rmse"]
    assert rmse["optax"] < start  # training helped
    assert abs(rmse["hand"] - rmse["optax"]) < 1e-4

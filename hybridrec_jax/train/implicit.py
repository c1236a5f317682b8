"""Implicit feedback: BCE with sampled negatives, ranking-based early stopping.

Every epoch e builds, on the device, the fixed-shape training set

    {(u, i, 1) : (u, i) positive}  union  {(u, j_1..j_k, 0)},  j ~ p(j) (negatives.py)

(P positives and k P freshly drawn negatives, so one compile serves every epoch)
and runs ``train.make_train_epoch`` with the binary cross-entropy from logits,

    l(y, z) = -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))].

The key of epoch e is ``fold_in(key, e)`` as in ``train.fit``, so training that
stops after epoch e and resumes from its :class:`TrainingState` gives the same
parameters as training straight through. Early stopping watches a ranking metric
(HR@10 by default) of a leave-one-out validation item per user, ranked against the
full catalogue with the user's training items masked; the best parameters are kept.

Model variants are configurations of the one network (:data:`VARIANTS`):

- ``mf``: biased matrix factorisation, z = b + b_u + b_i + <P'_u, Q'_i>.
- ``gmf``: ``mf`` without biases. NCF's GMF is z = h^T (p_u * q_i) with a learned
  h; here h is fixed to ones (z = <p_u, q_i> + b), which loses nothing, since a
  learned h can be absorbed into the scale of the factors.
- ``mlp``: NCF's MLP on the id embeddings [P_u ; Q_i], no content.
- ``neumf``: the MLP plus the dot branch (NeuMF-style fusion), no content;
  :func:`neumf_from_pretrained` starts it from a trained ``gmf`` and ``mlp``
  (NCF's pre-training).
- ``hybrid_mlp``: the MLP with the content features x_u, x_i.
- ``hybrid_mlp_dot``: the hybrid MLP plus the dot branch (with V_U, V_I).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from hybridrec_jax.config import ImplicitConfig, ModelConfig, TrainConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.evaluate.ranking import evaluate_full_ranking
from hybridrec_jax.evaluate.ratings import device_features
from hybridrec_jax.model import Params, init_params
from hybridrec_jax.train.fit import (
    TrainingState,
    check_finite,
    epoch_order,
    make_optimizer,
    make_train_epoch,
)
from hybridrec_jax.train.negatives import (
    make_cdf,
    positive_keys,
    sample_negatives,
    sampling_weights,
)

_PLAIN = dict(interaction_dim=0, dropout=0.0)
VARIANTS: dict[str, ModelConfig] = {
    "mf": ModelConfig(embedding_dim=0, hidden_dims=(), dot_dim=64,
                      use_features=False, use_biases=True, **_PLAIN),
    "gmf": ModelConfig(embedding_dim=0, hidden_dims=(), dot_dim=64,
                       use_features=False, use_biases=False, **_PLAIN),
    "mlp": ModelConfig(embedding_dim=32, hidden_dims=(64, 32, 16), dot_dim=0,
                       use_features=False, **_PLAIN),
    "neumf": ModelConfig(embedding_dim=32, hidden_dims=(64, 32, 16), dot_dim=64,
                         use_features=False, **_PLAIN),
    "hybrid_mlp": ModelConfig(embedding_dim=32, hidden_dims=(64, 32, 16),
                              dot_dim=0, use_features=True, **_PLAIN),
    "hybrid_mlp_dot": ModelConfig(embedding_dim=32, hidden_dims=(64, 32, 16),
                                  dot_dim=32, use_features=True, **_PLAIN),
}  # fmt: skip


@dataclass
class ImplicitFitResult:
    """Best parameters (by the validation metric), last state and history."""

    params: Params
    state: TrainingState
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("nan")
    train_seconds: float = 0.0
    examples_per_second: float = 0.0


def neumf_from_pretrained(
    gmf_params: Params, mlp_params: Params, alpha: float = 0.5
) -> Params:
    """NeuMF parameters whose logit is alpha z_GMF + (1 - alpha) z_MLP exactly.

    NCF's pre-training (He et al. 2017, section 3.4.1): train GMF and MLP
    apart, then start NeuMF from both, the two branches weighted by alpha. Here
    the MLP part (embeddings, layers, head, biases) is scaled by 1 - alpha and
    the GMF factors P', Q' by sqrt(alpha) each, so that their product is scaled
    by alpha. The GMF's dot_dim must equal the NeuMF's, the MLP's shapes too;
    the MLP may use content features (a hybrid NeuMF), whose maps V into the
    dot branch then start at zero.
    """
    mlp_emb, gmf_emb = mlp_params["embeddings"], gmf_params["embeddings"]
    root = alpha**0.5
    embeddings = {
        **mlp_emb,
        "user_dot": root * gmf_emb["user_dot"],
        "item_dot": root * gmf_emb["item_dot"],
        "user_bias": (1 - alpha) * mlp_emb["user_bias"],
        "item_bias": (1 - alpha) * mlp_emb["item_bias"],
    }
    head = mlp_params["dense"]["head"]
    gmf_bias = gmf_params["dense"]["head"]["b"]
    k = gmf_emb["user_dot"].shape[1]
    feature_maps = {}  # V: the GMF's where it has them, else zero (content MLP)
    for name in ("user_feature_dot", "item_feature_dot"):
        n_features = mlp_params["dense"][name].shape[0]
        gmf_map = gmf_params["dense"][name]
        same = gmf_map.shape == (n_features, k)
        feature_maps[name] = root * gmf_map if same else jnp.zeros((n_features, k))
    dense = {
        **mlp_params["dense"],
        **feature_maps,
        "head": {
            "w": (1 - alpha) * head["w"],
            "b": (1 - alpha) * head["b"] + alpha * gmf_bias,
        },
    }
    return {"embeddings": embeddings, "dense": dense}


def leave_one_out(
    users: np.ndarray,
    timestamps: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(kept_rows, held_rows): one interaction per user with >= 2 held out.

    The held-out row is the user's latest by ``timestamps`` (ties broken at
    random), or a random one without timestamps.

    >>> kept, held = leave_one_out(np.array([0, 0, 1, 2, 2]), np.array([1, 2, 1, 5, 3]))
    >>> kept.tolist(), held.tolist()
    ([0, 2, 4], [1, 3])
    """
    users = np.asarray(users)
    noise = np.random.default_rng(seed).random(len(users))
    time_key = np.zeros(len(users)) if timestamps is None else timestamps
    order = np.lexsort((noise, time_key, users))  # by user, then time, then noise
    last = np.ones(len(users), bool)
    last[:-1] = users[order][1:] != users[order][:-1]
    counts = np.bincount(users)
    held = order[last & (counts[users[order]] >= 2)]
    kept = np.setdiff1d(np.arange(len(users)), held)
    return kept, np.sort(held)


def make_epoch_data(n_negatives: int, n_retries: int = 3):
    """build(key, users, items, sorted_keys, cdf) -> (users, items, targets).

    Jitted; the P positives come first, then their k P negatives, each (P (1 + k),).
    """

    @jax.jit
    def build(key, users, items, sorted_keys, cdf):
        negatives = sample_negatives(
            key, users, sorted_keys, cdf, n_negatives, n_retries
        )
        neg_users = jnp.repeat(users, n_negatives)  # (P k,), row-major like negatives
        all_users = jnp.concatenate([users, neg_users])
        all_items = jnp.concatenate([items, negatives.reshape(-1)])
        targets = jnp.concatenate(
            [
                jnp.ones(users.shape, jnp.float32),
                jnp.zeros(neg_users.shape, jnp.float32),
            ]
        )
        return all_users, all_items, targets

    return build


def fit_implicit(
    train: Dataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    implicit_cfg: ImplicitConfig | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    state: TrainingState | None = None,
    allowed_items: np.ndarray | None = None,
    on_epoch=None,
    progress: bool = False,
) -> ImplicitFitResult:
    """Train on the positive pairs of ``train`` with BCE and sampled negatives.

    Args:
        train: the positives (its ``rating`` is ignored: every pair is a 1).
        model_cfg: the network, e.g. ``VARIANTS["neumf"]``.
        train_cfg: optimiser, batch size, epochs, patience, seed; its ``loss`` is
            set to "bce". If ``validation`` is None and ``validation_fraction`` > 0,
            one interaction per user is held out (:func:`leave_one_out`).
        implicit_cfg: negatives and early stopping (default ``ImplicitConfig()``).
        validation: (users, items) of the validation pairs, or None.
        state: resume after ``state.epoch`` epochs from this state.
        allowed_items: (I,) bool; only these items are drawn as negatives and
            ranked in validation (e.g. to keep cold-start items unseen).
        on_epoch: ``on_epoch(epoch, params) -> dict`` adds figures (e.g. test
            metrics for a learning curve) to each epoch's history record.
        progress: show a progress bar.
    """
    start = time.perf_counter()
    implicit_cfg = implicit_cfg or ImplicitConfig()
    train_cfg = train_cfg.replace(loss="bce")
    if validation is None and train_cfg.validation_fraction > 0:
        kept, held = leave_one_out(train.user, train.timestamp, train_cfg.seed)
        validation = (train.user[held], train.item[held])
        train = train.subset(kept)
    key = jax.random.key(train_cfg.seed)
    init_key, key = jax.random.split(key)
    features = device_features(train)
    optimizer = make_optimizer(train_cfg)
    if state is None:
        params = init_params(
            init_key, model_cfg, train.n_users, train.n_items,
            train.user_features.shape[1], train.item_features.shape[1],
        )  # fmt: skip
        state = TrainingState(params, optimizer.init(params), 0)
    # Copies: the epoch donates its inputs, and the caller keeps ``state``.
    params, opt_state = jax.tree.map(jnp.array, (state.params, state.opt_state))
    pairs = np.unique(
        np.asarray(train.user, np.int64) * train.n_items + train.item
    )  # distinct positives
    users = jnp.asarray(pairs // train.n_items, jnp.int32)
    items = jnp.asarray(pairs % train.n_items, jnp.int32)
    sorted_keys = positive_keys(train.user, train.item, train.n_items)
    weights = sampling_weights(
        train.item, train.n_items, implicit_cfg.sampler,
        exponent=implicit_cfg.popularity_exponent, allowed=allowed_items,
    )  # fmt: skip
    cdf = make_cdf(weights)
    build = make_epoch_data(implicit_cfg.n_negatives, implicit_cfg.n_retries)
    epoch_fn = make_train_epoch(model_cfg, train_cfg, optimizer)
    n_examples = int(users.shape[0]) * (1 + implicit_cfg.n_negatives)
    result = ImplicitFitResult(state.params, state)
    best, since_best, step_seconds, timed = -np.inf, 0, 0.0, 0
    epochs = range(state.epoch + 1, train_cfg.epochs + 1)
    for epoch in tqdm(epochs, disable=not progress, unit="epoch"):
        epoch_start = time.perf_counter()
        sample_key, step_key = jax.random.split(jax.random.fold_in(key, epoch))
        data = build(sample_key, users, items, sorted_keys, cdf)
        order = epoch_order(train_cfg.seed, epoch, n_examples)
        params, opt_state, losses = epoch_fn(
            params, opt_state, data, features, order, step_key
        )
        losses = np.asarray(losses)  # one sync per epoch
        seconds = time.perf_counter() - epoch_start
        if epoch > state.epoch + 1:  # the first epoch includes the compile
            step_seconds, timed = step_seconds + seconds, timed + 1
        check_finite(losses, epoch, train_cfg)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                  "seconds": seconds}  # fmt: skip
        validate = validation is not None and epoch % implicit_cfg.eval_every == 0
        if validate:
            metrics = evaluate_full_ranking(
                params, model_cfg, features, (train.user, train.item), validation,
                ks=(10,), allowed_items=allowed_items,
            )  # fmt: skip
            record.update({f"val_{k}": v for k, v in metrics.items()})
        if on_epoch is not None:
            record.update(on_epoch(epoch, params))
        result.history.append(record)
        result.state = TrainingState(*jax.device_get((params, opt_state)), epoch)
        score = record.get(f"val_{implicit_cfg.metric}", epoch if not validate else 0)
        if validation is None or validate:
            if score > best:
                best, since_best, result.best_epoch = score, 0, epoch
                # Copy to the host: the device buffers are donated to the next epoch.
                result.params = jax.device_get(params)
            else:
                since_best += 1
                if train_cfg.patience and since_best >= train_cfg.patience:
                    break
    result.params = jax.tree.map(jnp.asarray, result.params)
    result.best_metric = float(best) if validation is not None else float("nan")
    result.train_seconds = time.perf_counter() - start
    if timed:
        result.examples_per_second = n_examples * timed / step_seconds
    return result

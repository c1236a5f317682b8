"""Configuration as frozen dataclasses: every default in one block.

Each class has a ``tiny()`` sibling used by the tests, so that the whole suite
stays fast on two CPU cores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
OPTIMIZERS = ("adam", "sgd", "adagrad")
EMBEDDING_UPDATES = ("auto", "row_sparse", "dense")
#: "auto" updates the id tables densely up to this many rows (U + I), row-sparse
#: above: measured, dense Adam ranks better on NCF ML-1M (9,746 rows) and costs
#: no more per step at 20,000 rows; at 200,000 it is 5 times slower (README,
#: "Scale").
AUTO_DENSE_MAX_ROWS = 25_000
LOSSES = ("mse", "bce")
SAMPLERS = ("uniform", "popularity")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the hybrid network.

    Attributes:
        embedding_dim: d, width of the MLP embeddings P_u and Q_i.
        hidden_dims: widths of the hidden layers a^1..a^L (empty: no MLP).
        activation: sigma in a^{l+1} = sigma(W^l a^l + b^l).
        dot_dim: width k of the dot-product branch <P'_u + V_u x_u, Q'_i + V_i x_i>
            (0 switches the branch off).
        use_features: feed the content features x_u, x_i to the network.
        interaction_dim: k of the implicit-feedback features appended to x_u and
            x_i: a rank-k spectral summary of who rated what in the training
            data (``data.interactions``; 0 switches them off).
        use_biases: add the user and item biases b_u, b_i to the output.
        dropout: dropout rate on the hidden activations (training only).
        init_scale: standard deviation of the embedding initialisation.
        id_dropout_user, id_dropout_item: DropoutNet's input dropout (training
            only): the share of each batch whose user (item) id rows and bias
            are zeroed, and interaction features hidden, as a cold user's
            (item's) are at test time, so the network learns to predict from
            content (``dropout.id_dropout``). On ML-100K (3 seeds) 0.1 / 0.3
            take cold-item RMSE from 1.113 to 0.997 at a cost of 0.002 on the
            random split (README "Cold start and the future"), and 0.004 on
            ML-1M 90/10 (seed 0: 0.8442 to 0.8478); 0 / 0 when no user or
            item will be new.
    """

    embedding_dim: int = 32
    hidden_dims: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    dot_dim: int = 0
    use_features: bool = True
    interaction_dim: int = 32
    use_biases: bool = True
    dropout: float = 0.2
    init_scale: float = 0.05
    id_dropout_user: float = 0.1
    id_dropout_item: float = 0.3

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )
        for name in ("dropout", "id_dropout_user", "id_dropout_item"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(
                    f"{name} must lie in [0, 1), got {getattr(self, name)}"
                )
        if min(self.embedding_dim, self.dot_dim, self.interaction_dim) < 0:
            raise ValueError("embedding_dim, dot_dim and interaction_dim must be >= 0")
        if any(width <= 0 for width in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")

    @property
    def uses_training_key(self) -> bool:
        """Whether training draws random bits in the network: hidden dropout
        or id dropout (the step then passes a key to the objective)."""
        return max(self.dropout, self.id_dropout_user, self.id_dropout_item) > 0

    @classmethod
    def tiny(cls) -> ModelConfig:
        return cls(
            embedding_dim=4,
            hidden_dims=(8,),
            dot_dim=4,
            interaction_dim=2,
            dropout=0.0,
            id_dropout_user=0.0,
            id_dropout_item=0.0,
        )

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)


RATING_METRICS = ("rmse", "mae")  # minimised
RANKING_METRICS = ("hr", "ndcg", "recall", "precision", "map")  # "@K"; maximised
RANKING_SCALARS = ("mrr", "auc")  # maximised


def check_metric(metric: str, loss: str) -> str:
    """The validation metric early stopping watches, checked against the loss.

    "" picks the default: "rmse" for ``loss="mse"``, "hr@10" for ``loss="bce"``.
    Ratings take "rmse" or "mae"; implicit feedback a ranking metric "hr@K",
    "ndcg@K", "recall@K", "precision@K", "map@K" (K >= 1), "mrr" or "auc".

    Raises:
        ValueError: the metric is unknown, or belongs to the other loss.

    >>> check_metric("", "bce"), check_metric("NDCG@20", "bce")
    ('hr@10', 'ndcg@20')
    """
    metric = metric.strip().lower() or ("rmse" if loss == "mse" else "hr@10")
    name, at, cutoff = metric.partition("@")
    ranking = (name in RANKING_METRICS and at and cutoff.isdigit() and int(cutoff) > 0
               ) or metric in RANKING_SCALARS  # fmt: skip
    if metric in RATING_METRICS and loss == "mse" or ranking and loss == "bce":
        return metric
    allowed = (
        "'rmse' or 'mae'"
        if loss == "mse"
        else "'hr@K', 'ndcg@K', 'recall@K', 'precision@K', 'map@K', 'mrr' or 'auc'"
    )
    raise ValueError(
        f"metric {metric!r} is not a validation metric for loss={loss!r}: use {allowed}"
    )


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fitted: one training loop for ratings and implicit feedback.

    Ratings: ``loss="mse"`` on the ratings, ``negatives=0``; early stopping on
    the validation RMSE. Implicit feedback: ``loss="bce"`` (from logits) with
    ``negatives`` k >= 1 sampled negatives per positive, redrawn every epoch
    (every training interaction is a positive); early stopping on a ranking
    metric of a held-out latest item per user. ``loss="bce"`` with
    ``negatives=0`` trains on given 0/1 targets.

    Attributes:
        loss: "mse" for ratings, "bce" (from logits) for 0/1 targets.
        optimizer: "adam", "sgd" (with ``momentum``) or "adagrad" (optax for the
            dense parameters; see ``embedding_updates`` for the id tables).
        embedding_updates: "row_sparse" updates only the id-table rows a batch
            touches, with the row rule of ``optimizer`` (Adam: lazy Adam; see
            ``train.sparse``), so a step's cost does not grow with the numbers
            of users and items; "dense" hands the whole pytree to optax;
            "auto" is "dense" up to :data:`AUTO_DENSE_MAX_ROWS` users plus
            items and "row_sparse" above (:meth:`resolved`).
        learning_rate: eta in theta <- theta - eta * update.
        momentum: SGD momentum (0 gives the paper's plain SGD).
        l2_embedding: lambda_e on the embedding rows and biases *in the batch*,
            added per example, as in classic SGD matrix factorisation.
        l2_dense: lambda_w on every dense weight matrix (not on the biases).
        batch_size: interactions per step; the last batch is padded and masked.
        epochs: upper bound on passes over the training data.
        patience: validations without a better metric before stopping
            (0 disables early stopping).
        validation_fraction: share of the training interactions held out for
            early stopping (ratings; implicit feedback holds out each user's
            latest interaction instead whenever this is > 0).
        seed: one integer from which every random key is derived.
        negatives: k sampled negatives per positive (0: train on the targets).
        sampler: "uniform" or "popularity" (p(j) ~ n_j^popularity_exponent).
        popularity_exponent: alpha of the popularity sampler.
        negative_retries: redraws of a negative that turns out to be a positive.
        metric: the validation metric early stopping watches ("" picks
            "rmse" for mse, "hr@10" for bce; see :func:`check_metric`).
        eval_every: validate every this many epochs.
        devices: train on a mesh of this many devices (``model.sharding``:
            batches split across them, id tables sharded by rows); 1 trains
            on the default device, 0 on every device JAX sees.
        refit: after early stopping, train again from the same seed on every
            training row, the validation rows included, for the number of
            epochs early stopping chose (``train.refit``). Read by the jobs
            that hold validation rows out (``run_experiment``, the ranking job,
            ``hybridrec train``, the benchmarks); ``fit`` itself returns the
            early-stopped model. On ML-100K u1 (3 seeds) it takes the test
            RMSE from 0.9069 to 0.9038, at twice the training time (README,
            "Early stopping and the refit").
        device_data_mib: the most device memory, in MiB, the training
            interactions may take (16 bytes a row); above it each epoch streams
            them from host memory in double-buffered chunks of whole batches
            (``train.streaming``), with the same result. With sampled
            negatives the rows counted are positives and negatives, and each
            epoch's negatives are then drawn on the host CPU.
    """

    loss: str = "mse"
    optimizer: str = "adam"
    embedding_updates: str = "auto"
    learning_rate: float = 2e-3
    momentum: float = 0.9
    l2_embedding: float = 0.1
    l2_dense: float = 1e-5
    batch_size: int = 1024
    epochs: int = 40
    patience: int = 4
    validation_fraction: float = 0.05
    seed: int = 0
    negatives: int = 0
    sampler: str = "uniform"
    popularity_exponent: float = 0.75
    negative_retries: int = 3
    metric: str = ""
    eval_every: int = 1
    devices: int = 1
    device_data_mib: float = 2048.0
    refit: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.embedding_updates not in EMBEDDING_UPDATES:
            raise ValueError(
                f"embedding_updates must be one of {EMBEDDING_UPDATES}, got "
                f"{self.embedding_updates!r}"
            )
        if self.batch_size <= 0 or self.epochs <= 0:
            raise ValueError("batch_size and epochs must be positive")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                "validation_fraction must lie in [0, 1), got "
                f"{self.validation_fraction}"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.device_data_mib <= 0:
            raise ValueError(f"device_data_mib must be > 0, got {self.device_data_mib}")
        if self.devices < 0:
            raise ValueError(
                f"devices must be >= 0 (0: every device), got {self.devices}"
            )
        if self.negatives < 0 or self.eval_every < 1 or self.negative_retries < 0:
            raise ValueError(
                "negatives and negative_retries must be >= 0, eval_every >= 1"
            )
        if self.negatives and self.loss != "bce":
            raise ValueError(
                f"negatives={self.negatives} samples items labelled 0 for implicit "
                "feedback, which trains with loss='bce'; for ratings keep "
                "loss='mse' and negatives=0"
            )
        object.__setattr__(self, "metric", check_metric(self.metric, self.loss))

    def resolved(self, n_users: int | None, n_items: int | None) -> TrainConfig:
        """This configuration with ``embedding_updates="auto"`` made concrete for
        tables of U + I rows ("row_sparse" when the sizes are unknown)."""
        if self.embedding_updates != "auto":
            return self
        small = (
            n_users is not None
            and n_items is not None
            and (n_users + n_items <= AUTO_DENSE_MAX_ROWS)
        )
        return self.replace(embedding_updates="dense" if small else "row_sparse")

    @property
    def minimise(self) -> bool:
        """Whether a smaller validation ``metric`` is better (RMSE, MAE)."""
        return self.metric in RATING_METRICS

    @classmethod
    def tiny(cls) -> TrainConfig:
        return cls(batch_size=64, epochs=3, patience=0, learning_rate=1e-2, refit=False)

    @classmethod
    def ranking(cls, **changes) -> TrainConfig:
        """The defaults of implicit feedback (``hybridrec train --task ranking``).

        BCE against 4 uniform negatives per positive, early stopping on the
        HR@10 of each user's latest training interaction, the settings of
        ``benchmarks/cold_start.py``. On ML-100K u1 (every rating a positive,
        id dropout off) the hybrid's full-catalogue NDCG@10 was 0.528 with
        these, 0.528 with ``l2_embedding=1e-3`` and 0.523 with the ratings'
        0.1: the penalty matters little here. ``changes`` override any field.

        >>> TrainConfig.ranking(negatives=8).negatives, TrainConfig.ranking().metric
        (8, 'hr@10')
        """
        defaults = dict(loss="bce", negatives=4, learning_rate=3e-3,
                        l2_embedding=1e-4, batch_size=2048, epochs=20,
                        patience=3)  # fmt: skip
        return cls(**{**defaults, **changes})

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes``; a changed loss re-picks a defaulted metric."""
        if "loss" in changes and "metric" not in changes:
            default = check_metric("", self.loss)
            changes["metric"] = "" if self.metric == default else self.metric
        return dataclasses.replace(self, **changes)


_PLAIN = dict(interaction_dim=0, dropout=0.0, id_dropout_user=0.0, id_dropout_item=0.0)
#: Model variants for implicit feedback: configurations of the one network.
#: ``mf`` is biased matrix factorisation z = b + b_u + b_i + <P'_u, Q'_i>;
#: ``gmf`` the same without biases (NCF's GMF with its h fixed to ones, which a
#: learned scale of the factors absorbs); ``mlp`` NCF's MLP on [P_u ; Q_i];
#: ``neumf`` the MLP plus the dot branch; ``hybrid_mlp`` the MLP with the content
#: features; ``hybrid_mlp_dot`` the hybrid MLP plus the dot branch (with V_U, V_I).
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

"""Configuration as frozen dataclasses: every default in one block.

Each class has a ``tiny()`` sibling used by the tests, so that the whole suite
stays fast on two CPU cores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
OPTIMIZERS = ("adam", "sgd")
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

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}, got {self.activation!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if min(self.embedding_dim, self.dot_dim, self.interaction_dim) < 0:
            raise ValueError("embedding_dim, dot_dim and interaction_dim must be >= 0")
        if any(width <= 0 for width in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")

    @classmethod
    def tiny(cls) -> ModelConfig:
        return cls(
            embedding_dim=4,
            hidden_dims=(8,),
            dot_dim=4,
            interaction_dim=2,
            dropout=0.0,
        )

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fitted.

    Attributes:
        loss: "mse" for ratings, "bce" (from logits) for implicit 0/1 targets.
        optimizer: "adam" or "sgd" (optax; "sgd" takes ``momentum``).
        learning_rate: eta in theta <- theta - eta * update.
        momentum: SGD momentum (0 gives the paper's plain SGD).
        l2_embedding: lambda_e on the embedding rows and biases *in the batch*,
            added per example, as in classic SGD matrix factorisation.
        l2_dense: lambda_w on every dense weight matrix (not on the biases).
        batch_size: interactions per step; the last batch is padded and masked.
        epochs: upper bound on passes over the training data.
        patience: epochs without a better validation RMSE before stopping
            (0 disables early stopping).
        validation_fraction: share of the training interactions held out for
            early stopping.
        seed: one integer from which every random key is derived.
    """

    loss: str = "mse"
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    momentum: float = 0.9
    l2_embedding: float = 0.1
    l2_dense: float = 1e-5
    batch_size: int = 1024
    epochs: int = 40
    patience: int = 4
    validation_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
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

    @classmethod
    def tiny(cls) -> TrainConfig:
        return cls(batch_size=64, epochs=3, patience=0, learning_rate=1e-2)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ImplicitConfig:
    """Negative sampling and early stopping for :func:`fit_implicit`.

    Attributes:
        n_negatives: k sampled negatives per positive, redrawn every epoch.
        sampler: "uniform" or "popularity" (p(j) ~ n_j^popularity_exponent).
        popularity_exponent: alpha of the popularity sampler.
        n_retries: redraws of a negative that turns out to be a positive.
        metric: the validation metric early stopping maximises ("hr@10", ...).
        eval_every: validate every this many epochs.
    """

    n_negatives: int = 4
    sampler: str = "uniform"
    popularity_exponent: float = 0.75
    n_retries: int = 3
    metric: str = "hr@10"
    eval_every: int = 1

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.n_negatives < 1 or self.eval_every < 1 or self.n_retries < 0:
            raise ValueError("n_negatives and eval_every must be >= 1, n_retries >= 0")

    def replace(self, **changes) -> ImplicitConfig:
        return dataclasses.replace(self, **changes)

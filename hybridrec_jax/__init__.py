"""hybridrec_jax: a hybrid neural recommender written as explicit math in JAX.

Collaborative embeddings (P_u, Q_i) and content features (x_u, x_i) meet in one
network a^{l+1} = sigma(W^l a^l + b^l) with a rating head mu + b_u + b_i and an
optional dot-product branch; trained with MSE or binary cross-entropy by SGD or
Adam. Parameters are plain dict pytrees and every function is pure.
"""

from hybridrec_jax.config import ImplicitConfig, ModelConfig, TrainConfig
from hybridrec_jax.data import (
    DataError,
    Dataset,
    SyntheticConfig,
    load_ml100k,
    load_synthetic,
    ml100k_fold,
    random_split,
)
from hybridrec_jax.evaluate.baselines import BiasBaseline, fit_biases, fit_global_mean
from hybridrec_jax.evaluate.ranking import (
    batch_metrics,
    evaluate_full_ranking,
    evaluate_sampled,
    user_metrics,
)
from hybridrec_jax.evaluate.ratings import (
    device_features,
    evaluate_ratings,
    predict,
    rating_metrics,
)
from hybridrec_jax.evaluate.scoring import score_all, score_all_plain, user_item_tables
from hybridrec_jax.experiment import format_report, load_split, run_experiment
from hybridrec_jax.losses import (
    masked_mean,
    sigmoid_binary_cross_entropy,
    squared_error,
)
from hybridrec_jax.model import forward, init_params
from hybridrec_jax.paper.backprop import hand_grad, hand_value_and_grad
from hybridrec_jax.paper.hand_optim import hand_optimizer, make_hand_train_step
from hybridrec_jax.serve.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from hybridrec_jax.serve.coldstart import (
    feature_popularity,
    with_new_entities,
    zero_entity_rows,
)
from hybridrec_jax.serve.recommend import (
    recommend_all,
    recommend_new_user,
    recommend_user,
    similar_items,
)
from hybridrec_jax.serve.saved_model import load_recommender, save_model
from hybridrec_jax.train.fit import (
    Batch,
    FitResult,
    TrainingDiverged,
    TrainingState,
    epoch_order,
    fit,
    make_jit_train_step,
    make_optimizer,
    make_train_epoch,
    make_train_step,
    objective,
)
from hybridrec_jax.train.implicit import (
    VARIANTS,
    ImplicitFitResult,
    fit_implicit,
    leave_one_out,
    neumf_from_pretrained,
)
from hybridrec_jax.train.negatives import sample_negatives

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "ImplicitConfig",
    "ImplicitFitResult",
    "TrainingState",
    "fit_implicit",
    "leave_one_out",
    "neumf_from_pretrained",
    "sample_negatives",
    "user_metrics",
    "batch_metrics",
    "evaluate_full_ranking",
    "evaluate_sampled",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "save_model",
    "load_recommender",
    "recommend_user",
    "recommend_new_user",
    "similar_items",
    "recommend_all",
    "with_new_entities",
    "zero_entity_rows",
    "feature_popularity",
    "Batch",
    "BiasBaseline",
    "DataError",
    "Dataset",
    "FitResult",
    "ModelConfig",
    "SyntheticConfig",
    "TrainConfig",
    "TrainingDiverged",
    "device_features",
    "evaluate_ratings",
    "fit",
    "fit_biases",
    "fit_global_mean",
    "format_report",
    "forward",
    "init_params",
    "load_ml100k",
    "load_split",
    "load_synthetic",
    "epoch_order",
    "hand_grad",
    "hand_optimizer",
    "hand_value_and_grad",
    "make_hand_train_step",
    "make_jit_train_step",
    "make_optimizer",
    "make_train_epoch",
    "make_train_step",
    "masked_mean",
    "ml100k_fold",
    "objective",
    "predict",
    "random_split",
    "rating_metrics",
    "run_experiment",
    "score_all",
    "score_all_plain",
    "sigmoid_binary_cross_entropy",
    "squared_error",
    "user_item_tables",
]

"""hybridrec_jax: a hybrid neural recommender written as explicit math in JAX.

Collaborative embeddings (P_u, Q_i) and content features (x_u, x_i) meet in one
network a^{l+1} = sigma(W^l a^l + b^l) with a rating head mu + b_u + b_i and an
optional dot-product branch; trained with MSE or binary cross-entropy by SGD or
Adam. Parameters are plain dict pytrees and every function is pure.

The package follows the pipeline, each stage depending only on those before it:
``data`` (raw tables to a Dataset) -> ``model`` and ``losses`` -> ``evaluate``
(metrics, scoring, protocols, baselines) -> ``train`` (step, the one ``fit``,
negative sampling) -> ``serve`` (checkpoints, saved models, recommendations) ->
``experiment``, ``ranking_experiment`` and ``cli``; ``paper`` writes the
equations out by hand.
"""

from hybridrec_jax.config import VARIANTS, ModelConfig, TrainConfig
from hybridrec_jax.data import (
    DataError,
    Dataset,
    SyntheticConfig,
    leave_one_out,
    load_ml100k,
    load_synthetic,
    ml100k_fold,
    random_split,
)
from hybridrec_jax.evaluate import (
    BiasBaseline,
    batch_metrics,
    device_features,
    evaluate_cold_start,
    evaluate_full_ranking,
    evaluate_ratings,
    evaluate_sampled,
    feature_popularity,
    fit_biases,
    fit_global_mean,
    predict,
    rating_metrics,
    score_all,
    score_all_plain,
    user_item_tables,
    user_metrics,
)
from hybridrec_jax.experiment import format_report, load_split, run_experiment
from hybridrec_jax.losses import (
    masked_mean,
    sigmoid_binary_cross_entropy,
    squared_error,
)
from hybridrec_jax.model import (
    forward,
    init_params,
    with_new_entities,
    zero_entity_rows,
)
from hybridrec_jax.paper import hand_grad, hand_optimizer, hand_value_and_grad
from hybridrec_jax.plots import (
    plot_bars,
    plot_history,
    plot_predictions,
    plot_seed_bands,
    plot_sweep,
    run_curves,
)
from hybridrec_jax.ranking_experiment import (
    format_ranking_report,
    prepare_ranking,
    run_ranking_experiment,
)
from hybridrec_jax.serve.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from hybridrec_jax.serve.recommend import (
    recommend_all,
    recommend_new_user,
    recommend_user,
    similar_items,
)
from hybridrec_jax.serve.saved_model import load_recommender, save_model
from hybridrec_jax.train import (
    Batch,
    CheckpointConfig,
    FitResult,
    TrainingDiverged,
    TrainingState,
    epoch_order,
    fit,
    make_jit_train_step,
    make_optimizer,
    make_train_epoch,
    make_train_step,
    neumf_from_pretrained,
    objective,
    refit,
    sample_negatives,
)

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "Batch",
    "BiasBaseline",
    "CheckpointConfig",
    "CheckpointError",
    "DataError",
    "Dataset",
    "FitResult",
    "ModelConfig",
    "SyntheticConfig",
    "TrainConfig",
    "TrainingDiverged",
    "TrainingState",
    "batch_metrics",
    "device_features",
    "epoch_order",
    "evaluate_cold_start",
    "evaluate_full_ranking",
    "evaluate_ratings",
    "evaluate_sampled",
    "feature_popularity",
    "fit",
    "fit_biases",
    "fit_global_mean",
    "format_ranking_report",
    "format_report",
    "forward",
    "hand_grad",
    "hand_optimizer",
    "hand_value_and_grad",
    "init_params",
    "leave_one_out",
    "load_checkpoint",
    "load_ml100k",
    "load_recommender",
    "load_split",
    "load_synthetic",
    "make_jit_train_step",
    "make_optimizer",
    "make_train_epoch",
    "make_train_step",
    "masked_mean",
    "ml100k_fold",
    "neumf_from_pretrained",
    "objective",
    "plot_bars",
    "plot_history",
    "plot_predictions",
    "plot_seed_bands",
    "plot_sweep",
    "predict",
    "prepare_ranking",
    "random_split",
    "rating_metrics",
    "recommend_all",
    "recommend_new_user",
    "recommend_user",
    "refit",
    "run_curves",
    "run_experiment",
    "run_ranking_experiment",
    "sample_negatives",
    "save_checkpoint",
    "save_model",
    "score_all",
    "score_all_plain",
    "sigmoid_binary_cross_entropy",
    "similar_items",
    "squared_error",
    "user_item_tables",
    "user_metrics",
    "with_new_entities",
    "zero_entity_rows",
]

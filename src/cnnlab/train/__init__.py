"""Training: ``fit`` any registered model on tensors held on the device, ``evaluate`` it, checkpoint and resume,
ensembles, DDP under torchrun, and named recipes (``recipe("cpu")``: the presets the CLI, the benchmarks and the
demo read).

Example:
    >>> from cnnlab import data, models, train
    >>> net = models.create("lenet5")
    >>> cfg = train.TrainConfig(epochs=2, batch_size=256, lr=0.05, out_dir="runs/lenet")
    >>> hist = train.fit(net, data.fashion_mnist("train"), None, cfg)      # doctest: +SKIP
    >>> train.evaluate(net, data.fashion_mnist("test")).accuracy           # doctest: +SKIP
    0.88
"""

from cnnlab.train._augment import apply_params, crop_at, draw_params, flip_where, pca_lighting, rgb_pca
from cnnlab.train._config import OPERATIONAL_FIELDS, TrainConfig, check_resume
from cnnlab.train._ensemble import EnsembleResult, ensemble_evaluate, fit_ensemble
from cnnlab.train._evaluate import (
    EvalResult,
    confusion_figure,
    evaluate,
    metrics_from_logits,
    predict_logits,
    recalibrate_bn,
    save_confusion_png,
)
from cnnlab.train._fit import EpochStats, History, TrainingDiverged, epoch_order, fit, split_validation
from cnnlab.train._optim import build_optimizer, build_scheduler, init_weights, lr_factor, lr_groups, resolve_loss
from cnnlab.train._recipes import RECIPES, Recipe, get_recipe, recipe, recipe_names, register_recipe
from cnnlab.train._run import (
    RunResult,
    check_classes,
    evaluate_checkpoint,
    launch_distributed,
    load_run_data,
    read_run,
    result_stem,
    run_training,
    saved_config,
    write_eval,
)
from cnnlab.train._state import latest_state_dir, load_train_state

__all__ = [
    "OPERATIONAL_FIELDS",
    "RECIPES",
    "EnsembleResult",
    "EpochStats",
    "EvalResult",
    "History",
    "Recipe",
    "RunResult",
    "TrainConfig",
    "TrainingDiverged",
    "apply_params",
    "build_optimizer",
    "build_scheduler",
    "check_classes",
    "check_resume",
    "confusion_figure",
    "crop_at",
    "draw_params",
    "ensemble_evaluate",
    "epoch_order",
    "evaluate",
    "evaluate_checkpoint",
    "fit",
    "fit_ensemble",
    "flip_where",
    "get_recipe",
    "init_weights",
    "latest_state_dir",
    "launch_distributed",
    "load_run_data",
    "load_train_state",
    "lr_factor",
    "lr_groups",
    "metrics_from_logits",
    "pca_lighting",
    "predict_logits",
    "read_run",
    "recalibrate_bn",
    "recipe",
    "recipe_names",
    "register_recipe",
    "resolve_loss",
    "result_stem",
    "rgb_pca",
    "run_training",
    "save_confusion_png",
    "saved_config",
    "split_validation",
    "write_eval",
]

# the training-state helpers, for loops outside fit (cnnlab.detect's); on their own lines so branches merge cleanly
from cnnlab.train._state import restore_optimizer, rng_state, save_train_state, set_rng_state  # noqa: E402, I001

__all__ += ["restore_optimizer", "rng_state", "save_train_state", "set_rng_state"]

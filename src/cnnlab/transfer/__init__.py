"""Transfer learning: replace the classifier, adapt the input, freeze what should not learn, train the rest.

Modes: a linear probe (frozen backbone, features computed once, logistic regression on them), freezing the
first N blocks, and full fine-tuning with a smaller learning rate for the backbone (both trained by
``cnnlab.train.fit``); frozen batch-norm statistics as an option. Sources: the ImageNet EfficientNet-Lite0 or
any cnnlab checkpoint. The input adapter (resize, grey -> RGB) is part of the model and of its checkpoint.

Example:
    >>> from cnnlab import data, transfer
    >>> train = data.fashion_mnist("train")                                     # doctest: +SKIP
    >>> cfg = transfer.TransferConfig(mode="linear", subset=1000, resize=64)
    >>> r = transfer.transfer("efficientnet_lite0", train, config=cfg,
    ...                       eval_data=data.fashion_mnist("test"), out_dir="runs/probe")  # doctest: +SKIP
"""

from cnnlab.models._adapter import InputAdapter
from cnnlab.train import recalibrate_bn
from cnnlab.transfer._api import TransferConfig, TransferResult, train_config, transfer
from cnnlab.transfer._model import (
    FrozenStatsBatchNorm2d,
    backbone_blocks,
    freeze,
    freeze_bn_stats,
    head_name,
    parse_mode,
    transfer_model,
)
from cnnlab.transfer._probe import extract_features, fit_logistic_regression, set_head

__all__ = [
    "FrozenStatsBatchNorm2d",
    "InputAdapter",
    "TransferConfig",
    "TransferResult",
    "backbone_blocks",
    "extract_features",
    "fit_logistic_regression",
    "freeze",
    "freeze_bn_stats",
    "head_name",
    "parse_mode",
    "recalibrate_bn",
    "set_head",
    "train_config",
    "transfer",
    "transfer_model",
]

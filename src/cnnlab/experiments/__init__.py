"""Experiments: studies that combine capabilities to measure what the course notes claim (class imbalance and
losses, transfer vs data size, the robustness figures; the claims registry builds on them).

Each experiment is a function returning a result dataclass (numbers, the settings that made them, the files
written); quick and full settings are arguments, plots separate helpers.

Example:
    >>> from cnnlab import experiments
    >>> experiments.long_tailed_counts(10, 1000, 100.0)[:3]
    [1000, 599, 359]
"""

from cnnlab.experiments._imbalance import (
    DEFAULT_LOSSES,
    ImbalanceResult,
    imbalance_experiment,
    long_tailed_counts,
    make_imbalanced,
)
from cnnlab.experiments._robust_figures import RobustFiguresResult, robust_figures
from cnnlab.experiments._transfer_size import DataSizeResult, data_size_experiment, epochs_for

__all__ = [
    "DEFAULT_LOSSES",
    "DataSizeResult",
    "ImbalanceResult",
    "RobustFiguresResult",
    "data_size_experiment",
    "epochs_for",
    "imbalance_experiment",
    "long_tailed_counts",
    "make_imbalanced",
    "robust_figures",
]

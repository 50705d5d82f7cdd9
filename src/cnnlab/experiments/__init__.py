"""Experiments: studies that combine capabilities to measure what the course notes claim (class imbalance and
losses, transfer vs data size, the robustness figures) and the claims registry built on them (``CLAIMS``:
every claim of the notes with its experiment, quick and full settings, a verdict and a plot; docs/claims.md).

Each experiment is a function returning a result dataclass (numbers, the settings that made them, the files
written); quick and full settings are arguments, plots separate helpers.

Example:
    >>> from cnnlab import experiments
    >>> experiments.long_tailed_counts(10, 1000, 100.0)[:3]
    [1000, 599, 359]
"""

from cnnlab.experiments._claims import (
    CLAIMS,
    PENDING_CLAIMS,
    Claim,
    ClaimContext,
    ClaimResult,
    Quote,
    claim_names,
    claims_table,
    discover,
    get_claim,
    register_claim,
    run_claim,
    run_claims,
)
from cnnlab.experiments._claims_stats import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Estimate,
    Part,
    Verdict,
    combine,
    decide,
    exact,
    paired_interval,
    part,
    t_interval,
    wilson_interval,
)
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
    "CLAIMS",
    "PENDING_CLAIMS",
    "Claim",
    "ClaimContext",
    "ClaimResult",
    "Estimate",
    "INCONCLUSIVE",
    "NOT_SUPPORTED",
    "Part",
    "Quote",
    "SUPPORTED",
    "Verdict",
    "claim_names",
    "claims_table",
    "combine",
    "decide",
    "discover",
    "exact",
    "get_claim",
    "paired_interval",
    "part",
    "register_claim",
    "run_claim",
    "run_claims",
    "t_interval",
    "wilson_interval",
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

# the claim modules (cnnlab.experiments._claims_*) register themselves; a new claim is one new module
discover()

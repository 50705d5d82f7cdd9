"""Ensembles: train the same network from N seeds and average the class probabilities (Krizhevsky et al. 2012
average 7 networks; the averaged prediction is usually better than every member)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cnnlab._checks import check_int
from cnnlab.data import ImageTensors
from cnnlab.train._config import TrainConfig
from cnnlab.train._evaluate import EvalResult, metrics_from_logits, predict_logits
from cnnlab.train._fit import History, fit


def ensemble_evaluate(models: Sequence[nn.Module], data: ImageTensors, *, batch_size: int = 1024,
                      device: str | torch.device | None = None) -> EvalResult:
    """Evaluate the average of the members' softmax probabilities on ``data``.

    ``loss`` is the negative log-likelihood of the averaged probabilities. Each model's mode is restored.
    """
    if not models:
        raise ValueError("an ensemble needs at least one model")
    probs = None
    for m in models:
        p = predict_logits(m, data, batch_size=batch_size, device=device).softmax(1)
        probs = p if probs is None else probs + p
    probs = probs / len(models)
    return metrics_from_logits(probs.log(), data.labels, data.classes, probs=probs, keep_probs=True)


@dataclass
class EnsembleResult:
    """Members, their histories and test results, and the ensemble's test result."""

    models: list[nn.Module]
    histories: list[History]
    single: list[EvalResult] = field(default_factory=list)
    ensemble: EvalResult | None = None

    @property
    def gain(self) -> float:
        """Ensemble accuracy minus the mean single-model accuracy."""
        if self.ensemble is None or not self.single:
            return float("nan")
        return self.ensemble.accuracy - sum(r.accuracy for r in self.single) / len(self.single)


def fit_ensemble(build_model: Callable[[int], nn.Module], train_data: ImageTensors,
                 val_data: ImageTensors | None, config: TrainConfig, *, n: int = 3,
                 test_data: ImageTensors | None = None, **fit_kwargs) -> EnsembleResult:
    """Train ``n`` models (member ``i`` built by ``build_model(i)`` and trained with seed ``config.seed + i``,
    checkpointed in ``out_dir/member-i``) and, with ``test_data``, compare each one to their average.

    Example:
        >>> build = lambda i: models.create("lenet5")
        >>> res = fit_ensemble(build, train, None, cfg, n=3, test_data=test)  # doctest: +SKIP
        >>> res.gain  # ensemble accuracy minus the members' mean           # doctest: +SKIP
    """
    check_int("n", n)
    members, histories = [], []
    for i in range(n):
        out = str(Path(config.out_dir) / f"member-{i}") if config.out_dir is not None else None
        c = config.replace(seed=config.seed + i, out_dir=out)
        torch.manual_seed(c.seed)
        model = build_model(i)
        histories.append(fit(model, train_data, val_data, c, **fit_kwargs))
        members.append(model)
    res = EnsembleResult(members, histories)
    if test_data is not None:
        from cnnlab.train._evaluate import evaluate

        res.single = [evaluate(m, test_data, batch_size=config.eval_batch_size) for m in members]
        res.ensemble = ensemble_evaluate(members, test_data, batch_size=config.eval_batch_size)
    return res

"""The robustness figures of the course notes on Fashion-MNIST: a small CNN (LeNet-5 with ReLU and max pooling)
trained three ways -- standard, PGD adversarial training (Madry et al. 2018) and FGSM with random start (Wong et
al. 2020) -- then clean and PGD-20 accuracy on the test set, the per-epoch FGSM/PGD probe for catastrophic
overfitting, and the one-pixel success rate (Su et al. 2019) of the standard model at Su's settings and at
cnnlab's defaults.

Training is :func:`cnnlab.train.fit` (Adam 1e-3); the adversarial runs go through
:func:`cnnlab.robust.adversarial_training` (fit with ``perturb=...``, plus the probe).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab import models, robust
from cnnlab import train as engine
from cnnlab._checks import check_int, check_number
from cnnlab._io import atomic_write_json
from cnnlab.data import ImageTensors

METHODS = (("standard", None), ("pgd", "pgd"), ("fgsm_rs", "fgsm"))


@dataclass
class RobustFiguresResult:
    """Per model: clean and PGD-20 accuracy, the epoch of catastrophic overfitting (or ``None``), the training
    log; for the standard model the one-pixel results. ``settings`` holds what made them."""

    models: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def _train_one(name: str, method: str | None, tr: ImageTensors, probe: ImageTensors, *, epochs: int,
               batch_size: int, eps: float, adv_steps: int, device: str,
               run_dir: Path | None) -> tuple[nn.Module, list[dict[str, Any]]]:
    net = models.create("lenet5", activation="relu", pool="max")
    cfg = engine.TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3, weight_decay=0.0,
                             schedule="none", seed=0, device=device, num_threads=1, progress=False,
                             out_dir=str(run_dir / f"{name}_run") if run_dir else None)
    if method is None:
        hist = engine.fit(net, tr, probe, cfg)
        x, y = probe.floats().to(device), probe.labels.to(device)
        last = robust.robust_accuracies(net, x, y, eps=eps, pgd_steps=10)
        log = [{"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "seconds": r.seconds}
               for r in hist.rows]
        log[-1].update({f"probe_{k}": v for k, v in last.items()})
    else:
        res = robust.adversarial_training(net, tr, probe, cfg, method=method, eps=eps, steps=adv_steps,
                                          probe_size=len(probe))
        log = [{"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "seconds": r.seconds,
                **{f"probe_{k}": v for k, v in p.items() if k != "epoch"}}
               for r, p in zip(res.history.rows, res.probes)]
    if run_dir is not None:
        models.save_checkpoint(run_dir / name, net.cpu(), extra={"adversarial": method, "eps": eps})
    return net.to(device).eval(), log


def robust_figures(train: ImageTensors, test: ImageTensors, *, epochs: int = 4, batch_size: int = 128,
                   eps: float = 0.1, adv_steps: int = 7, eval_size: int = 1000, onepixel: int = 20,
                   probe_size: int = 500, device: str = "cpu", run_dir: str | os.PathLike | None = None,
                   out_dir: str | os.PathLike | None = None) -> RobustFiguresResult:
    """Train the three models and measure them.

    Args:
        train, test: the data (Fashion-MNIST in the README's figures).
        epochs, batch_size: training length (Adam 1e-3, no schedule).
        eps: the L-inf budget of adversarial training and of the PGD-20 evaluation.
        adv_steps: PGD steps inside adversarial training.
        eval_size: test images for clean / PGD-20 accuracy (the first ones).
        onepixel: test images attacked with the one-pixel attack (standard model only).
        probe_size: the last test images, held out of the evaluation, for the per-epoch probe.
        run_dir: checkpoints of the three models go to ``run_dir/<name>`` (used by the CLI tour).
        out_dir: writes ``robust_figures.json`` there.
    """
    check_int("epochs", epochs)
    check_int("eval_size", eval_size)
    check_int("onepixel", onepixel, 0)
    check_int("probe_size", probe_size)
    check_number("eps", eps, minimum=0, maximum=1)
    if eval_size + probe_size > len(test):
        raise ValueError(f"eval_size + probe_size ({eval_size} + {probe_size}) exceed the {len(test)} test images")
    probe = test.subset(slice(len(test) - probe_size, len(test)))  # held out of the evaluation images
    ev = test.subset(slice(0, eval_size))
    rdir = Path(run_dir) if run_dir is not None else None
    out: dict[str, dict[str, Any]] = {}
    for name, method in METHODS:
        net, log = _train_one(name, method, train, probe, epochs=epochs, batch_size=batch_size, eps=eps,
                              adv_steps=adv_steps, device=device, run_dir=rdir)
        clean = robust.evaluate_attack(net, ev, "fgsm", eps=0.0)
        p20 = robust.evaluate_attack(net, ev, "pgd", eps=eps, steps=20)
        probed = [r for r in log if "probe_pgd" in r]
        co = robust.detect_catastrophic_overfitting([r["probe_fgsm"] for r in probed],
                                                    [r["probe_pgd"] for r in probed])
        out[name] = {"clean_accuracy": clean.clean_accuracy, "pgd20_accuracy": p20.robust_accuracy,
                     "catastrophic_overfitting_epoch": co, "log": log}
        if name == "standard" and onepixel:
            sub = test.subset(slice(0, onepixel))
            for tag, kw in (("su", robust.SU_SETTINGS), ("default", {})):
                t0 = time.perf_counter()
                r = robust.evaluate_attack(net, sub, "onepixel", generator=torch.Generator(device).manual_seed(0),
                                           **kw)
                out[name][f"onepixel_{tag}"] = {"n": r.n, "clean_accuracy": r.clean_accuracy,
                                                "success_rate": r.success_rate, "seconds": time.perf_counter() - t0}
    settings = {"epochs": epochs, "batch_size": batch_size, "eps": eps, "adv_steps": adv_steps,
                "train_images": len(train), "eval_size": eval_size, "probe_size": probe_size, "onepixel": onepixel,
                "device": device, "torch": torch.__version__}
    result = RobustFiguresResult(out, settings)
    if out_dir is not None:
        result.files = [atomic_write_json(Path(out_dir) / "robust_figures.json",
                                          {"settings": settings, "models": out})]
    return result

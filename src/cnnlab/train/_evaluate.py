"""Evaluation: accuracy, per-class accuracy, confusion matrix and loss of a model on a labelled dataset; batch-norm
statistics recomputed before evaluating ("precise BN")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._device import model_device, resolve_device
from cnnlab.data import ImageTensors
from cnnlab.models import frozen, restoring


@dataclass
class EvalResult:
    """What :func:`evaluate` measures.

    Attributes:
        accuracy: top-1 accuracy in [0, 1].
        per_class_accuracy: ``Tensor[K]``, recall of each class (NaN for a class with no samples).
        confusion: ``Tensor[K, K]`` int64 counts, row = true class, column = predicted class.
        loss: mean loss (cross-entropy unless another ``loss_fn`` was given).
        n: number of images.
        classes: class names.
        probs: ``Tensor[N, K]`` softmax probabilities (kept only with ``keep_probs=True``).
    """

    accuracy: float
    per_class_accuracy: Tensor
    confusion: Tensor
    loss: float
    n: int
    classes: list[str] = field(default_factory=list)
    probs: Tensor | None = None

    def summary(self) -> dict:
        """A JSON-friendly dict (no probabilities)."""
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n, "classes": self.classes,
                "per_class_accuracy": [None if v != v else v for v in self.per_class_accuracy.tolist()],
                "confusion": self.confusion.tolist()}


def batch_floats(images: Tensor) -> Tensor:
    """uint8 (0..255) or float images -> float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float().div_(255)
    return images.float()


@torch.no_grad()
def predict_logits(model: nn.Module, data: ImageTensors | Tensor, *, batch_size: int = 1024,
                   device: str | torch.device | None = None, channels_last: bool = False) -> Tensor:
    """Logits ``Tensor[N, K]`` (float32, on the CPU) of ``model`` in eval mode; its mode is restored."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    images = data.images if isinstance(data, ImageTensors) else data
    dev = resolve_device(device) if device is not None else model_device(model)
    with frozen(model):  # eval mode; every module's mode and requires_grad restored, also on an error
        out = []
        for i in range(0, images.shape[0], batch_size):
            x = batch_floats(images[i:i + batch_size].to(dev, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(model(x).float().cpu())
    if not out:
        raise ValueError("cannot evaluate on an empty dataset")
    return torch.cat(out)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: Tensor, *, batch_size: int = 128,
                   device: str | torch.device | None = None) -> int:
    """Recompute the running statistics of every batch-norm layer in use as the plain average over ``images``
    ("precise BN", Wu & Johnson 2021); returns how many layers were recalibrated.

    After a short fine-tuning run the running statistics lag far behind the batch statistics the weights were
    trained with (EfficientNet's momentum is 0.01, TensorFlow's 0.99 decay), and the network is wrong in eval
    mode. The forward passes run in train mode; a layer that stays in eval mode under ``model.train()`` (frozen
    statistics, ``cnnlab.transfer.FrozenStatsBatchNorm2d``) or tracks no running statistics is left alone. The
    model's mode and each layer's momentum are restored.

    Args:
        model: the network (its batch-norm buffers change in place).
        images: ``Tensor[N, C, H, W]``, uint8 or float in [0, 1].
        batch_size: images per forward pass (each batch's statistics count equally).
        device: where to run (default: the model's device).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    dev = resolve_device(device) if device is not None else model_device(model)
    bns: list[nn.modules.batchnorm._BatchNorm] = []
    momenta: list[float | None] = []
    with restoring(model):  # every module's mode restored, also on an error
        try:
            model.train()
            bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                   and m.training and m.track_running_stats]
            momenta = [m.momentum for m in bns]
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative moving average: the plain mean over the batches
            for chunk in images.split(batch_size) if bns else ():
                model(batch_floats(chunk.to(dev, non_blocking=True)))
        finally:
            for m, mom in zip(bns, momenta):
                m.momentum = mom
    return len(bns)


def metrics_from_logits(logits: Tensor, labels: Tensor, classes: list[str] | None = None, *,
                        loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                        probs: Tensor | None = None, keep_probs: bool = False) -> EvalResult:
    """:class:`EvalResult` from logits (or, for ensembles, from probabilities given as ``probs``)."""
    labels = labels.cpu().long()
    k = (logits if probs is None else probs).shape[1]
    if labels.numel() and int(labels.max()) >= k:
        raise ValueError(f"labels go up to {int(labels.max())} but the model has only {k} outputs")
    if probs is None:
        probs = logits.softmax(1)
        loss = (loss_fn(logits, labels) if loss_fn is not None else F.cross_entropy(logits, labels)).item()
    else:  # negative log-likelihood of averaged probabilities
        loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels).item()
    pred = probs.argmax(1)
    confusion = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)
    support = confusion.sum(1)
    per_class = confusion.diag().double() / support.double()  # NaN where a class has no samples
    acc = (pred == labels).double().mean().item()
    return EvalResult(acc, per_class.float(), confusion, float(loss), int(labels.numel()),
                      list(classes or [str(i) for i in range(k)]), probs if keep_probs else None)


def evaluate(model: nn.Module, data: ImageTensors, *, batch_size: int = 1024,
             device: str | torch.device | None = None, loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
             keep_probs: bool = False) -> EvalResult:
    """Accuracy, per-class accuracy, confusion matrix and loss of ``model`` on ``data``.

    The model runs in eval mode and its mode is restored afterwards.

    Args:
        model: a classifier taking ``Tensor[N, C, H, W]`` in [0, 1].
        data: the labelled images.
        batch_size: images per forward pass.
        device: where to run (default: the model's device).
        loss_fn: ``loss(logits, targets) -> scalar`` (default: cross-entropy).
        keep_probs: keep the softmax probabilities in the result (for ensembles).

    Example:
        >>> r = evaluate(model, data.fashion_mnist("test"))   # doctest: +SKIP
        >>> r.accuracy, r.confusion.shape
        (0.91, torch.Size([10, 10]))
    """
    if not isinstance(data, ImageTensors):
        raise TypeError(f"data must be an ImageTensors, got {type(data).__name__}")
    logits = predict_logits(model, data, batch_size=batch_size, device=device)
    return metrics_from_logits(logits, data.labels, data.classes, loss_fn=loss_fn, keep_probs=keep_probs)


def confusion_figure(result: EvalResult, *, normalize: bool = True):
    """A matplotlib figure of the confusion matrix (rows: true class, columns: predicted)."""
    from cnnlab._plot import pyplot

    plt = pyplot()

    cm = result.confusion.double()
    if normalize:
        cm = cm / cm.sum(1, keepdim=True).clamp_min(1)
    k = cm.shape[0]
    labels = result.classes if len(result.classes) == k else [str(i) for i in range(k)]
    long = max((len(str(c)) for c in labels), default=1)
    # about 0.5 inch per cell (readable at 100 dpi, the size the report shows it), plus room for long names
    side = max(3.5, 0.5 * k + 1.2 + 0.07 * long)
    fig, ax = plt.subplots(figsize=(side + 1.0, side), dpi=100)
    im = ax.imshow(cm.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(k), labels, rotation=45 if long > 2 else 0, ha="right" if long > 2 else "center",
                  fontsize=10)
    ax.set_yticks(range(k), labels, fontsize=10)
    ax.set_xlabel("predicted", fontsize=11)
    ax.set_ylabel("true", fontsize=11)
    from cnnlab._format import percent

    ax.set_title(f"accuracy {percent(result.accuracy)} on {result.n} images", fontsize=11)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                v = cm[i, j].item()
                if v > 0:
                    ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center",
                            fontsize=8 if k <= 12 else 6, color="white" if v > 0.5 * cm.max().item() else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def save_confusion_png(result: EvalResult, path, *, normalize: bool = True) -> str:
    """Save :func:`confusion_figure` as a PNG; returns the path."""
    from cnnlab._plot import save_figure

    save_figure(confusion_figure(result, normalize=normalize), path)
    return str(path)

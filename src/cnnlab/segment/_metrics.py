"""Segmentation metrics from one confusion matrix over a whole split (the SegNet tutorial's definitions).

- global accuracy: correctly labelled pixels / labelled pixels (void left out);
- class accuracy: per class, the share of its pixels labelled right (recall); "class average" is their mean over
  the classes that occur in the ground truth;
- IoU of class ``c``: ``TP / (TP + FP + FN)``; mIoU: their mean over the classes that occur in the ground truth
  or the predictions (a class absent from both has no IoU).

The matrix is accumulated batch by batch, so a split is never held as logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cnnlab._checks import check_int


def confusion_matrix(predictions: Tensor, labels: Tensor, *, num_classes: int,
                     ignore_index: int | None = None) -> Tensor:
    """``Tensor[K, K]`` int64 pixel counts, row = true class, column = predicted class; pixels whose label is
    ``ignore_index`` are left out.

    Args:
        predictions: ``Tensor[N, H, W]`` (or any shape) predicted classes.
        labels: true classes, same shape.
    """
    k = check_int("num_classes", num_classes)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} differ in shape")
    p, y = predictions.reshape(-1).long(), labels.reshape(-1).long()
    if ignore_index is not None:
        keep = y != ignore_index
        p, y = p[keep], y[keep]
    if y.numel():
        for what, t in (("labels", y), ("predictions", p)):
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= k:
                raise ValueError(f"{what} must be classes in [0, {k - 1}] (or ignore_index), got {lo}..{hi}")
    return torch.bincount(y * k + p, minlength=k * k).view(k, k).cpu()


@dataclass
class SegmentationMetrics:
    """What :func:`metrics` measures (fractions in [0, 1]; NaN for a class the definition leaves undefined).

    Attributes:
        global_accuracy: labelled pixels predicted right / labelled pixels.
        class_accuracy: mean per-class accuracy over the classes present in the ground truth ("class average").
        miou: mean IoU over the classes present in the ground truth or the predictions.
        per_class_accuracy: ``Tensor[K]`` recall of each class.
        iou: ``Tensor[K]`` IoU of each class.
        confusion: ``Tensor[K, K]`` pixel counts (row = true class).
        classes: class names.
    """

    global_accuracy: float
    class_accuracy: float
    miou: float
    per_class_accuracy: Tensor
    iou: Tensor
    confusion: Tensor
    classes: list[str]

    @property
    def pixels(self) -> int:
        return int(self.confusion.sum())

    def summary(self) -> dict:
        """A JSON-friendly dict."""
        def clean(t: Tensor) -> list[float | None]:
            return [None if v != v else round(float(v), 6) for v in t.tolist()]

        return {"global_accuracy": self.global_accuracy, "class_accuracy": self.class_accuracy, "miou": self.miou,
                "per_class_accuracy": dict(zip(self.classes, clean(self.per_class_accuracy))),
                "iou": dict(zip(self.classes, clean(self.iou))), "pixels": self.pixels,
                "confusion": self.confusion.tolist()}

    def __repr__(self) -> str:
        return (f"SegmentationMetrics(global={self.global_accuracy:.1%}, class avg={self.class_accuracy:.1%}, "
                f"mIoU={self.miou:.1%}, {len(self.classes)} classes, {self.pixels} pixels)")


def from_confusion(confusion: Tensor, classes: list[str] | None = None) -> SegmentationMetrics:
    """:class:`SegmentationMetrics` of a confusion matrix (row = true class)."""
    cm = confusion.double()
    k = cm.shape[0]
    if cm.shape != (k, k):
        raise ValueError(f"confusion must be square, got {tuple(cm.shape)}")
    tp = cm.diag()
    support, predicted = cm.sum(1), cm.sum(0)
    total = cm.sum()
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    recall = torch.where(support > 0, tp / support.clamp_min(1), nan)
    union = support + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), nan)
    present = support > 0
    return SegmentationMetrics(
        global_accuracy=float(tp.sum() / total) if total > 0 else float("nan"),
        class_accuracy=float(recall[present].mean()) if present.any() else float("nan"),
        miou=float(iou[union > 0].mean()) if (union > 0).any() else float("nan"),
        per_class_accuracy=recall.float(), iou=iou.float(), confusion=confusion.long().cpu(),
        classes=list(classes) if classes is not None else [str(i) for i in range(k)])


def metrics(predictions: Tensor, labels: Tensor, *, num_classes: int, ignore_index: int | None = None,
            classes: list[str] | None = None) -> SegmentationMetrics:
    """Global accuracy, class-average accuracy, per-class IoU and mIoU of predicted class maps.

    Args:
        predictions: ``Tensor[N, H, W]`` predicted classes (``logits.argmax(1)``).
        labels: ``Tensor[N, H, W]`` true classes; ``ignore_index`` pixels count nowhere.
        num_classes: ``K``.
        classes: names for the result.

    Example:
        >>> y = torch.tensor([[[0, 0, 1, 255]]])
        >>> m = metrics(torch.tensor([[[0, 1, 1, 0]]]), y, num_classes=2, ignore_index=255)
        >>> round(m.global_accuracy, 3), round(m.miou, 3)
        (0.667, 0.5)
    """
    return from_confusion(confusion_matrix(predictions, labels, num_classes=num_classes, ignore_index=ignore_index),
                          classes)

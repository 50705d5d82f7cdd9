"""The losses of the course notes as pure functions on logits, numerically stable.

Every loss reads ``loss(logits, targets, *, reduction="mean", ...)``:

- ``logits``: ``Tensor[N, K]`` (or ``[N, K, d1, ...]``, the class dimension second, as ``F.cross_entropy``);
  the regression losses also take any shape.
- ``targets``: class indices ``Tensor[N]`` (``[N, d1, ...]``) of an integer dtype, or a tensor of the logits'
  shape holding probabilities / regression targets.
- ``reduction``: ``"mean"``, ``"sum"`` or ``"none"``; ``"mean"`` averages over the samples that are not
  ``ignore_index`` (and is a weighted average where torch's ``weight`` semantics apply, see each loss).
- ``ignore_index``: a target class index whose samples contribute nothing (loss and gradient 0).

Softmax losses use ``log_softmax`` (log-sum-exp), sigmoid losses ``logsigmoid``; the focal modulating factor
``(1 - p_t)^gamma`` is computed from ``log p_t`` and clamped away from 0, so logits of +-1e4 and target
probabilities of exactly 0 or 1 give finite losses and finite gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab._checks import check_number

Reduction = str
_REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------------------------------------ helpers


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")


def _check_logits(logits: Tensor) -> None:
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got {logits.dtype}")


def _is_index_target(logits: Tensor, targets: Tensor) -> bool:
    """Class indices ``[N, d...]`` for logits ``[N, K, d...]``; otherwise targets have the logits' shape."""
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a Tensor, got {type(targets).__name__}")
    if not targets.is_floating_point() and targets.dim() == logits.dim() - 1:
        if logits.dim() < 2 or targets.shape[0] != logits.shape[0] or targets.shape[1:] != logits.shape[2:]:
            raise ValueError(
                f"class-index targets of shape {tuple(targets.shape)} do not fit logits {tuple(logits.shape)}"
            )
        return True
    if targets.shape != logits.shape:
        raise ValueError(
            f"targets must be class indices of shape {(logits.shape[0], *logits.shape[2:])} or have the logits' "
            f"shape {tuple(logits.shape)}, got {tuple(targets.shape)}"
        )
    return False


def _class_vector(value: float | Sequence[float] | Tensor | None, name: str, k: int, ref: Tensor) -> Tensor | None:
    """A per-class vector ``Tensor[K]`` on ``ref``'s device and dtype (``None`` stays ``None``)."""
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=ref.dtype, device=ref.device)
    if t.dim() != 1 or t.shape[0] != k:
        raise ValueError(f"{name} must have one value per class ({k}), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"{name} must be finite and non-negative, got {t.tolist()}")
    return t


def _gather_class(values: Tensor, idx: Tensor) -> Tensor:
    """``values[K]`` looked up at class indices ``idx[N, d...]`` (any ignored index already replaced)."""
    return values[idx]


def _index_targets(logits: Tensor, targets: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """(safe class indices, keep mask) for class-index targets; checks the range of the kept ones."""
    keep = targets != ignore_index
    safe = torch.where(keep, targets, torch.zeros_like(targets)).long()
    k = logits.shape[1]
    if keep.any():
        kept = targets[keep]
        lo, hi = int(kept.min()), int(kept.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"class-index targets must be in [0, {k - 1}] (or ignore_index), got {lo}..{hi}")
    return safe, keep


def _reduce(per_sample: Tensor, reduction: str, keep: Tensor | None = None, norm: Tensor | None = None) -> Tensor:
    """Reduce per-sample losses; ``keep`` masks ignored samples, ``norm`` replaces the count for "mean"."""
    if keep is not None:
        per_sample = torch.where(keep, per_sample, torch.zeros_like(per_sample))
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    if reduction == "sum":
        return total
    if norm is None:
        if keep is None:
            return total / per_sample.numel()
        norm = keep.sum()
    # an all-ignored batch gives 0 / 0: torch returns nan; we return 0 so that training does not break
    return total / norm.to(total.dtype).clamp_min(1e-12)


def _one_minus_p_pow(log_p: Tensor, gamma: float) -> Tensor:
    """``(1 - p)^gamma`` from ``log p``, finite with finite gradient also where ``p`` rounds to 1."""
    if gamma == 0:
        return torch.ones_like(log_p)
    one_minus_p = -torch.expm1(log_p)  # accurate where p is close to 1
    tiny = torch.finfo(log_p.dtype).tiny
    return one_minus_p.clamp_min(tiny).pow(gamma)


def _check_gamma(gamma: float) -> float:
    return check_number("gamma", gamma, minimum=0)


def _per_element(logits: Tensor, targets: Tensor) -> Tensor:
    """Regression-style targets: the logits' shape, or one-hot from class indices (compared with softmax)."""
    if _is_index_target(logits, targets):
        k = logits.shape[1]
        onehot = F.one_hot(targets.long().clamp(0, k - 1), k).movedim(-1, 1).to(logits.dtype)
        return logits.softmax(1), onehot
    return logits, targets.to(logits.dtype)


def _sum_class_dim(x: Tensor) -> Tensor:
    return x.sum(1) if x.dim() >= 2 else x


# ------------------------------------------------------------------------------------- regression losses


def l1_loss(logits: Tensor, targets: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """L1 loss: per sample, the sum of ``|y - y_hat|`` over the output (class) dimension.

    With class-index targets ``y_hat`` is ``softmax(logits)`` and ``y`` the one-hot target; otherwise the
    logits are the predictions. ``reduction="sum"`` equals ``F.l1_loss(..., reduction="sum")``;
    ``"mean"`` averages the per-sample sums over the samples.

    Example:
        >>> l1_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
        tensor(3.)
    """
    _check_logits(logits)
    _check_reduction(reduction)
    pred, y = _per_element(logits, targets)
    return _reduce(_sum_class_dim((pred - y).abs()), reduction)


def l2_loss(logits: Tensor, targets: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """L2 loss: per sample, the sum of ``(y - y_hat)^2`` over the output dimension (see :func:`l1_loss`).

    ``reduction="sum"`` equals ``F.mse_loss(..., reduction="sum")``.
    """
    _check_logits(logits)
    _check_reduction(reduction)
    pred, y = _per_element(logits, targets)
    return _reduce(_sum_class_dim((pred - y).square()), reduction)


def mse_loss(logits: Tensor, targets: Tensor, *, reduction: Reduction = "mean") -> Tensor:
    """Mean squared error: per sample, the mean of ``(y - y_hat)^2`` over the output dimension.

    ``reduction="mean"`` equals ``F.mse_loss`` (the mean over every element).
    """
    _check_logits(logits)
    _check_reduction(reduction)
    pred, y = _per_element(logits, targets)
    sq = (pred - y).square()
    return _reduce(sq.mean(1) if sq.dim() >= 2 else sq, reduction)


# ------------------------------------------------------------------------------------------ softmax losses


def cross_entropy(logits: Tensor, targets: Tensor, *, weight: Sequence[float] | Tensor | None = None,
                  ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: Reduction = "mean") -> Tensor:
    """Cross-entropy ``-log softmax(logits)[y]`` (the negative log probability of the true class).

    Same semantics as ``F.cross_entropy``: ``weight`` (one per class) rescales each sample by its class's
    weight and ``"mean"`` divides by the sum of the weights of the kept samples; targets may be class
    indices or probabilities; ``label_smoothing`` mixes the target with the uniform distribution.

    Example:
        >>> cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))   # log 2
        tensor(0.6931)
    """
    _check_logits(logits)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if logits.dim() < 2:
        raise ValueError(f"logits must be (N, K, ...), got shape {tuple(logits.shape)}")
    k = logits.shape[1]
    w = _class_vector(weight, "weight", k, logits)
    logp = logits.log_softmax(1)
    wshape = (1, k) + (1,) * (logits.dim() - 2)
    if not _is_index_target(logits, targets):
        # probability targets: no ignore_index; weight multiplies each class term; "mean" is over samples
        y = targets.to(logits.dtype)
        if label_smoothing:
            y = y * (1 - label_smoothing) + label_smoothing / k
        terms = -y * logp
        if w is not None:
            terms = terms * w.view(wshape)
        return _reduce(terms.sum(1), reduction)
    idx, keep = _index_targets(logits, targets, ignore_index)
    nll = -logp.gather(1, idx.unsqueeze(1)).squeeze(1)
    wy = _gather_class(w, idx) if w is not None else None
    if wy is not None:
        nll = nll * wy
    norm = (torch.where(keep, wy, torch.zeros_like(wy)).sum() if wy is not None else None)
    loss = _reduce(nll, reduction, keep, norm)
    if label_smoothing:
        # torch: (1 - eps) * nll + eps / K * sum_k w_k (-log p_k), with the same normalisation as nll
        smooth = -(logp * w.view(wshape)).sum(1) if w is not None else -logp.sum(1)
        loss = (1 - label_smoothing) * loss + label_smoothing / k * _reduce(smooth, reduction, keep, norm)
    return loss


def focal_loss(logits: Tensor, targets: Tensor, *, gamma: float = 2.0,
               alpha: Sequence[float] | Tensor | None = None, ignore_index: int = -100,
               reduction: Reduction = "mean") -> Tensor:
    """Softmax focal loss ``-alpha_t (1 - p_t)^gamma log p_t`` (Lin et al. 2017, "Focal Loss for Dense Object
    Detection"), ``p_t`` the softmax probability of the true class.

    Args:
        gamma: focusing parameter; 0 gives (alpha-balanced) cross-entropy. Default 2.
        alpha: per-class weights ``Tensor[K]`` (``alpha_t = alpha[y]``); ``None`` is 1 for every class.
            Unlike ``cross_entropy``'s ``weight``, ``"mean"`` is the plain mean over the kept samples, as in
            the paper.

    Probability targets are accepted too: ``-sum_k y_k alpha_k (1 - p_k)^gamma log p_k``.
    """
    _check_logits(logits)
    _check_reduction(reduction)
    gamma = _check_gamma(gamma)
    if logits.dim() < 2:
        raise ValueError(f"logits must be (N, K, ...), got shape {tuple(logits.shape)}")
    k = logits.shape[1]
    a = _class_vector(alpha, "alpha", k, logits)
    logp = logits.log_softmax(1)
    if not _is_index_target(logits, targets):
        terms = -targets.to(logits.dtype) * _one_minus_p_pow(logp, gamma) * logp
        if a is not None:
            terms = terms * a.view((1, k) + (1,) * (logits.dim() - 2))
        return _reduce(terms.sum(1), reduction)
    idx, keep = _index_targets(logits, targets, ignore_index)
    logpt = logp.gather(1, idx.unsqueeze(1)).squeeze(1)
    loss = -_one_minus_p_pow(logpt, gamma) * logpt
    if a is not None:
        loss = loss * _gather_class(a, idx)
    return _reduce(loss, reduction, keep)


def balanced_cross_entropy(logits: Tensor, targets: Tensor, *, alpha: Sequence[float] | Tensor,
                           ignore_index: int = -100, reduction: Reduction = "mean") -> Tensor:
    """Alpha-balanced cross-entropy ``-alpha_t log p_t``: :func:`focal_loss` with ``gamma=0``.

    ``alpha`` holds one weight per class (e.g. :func:`class_weights` ``(counts, "inverse")``); ``"mean"`` is
    the plain mean over the kept samples (so it equals ``F.cross_entropy(weight=alpha, reduction="none")``
    averaged, not torch's weighted mean).
    """
    if alpha is None:
        raise ValueError("balanced_cross_entropy needs alpha (one weight per class)")
    return focal_loss(logits, targets, gamma=0.0, alpha=alpha, ignore_index=ignore_index, reduction=reduction)


# ------------------------------------------------------------------------------------------ sigmoid losses


def _binary_targets(logits: Tensor, targets: Tensor, ignore_index: int) -> tuple[Tensor, Tensor | None]:
    """Targets of the logits' shape in [0, 1]; class indices become one-hot rows (ignored rows masked)."""
    if _is_index_target(logits, targets):
        idx, keep = _index_targets(logits, targets, ignore_index)
        y = F.one_hot(idx, logits.shape[1]).movedim(-1, 1).to(logits.dtype)
        return y, keep.unsqueeze(1).expand_as(y)
    y = targets.to(logits.dtype)
    return y, None


def binary_cross_entropy(logits: Tensor, targets: Tensor, *, weight: Tensor | None = None,
                         pos_weight: Tensor | None = None, ignore_index: int = -100,
                         reduction: Reduction = "mean") -> Tensor:
    """Binary cross-entropy ``-[y log sigmoid(x) + (1 - y) log sigmoid(-x)]`` per element.

    Same semantics as ``F.binary_cross_entropy_with_logits`` (``weight`` broadcast over the elements,
    ``pos_weight`` one per class, ``"mean"`` over every element). Class-index targets ``[N]`` for logits
    ``[N, K]`` become one-hot rows (one-vs-rest), and rows at ``ignore_index`` are left out.
    """
    _check_logits(logits)
    _check_reduction(reduction)
    y, keep = _binary_targets(logits, targets, ignore_index)
    # -(pw y log s(x) + (1 - y) log s(-x)) with log s(-x) = log s(x) - x: one logsigmoid, no exp overflow
    log_p = F.logsigmoid(logits)
    if pos_weight is not None:
        pw = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
        loss = (1 - y) * logits - (pw * y + 1 - y) * log_p
    else:
        loss = (1 - y) * logits - log_p
    if weight is not None:
        loss = loss * torch.as_tensor(weight, dtype=logits.dtype, device=logits.device)
    return _reduce(loss, reduction, keep)


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, *, gamma: float = 2.0, alpha: float | None = 0.25,
                       ignore_index: int = -100, reduction: Reduction = "mean") -> Tensor:
    """Sigmoid (one-vs-rest) focal loss of RetinaNet (Lin et al. 2017), per element:
    ``alpha_t (1 - p_t)^gamma BCE(x, y)`` with ``alpha_t = alpha`` for positives and ``1 - alpha`` for
    negatives.

    Same values as ``torchvision.ops.sigmoid_focal_loss`` (``alpha=None`` for no weighting; ``"mean"`` over
    every element), but stable where ``p_t`` rounds to 1. Class-index targets become one-hot rows.
    """
    _check_logits(logits)
    _check_reduction(reduction)
    gamma = _check_gamma(gamma)
    if alpha is not None and not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
        raise ValueError(f"alpha must be a number in [0, 1] or None, got {alpha!r}")
    y, keep = _binary_targets(logits, targets, ignore_index)
    log_p = F.logsigmoid(logits)
    log_q = log_p - logits  # log (1 - p) = log sigmoid(-x)
    bce = (1 - y) * logits - log_p
    if gamma:
        # 1 - p_t = y (1 - p) + (1 - y) p, both terms from logsigmoid so they never round to 0 and 1 together
        one_minus_pt = y * log_q.exp() + (1 - y) * log_p.exp()
        bce = bce * one_minus_pt.clamp_min(torch.finfo(logits.dtype).tiny).pow(gamma)
    if alpha is not None and alpha >= 0:
        bce = (alpha * y + (1 - alpha) * (1 - y)) * bce
    return _reduce(bce, reduction, keep)


# -------------------------------------------------------------------------------------- class weighting


def class_weights(counts: Sequence[int] | Tensor, method: str = "effective", *, beta: float = 0.9999) -> Tensor:
    """Per-class weights from the number of training samples per class, normalised to sum to ``K``.

    Args:
        counts: samples per class ``n_k`` (each > 0).
        method: ``"effective"``: the inverse effective number of samples ``(1 - beta) / (1 - beta^n_k)``
            (Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of Samples");
            ``"inverse"``: ``1 / n_k``; ``"none"``: all ones.
        beta: in [0, 1); 0 gives equal weights, beta -> 1 approaches inverse frequency.

    Returns:
        ``Tensor[K]`` (float32) summing to ``K``.

    Example:
        >>> class_weights([100, 1], "inverse")
        tensor([0.0198, 1.9802])
    """
    n = torch.as_tensor(counts, dtype=torch.float64)
    if n.dim() != 1 or n.numel() == 0:
        raise ValueError(f"counts must be a non-empty 1-D sequence, got shape {tuple(n.shape)}")
    if (n <= 0).any():
        raise ValueError(f"every class needs at least one sample, got counts {n.long().tolist()}")
    if method == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        # 1 - beta^n as -expm1(n log(beta)): accurate for beta close to 1; beta = 0 weighs every class 1
        log_beta = torch.log(torch.tensor(beta, dtype=torch.float64))
        w = torch.ones_like(n) if beta == 0 else (1 - beta) / -torch.expm1(n * log_beta)
    elif method == "inverse":
        w = 1 / n
    elif method == "none":
        w = torch.ones_like(n)
    else:
        raise ValueError(f"method must be 'effective', 'inverse' or 'none', got {method!r}")
    return (w / w.sum() * len(n)).float()


def class_balanced_focal_loss(logits: Tensor, targets: Tensor, *, samples_per_class: Sequence[int] | Tensor,
                              beta: float = 0.9999, gamma: float = 2.0, form: str = "softmax",
                              ignore_index: int = -100, reduction: Reduction = "mean") -> Tensor:
    """Class-balanced focal loss (Cui et al. 2019): the focal loss with ``alpha_t`` the class's weight from
    :func:`class_weights` ``(samples_per_class, "effective", beta=beta)`` (weights summing to ``K``).

    Args:
        form: ``"softmax"`` (:func:`focal_loss`) or ``"sigmoid"`` (:func:`sigmoid_focal_loss` without its
            alpha, each element weighted by its sample's class weight, as in the paper's code).
    """
    w = class_weights(samples_per_class, "effective", beta=beta).to(logits.device, logits.dtype)
    if w.shape[0] != (logits.shape[1] if logits.dim() >= 2 else -1):
        raise ValueError(f"samples_per_class has {w.shape[0]} classes, logits have shape {tuple(logits.shape)}")
    if form == "softmax":
        return focal_loss(logits, targets, gamma=gamma, alpha=w, ignore_index=ignore_index, reduction=reduction)
    if form != "sigmoid":
        raise ValueError(f"form must be 'softmax' or 'sigmoid', got {form!r}")
    per = sigmoid_focal_loss(logits, targets, gamma=gamma, alpha=None, ignore_index=ignore_index, reduction="none")
    if _is_index_target(logits, targets):
        idx, keep = _index_targets(logits, targets, ignore_index)
        wy = _gather_class(w, idx).unsqueeze(1)
        keep = keep.unsqueeze(1).expand_as(per)
    else:
        # soft / one-hot targets: the sample's weight is its target-weighted class weight
        wy = (targets.to(logits.dtype) * w.view((1, -1) + (1,) * (logits.dim() - 2))).sum(1, keepdim=True)
        keep = None
    return _reduce(per * wy, reduction, keep)


# ------------------------------------------------------------------------------------------- overlap losses


def dice_loss(logits: Tensor, targets: Tensor, *, weight: Sequence[float] | Tensor | None = None, smooth: float = 1.0,
              ignore_index: int = -100, reduction: Reduction = "mean") -> Tensor:
    """Soft Dice loss (Milletari, Navab & Ahmadi 2016, "V-Net"), multi-class: per sample,
    ``1 - mean_c (2 sum p_c y_c + smooth) / (sum p_c + sum y_c + smooth)`` with ``p = softmax(logits)`` and ``y``
    the one-hot target, the sums over the sample's pixels that are not ``ignore_index``.

    It scores the overlap of each class region rather than each pixel, so a small class counts as much as a large
    one (a remedy for class imbalance in segmentation).

    Args:
        logits: ``Tensor[N, K, d1, ...]`` (e.g. ``[N, K, H, W]``), or ``[N, K]``.
        targets: class indices ``Tensor[N, d1, ...]``, or probabilities of the logits' shape.
        weight: per-class weights of the mean over classes (``sum_c w_c dice_c / sum_c w_c``).
        smooth: added to numerator and denominator (> 0 keeps a class absent from a sample and from its prediction
            at Dice 1, and the gradient finite).
        ignore_index: pixels with this target count in no sum.
        reduction: over the per-sample losses.

    Example:
        >>> y = torch.tensor([[[0, 1], [1, 1]]])
        >>> float(dice_loss(torch.tensor([[[[9., -9.], [-9., -9.]], [[-9., 9.], [9., 9.]]]]), y)) < 1e-3
        True
    """
    _check_logits(logits)
    _check_reduction(reduction)
    smooth = check_number("smooth", smooth, minimum=0)
    if logits.dim() < 2:
        raise ValueError(f"logits must be (N, K, ...), got shape {tuple(logits.shape)}")
    k = logits.shape[1]
    w = _class_vector(weight, "weight", k, logits)
    p = logits.softmax(1)
    if _is_index_target(logits, targets):
        idx, keep = _index_targets(logits, targets, ignore_index)
        y = F.one_hot(idx, k).movedim(-1, 1).to(logits.dtype)
        m = keep.unsqueeze(1).to(logits.dtype)
        p, y = p * m, y * m
    else:
        y = targets.to(logits.dtype)
    dims = tuple(range(2, logits.dim()))
    inter = (p * y).sum(dims) if dims else p * y  # [N, K]
    card = (p + y).sum(dims) if dims else p + y
    dice = (2 * inter + smooth) / (card + smooth).clamp_min(torch.finfo(logits.dtype).tiny)
    per_sample = 1 - (dice.mean(1) if w is None else (dice * w).sum(1) / w.sum().clamp_min(1e-12))
    return _reduce(per_sample, reduction)

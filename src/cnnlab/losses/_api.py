"""The loss registry and :func:`resolve`, which turns a name (or a callable) plus options into
``loss_fn(logits, targets) -> Tensor``, the form the training engine takes."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from cnnlab._registry import Registry
from cnnlab.losses import _functional as L

LossFn = Callable[..., Tensor]
LOSSES: Registry[LossFn] = Registry("loss")


def register_loss(name: str, **info: Any) -> Callable[[LossFn], LossFn]:
    """Decorator adding a loss ``fn(logits, targets, *, reduction="mean", **options) -> Tensor``.

    ``info`` may say ``counts="alpha"`` / ``counts="samples_per_class"``: the option that
    :func:`resolve` fills from ``class_counts`` when it is not given.
    """
    return LOSSES.register(name, **info)


register_loss("l1", kind="regression", doc="sum of |y - y_hat| per sample")(L.l1_loss)
register_loss("l2", kind="regression", doc="sum of (y - y_hat)^2 per sample")(L.l2_loss)
register_loss("mse", kind="regression", doc="mean of (y - y_hat)^2 per sample")(L.mse_loss)
register_loss("ce", kind="softmax", doc="cross-entropy -log p_t")(L.cross_entropy)
register_loss("bce", kind="sigmoid", doc="binary cross-entropy (one-vs-rest)")(L.binary_cross_entropy)
register_loss("balanced_ce", kind="softmax", counts="alpha",
              doc="alpha-balanced cross-entropy -alpha_t log p_t")(L.balanced_cross_entropy)
register_loss("focal", kind="softmax", doc="focal loss -alpha_t (1 - p_t)^gamma log p_t")(L.focal_loss)
register_loss("sigmoid_focal", kind="sigmoid", doc="RetinaNet's sigmoid focal loss")(L.sigmoid_focal_loss)
register_loss("class_balanced_focal", kind="softmax", counts="samples_per_class",
              doc="focal loss weighted by the inverse effective number of samples")(L.class_balanced_focal_loss)
register_loss("dice", kind="softmax", doc="soft Dice loss 1 - mean_c 2|P_c Y_c| / (|P_c| + |Y_c|)")(L.dice_loss)


def names() -> list[str]:
    """Registered loss names."""
    return LOSSES.names()


class Loss:
    """A loss with its options bound: ``Loss("focal", gamma=1.0)(logits, targets)``.

    Stores the name and options and delegates to the registered function in one line; build it with
    :func:`resolve`.
    """

    def __init__(self, fn: LossFn, name: str, options: dict[str, Any]) -> None:
        self.fn, self.name, self.options = fn, name, dict(options)

    def __call__(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.fn(logits, targets, **self.options)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={_short(v)}" for k, v in self.options.items())
        return f"Loss({self.name!r}{', ' + opts if opts else ''})"


def _short(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"tensor{[round(float(x), 4) for x in v.flatten()[:6]]}" if v.numel() else "tensor([])"
    return repr(v)


def resolve(loss: str | LossFn, *, class_counts: Sequence[int] | Tensor | None = None,
            **options: Any) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss_fn(logits, targets) -> Tensor`` from a registered name or a callable, options bound.

    Args:
        loss: a name from :func:`names` (``"ce"``, ``"focal"``, ...) or a callable with the loss signature.
        class_counts: training samples per class; fills the option a class-balanced loss needs when it is
            not given (``balanced_ce``: ``alpha`` = inverse-frequency :func:`class_weights`;
            ``class_balanced_focal``: ``samples_per_class``). Ignored by the other losses.
        **options: keyword options of the loss (``reduction``, ``gamma``, ``weight``, ``ignore_index``, ...).

    Raises:
        ValueError: unknown name, an option the loss does not take, or a class-balanced loss without counts.

    Example:
        >>> fn = resolve("focal", gamma=1.0)
        >>> fn
        Loss('focal', gamma=1.0)
    """
    if callable(loss) and not isinstance(loss, str):
        if not options:
            return loss
        return Loss(loss, getattr(loss, "__name__", type(loss).__name__), _checked(loss, options))
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name or a callable, got {type(loss).__name__}")
    fn = LOSSES.lookup(loss)
    counts_opt = LOSSES.info(loss).get("counts")
    options = dict(options)
    if counts_opt and counts_opt not in options:
        if class_counts is None:
            raise ValueError(f"loss {loss!r} needs {counts_opt}= or class_counts= (training samples per class)")
        options[counts_opt] = (L.class_weights(class_counts, "inverse") if counts_opt == "alpha"
                               else [int(c) for c in class_counts])
    return Loss(fn, loss, _checked(fn, options))


def _checked(fn: LossFn, options: dict[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: trust the caller
        return options
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    # everything but the two positional (logits, targets) parameters can be bound by name
    allowed = [n for n, p in list(params.items())[2:] if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for k in options:
        if k not in allowed:
            name = getattr(fn, "__name__", "loss")
            raise ValueError(f"{name} has no option {k!r}; options: {', '.join(allowed) or 'none'}")
    return options

"""The linear probe: backbone features computed once (and cached), then a logistic-regression classifier
trained on them with full-batch L-BFGS, written into the model's classifier."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._progress import track
from cnnlab.data import ImageTensors
from cnnlab.models import restoring
from cnnlab.transfer._model import head_name


def _fingerprint(model: nn.Module, data: ImageTensors) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        if k.endswith(("running_mean", "weight")):
            h.update(k.encode())
            h.update(v.detach().float().cpu().flatten()[:64].numpy().tobytes())
    h.update(str(getattr(getattr(model, "cnnlab", None), "kwargs", "")).encode())
    h.update(str(tuple(data.images.shape)).encode())
    h.update(data.images.flatten()[:: max(1, data.images.numel() // 4096)].cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def extract_features(model: nn.Module, data: ImageTensors | Tensor, *, batch_size: int = 256,
                     device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None) -> Tensor:
    """The classifier's input for every image: ``Tensor[N, D]`` float32 on the CPU (1280-d for
    EfficientNet-Lite0), computed in eval mode with a forward hook on the classifier.

    Args:
        data: an :class:`ImageTensors` or ``Tensor[N, C, H, W]`` in [0, 1] (uint8 is scaled).
        cache_dir: when given, features are stored there as safetensors under a key made from the weights
            and the data, and read back instead of recomputed.

    The hook is removed and the model's train/eval mode restored in a ``finally`` block.
    """
    images = data.images if isinstance(data, ImageTensors) else data
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got {getattr(images, 'shape', type(images))}")
    cache_file = None
    if cache_dir is not None:
        ds = data if isinstance(data, ImageTensors) else ImageTensors(images, torch.zeros(len(images)).long(), [])
        cache_file = Path(cache_dir) / f"features-{_fingerprint(model, ds)}.safetensors"
        if cache_file.is_file():
            from safetensors.torch import load_file

            return load_file(str(cache_file))["features"]
    head = model.get_submodule(head_name(model))
    captured: list[Tensor] = []
    handle = head.register_forward_hook(lambda m, inp, out: captured.append(inp[0].detach().float().cpu()))
    try:
        with restoring(model):  # every module's mode restored, also on an error
            model.eval()
            for chunk in track(images.split(batch_size), desc="feature extraction", unit="batch"):
                x = chunk.to(device)
                x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
                model(x)
    finally:
        handle.remove()
    feats = torch.cat(captured).flatten(1) if captured else torch.zeros(0, head.in_features)
    if cache_file is not None:
        from safetensors.torch import save

        from cnnlab._io import atomic_write_bytes

        atomic_write_bytes(cache_file, save({"features": feats.contiguous()}))
    return feats


def fit_logistic_regression(features: Tensor, labels: Tensor, num_classes: int, *, l2: float = 1e-3,
                            max_iter: int = 300, tol: float = 1e-7) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression by full-batch L-BFGS on scaled features ``z = (f - mean) / s``: minimises
    ``mean_i CE(W z_i + b, y_i) + l2 / 2 * ||W||^2`` (the bias is not penalised).

    ``s`` is one scale for all features, the root mean of their variances, so ``l2`` means the same for features
    of any magnitude while the features keep their relative sizes. (Dividing each feature by its own standard
    deviation, scikit-learn's ``StandardScaler``, blows up features that are nearly constant on the training
    images: an ImageNet network on 32x32 upsampled digits has over 1,000 of its 1,280 features with a standard
    deviation below 1e-3. The classifier then leans on them with weights in the hundreds, generalises worse, and
    any fine-tuning step that moves them swings its logits, so fine-tuning from such a probe destroyed it.)

    That is scikit-learn's ``LogisticRegression(C=1 / (l2 * N))`` on ``z``, divided by ``N``. The solution is
    mapped back, so the returned ``(W[K, D], b[K])`` act on the raw features.
    """
    if features.dim() != 2 or labels.shape != (features.shape[0],):
        raise ValueError(f"features must be (N, D) and labels (N,), got {tuple(features.shape)}, "
                         f"{tuple(labels.shape)}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    x = features.double()
    y = labels.long().to(x.device)
    mu = x.mean(0)
    sd = x.var(0, unbiased=False).mean().sqrt().clamp_min(1e-12)  # one scale for every feature
    z = (x - mu) / sd
    w = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ w.T + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w_raw = (w / sd).detach()
    b_raw = (b - (w / sd) @ mu).detach()
    return w_raw.float(), b_raw.float()


def set_head(model: nn.Module, weight: Tensor, bias: Tensor) -> None:
    """Copy ``(weight[K, D], bias[K])`` into the model's classifier."""
    head = model.get_submodule(head_name(model))
    if tuple(head.weight.shape) != tuple(weight.shape):
        raise ValueError(f"classifier is {tuple(head.weight.shape)}, got weights {tuple(weight.shape)}")
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight))
        head.bias.copy_(bias.to(head.bias))

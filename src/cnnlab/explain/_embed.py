"""Embeddings: penultimate features of a dataset projected to 2-D with PCA or t-SNE, scattered by class."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab._progress import track
from cnnlab.explain._core import capture_layer, check_inputs, model_state, resolve_layer


def penultimate_features(model: nn.Module, images: Tensor, *, layer: nn.Module | str | None = None,
                         batch_size: int = 256) -> Tensor:
    """Features ``Tensor[N, D]`` of ``images`` (``Tensor[N, C, H, W]`` in [0, 1]): by default the input of the
    classifier the model's card records (the last ``nn.Linear`` of a module without a card): what the classifier
    sees; else the flattened output of ``layer``. Shows a progress bar on a terminal."""
    check_inputs(model, images, "images")
    check_int("batch_size", batch_size)
    if layer is None:
        from cnnlab.models import ModelCard

        card = getattr(model, "cnnlab", None)
        if isinstance(card, ModelCard) and card.classifier is not None:
            mod = model.get_submodule(card.classifier)
        else:
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise ValueError("model has no nn.Linear; pass layer= for the features to embed")
            mod = linears[-1]
        pre = True
    else:
        mod, pre = resolve_layer(model, layer), False
    dev = model_device(model)
    store: dict[str, Tensor] = {}
    feats = []
    with model_state(model) as handles, torch.no_grad():
        if pre:
            handles.append(mod.register_forward_pre_hook(lambda m, args: store.__setitem__("act", args[0])))
        else:
            handles.append(capture_layer(mod, store, grad=False))
        chunks = images.split(batch_size)
        for chunk in track(chunks, desc="feature extraction", unit="batch"):
            model(chunk.to(dev).float())
            feats.append(store["act"].flatten(1).float().cpu())
    return torch.cat(feats)


@dataclass
class Embedding:
    """2-D points of a dataset's features.

    Attributes:
        points: ``Tensor[N, 2]``.
        labels: ``Tensor[N]`` classes (or ``None``).
        classes: class names.
        method: ``"pca"`` or ``"tsne"``.
        features: ``Tensor[N, D]`` the embedded features.
    """

    points: Tensor
    labels: Tensor | None
    classes: list[str]
    method: str
    features: Tensor

    def plot(self, *, title: str | None = None):
        """A matplotlib scatter plot of the points coloured by class (the figure is returned, not shown)."""
        from cnnlab._plot import pyplot

        plt = pyplot()

        fig, ax = plt.subplots(figsize=(7, 6))
        p = self.points.numpy()
        if self.labels is None:
            ax.scatter(p[:, 0], p[:, 1], s=4)
        else:
            cmap = plt.get_cmap("tab10" if len(self.classes) <= 10 else "tab20")
            for c in range(len(self.classes)):
                sel = (self.labels == c).numpy()
                if sel.any():
                    ax.scatter(p[sel, 0], p[sel, 1], s=4, color=cmap(c % cmap.N), label=self.classes[c])
            ax.legend(markerscale=3, fontsize=8, loc="best")
        ax.set_title(title or f"{self.method.upper()} of {self.features.shape[1]}-d features, "
                              f"{len(p)} samples")
        ax.set_xticks([])
        ax.set_yticks([])
        return fig

    def save(self, path) -> None:
        """Write the scatter plot as a PNG."""
        from cnnlab._plot import save_figure

        save_figure(self.plot(), path)


def project(features: Tensor, *, method: str = "tsne", seed: int = 0, perplexity: float = 30.0) -> Tensor:
    """``Tensor[N, D]`` -> ``Tensor[N, 2]`` with scikit-learn's PCA or t-SNE (after PCA to 50 dimensions,
    initialised by PCA, ``perplexity`` capped at ``(N - 1) / 3``)."""
    from sklearn.decomposition import PCA

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    x = features.detach().double().cpu().numpy()
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"need at least 3 feature vectors (N, D), got shape {tuple(features.shape)}")
    if method == "pca":
        return torch.from_numpy(PCA(2, random_state=seed).fit_transform(x)).float()
    from sklearn.manifold import TSNE

    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(50, random_state=seed).fit_transform(x)
    tsne = TSNE(2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca", random_state=seed)
    return torch.from_numpy(tsne.fit_transform(x)).float()


def embed(model: nn.Module, images: Tensor, labels: Tensor | None = None, *, classes: list[str] | None = None,
          method: str = "tsne", layer: nn.Module | str | None = None, seed: int = 0, perplexity: float = 30.0,
          batch_size: int = 256) -> Embedding:
    """Penultimate features (:func:`penultimate_features`) of ``images`` projected to 2-D (:func:`project`).

    ``images`` may also be a :class:`cnnlab.data.ImageTensors` (its labels and classes are used).

    Example:
        >>> test = cnnlab.data.fashion_mnist("test").subset(slice(0, 500))
        >>> emb = embed(net, test, method="pca")   # doctest: +SKIP
        >>> emb.save("pca.png")                      # doctest: +SKIP
    """
    from cnnlab.data import ImageTensors

    if isinstance(images, ImageTensors):
        labels, classes, images = images.labels, list(images.classes), images.floats()
    feats = penultimate_features(model, images, layer=layer, batch_size=batch_size)
    points = project(feats, method=method, seed=seed, perplexity=perplexity)
    if labels is not None:
        labels = torch.as_tensor(labels).long().cpu()
        if labels.shape != (len(feats),):
            raise ValueError(f"labels must have one class per image ({len(feats)}), got {tuple(labels.shape)}")
    if classes is None and labels is not None:
        classes = [str(i) for i in range(int(labels.max()) + 1)]
    return Embedding(points, labels, classes or [], method, feats)

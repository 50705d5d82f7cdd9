"""Segmenting users' images of any size: one call gives the label map, the colour-coded mask, the overlay and the
share of each class (what ``cnnlab segment`` writes and what a studio panel shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._device import model_device
from cnnlab.segment._plot import colorize, overlay


@dataclass
class SegmentedImage:
    """One segmented image, at the image's own size.

    Attributes:
        image: ``Tensor[3, H, W]`` in [0, 1] (grey repeated to RGB).
        labels: ``Tensor[H, W]`` int64, the predicted class of each pixel.
        confidence: ``Tensor[H, W]``, the softmax probability of that class.
        colors: ``Tensor[3, H, W]``, the colour-coded labels (blend them with ``image`` at any opacity:
            ``(1 - a) * image + a * colors``).
        overlay: the blend at the requested ``alpha``.
        classes, palette: class names and their RGB colours (0..255).
        fractions: share of the pixels of each predicted class, largest first.
    """

    image: Tensor
    labels: Tensor
    confidence: Tensor
    colors: Tensor
    overlay: Tensor
    classes: list[str]
    palette: list[tuple[int, int, int]]
    fractions: dict[str, float]

    def legend(self) -> list[dict]:
        """``[{"class", "index", "color": "#rrggbb", "fraction"}]`` of the classes present, largest first."""
        out = []
        for name, frac in self.fractions.items():
            i = self.classes.index(name)
            r, g, b = self.palette[i]
            out.append({"class": name, "index": i, "color": f"#{r:02x}{g:02x}{b:02x}", "fraction": frac})
        return out


def segment_images(model: nn.Module, images: Sequence[Tensor] | Tensor, *, size: tuple[int, int] | None = None,
                   alpha: float = 0.5, batch_size: int = 4, hflip: bool = False,
                   adjustment: Tensor | None = None) -> list[SegmentedImage]:
    """Segment images of any size with a segmenter.

    Each image is resized to ``size`` (default: the size its card says it was trained at), the logits are
    resized back to the image's own size (bilinear) and the most probable class taken per pixel. The model runs
    in eval mode with frozen parameters; its state is restored.

    Args:
        model: a segmenter (:func:`cnnlab.segment.create` / :func:`cnnlab.segment.load`).
        images: ``Tensor[C, H, W]`` in [0, 1] (C = 1 or 3), or a batch ``Tensor[N, C, H, W]``.
        size: ``(h, w)`` the network sees; checked with :func:`cnnlab.segment.check_size` (the shared boundary
            check, on a meta-device copy).
        alpha: opacity of the colours in ``overlay``.
        hflip: average each image's class probabilities with its mirror image's (test-time augmentation,
            :func:`cnnlab.segment.class_scores`).
        adjustment: ``Tensor[K]`` subtracted from the class log-probabilities (:func:`cnnlab.segment.undo_weights`
            of the run's class weights).

    Example:
        >>> out = segment_images(net, [data.load_image("street.jpg")])[0]    # doctest: +SKIP
        >>> out.overlay.shape, out.legend()[0]["class"]
        (torch.Size([3, 720, 960]), 'Road')
    """
    from cnnlab.data import segmentation_palette, to_channels
    from cnnlab.models import card_of, frozen
    from cnnlab.segment._models import check_size
    from cnnlab.segment._train import class_scores

    card = card_of(model)
    c = card.input_size[0]
    hw = tuple(size) if size is not None else tuple(card.input_size[1:])
    check_size(model, (c, *hw), what="--size" if size is not None else "input size")
    k = int(card.kwargs.get("num_classes", 0)) or None
    classes = list(card.classes) if card.classes else [str(i) for i in range(k or 0)]
    palette = segmentation_palette(classes) if classes else []
    if isinstance(images, Tensor) and images.dim() == 4:
        images = list(images)
    if not len(images):
        raise ValueError("no images to segment")
    dev = model_device(model)
    prepared = []
    for img in images:
        if not isinstance(img, Tensor) or img.dim() != 3:
            raise ValueError(f"each image must be a Tensor[C, H, W], got {getattr(img, 'shape', type(img))}")
        prepared.append(to_channels(img.float().clamp(0, 1), c))
    out: list[SegmentedImage] = []
    with frozen(model), torch.no_grad():
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start:start + batch_size]
            x = torch.stack([F.interpolate(im[None], size=hw, mode="bilinear", align_corners=False,
                                           antialias=True)[0] for im in chunk]).to(dev)
            logits = class_scores(model, x, hflip=hflip, adjustment=adjustment).float()
            if not classes:
                classes = [str(i) for i in range(logits.shape[1])]
                palette = segmentation_palette(classes)
            for im, lg in zip(chunk, logits):
                probs = F.interpolate(lg[None], size=im.shape[-2:], mode="bilinear", align_corners=False)[0]
                probs = probs.softmax(0).cpu()
                conf, labels = probs.max(0)
                rgb = to_channels(im, 3).cpu()
                counts = torch.bincount(labels.flatten(), minlength=len(classes)).double()
                frac = {classes[i]: float(counts[i] / counts.sum()) for i in counts.argsort(descending=True).tolist()
                        if counts[i] > 0}
                out.append(SegmentedImage(image=rgb, labels=labels, confidence=conf,
                                          colors=colorize(labels, palette),
                                          overlay=overlay(rgb, labels, palette, alpha=alpha), classes=list(classes),
                                          palette=list(palette), fractions=frac))
    return out


def save_label_png(labels: Tensor, palette: Sequence[tuple[int, int, int]], path) -> str:
    """A label map as a palette PNG: pixel values are the class indices (readable back as labels, e.g. by
    ``segfolder:DIR``), the palette shows them in colour."""
    import io

    import numpy as np
    from PIL import Image

    from cnnlab._io import atomic_write_bytes

    arr = labels.cpu().numpy().astype(np.uint8)
    img = Image.fromarray(arr)  # mode L; putpalette makes it P without touching the indices
    flat = [v for c in palette for v in c]
    img.putpalette(flat + [0] * (768 - len(flat)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def save_png(image: Tensor, path) -> str:
    """``Tensor[C, H, W]`` (or a bool / float mask ``[H, W]``) in [0, 1] as a PNG, written atomically."""
    import io

    import numpy as np
    from PIL import Image

    from cnnlab._io import atomic_write_bytes

    t = image.detach().float().cpu()
    t = t[None] if t.dim() == 2 else t
    arr = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else np.ascontiguousarray(arr))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return str(path)

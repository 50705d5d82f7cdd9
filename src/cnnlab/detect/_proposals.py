"""Region proposals by selective search (Uijlings et al. 2013), OpenCV's implementation
(``cv2.ximgproc.segmentation``, in the ``opencv-contrib-python(-headless)`` package): the regions R-CNN and Fast
R-CNN classify."""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict

import torch
from torch import Tensor

MODES = ("fast", "quality", "single")


def _ximgproc():
    try:
        import cv2
    except ImportError:
        raise ImportError("selective search needs OpenCV with its contrib modules: "
                          "pip install opencv-contrib-python-headless") from None
    if not hasattr(cv2, "ximgproc"):
        raise ImportError(f"this OpenCV ({cv2.__version__}, {cv2.__file__}) lacks the contrib module cv2.ximgproc "
                          "that selective search needs: another OpenCV wheel (opencv-python-headless) shadows "
                          "opencv-contrib-python-headless; run: pip install --force-reinstall --no-deps "
                          "opencv-contrib-python-headless")
    return cv2


def _seed_c_rand(seed: int) -> bool:
    """Seed the C library's ``rand()``, which OpenCV's selective search draws its ranking from."""
    import ctypes

    try:
        libc = ctypes.CDLL(None) if sys.platform != "win32" else ctypes.cdll.msvcrt
        libc.srand(ctypes.c_uint(seed))
        return True
    except (OSError, AttributeError):
        return False


def selective_search(image: Tensor, *, mode: str = "fast", max_side: int = 500, max_proposals: int = 2000,
                     min_size: float = 8.0, seed: int = 0) -> Tensor:
    """Selective-search proposals for one image.

    Args:
        image: ``Tensor[3, H, W]`` in [0, 1].
        mode: ``"fast"`` (the R-CNN paper's "fast mode": HSV + Lab, two region sizes), ``"quality"`` (more
            strategies, ~5x slower) or ``"single"`` (one strategy).
        max_side: the image is first resized so its longer side is at most this (OpenCV's cost grows with the
            pixels; boxes come back in the input's coordinates).
        max_proposals: keep the first this many (OpenCV's ranking order).
        min_size: drop boxes narrower or shorter than this (input pixels).
        seed: OpenCV ranks the regions as the paper does, by hierarchy level times a random number drawn from the
            C library's ``rand()``; it is seeded with this before each call, so the proposals (and their order)
            are a function of the image. Where the C library cannot be reached the boxes are sorted instead.

    Returns:
        ``Tensor[P, 4]`` float boxes, continuous x1y1x2y2 in the input image's pixels.
    """
    from cnnlab._checks import check_choice, check_int, check_number

    check_choice("mode", mode, MODES)
    check_int("max_side", max_side, 16)
    check_int("max_proposals", max_proposals)
    check_number("min_size", min_size, minimum=0)
    cv2 = _ximgproc()
    import numpy as np

    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"selective search takes one Tensor[3, H, W], got "
                         f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}")
    h, w = image.shape[1:]
    s = min(1.0, max_side / max(h, w))
    small = image
    if s < 1:
        small = torch.nn.functional.interpolate(image[None], size=(max(1, round(h * s)), max(1, round(w * s))),
                                                mode="bilinear", align_corners=False, antialias=True)[0]
    bgr = np.ascontiguousarray((small.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()[:, :, ::-1])
    old = cv2.getNumThreads()
    cv2.setNumThreads(1)  # cnnlab runs next to torch's threads; OpenCV's own pool would oversubscribe the CPU
    try:
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(bgr)
        {"fast": ss.switchToSelectiveSearchFast, "quality": ss.switchToSelectiveSearchQuality,
         "single": ss.switchToSingleStrategy}[mode]()
        seeded = _seed_c_rand(seed)
        rects = ss.process()
    finally:
        cv2.setNumThreads(old)
    r = torch.as_tensor(np.asarray(rects, dtype=np.float32).reshape(-1, 4))
    if not seeded:  # an order that does not depend on the draw
        r = r[np.lexsort(r.numpy().T[::-1])]
    sy, sx = h / bgr.shape[0], w / bgr.shape[1]
    boxes = torch.stack([r[:, 0] * sx, r[:, 1] * sy, (r[:, 0] + r[:, 2]) * sx, (r[:, 1] + r[:, 3]) * sy], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    ok = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    boxes = boxes[ok]
    _, first = _unique_rows(boxes)
    return boxes[first][:max_proposals]


def _unique_rows(boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Positions of the first occurrence of each distinct row, in their original order."""
    if len(boxes) == 0:
        return boxes, torch.zeros(0, dtype=torch.long)
    uniq, inverse = torch.unique(boxes.round(decimals=2), dim=0, return_inverse=True)
    first = torch.full((len(uniq),), len(boxes), dtype=torch.long).scatter_reduce(
        0, inverse, torch.arange(len(boxes)), reduce="amin")
    return uniq, first.sort().values


class ProposalCache:
    """Selective search results kept per image content (a SHA-1 of the pixels), so that training epochs and
    repeated evaluation compute each image's proposals once. Bounded: the oldest entries go first."""

    def __init__(self, capacity: int = 4096, **options) -> None:
        self.capacity = capacity
        self.options = options
        self._store: OrderedDict[str, Tensor] = OrderedDict()

    @staticmethod
    def key(image: Tensor) -> str:
        x = image.detach().cpu().contiguous()
        return hashlib.sha1(str(tuple(x.shape)).encode() + x.numpy().tobytes()).hexdigest()

    def __call__(self, image: Tensor) -> Tensor:
        k = self.key(image)
        if k in self._store:
            self._store.move_to_end(k)
            return self._store[k]
        boxes = selective_search(image.detach().cpu(), **self.options)
        self._store[k] = boxes
        while len(self._store) > self.capacity:
            self._store.popitem(last=False)
        return boxes

    def put(self, image: Tensor, boxes: Tensor) -> None:
        """Store proposals computed elsewhere (e.g. read back from disk) for ``image``."""
        self._store[self.key(image)] = boxes.detach().cpu().float()
        while len(self._store) > self.capacity:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"ProposalCache({len(self)} images, capacity={self.capacity}, options={self.options})"

"""The three ways a decoder upsamples, side by side: transposed convolution ("broadcasts input elements via the
kernel"), bilinear interpolation, and max unpooling ("remember which element was max").

A stride-2 transposed convolution whose kernel size is not divisible by the stride overlaps its outputs unevenly:
on a constant input, with a constant kernel, some output pixels receive one kernel tap, some two, some four, and
the output is a checkerboard (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts"). A kernel
of size 4 (divisible by 2) overlaps evenly away from the border; bilinear interpolation of a constant is constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab._checks import check_int
from cnnlab.segment._models import bilinear_kernel


def checkerboard(kernel_size: int = 3, stride: int = 2, size: int = 8) -> Tensor:
    """A stride-``stride`` transposed convolution with an all-ones ``kernel_size`` kernel applied to an all-ones
    ``size x size`` input: ``Tensor[H', W']`` of how many kernel taps land on each output pixel.

    Example:
        >>> checkerboard(3, 2, 3)[2:5, 2:5]
        tensor([[4., 2., 4.],
                [2., 1., 2.],
                [4., 2., 4.]])
    """
    check_int("kernel_size", kernel_size)
    check_int("stride", stride)
    check_int("size", size)
    x = torch.ones(1, 1, size, size, dtype=torch.float64)
    w = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    return F.conv_transpose2d(x, w, stride=stride)[0, 0]


@dataclass
class UpsamplingComparison:
    """:func:`upsampling_comparison`'s pictures (``Tensor[C, H, W]``) and the checkerboard maps."""

    image: Tensor
    pooled: Tensor
    bilinear: Tensor
    transposed_bilinear: Tensor
    transposed_random: Tensor
    unpooled: Tensor
    checker_3: Tensor
    checker_4: Tensor


def upsampling_comparison(image: Tensor, *, seed: int = 0) -> UpsamplingComparison:
    """Downsample ``image`` (``Tensor[C, H, W]``, even H and W) 2x by max pooling, then upsample it back 2x by
    (1) bilinear interpolation, (2) a transposed convolution initialised to bilinear (kernel 4, stride 2, FCN's
    initialisation: equal to (1) away from the border), (3) a transposed convolution with a random 3x3 kernel
    (uneven overlap: a checkerboard), (4) max unpooling with the pooling indices (each value back where its maximum
    was, zeros elsewhere). Also the tap counts of stride-2 transposed convolutions of kernel 3 and 4 on a constant."""
    if image.dim() != 3 or image.shape[-1] % 2 or image.shape[-2] % 2:
        raise ValueError(f"image must be Tensor[C, H, W] with even H and W, got {tuple(image.shape)}")
    x = image.float()[None]
    c = x.shape[1]
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    bil = F.interpolate(pooled, scale_factor=2, mode="bilinear", align_corners=False)
    tb = F.conv_transpose2d(pooled, bilinear_kernel(c, 4), stride=2, padding=1)
    g = torch.Generator().manual_seed(seed)
    w = torch.zeros(c, c, 3, 3)
    w[range(c), range(c)] = torch.rand(c, 3, 3, generator=g)
    w = w / w[0, 0].sum() * 4  # about the same brightness as the input (each output gets ~1/4 of a kernel per tap)
    tr = F.conv_transpose2d(pooled, w, stride=2, padding=1, output_padding=1)
    un = F.max_unpool2d(pooled, idx, 2, 2, output_size=x.shape[-2:])
    return UpsamplingComparison(image=image.float(), pooled=pooled[0], bilinear=bil[0].clamp(0, 1),
                                transposed_bilinear=tb[0].clamp(0, 1), transposed_random=tr[0].clamp(0, 1),
                                unpooled=un[0], checker_3=checkerboard(3, 2, 8), checker_4=checkerboard(4, 2, 8))


def upsampling_figure(comp: UpsamplingComparison):
    """One row of the upsampled pictures (with a zoomed crop) and the two checkerboard maps."""
    from cnnlab._plot import pyplot

    plt = pyplot()
    pics = [("input", comp.image), ("max-pooled 2x", comp.pooled), ("bilinear", comp.bilinear),
            ("transposed conv,\nbilinear init (k4 s2)", comp.transposed_bilinear),
            ("transposed conv,\nrandom k3 s2", comp.transposed_random), ("max unpooling", comp.unpooled)]
    fig, axes = plt.subplots(2, len(pics), figsize=(2.2 * len(pics), 5.0))
    h, w = comp.image.shape[-2:]
    ch, cw = max(8, h // 6), max(8, w // 6)
    for j, (name, pic) in enumerate(pics):
        arr = pic.permute(1, 2, 0).clamp(0, 1).numpy()
        grey = arr.shape[-1] == 1
        axes[0, j].imshow(arr[..., 0] if grey else arr, cmap="gray" if grey else None, vmin=0, vmax=1,
                          interpolation="nearest")
        axes[0, j].set_title(name, fontsize=8)
        zh, zw = (ch // 2, cw // 2) if pic.shape[-1] * 2 == w else (ch, cw)
        top, left = (pic.shape[-2] - zh) // 2, (pic.shape[-1] - zw) // 2
        crop = arr[top:top + zh, left:left + zw]
        axes[1, j].imshow(crop[..., 0] if grey else crop, cmap="gray" if grey else None, vmin=0, vmax=1,
                          interpolation="nearest")
        axes[1, j].set_title("centre, zoomed", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def checkerboard_figure(comp: UpsamplingComparison):
    """The tap counts of a stride-2 transposed convolution on a constant input: kernel 3 (uneven overlap, a
    checkerboard of 1, 2 and 4) against kernel 4 (even overlap inside)."""
    from cnnlab._plot import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.3))
    for ax, (name, m) in zip(axes, (("kernel 3, stride 2", comp.checker_3), ("kernel 4, stride 2", comp.checker_4))):
        im = ax.imshow(m.numpy(), cmap="magma", vmin=0, vmax=4, interpolation="nearest")
        for (i, j), v in zip(torch.cartesian_prod(torch.arange(m.shape[0]), torch.arange(m.shape[1])).tolist(),
                             m.flatten().tolist()):
            if m.shape[0] <= 18:
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=5, color="white" if v < 3 else "black")
        ax.set_title(f"{name}: taps per output pixel", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, fraction=0.03)
    return fig

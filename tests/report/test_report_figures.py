"""Figures a person can read (issue 12): the sanity plot keeps every point in view, kernels and small feature maps are
written large enough to see (nearest-neighbour, no blur), small images are upscaled for display, the confusion
matrix is drawn at a readable size."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from cnnlab import explain, train
from cnnlab.cli import main
from cnnlab.report import image_to_data_uri, save_image


def test_sanity_plot_shows_negative_correlations():
    res = explain.SanityResult(methods=["saliency", "guided"], steps=["fc", "conv2", "conv1"],
                               correlations=torch.tensor([[0.9, 0.8], [-0.7, 0.1], [-0.95, float("nan")]]))
    fig = res.plot()
    low, high = fig.axes[0].get_ylim()
    assert low <= -0.95 and high >= 1.0  # the old fixed (-0.2, 1.05) cut off -0.7 and -0.95


def test_small_images_are_upscaled_with_nearest_neighbour(tmp_path):
    img = torch.zeros(1, 5, 5)
    img[0, 2, 2] = 1.0
    uri = image_to_data_uri(img, min_side=100)
    pil = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert pil.size == (100, 100)
    arr = np.asarray(pil)
    assert set(np.unique(arr)) == {0, 255}  # no interpolated grey: pixels stay pixels
    assert arr[40:60, 40:60].min() == 255 and arr[39, 50] == 0
    big = torch.rand(3, 300, 200)
    assert Image.open(io.BytesIO(base64.b64decode(image_to_data_uri(big, max_side=150, min_side=100)
                                                  .split(",", 1)[1]))).size == (100, 150)
    path = save_image(img, tmp_path / "k.png", min_side=64)
    assert Image.open(path).size == (60, 60)  # the largest whole factor within min_side


def test_kernels_and_feature_maps_are_written_large(tmp_path, capsys):
    k, f = tmp_path / "kernels.png", tmp_path / "features.png"
    assert main(["features", "lenet5", "sample:chelsea", "--kernels", str(k), "--out", str(f)]) == 0
    assert min(Image.open(k).size) >= 256 and min(Image.open(f).size) >= 256  # was 25x25 px for LeNet's kernels


def test_confusion_matrix_is_readable():
    k = 10
    cm = torch.eye(k, dtype=torch.long) * 9 + 1
    r = train.EvalResult(accuracy=0.9, loss=0.3, n=int(cm.sum()), classes=[f"class {i}" for i in range(k)],
                         confusion=cm, per_class_accuracy=cm.diag().double() / cm.sum(1))
    fig = train.confusion_figure(r)
    w, h = fig.get_size_inches() * fig.dpi
    assert w >= 600 and h >= 500  # ~50 px per cell at the size the report shows it
    texts = [t for t in fig.axes[0].texts]
    assert len(texts) == k * k and min(t.get_fontsize() for t in texts) >= 8

"""Claim 9: visualisations can mislead -- guided backpropagation fails the randomisation sanity check (Adebayo et
al. 2018) -- and gradient-based maps can expose a dataset bias (a spurious marker correlated with the label:
the maps point at it, and accuracy falls without it). Built on ``cnnlab.explain``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cnnlab import explain
from cnnlab.data import ImageTensors
from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_common import as_floats, config, correct, split_pair, trained
from cnnlab.experiments._claims_robustness import MODEL, MODEL_KW, standard_network
from cnnlab.experiments._claims_stats import Verdict, combine, paired_interval, part, t_interval

MARKER = 2  # side of the square marker (pixels)


def marker_columns(num_classes: int, width: int) -> list[int]:
    """Left column of each class's marker along the top edge, spread evenly and not overlapping."""
    return [round(k * (width - MARKER) / (num_classes - 1)) for k in range(num_classes)]


def add_markers(data: ImageTensors, fraction: float, seed: int) -> ImageTensors:
    """A copy of ``data`` where a ``fraction`` of the images (drawn with ``seed``) carry their class's marker: a
    white 2x2 square on the top edge at a column that depends on the label."""
    images = data.images.clone()
    cols = marker_columns(len(data.classes), images.shape[-1])
    g = torch.Generator().manual_seed(seed)
    chosen = (torch.rand(len(data), generator=g) < fraction).nonzero().flatten()
    white = 255 if images.dtype == torch.uint8 else 1.0
    for i in chosen.tolist():
        c = cols[int(data.labels[i])]
        images[i, :, :MARKER, c:c + MARKER] = white
    return ImageTensors(images, data.labels, data.classes)


@dataclass
class VisualisationSettings:
    """Attributes:
        n_train, epochs: the standard network (randomisation check; control of the bias experiment) and the
            network trained on the marked data (same data, seed and schedule).
        sanity_images: images explained before and after randomising every layer.
        fraction: share of the training images that carry their class's marker.
        test_images: test images scored clean and marked; ``map_images`` of them are explained.
        threshold: the rank correlation above which a map "did not notice" the randomisation.
    """

    n_train: int | None = None
    epochs: int = 3
    sanity_images: int = 200
    fraction: float = 0.9
    test_images: int = 2000
    map_images: int = 500
    threshold: float = 0.5
    seeds: tuple[int, ...] = (0,)


def visualisation_verdict(numbers: dict[str, Any]) -> Verdict:
    sc = numbers["sanity"]["correlation"]
    b = numbers["bias"]
    return combine([
        part("guided backprop: rank correlation with its map after randomising every layer",
             t_interval(sc["guided"], unit="images"), numbers["threshold"], "above"),
        part("guided minus gradient (saliency) rank correlation after randomising",
             paired_interval(sc["guided"], sc["saliency"], unit="images"), 0, "above"),
        part("marker-trained network: accuracy with the marker minus without",
             paired_interval(b["correct_marked"], b["correct_clean"], unit="images"), 0, unit="pp"),
        part("saliency mass on the marker: marker-trained minus clean-trained network",
             paired_interval(b["marker_share_biased"], b["marker_share_control"], unit="images"), 0, unit="pp"),
    ])


def plot_visualisation(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    fig = plt.figure(figsize=(17, 6.6))
    grid = fig.add_gridspec(2, 7)
    ax = fig.add_subplot(grid[0, :2])
    steps = n["sanity"]["steps"]
    for m, vals in n["sanity"]["curve"].items():
        ax.plot(range(len(steps)), vals, "o-", label="guided backprop" if m == "guided" else "gradient (saliency)")
    ax.set_xticks(range(len(steps)), [s.replace("features.", "f.") for s in steps], rotation=30, fontsize=7)
    ax.axhline(n["threshold"], color="grey", ls="--", lw=0.8)
    ax.set_ylabel("Spearman with the original map")
    ax.set_xlabel("randomised down to (cascading from the top)")
    ax.set_ylim(-0.2, 1.05)
    ax.set_title("sanity check (mean over images)", fontsize=9)
    ax.legend(fontsize=8)
    ex = n["sanity"]["example"]
    for j, (key, title) in enumerate((("image", "image"), ("guided", "guided, trained"),
                                      ("guided_random", "guided, all layers random"),
                                      ("saliency", "gradient, trained"),
                                      ("saliency_random", "gradient, all layers random"))):
        a = fig.add_subplot(grid[0, 2 + j])
        a.imshow(torch.tensor(ex[key]), cmap="gray" if key == "image" else "magma")
        a.set_title(title, fontsize=8)
        a.axis("off")
    b = n["bias"]
    ax = fig.add_subplot(grid[1, :2])
    labels = ["clean-trained,\nclean test", "marker-trained,\nmarked test", "marker-trained,\nclean test"]
    vals = [b["control_clean_accuracy"], b["marked_accuracy"], b["clean_accuracy"]]
    ax.bar(range(3), [100 * v for v in vals], color=["tab:blue", "tab:orange", "tab:red"])
    for i, v in enumerate(vals):
        ax.text(i, 100 * v + 1, f"{100 * v:.1f}%", ha="center", fontsize=8)
    ax.set_xticks(range(3), labels, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 108)
    ax.set_title(f"marker on {100 * b['fraction']:.0f}% of the training images", fontsize=9)
    from matplotlib.patches import Rectangle

    col = b["example"]["marker_column"]
    for j, (key, title) in enumerate((("marked_image", "marked test image (marker boxed)"),
                                      ("map_biased", "saliency, marker-trained"),
                                      ("map_control", "saliency, clean-trained"))):
        a = fig.add_subplot(grid[1, 2 + j])
        a.imshow(torch.tensor(b["example"][key]), cmap="gray" if "image" in key else "magma")
        a.add_patch(Rectangle((col - 0.5, -0.5), MARKER, MARKER, fill=False, edgecolor="cyan", lw=1.2))
        a.set_title(title, fontsize=8)
        a.axis("off")
    a = fig.add_subplot(grid[1, 5:])
    a.hist([100 * v for v in b["marker_share_control"]], bins=20, alpha=0.6, label="clean-trained")
    a.hist([100 * v for v in b["marker_share_biased"]], bins=20, alpha=0.6, label="marker-trained")
    a.axvline(100 * b["marker_area_share"], color="grey", ls="--", lw=0.8, label="marker's share of the pixels")
    a.set_xlabel("% of the saliency map's mass on the 2x2 marker", fontsize=8)
    a.set_ylabel("images")
    a.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _maps(net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.cat([explain.saliency(net, x[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100)])


@register_claim(
    "visualisation", number="9",
    title="Visualisations can mislead (guided backprop fails the randomisation check); gradient maps can expose a "
          "dataset bias",
    quotes=(Quote("T/F: Visualization makes assessing interpretability easy / False - Visualization leads to some "
                  "interpretable representations, bt they may be misleading or uninformative",
                  "002_920654089f751d73.txt"),
            Quote("____ can be used to detect dataset bias / Gradient-based visualizations",
                  "002_920654089f751d73.txt"),
            Quote("Guided Back prop gives good results", "004_ecac44b367f9b94b.txt")),
    tested="Misleading: the cascading randomisation check (Adebayo et al. 2018, cnnlab.explain."
           "cascading_randomization) on the standard FastNet: each image's guided-backprop and gradient maps, "
           "before and after re-initialising every layer, compared by Spearman rank correlation; a map that stays "
           "the same (correlation above 0.5) explains the input, not the network. Dataset bias: a copy of the "
           "training set where 90% of the images carry a white 2x2 square on the top edge at a column set by the "
           "label; the network trained on it is scored on the clean and the marked test set, and the share of "
           "its saliency (|gradient of the class score|) on the marker's 4 pixels is compared with the network "
           "trained on clean data, on the same marked images.",
    rule="Supported when guided backprop's correlation after randomisation is above 0.5 and above the gradient's, "
         "the marker-trained network is more accurate with the marker than without, and its saliency puts more "
         "mass on the marker than the clean-trained network's (each 95% interval on that side).",
    uncertainty="t / paired t intervals over images (one network per arm)",
    settings=VisualisationSettings,
    quick={"n_train": 10000, "epochs": 2, "sanity_images": 64, "test_images": 1000, "map_images": 200},
    verdict=visualisation_verdict, plot=plot_visualisation)
def visualisation_claim(s: VisualisationSettings, ctx: ClaimContext) -> dict[str, Any]:
    seed = s.seeds[0]
    net = standard_network(ctx, n_train=s.n_train, epochs=s.epochs, seed=seed)
    train, test = split_pair(ctx, s.n_train, s.test_images, seed=seed)
    x, y = as_floats(test), test.labels

    # the sanity check: maps of the trained network against maps of the fully randomised copies
    xs, ys = x[:s.sanity_images], y[:s.sanity_images]
    sr = explain.cascading_randomization(net, xs, ys, methods=("saliency", "guided"), max_steps=6, seed=seed)
    corr = {m: explain.spearman(sr.maps[m][0], sr.maps[m][-1]).tolist() for m in sr.methods}
    curve = {m: sr.correlations[:, j].tolist() for j, m in enumerate(sr.methods)}
    example = {"image": xs[0, 0].tolist(), **{m: sr.maps[m][0][0, 0].tolist() for m in sr.methods},
               **{f"{m}_random": sr.maps[m][-1][0, 0].tolist() for m in sr.methods}}

    # the bias: the same network and training on a copy with label-dependent markers
    marked_train = add_markers(train, s.fraction, seed)
    biased, _ = trained(ctx, MODEL, MODEL_KW, marked_train, config(epochs=s.epochs, seed=seed, ctx=ctx),
                        data_key=("fmnist-marked", s.n_train, seed, s.fraction))
    marked_test = add_markers(test, 1.0, seed)
    xm = as_floats(marked_test)
    c_clean, c_marked = correct(biased, test), correct(biased, marked_test)
    c_control = correct(net, test)
    k = s.map_images
    cols = marker_columns(len(test.classes), x.shape[-1])
    shares = {}
    for name, model in (("biased", biased), ("control", net)):
        maps = _maps(model, xm[:k], y[:k])
        mask = torch.zeros_like(maps)
        for i in range(k):
            c = cols[int(y[i])]
            mask[i, :, :MARKER, c:c + MARKER] = 1
        shares[name] = ((maps * mask).flatten(1).sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12)).tolist()
        if name == "biased":
            example_b = {"marked_image": xm[0, 0].tolist(), "map_biased": maps[0, 0].tolist(),
                         "marker_column": cols[int(y[0])]}
        else:
            example_b["map_control"] = maps[0, 0].tolist()
    bias = {"fraction": s.fraction, "clean_accuracy": float(c_clean.float().mean()),
            "marked_accuracy": float(c_marked.float().mean()),
            "control_clean_accuracy": float(c_control.float().mean()),
            "correct_clean": c_clean.float().tolist(), "correct_marked": c_marked.float().tolist(),
            "marker_share_biased": shares["biased"], "marker_share_control": shares["control"],
            "marker_area_share": MARKER * MARKER / (x.shape[-1] * x.shape[-2]), "example": example_b}
    return {"threshold": s.threshold, "sanity": {"steps": sr.steps, "curve": curve, "correlation": corr,
                                                 "example": example}, "bias": bias}

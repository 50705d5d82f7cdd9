"""Demo section: train three small networks on scikit-learn's 8x8 digits in seconds with the ``digits`` recipe
(``cnnlab.train.recipe("digits")``; the demo's CPU budget is ~20 s), with learning curves, the confusion matrix and
their ensemble. The section trains its own networks, whatever the demo model is. Fashion-MNIST figures are in
``benchmarks/RESULTS.md``."""

from __future__ import annotations

import time

from cnnlab._format import percent
from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri

MEMBERS = 3
RECIPE = "digits"  # cnnlab.train.recipe("digits"): fastnet_small, 8 epochs, batch 64, SGD Nesterov, one-cycle


def _data():
    from cnnlab import data

    return data.digits("train"), data.digits("test"), "scikit-learn 8x8 digits"


def _curves(hist, train_loss: str = "cross-entropy"):
    from matplotlib.ticker import MaxNLocator

    from cnnlab._plot import pyplot

    plt = pyplot()
    ep = [r.epoch for r in hist.rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.4), dpi=100)
    a.plot(ep, [r.train_loss for r in hist.rows], "o-", label=f"train ({train_loss})")
    a.plot(ep, [r.val_loss for r in hist.rows], "s-", label="validation (cross-entropy)")
    a.set_ylabel("loss")
    b.plot(ep, [100 * r.train_acc for r in hist.rows], "o-", label="train")
    b.plot(ep, [100 * r.val_acc for r in hist.rows], "s-", label="validation")
    b.set_ylabel("accuracy (%)")
    b.set_ylim(max(0, min(100 * min(r.train_acc for r in hist.rows), 100 * min(r.val_acc for r in hist.rows)) - 5),
               100.5)
    for ax in (a, b):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=10)
        ax.legend(fontsize=10)
    fig.tight_layout()
    return fig


def _loss_name(cfg) -> str:
    if cfg.loss == "ce":
        return f"cross-entropy, label smoothing {cfg.label_smoothing:g}" if cfg.label_smoothing else "cross-entropy"
    return cfg.loss


@register_section("training", order=40)
def training_section(ctx: DemoContext) -> Section:
    import torch

    from cnnlab import models, train

    tr, te, name = _data()
    recipe = train.get_recipe(RECIPE)
    cfg = train.recipe(RECIPE, device="cpu", progress=False, tensorboard=False)
    members, hists, seconds = [], [], 0.0
    for i in range(MEMBERS):
        torch.manual_seed(i)
        net = models.create(recipe.model, num_classes=len(tr.classes), in_channels=tr.images.shape[1],
                            **recipe.model_options)
        t0 = time.perf_counter()
        hists.append(train.fit(net, tr, None, cfg.replace(seed=i)))
        seconds += time.perf_counter() - t0
        members.append(net)
    single = [train.evaluate(m, te) for m in members]
    ens = train.ensemble_evaluate(members, te)
    ctx.cache["training"] = {"single": [r.accuracy for r in single], "ensemble": ens.accuracy}
    rows = "".join(f"<tr><td>{escape(recipe.model)}, seed {i}</td><td>{percent(r.accuracy)}</td>"
                   f"<td>{r.loss:.3f}</td></tr>" for i, r in enumerate(single))
    rows += (f"<tr><td><b>ensemble of {MEMBERS}</b> (mean of probabilities)</td><td><b>{percent(ens.accuracy)}</b>"
             f"</td><td>{ens.loss:.3f}</td></tr>")
    worst = min(range(len(tr.classes)), key=lambda k: single[0].per_class_accuracy[k].item())
    body = (
        f"<p>{MEMBERS} copies of <code>{escape(recipe.model)}</code> "
        f"({sum(p.numel() for p in members[0].parameters()):,} parameters) trained on {len(tr):,} {escape(name)} "
        f"images with the <code>{RECIPE}</code> recipe ({escape(recipe.description)}; "
        f"<code>cnnlab.train.recipe(\"{RECIPE}\")</code>) by <code>cnnlab.train.fit</code>: {seconds:.1f} s on this "
        f"CPU in all. Tested on {len(te):,} images. This section trains its own networks, whatever the demo model "
        "is.</p>"
        f'<table class="t"><tr><th>model</th><th>test accuracy</th><th>test loss</th></tr>{rows}</table>'
        f'<div class="grid"><div class="card wide"><img src="{figure_to_data_uri(_curves(hists[0], _loss_name(cfg)))}" '
        f'alt="learning curves" width="840"><br>learning curves of seed 0 ({int(cfg.val_fraction * 100)}% of the '
        "training images held out for validation)</div>"
        f'<div class="card wide"><img src="{figure_to_data_uri(train.confusion_figure(single[0]))}" '
        f'alt="confusion matrix"><br>confusion matrix of seed 0; the hardest class is '
        f"<b>{escape(tr.classes[worst])}</b> ({percent(single[0].per_class_accuracy[worst].item(), 0)})</div></div>"
        f"<p>The same from the command line: <code>cnnlab train --recipe {RECIPE} --out runs/digits</code>, then "
        "<code>cnnlab eval runs/digits --data digits</code>.</p>"
    )
    return Section("Training", body)

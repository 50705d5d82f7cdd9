"""Demo section: train three small networks on scikit-learn's 8x8 digits in seconds (the demo's CPU budget is
~20 s), with learning curves, the confusion matrix and their ensemble. Fashion-MNIST figures are in the README
and ``benchmarks/bench_train.py``."""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri

MEMBERS = 3


def _data():
    from cnnlab import data

    return data.digits("train"), data.digits("test"), "scikit-learn 8x8 digits"


def _curves(hist):
    from cnnlab._plot import pyplot

    plt = pyplot()

    ep = [r.epoch for r in hist.rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 2.8))
    a.plot(ep, [r.train_loss for r in hist.rows], "o-", label="train")
    a.plot(ep, [r.val_loss for r in hist.rows], "s-", label="validation")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    b.plot(ep, [r.train_acc for r in hist.rows], "o-", label="train")
    b.plot(ep, [r.val_acc for r in hist.rows], "s-", label="validation")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    fig.tight_layout()
    return fig


@register_section("training", order=40)
def training_section(ctx: DemoContext) -> Section:
    import torch

    from cnnlab import models, train

    tr, te, name = _data()
    cfg = train.TrainConfig(epochs=8, batch_size=64, lr=0.2, nesterov=True, label_smoothing=0.1,
                            val_fraction=0.1, device="cpu", progress=False, tensorboard=False,
                            num_threads=1)  # tiny batches: one thread beats two (18 s -> 2.4 s on a busy 2-core CPU)
    members, hists, seconds = [], [], 0.0
    for i in range(MEMBERS):
        torch.manual_seed(i)
        net = models.create("fastnet_small", num_classes=len(tr.classes), in_channels=tr.images.shape[1])
        t0 = time.perf_counter()
        hists.append(train.fit(net, tr, None, cfg.replace(seed=i)))
        seconds += time.perf_counter() - t0
        members.append(net)
    single = [train.evaluate(m, te) for m in members]
    ens = train.ensemble_evaluate(members, te)
    ctx.cache["training"] = {"single": [r.accuracy for r in single], "ensemble": ens.accuracy}
    rows = "".join(f"<tr><td>fastnet_small, seed {i}</td><td>{r.accuracy:.2%}</td><td>{r.loss:.3f}</td></tr>"
                   for i, r in enumerate(single))
    rows += (f"<tr><td><b>ensemble of {MEMBERS}</b> (mean of probabilities)</td><td><b>{ens.accuracy:.2%}</b></td>"
             f"<td>{ens.loss:.3f}</td></tr>")
    worst = min(range(len(tr.classes)), key=lambda k: single[0].per_class_accuracy[k].item())
    body = (
        f"<p>{MEMBERS} copies of <code>fastnet_small</code> (three conv-BN-ReLU stages, "
        f"{sum(p.numel() for p in members[0].parameters()):,} parameters) trained on {len(tr):,} {escape(name)} "
        f"images for {cfg.epochs} epochs each with <code>cnnlab.train.fit</code> (SGD + Nesterov, one-cycle, label "
        f"smoothing 0.1, 10% held out for validation): {seconds:.1f} s on this CPU in all. Tested on "
        f"{len(te):,} images.</p>"
        f'<table class="t"><tr><th>model</th><th>test accuracy</th><th>test loss</th></tr>{rows}</table>'
        f'<div class="grid"><div class="card"><img src="{figure_to_data_uri(_curves(hists[0]))}" '
        f'alt="learning curves"><br>learning curves of seed 0</div>'
        f'<div class="card"><img src="{figure_to_data_uri(train.confusion_figure(single[0]))}" '
        f'alt="confusion matrix" style="max-width:420px"><br>confusion matrix of seed 0; the hardest class is '
        f"<b>{escape(tr.classes[worst])}</b> ({single[0].per_class_accuracy[worst].item():.0%})</div></div>"
        "<p>The same from the command line: <code>cnnlab train --model fastnet_small --epochs 3 --out "
        "runs/fast</code>, then <code>cnnlab eval runs/fast</code>.</p>"
    )
    return Section("Training", body)

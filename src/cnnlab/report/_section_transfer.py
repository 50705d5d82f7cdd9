"""Demo section: losses (focal loss down-weights easy examples; class-balanced weights) and a linear probe of
the pretrained network's ImageNet features on the 8x8 digits."""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri


def _loss_curves_figure():
    from cnnlab._plot import pyplot

    plt = pyplot()
    import torch

    from cnnlab import losses

    p = torch.linspace(0.001, 0.999, 200, dtype=torch.float64)
    logits = torch.stack([p.log(), (1 - p).log()], 1)  # softmax(logits)[:, 0] == p
    target = torch.zeros(len(p), dtype=torch.long)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for gamma in (0.0, 0.5, 1.0, 2.0, 5.0):
        loss = losses.focal_loss(logits, target, gamma=gamma, reduction="none")
        ax.plot(p.numpy(), loss.numpy(), label="CE" if gamma == 0 else f"focal, gamma={gamma:g}")
    ax.set_xlabel("probability of the true class p_t")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    uri = figure_to_data_uri(fig)
    plt.close(fig)
    return uri


@register_section("transfer", order=70)
def transfer_section(ctx: DemoContext) -> Section:
    import torch

    from cnnlab import data, experiments, losses, transfer

    t0 = time.perf_counter()
    counts = experiments.long_tailed_counts(10, 6000, 100.0)
    rows = ""
    for label, w in (("inverse frequency", losses.class_weights(counts, "inverse")),
                     ("effective number, beta=0.999", losses.class_weights(counts, beta=0.999)),
                     ("effective number, beta=0.9999", losses.class_weights(counts, beta=0.9999))):
        rows += f"<tr><td>{escape(label)}</td>" + "".join(f"<td>{v:.3f}</td>" for v in w.tolist()) + "</tr>"
    head = "".join(f"<th>{n}</th>" for n in counts)
    weights_table = f"<table><tr><th>samples per class</th>{head}</tr>{rows}</table>"

    # linear probe: ImageNet features of the demo's network on the 8x8 digits, logistic regression on top
    train = data.stratified_subset(data.digits("train"), 200)
    test = data.stratified_subset(data.digits("test"), 150, seed=1)
    cfg = transfer.TransferConfig(mode="linear", resize=32, device=ctx.device)
    threads = torch.get_num_threads()
    try:
        # 32x32 batches are too small to gain from threads; on a busy 2-core CPU two threads took 9x longer
        torch.set_num_threads(1)
        probe = transfer.transfer(ctx.model, train, config=cfg, eval_data=test)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    body = (
        "<p>Focal loss (Lin et al. 2017) multiplies cross-entropy by (1 - p<sub>t</sub>)<sup>gamma</sup>: examples "
        "the network already gets right stop dominating the loss. Computed with <code>cnnlab.losses.focal_loss"
        "</code> on logits.</p>"
        f'<img src="{_loss_curves_figure()}" alt="focal loss curves">'
        "<p>Class-balanced weights (Cui et al. 2019) for Fashion-MNIST made long-tailed (100:1), normalised to sum "
        f"to the number of classes (<code>cnnlab.losses.class_weights</code>):</p>{weights_table}"
        f"<p><b>Linear probe.</b> The demo network's ImageNet features (1280-d, computed once) with a "
        f"logistic-regression classifier trained on {len(train)} of scikit-learn's 8x8 digits, upsampled to 32x32 "
        f"and repeated to RGB by an input adapter: <b>{probe.eval_accuracy:.1%}</b> test accuracy on {len(test)} "
        f"digits (chance 10%), {probe.trainable_params:,} trainable parameters. "
        f"<code>cnnlab transfer --mode linear|freeze:N|finetune</code> does this for any dataset; "
        f"<code>cnnlab experiment transfer</code> compares it with fine-tuning and training from scratch.</p>"
        f'<p class="muted">{seconds:.1f} s</p>'
    )
    return Section("Losses and transfer learning", body)

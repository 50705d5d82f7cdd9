"""Demo section: losses (focal loss down-weights easy examples; class-balanced weights) and a linear probe of
the demo model's features on the 8x8 digits (at 32x32 for networks that take it, else at the model's own input
size)."""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri, note


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

    # linear probe: the demo model's features on the 8x8 digits, logistic regression on top
    train = data.stratified_subset(data.digits("train"), 200)
    test = data.stratified_subset(data.digits("test"), 150, seed=1)
    resize = _probe_size(ctx.model)
    probe, skipped = None, ""
    cfg = transfer.TransferConfig(mode="linear", resize=resize, device=ctx.device)
    threads = torch.get_num_threads()
    try:
        # 32x32 batches are too small to gain from threads; on a busy 2-core CPU two threads took 9x longer
        torch.set_num_threads(1)
        probe = transfer.transfer(ctx.model, train, config=cfg, eval_data=test)
    except ValueError as exc:  # a model the probe does not apply to: say why, keep the report
        skipped = escape(str(exc).splitlines()[0])
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    if probe is None:
        probe_html = note(f"<b>Linear probe</b> skipped for {escape(ctx.description)}: {skipped}.")
    else:
        probe_html = (
            f"<p><b>Linear probe.</b> The {probe.extra['feature_dim']}-d features of {escape(ctx.description)} "
            f"(the classifier's input, computed once) with a logistic-regression classifier trained on {len(train)} "
            f"of scikit-learn's 8x8 digits, upsampled to {resize}x{resize} (grey to RGB where the network wants it) "
            f"by an input adapter: <b>{probe.eval_accuracy:.1%}</b> test accuracy on {len(test)} digits (chance 10%), "
            f"{probe.trainable_params:,} trainable parameters. <code>cnnlab transfer --mode linear|freeze:N|finetune"
            "</code> does this for any dataset; <code>cnnlab experiment transfer</code> compares it with fine-tuning "
            "and training from scratch.</p>")
    body = (
        "<p>Focal loss (Lin et al. 2017) multiplies cross-entropy by (1 - p<sub>t</sub>)<sup>gamma</sup>: examples "
        "the network already gets right stop dominating the loss. Computed with <code>cnnlab.losses.focal_loss"
        "</code> on logits.</p>"
        f'<img src="{_loss_curves_figure()}" alt="focal loss curves">'
        "<p>Class-balanced weights (Cui et al. 2019) for Fashion-MNIST made long-tailed (100:1), normalised to sum "
        f"to the number of classes (<code>cnnlab.losses.class_weights</code>):</p>{weights_table}"
        + probe_html + f'<p class="muted">{seconds:.1f} s</p>'
    )
    return Section("Losses and transfer learning", body)


def _probe_size(model) -> int:
    """32x32 (fast) when the network can take it, else the model's own input side."""
    from cnnlab import models

    card = getattr(model, "cnnlab", None)
    if card is None:
        return 32
    adapter = card.kwargs.get("input_adapter") or {}
    own = int(adapter["size"][0]) if adapter.get("size") else int(card.input_size[1])  # what the network sees
    if own <= 32:
        return max(own, 8)
    try:
        models.check_input_size(model, (card.input_size[0], 32, 32), what="the probe's 32x32")
    except ValueError:
        return own
    return 32

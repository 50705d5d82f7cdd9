"""Benchmark of cnnlab.explain: each method against Captum and pytorch-grad-cam, timed in the same run.

Measures, per model (torchvision ResNet-50 with random weights and cnnlab's EfficientNet-Lite0 with its ImageNet
weights when installed; speed does not depend on them), the median time of one batch for:

- the floors: a forward pass; a forward + backward pass to the input (plain autograd);
- saliency / deconvnet / guided backprop: cnnlab vs Captum's Saliency / Deconvolution / GuidedBackprop;
- Grad-CAM (+ bilinear upsampling to the input): cnnlab vs Captum's LayerGradCam + LayerAttribution.interpolate
  vs pytorch-grad-cam's GradCAM;
- occlusion (window 32, stride 16; --quick: 64, 32; grey fill) on a few images: cnnlab vs Captum's Occlusion
  with the same number of images per forward pass; and cnnlab's bf16 autocast mode, with the Spearman rank
  correlation of its maps with the fp32 ones.

Goals (on a GPU): saliency / guided / deconvnet within 1.05x of Captum; Grad-CAM >= 5x faster than
pytorch-grad-cam and within 1.1x of Captum; occlusion no slower than Captum; bf16 occlusion >= 2x faster.
On the CPU only the ratios mean something. Results go to benchmarks/results/bench_explain.json.

    python benchmarks/bench_explain.py --device cuda            # batch 64 at 224x224
    python benchmarks/bench_explain.py --quick                  # CPU: batch 4, fewer repeats (< 2 minutes)
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
from _timing import median_seconds

warnings.filterwarnings("ignore")


def build(name: str, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """(model, Grad-CAM layer module, its dotted name)."""
    if name == "resnet50":
        from torchvision.models import resnet50

        m = resnet50().to(device).eval()
        return m, m.layer4, "layer4"
    from cnnlab import models

    try:  # the real weights: with random ones the logits are nearly flat and bf16 occlusion drops rank to noise
        m = models.create("efficientnet_lite0", weights="imagenet")
    except (FileNotFoundError, ImportError):
        m = models.create("efficientnet_lite0")
    m = m.to(device).eval()
    return m, m.act, "act"  # the head's ReLU6 output, the features that are pooled


class _Rows(dict):
    """Table rows, printed as soon as they are measured (floors first, so the ratios can be read at once)."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model

    def __setitem__(self, label, value) -> None:
        super().__setitem__(label, value)
        ours, anchor_name, anchor = value
        ratio = f"{ours / anchor:.3f}" if anchor else ""
        floor = self.get("floor: forward" if label.startswith("occlusion") else "floor: fwd + bwd")
        fl = f"{ours / floor[0]:.2f}" if floor else ""
        print(f"{self.model:<18} {label:<22} {ours:>10.2f} {anchor_name or '':<24} "
              f"{(f'{anchor:.2f}' if anchor else ''):>10} {ratio:>7} {fl:>8}", flush=True)


def bench_model(name, dev, ca, explain, GradCAM, ClassifierOutputTarget, batch, size, occ_n, warmup, repeat,
                occ_window=32, occ_stride=16):
    """Time every method on one model; prints table rows, returns the JSON record."""
    model, layer, layer_name = build(name, dev)
    x = torch.rand(batch, 3, size, size, device=dev)
    t = torch.randint(0, 1000, (batch,), device=dev)
    rows = _Rows(name)

    def run(fn):
        return 1e3 * median_seconds(fn, dev, repeats=repeat, warmup=warmup)  # ms

    with torch.no_grad():
        fwd = run(lambda: model(x))

    def fwd_bwd():
        xi = x.detach().requires_grad_()
        torch.autograd.grad(model(xi).gather(1, t[:, None]).sum(), xi)

    floor = run(fwd_bwd)
    rows["floor: forward"] = (fwd, None, None)
    rows["floor: fwd + bwd"] = (floor, None, None)
    pairs = [
        ("saliency", lambda: explain.saliency(model, x, t, reduce=None),
         "captum Saliency", lambda: ca.Saliency(model).attribute(x, target=t, abs=True)),
        ("deconvnet", lambda: explain.deconvnet(model, x, t),
         "captum Deconvolution", lambda: ca.Deconvolution(model).attribute(x, target=t)),
        ("guided", lambda: explain.guided_backprop(model, x, t),
         "captum GuidedBackprop", lambda: ca.GuidedBackprop(model).attribute(x, target=t)),
    ]
    for label, ours, anchor_name, anchor in pairs:
        rows[label] = (run(ours), anchor_name, run(anchor))

    def captum_gradcam():
        a = ca.LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
        return ca.LayerAttribution.interpolate(a, x.shape[-2:], interpolate_mode="bilinear")

    ours_gc = run(lambda: explain.gradcam(model, x, t, layer=layer_name))
    rows["gradcam"] = (ours_gc, "captum LayerGradCam+interp", run(captum_gradcam))
    if GradCAM is not None:
        cam = GradCAM(model=model, target_layers=[layer])
        targets = [ClassifierOutputTarget(int(c)) for c in t]
        rows["gradcam "] = (ours_gc, "pytorch-grad-cam GradCAM", run(lambda: cam(input_tensor=x,
                                                                                   targets=targets)))
        cam.activations_and_grads.release()

    xo, to = x[:occ_n], t[:occ_n]
    per = 64  # occluded images per forward pass, for both libraries
    occ = {"window": occ_window, "stride": occ_stride, "fill": 0.5, "batch_size": per}
    occ_ours = run(lambda: explain.occlusion(model, xo, to, **occ))

    def captum_occ():
        return ca.Occlusion(model).attribute(xo, sliding_window_shapes=(3, occ_window, occ_window),
                                                 strides=(3, occ_stride, occ_stride),
                                             baselines=0.5, target=to, perturbations_per_eval=per // occ_n)

    rows[f"occlusion {occ_window}/{occ_stride}"] = (occ_ours, "captum Occlusion", run(captum_occ))
    half = torch.bfloat16
    rho = None
    from cnnlab._device import cpu_has_native

    if dev.type != "cpu" or cpu_has_native(half):
        occ_bf16 = run(lambda: explain.occlusion(model, xo, to, **occ, dtype=half))
        rows["occlusion bf16"] = (occ_bf16, "cnnlab occlusion fp32", occ_ours)
        m32 = explain.occlusion(model, xo, to, **occ)
        m16 = explain.occlusion(model, xo, to, **occ, dtype=half)
        rho = float(explain.spearman(m16[:, :1], m32[:, :1]).mean())

    res = {}
    for label, (ours, anchor_name, anchor) in rows.items():
        ratio = ours / anchor if anchor else None
        fl = ours / (fwd if label.startswith("occlusion") or label == "floor: forward" else floor)
        res[label.strip() + (" vs grad-cam" if label.endswith(" ") else "")] = {
            "ms": round(ours, 3), "anchor": anchor_name, "anchor_ms": round(anchor, 3) if anchor else None,
            "ratio": round(ratio, 3) if ratio else None, "x_floor": round(fl, 3)}
    if rho is None:  # cnnlab refuses it: oneDNN emulates bfloat16 on this CPU (benchmarks/bench_amp_cpu.py)
        res["occlusion bf16"] = "not measured: this CPU has no native bfloat16"
        print(f"{name:<18} occlusion bf16: not measured, this CPU has no native bfloat16")
    else:
        res["occlusion bf16 spearman vs fp32"] = round(rho, 4)
        print(f"{name:<18} {'bf16 occlusion maps: Spearman rank correlation with fp32 = ' + f'{rho:.4f}'}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None, help="images per batch (default 64; --quick: 4)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--models", nargs="+", default=["resnet50", "efficientnet_lite0"])
    ap.add_argument("--occlusion-images", type=int, default=None, help="default 8; --quick: 1")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="small batch and few repeats, for a CPU")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_explain.json"))
    args = ap.parse_args()

    import captum.attr as ca

    from cnnlab import explain

    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError:  # grad-cam is in the bench extra; the GPU machine may lack it
        GradCAM = ClassifierOutputTarget = None

    dev = torch.device(args.device)
    batch = args.batch or (4 if args.quick else 64)
    occ_n = args.occlusion_images or (1 if args.quick else 8)
    repeat = args.repeat or (3 if args.quick else 10)
    warmup = 1 if args.quick else 3
    torch.manual_seed(0)
    results: dict = {"quick": args.quick, "device": str(dev), "torch": torch.__version__, "batch": batch,
                     "size": args.size, "occlusion_images": occ_n, "models": {}}
    header = f"{'model':<18} {'method':<22} {'cnnlab ms':>10} {'anchor':<24} {'anchor ms':>10} {'ratio':>7} " \
             f"{'x floor':>8}"
    print(f"device {dev}, batch {batch} at {args.size}x{args.size}, median of {repeat}")
    print(header)
    print("-" * len(header))
    for name in args.models:
        window = 64 if args.quick else 32  # --quick: 36 windows per image instead of 169
        results["models"][name] = bench_model(name, dev, ca, explain, GradCAM, ClassifierOutputTarget, batch,
                                              args.size, occ_n, warmup, repeat, window, window // 2)
    print("ratio = cnnlab / anchor (lower is faster); x floor = time / (forward + backward), occlusion: / forward")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()

"""cnnlab embed: penultimate features of a dataset in 2-D (PCA or t-SNE), scattered by class."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import integer, nonneg_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="PCA / t-SNE scatter of a model's penultimate features",
                       description="Embed the penultimate features of a dataset with PCA or t-SNE and write a "
                       "scatter plot coloured by class.")
    p.add_argument("model", metavar="CHECKPOINT", help="checkpoint directory (or registry name)")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--method", choices=("tsne", "pca"), default="tsne")
    p.add_argument("--limit", type=integer(3), default=2000, help="embed the first N samples (at least 3)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, explain, models
    from cnnlab._device import resolve_device

    if not str(args.out).lower().endswith(".png"):
        raise ValueError(f"--out must be a .png file, got {args.out!r}")
    device = resolve_device(args.device, "--device")
    model = models.load(args.model, map_location=device)
    ds = data.load_dataset(args.data, args.split)
    ds = ds.subset(slice(0, args.limit))
    try:  # the data's images against the model's card, before any feature is extracted
        models.check_batch(model, ds.subset(slice(0, 1)).floats(), name=f"--data {args.data} images")
    except ValueError as exc:
        raise ValueError(f"{exc}; embed {args.data} with a model trained on it") from None
    emb = explain.embed(model, ds, method=args.method, seed=args.seed)
    emb.save(args.out)
    print(f"{args.method}: {len(emb.points)} samples of {args.data} ({args.split}), "
          f"{emb.features.shape[1]}-d penultimate features")
    print(f"plot: {args.out}")
    return 0

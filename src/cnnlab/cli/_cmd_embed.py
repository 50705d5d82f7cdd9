"""cnnlab embed: penultimate features of a dataset in 2-D (PCA or t-SNE), scattered by class."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="PCA / t-SNE scatter of a model's penultimate features",
                       description="Embed the penultimate features of a dataset with PCA or t-SNE and write a "
                       "scatter plot coloured by class.")
    p.add_argument("model", metavar="CHECKPOINT", help="checkpoint directory (or registry name)")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--method", choices=("tsne", "pca"), default="tsne")
    p.add_argument("--limit", type=int, default=2000, help="embed the first N samples (default 2000)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, explain, models

    if args.limit < 3:
        raise ValueError(f"--limit must be at least 3, got {args.limit}")
    if not str(args.out).lower().endswith(".png"):
        raise ValueError(f"--out must be a .png file, got {args.out!r}")
    model = models.load(args.model, map_location=args.device)
    ds = data.load_dataset(args.data, args.split)
    ds = ds.subset(slice(0, args.limit))
    c, h, w = model.cnnlab.input_size
    if ds.image_shape[0] != c:
        raise ValueError(f"the model takes {c}-channel images, {args.data} has {ds.image_shape[0]}")
    emb = explain.embed(model, ds, method=args.method, seed=args.seed)
    emb.save(args.out)
    print(f"{args.method}: {len(emb.points)} samples of {args.data} ({args.split}), "
          f"{emb.features.shape[1]}-d penultimate features")
    print(f"plot: {args.out}")
    return 0

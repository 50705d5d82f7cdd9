"""cnnlab predict: top-k classes of images."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify images",
                       description="Top-k classes of images. IMAGE is a file or sample:NAME (cnnlab.data."
                       "sample_names()). An image already at the model's input size is classified as it is "
                       "(no second resize or crop).")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", default="efficientnet_lite0", help="registry name or checkpoint directory")
    p.add_argument("--topk", type=positive_int, default=5)
    p.add_argument("--json", action="store_true", help='print [{"image", "topk": [{"class", "index", "prob"}]}]')
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cnnlab import data, models
    from cnnlab._device import resolve_device
    from cnnlab._format import percent, table

    device = resolve_device(args.device, "--device")
    imgs = [data.image_from_spec(s) for s in args.images]  # all inputs checked before the model loads
    model = models.load(args.model, map_location=device)
    preds = models.predict(model, imgs, topk=args.topk)
    if args.json:
        doc = [{"image": s, "topk": [{"class": p.label, "index": p.index, "prob": round(p.prob, 6)} for p in ps]}
               for s, ps in zip(args.images, preds)]
        print(json.dumps(doc, indent=2))
        return 0
    rows = [[s if i == 0 else "", i + 1, p.label, p.index, percent(p.prob, 2)]
            for s, ps in zip(args.images, preds) for i, p in enumerate(ps)]
    print(table(["image", "rank", "class", "index", "prob"], rows, align="lrlrr"))
    return 0

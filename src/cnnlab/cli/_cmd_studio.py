"""cnnlab studio: the local web app (predict, architecture, explain, attack) on this machine."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studio", help="start the local web app over every capability",
                       description="Serve cnnlab studio, a web page and a JSON API under /api/ (docs/studio.md), "
                       "for every registry model with weights and the checkpoints found under --runs. Binds "
                       "127.0.0.1 (this machine only) unless --host says otherwise. Ctrl-C stops it.")
    p.add_argument("--runs", default=None, metavar="DIR", help="folder of checkpoints (cnnlab train --out, "
                   "cnnlab transfer --out) offered as run:ID")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (another than 127.0.0.1 / "
                   "localhost lets other machines in: the studio has no login)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", default="cpu", help="where models run: cpu, cuda, cuda:N, auto")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MiB")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from cnnlab._checks import check_int, check_number
    from cnnlab.studio import StudioConfig, is_loopback, serve, studio_url

    check_int("--port", args.port, 1, 65535)
    mb = check_number("--max-upload-mb", args.max_upload_mb, minimum=0, open_min=True, maximum=1024)
    if args.runs is not None:
        import os

        if not os.path.isdir(args.runs):
            raise FileNotFoundError(f"--runs {args.runs!r} is not a directory")
    config = StudioConfig(runs_dir=args.runs, device=args.device, max_upload_bytes=int(mb * 2**20))
    if not is_loopback(args.host):
        print(f"cnnlab studio: warning: listening on {args.host}: anyone who can reach this machine on port "
              f"{args.port} can use the studio (it has no login)", file=sys.stderr)
    print(f"cnnlab studio: {studio_url('127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host, args.port)} "
          "(Ctrl-C stops it)", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the warning above is the one the user reads
        serve(args.host, args.port, config=config)
    return 0

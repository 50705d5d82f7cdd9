"""cnnlab train: train a registered model on a dataset, checkpoint it, evaluate it on the test split.

Every ``TrainConfig`` field has a flag, generated from the dataclass (``cli/_config_flags.py``): its default is the
field's default, or the recipe's with ``--recipe NAME``; flags override the recipe. ``--model-option NAME=VALUE``
passes build options to the model (``--model-option widths=24,48,96``), as timm's ``--model-kwargs``.
"""

from __future__ import annotations

import argparse

from cnnlab.cli._config_flags import Toggle, add_config_flags, add_lazily, config_changes, flag_name, parse_options
from cnnlab.cli._log import log_to_stderr

# fields whose flag is not --field-name (the names the command had before the flags were generated)
RENAMES = {"out_dir": "--out", "num_threads": "--threads"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (recipes, checkpoints, resume, ensembles, DDP)",
                       description="Train a registered model on fashion-mnist | cifar10:DIR | folder:DIR | digits, "
                       "save checkpoints in --out, evaluate on the test split. Metrics go to OUT/metrics.csv "
                       "(and TensorBoard when installed); `cnnlab eval OUT` and `cnnlab predict --model OUT` "
                       "use the result. --recipe NAME starts from a named preset (cnnlab.train.recipe); every "
                       "TrainConfig field has a flag that overrides it.")
    p.add_argument("--recipe", default=None, metavar="NAME",
                   help="a named preset (cpu, gpu, resnet, digits: cnnlab.train.recipe_names()); sets the model, "
                   "its options, the data and the TrainConfig; flags override it")
    p.add_argument("--model", default=None, help="registry name (cnnlab models); default: the recipe's model, with "
                   "--resume the run's")
    p.add_argument("--model-option", action="append", default=None, metavar="NAME=VALUE",
                   help="a build option of the model, repeatable (--model-option widths=24,48,96; values are Python "
                   "literals, else strings); default: the recipe's options when its model is used")
    p.add_argument("--data", default=None, help="fashion-mnist | cifar10:DIR | folder:DIR | digits (default: the "
                   "recipe's, else fashion-mnist; with --resume the run's)")
    p.add_argument("--data-dir", default=None, help="where Fashion-MNIST's IDX files are")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (with --resume: the "
                   "run's)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out with its settings; more "
                   "--epochs extend runs with the none/step schedules, other changed settings are refused")
    p.add_argument("--ensemble", type=int, default=1, metavar="N", help="train N seeds and average them")
    p.add_argument("--nproc", type=int, default=1, metavar="N", help="DDP over N processes (torchrun)")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run, parser=p)
    add_lazily(p, _config_flags)


def _config_flags(p: argparse.ArgumentParser) -> None:
    from cnnlab.train import TrainConfig

    add_config_flags(p, TrainConfig, renames=RENAMES, defaults_note="")


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """The command line of a DDP worker: this one without --nproc."""
    argv = []
    for action in args.parser._actions:
        dest = action.dest
        if dest in ("help", "nproc") or not action.option_strings:
            continue
        value = getattr(args, dest)
        if isinstance(action, Toggle):
            if value is not None:
                argv.append(action.option_strings[0 if value else 1])
        elif isinstance(action, argparse._StoreTrueAction):
            if value:
                argv.append(action.option_strings[0])
        elif isinstance(action, argparse._AppendAction):
            for v in value or []:
                argv += [action.option_strings[0], str(v)]
        elif value is not None and value != action.default:
            argv += [action.option_strings[0], str(value)]
    return argv


def resolve(args: argparse.Namespace) -> tuple[str, str, dict, object, int | None]:
    """(model, data spec, model options, TrainConfig, limit) from the command line, a recipe and, with
    ``--resume``, the run being resumed (whose settings are the defaults then)."""
    import os

    from cnnlab import models, train

    changes = config_changes(args, train.TrainConfig, renames=RENAMES)
    given_options = parse_options(args.model_option) if args.model_option is not None else None
    if args.resume:
        out = changes.get("out_dir")
        if out is None:
            raise ValueError("--resume needs --out (the run directory to continue)")
        if args.recipe is not None:
            raise ValueError("--resume continues a run with its own settings; --recipe cannot be combined with it")
        base = train.saved_config(out)
        if base is None:
            raise FileNotFoundError(f"nothing to resume in {out!r} (no state/LATEST)")
        run = train.read_run(out) or {}
        model = args.model or run.get("model")
        if model is None:
            raise ValueError(f"--resume: {out!r} has no run.json naming its model; give --model")
        saved_opts = {k: v for k, v in (run.get("model_kwargs") or {}).items()
                      if k not in ("num_classes", "in_channels")}
        options = given_options if given_options is not None else saved_opts
        data = args.data or run.get("data") or "fashion-mnist"
        limit = args.limit if args.limit is not None else run.get("limit")
    else:
        rec = train.get_recipe(args.recipe) if args.recipe is not None else None
        base = rec.config if rec is not None else train.TrainConfig()
        model = args.model or (rec.model if rec is not None else None)
        if model is None:
            raise ValueError("give --model NAME (cnnlab models) or --recipe NAME "
                             f"({', '.join(train.recipe_names())})")
        same = rec is not None and model == rec.model
        options = given_options if given_options is not None else (dict(rec.model_options) if same else {})
        data = args.data or (rec.data if rec is not None else "fashion-mnist")
        limit = args.limit
        changes.setdefault("out_dir", os.path.join("runs", model))
    models.MODELS.lookup(model)
    if args.quiet:
        changes["progress"] = False
    try:
        config = base.replace(**changes)
    except ValueError as exc:  # name the flag, not the field
        msg = str(exc)
        for name in changes:
            if msg.startswith(name + " "):
                msg = flag_name(name, RENAMES) + msg[len(name):]
                break
        raise ValueError(msg) from None
    return model, data, options, config, limit


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from cnnlab import train
    from cnnlab._format import percent, table

    model, data, options, config, limit = resolve(args)
    if args.nproc > 1:
        if args.ensemble > 1:
            raise ValueError("--nproc and --ensemble cannot be combined")
        train.load_run_data(data, data_dir=args.data_dir, test=False)  # bad data: one line, before launch
        return train.launch_distributed(args.nproc, ["train", *_worker_argv(args)])
    if args.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {args.nproc}")
    with log_to_stderr("cnnlab.train", not args.quiet and int(os.environ.get("RANK", "0")) == 0):
        res = train.run_training(model, data, config, data_dir=args.data_dir, limit=limit,
                                 ensemble=args.ensemble, resume=args.resume, test=not args.no_test,
                                 model_kwargs=options)
    if res.rank != 0:
        return 0
    h = res.history
    if args.json:
        doc = {"out_dir": res.out_dir, "model": model, "data": data, "model_options": options,
               "recipe": args.recipe, "history": h.to_json(),
               "test": res.test.summary() if res.test else None,
               "members": [r.accuracy for r in res.members],
               "ensemble": res.ensemble.accuracy if res.ensemble else None}
        print(json.dumps(doc, indent=2, default=list))
        return 0
    rows = [[r.epoch, f"{r.train_loss:.4f}", percent(r.train_acc),
             "" if r.val_loss is None else f"{r.val_loss:.4f}", "" if r.val_acc is None else percent(r.val_acc),
             f"{r.lr:.3g}", f"{r.seconds:.1f}", f"{r.images_per_s:.0f}"] for r in h.rows]
    if h.resumed_epoch is not None:
        if h.resumed_epoch >= len(h.rows):
            print(f"nothing to train: the run in {res.out_dir} has finished its {h.resumed_epoch} epochs "
                  "(resume with a larger --epochs to extend a none/step schedule)")
        else:
            print(f"resumed after epoch {h.resumed_epoch}; trained epochs {h.resumed_epoch + 1}-{len(h.rows)}")
    print(table(["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "s", "img/s"], rows))
    if res.members:
        print(table(["model", "test acc"], [[f"seed {config.seed + i}", percent(r.accuracy)]
                                             for i, r in enumerate(res.members)]
                    + [[f"ensemble of {len(res.members)}", percent(res.ensemble.accuracy)]]))
    elif res.test is not None:
        print(f"test accuracy {percent(res.test.accuracy)} ({res.test.n} images), loss {res.test.loss:.4f}")
    if h.stopped_early:
        print(f"stopped early; best epoch {h.best_epoch}")
    print(f"checkpoint: {res.out_dir}")
    return 0

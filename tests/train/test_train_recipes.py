"""Recipes are product data (train.recipe), and every TrainConfig field has a `cnnlab train` flag whose default is
the field's: the flags are generated from the dataclass, so the CLI and the API cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing

import pytest

from cnnlab import train
from cnnlab.cli import _cmd_train as cmd
from cnnlab.cli import build_parser, main


def _train_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    sub.ensure_flags()
    return parser, sub


def test_recipes_are_registered_configs_with_overrides():
    assert {"cpu", "gpu", "resnet", "digits"} <= set(train.recipe_names())
    cpu = train.get_recipe("cpu")
    assert cpu.model == "fastnet_small" and cpu.config.batch_size == 256 and cpu.config.lr == 0.2
    assert train.get_recipe("gpu").model_options == {"widths": (64, 128, 256)}
    assert train.get_recipe("resnet").config.crop_padding == 2 and train.get_recipe("resnet").config.hflip
    cfg = train.recipe("cpu", epochs=1, lr=0.1)
    assert (cfg.epochs, cfg.lr, cfg.batch_size) == (1, 0.1, 256)
    assert train.get_recipe("cpu").config.epochs == 3  # the registered recipe is not changed by an override
    with pytest.raises(ValueError, match="TrainConfig has no field 'lrr'"):
        train.recipe("cpu", lrr=0.1)
    with pytest.raises(ValueError, match="unknown recipe 'cpuu'; did you mean cpu"):
        train.recipe("cpuu")
    with pytest.raises(ValueError, match="lr must be"):
        train.recipe("cpu", lr=-1.0)
    assert "fastnet_small" in repr(cpu)


def test_every_trainconfig_field_has_a_flag_whose_default_is_the_fields():
    from cnnlab.cli._config_flags import field_docs

    documented = field_docs(train.TrainConfig)
    assert [f.name for f in dataclasses.fields(train.TrainConfig) if not documented.get(f.name)] == []
    _, sub = _train_parser()
    by_dest = {a.dest: a for a in sub._actions}
    docs = sub._get_formatter()
    for f in dataclasses.fields(train.TrainConfig):
        assert f.name in by_dest, f"TrainConfig.{f.name} has no flag"
        action = by_dest[f.name]
        assert action.default is None  # "not given": the field's default (or the recipe's) applies
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = docs._get_help_string(action)
        from cnnlab.cli._config_flags import _shown

        assert f"(default: {_shown(default)}" in shown, (f.name, shown)
    # with no flags the command builds exactly TrainConfig()'s configuration, apart from where it writes
    args = build_parser().parse_args(["train", "--model", "lenet5"])
    model, data, options, config, limit = cmd.resolve(args)
    assert (model, data, options, limit) == ("lenet5", "fashion-mnist", {}, None)
    assert config == train.TrainConfig(out_dir="runs/lenet5")  # the one CLI default: a run directory


def _value_for(name: str, hint) -> tuple[list[str], object]:
    """A non-default command-line value for a field, and the field value it must give."""
    kind = typing.get_origin(hint) or hint
    default = getattr(train.TrainConfig(), name)
    if name == "optimizer":
        return ["adam"], "adam"
    if name == "schedule":
        return ["cosine"], "cosine"
    if name == "init":
        return ["kaiming"], "kaiming"
    if name == "amp_dtype":
        return ["float16"], "float16"
    if name == "loss":
        return ["focal"], "focal"
    if name == "device":
        return ["cpu"], "cpu"
    if name == "out_dir":
        return ["somewhere"], "somewhere"
    if kind is bool or hint is bool:
        return [], not default
    if kind is dict:
        return ["features=0.1,=0.5"], {"features": 0.1, "": 0.5}
    if kind is tuple:
        return ["0.8,0.99"], (0.8, 0.99)
    if hint is int:
        return [str(default + 1)], default + 1
    if hint is float:
        value = 0.25 if name in ("warmup_fraction", "step_gamma", "val_fraction", "label_smoothing") else default + 0.5
        if name == "momentum":
            value = 0.5
        return [str(value)], value
    raise AssertionError(f"no test value for {name}: {hint}")


def test_every_flag_reaches_its_field():
    hints = typing.get_type_hints(train.TrainConfig)
    for f in dataclasses.fields(train.TrainConfig):
        flag = cmd.flag_name(f.name, cmd.RENAMES)
        hint = hints[f.name]
        if typing.get_origin(hint) is typing.Union or type(hint).__name__ == "UnionType":
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        values, expected = _value_for(f.name, hint)
        if isinstance(expected, bool):
            on, off = next(a for a in _train_parser()[1]._actions if a.dest == f.name).option_strings
            argv = [on if expected else off]
        else:
            argv = [flag, *values]
        args = build_parser().parse_args(["train", "--model", "lenet5", *argv])
        config = cmd.resolve(args)[3]
        assert getattr(config, f.name) == expected, (f.name, argv, getattr(config, f.name))


def test_recipe_flags_override_and_model_options(tmp_path):
    args = build_parser().parse_args(["train", "--recipe", "gpu", "--epochs", "2", "--lr", "0.3"])
    model, data, options, config, _ = cmd.resolve(args)
    assert model == "fastnet_small" and options == {"widths": (64, 128, 256)}
    assert (config.epochs, config.lr, config.batch_size, config.nesterov) == (2, 0.3, 512, True)
    args = build_parser().parse_args(["train", "--recipe", "gpu", "--model-option", "widths=8,16,32"])
    assert cmd.resolve(args)[2] == {"widths": (8, 16, 32)}
    args = build_parser().parse_args(["train", "--recipe", "gpu", "--model", "lenet5"])
    assert cmd.resolve(args)[2] == {}  # the recipe's options belong to its own model
    args = build_parser().parse_args(["train", "--recipe", "digits"])
    assert cmd.resolve(args)[1] == "digits"
    # a run with a model option end to end: the checkpoint records it
    out = tmp_path / "w"
    assert main(["train", "--model", "fastnet_small", "--model-option", "widths=4,8,8", "--data", "digits",
                 "--epochs", "1", "--batch-size", "64", "--threads", "1", "--no-test", "--quiet", "--out", str(out),
                 "--json"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["card"]["kwargs"]["widths"] == [4, 8, 8]


@pytest.mark.parametrize("argv, message", [
    (["train"], "give --model NAME"),
    (["train", "--recipe", "nope"], "unknown recipe 'nope'"),
    (["train", "--model", "lenet5", "--model-option", "widths"], "--model-option takes NAME=VALUE"),
    (["train", "--model", "lenet5", "--lr-multipliers", "features"], "--lr-multipliers takes KEY=NUMBER"),
    (["train", "--model", "lenet5", "--betas", "0.9,x"], "--betas needs numbers"),
    (["train", "--model", "lenet5", "--lr", "-1"], "--lr must be"),
])
def test_bad_flags_give_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1

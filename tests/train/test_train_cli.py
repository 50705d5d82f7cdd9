"""cnnlab train / eval / predict on real checkpoints; one-line errors; ensembles."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab import data, models, train
from cnnlab.cli import main

TRAIN = ["train", "--model", "lenet5", "--limit", "256", "--epochs", "1", "--batch-size", "32", "--threads", "1",
         "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "lenet"
    assert main([*TRAIN, "--out", str(out), "--no-test", "--val-fraction", "0.25", "--json"]) == 0
    return out


def test_train_writes_a_checkpoint_that_eval_and_predict_read(run_dir, capsys):
    capsys.readouterr()
    meta = models.read_checkpoint_meta(run_dir)
    assert meta["card"]["name"] == "lenet5" and meta["card"]["classes"][0] == "T-shirt/top"
    assert meta["extra"]["train"]["batch_size"] == 32 and len(meta["extra"]["history"]["rows"]) == 1
    assert (run_dir / "best" / "model.json").is_file() and (run_dir / "metrics.csv").is_file()

    assert main(["eval", str(run_dir), "--limit", "300", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    test = data.fashion_mnist("test").subset(slice(0, 300))
    ref = train.evaluate(models.load_checkpoint(run_dir), test)
    assert doc["accuracy"] == pytest.approx(ref.accuracy) and doc["n"] == 300
    assert doc["confusion"] == ref.confusion.tolist() and sum(map(sum, doc["confusion"])) == 300
    assert (run_dir / "confusion-fashion-mnist-test.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run_dir / "eval-fashion-mnist-test.json").read_text())["accuracy"] == doc["accuracy"]

    assert main(["predict", "--model", str(run_dir), "--json", "--topk", "3", "sample:camera"]) == 0
    out = json.loads(capsys.readouterr().out)
    net = models.load_checkpoint(run_dir)
    img = models.preprocess(net, data.image_from_spec("sample:camera"))
    with torch.no_grad():
        best = net(img[None]).softmax(1)[0].argmax().item()
    assert out[0]["topk"][0]["index"] == best
    assert out[0]["topk"][0]["class"] == data.FASHION_MNIST_CLASSES[best]


@pytest.mark.parametrize("argv,message", [
    (["train", "--model", "lenet6", "--out", "{tmp}/x"], "unknown model 'lenet6'"),
    (["train", "--model", "lenet5", "--data", "cifar10:{tmp}/nowhere", "--out", "{tmp}/x"], "does not exist"),
    (["train", "--model", "lenet5", "--data", "folder:{tmp}/nowhere", "--out", "{tmp}/x"], "does not exist"),
    (["train", "--model", "lenet5", "--optimizer", "lbfgs", "--out", "{tmp}/x"], "optimizer must be one of"),
    (["eval", "{tmp}/not-a-checkpoint"], "no such checkpoint"),
    (["train", "--model", "resnet_small", "--resume", "--out", "{run}"], "holds model 'lenet5', not 'resnet_small'"),
    (["train", "--model", "lenet5", "--resume", "--out", "{tmp}/empty"], "nothing to resume"),
    (["eval", "{run}", "--data", "digits"], "refusing to score it on another task's labels"),
])
def test_bad_input_gives_one_line_and_exit_2(argv, message, run_dir, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_nan_loss_exits_2_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    code = main([*TRAIN, "--epochs", "3", "--lr", "1e8", "--schedule", "none", "--checkpoint-every", "2",
                 "--no-test", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "NaN or infinite" in err and "last good checkpoint" in err
    last = train.latest_state_dir(out)
    assert last is not None and str(last) in err
    good = models.load_checkpoint(last)
    assert all(torch.isfinite(p).all() for p in good.parameters())


def test_ensemble_averages_member_probabilities(tmp_path):
    g = torch.Generator().manual_seed(3)
    d = data.ImageTensors(torch.randint(0, 256, (64, 1, 28, 28), generator=g, dtype=torch.uint8),
                          torch.randint(0, 10, (64,), generator=g), [str(i) for i in range(10)])
    cfg = train.TrainConfig(epochs=1, batch_size=32, device="cpu", progress=False, tensorboard=False,
                            out_dir=str(tmp_path))
    res = train.fit_ensemble(lambda i: models.create("lenet5"), d, None, cfg, n=3, test_data=d)
    assert len(res.models) == 3 and [h.config["seed"] for h in res.histories] == [0, 1, 2]
    assert not torch.equal(res.models[0].features[0].weight, res.models[1].features[0].weight)
    assert (tmp_path / "member-2" / "model.safetensors").is_file()
    # reference: the mean of the members' softmax outputs, image by image
    with torch.no_grad():
        ref = torch.stack([m.eval()(d.images.float() / 255).softmax(1) for m in res.models]).mean(0)
    torch.testing.assert_close(res.ensemble.probs, ref, rtol=1e-5, atol=1e-6)
    assert res.ensemble.accuracy == pytest.approx((ref.argmax(1) == d.labels).float().mean().item())
    assert res.gain == pytest.approx(res.ensemble.accuracy - sum(r.accuracy for r in res.single) / 3)


def test_cli_ensemble_reports_members_and_average(tmp_path, capsys):
    argv = ["train", "--model", "resnet_small", "--data", "digits", "--limit", "128", "--epochs", "1", "--threads", "1",
            "--batch-size", "32", "--quiet", "--ensemble", "2", "--out", str(tmp_path / "ens"), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["members"]) == 2 and 0 <= doc["ensemble"] <= 1

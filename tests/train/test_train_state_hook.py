"""train.save_train_state's save_model hook: another model format (cnnlab.detect's detectors) inside the same
atomic training-state directories; the default still writes a cnnlab checkpoint."""

import torch

from cnnlab import models, train


def test_save_train_state_writes_the_model_with_the_given_writer(tmp_path):
    net = models.create("lenet5")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.rand(2, 1, 28, 28)).sum().backward()
    opt.step()
    calls = []

    def writer(path, model, *, extra):
        calls.append((path.name, model, extra))
        path.mkdir(parents=True, exist_ok=True)
        (path / "weights.bin").write_bytes(b"x")

    d = train.save_train_state(tmp_path, net, opt, None, {"global_step": 3, "config": {"lr": 0.1}},
                               save_model=writer)
    assert d.name == "step-00000003" and (d / "weights.bin").is_file() and not (d / "model.safetensors").exists()
    assert calls[0][1] is net and calls[0][2] == {"train": {"lr": 0.1}, "global_step": 3}
    assert train.latest_state_dir(tmp_path) == d
    doc, tensors = train.load_train_state(d)
    fresh = torch.optim.SGD(models.create("lenet5").parameters(), lr=0.1, momentum=0.9)
    train.restore_optimizer(fresh, doc, tensors)
    buf = opt.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(fresh.state_dict()["state"][0]["momentum_buffer"], buf)
    default = train.save_train_state(tmp_path / "b", net, opt, None, {"global_step": 1})
    assert (default / "model.safetensors").is_file()

import os
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import replearn_core as rl
from replearn_core.config import BaseConfig, TrainConfig, check_positive_int
from replearn_core.models import AutoencoderConfig
from replearn_core.models.base import BaseModel, ModelOutput, register
from replearn_core.training import checkpoint_path


@dataclass(frozen=True)
class TinyRegressionConfig(BaseConfig):
    dim: int = 4

    def validate(self):
        check_positive_int(self, "dim")


@register(TinyRegressionConfig)
class TinyRegression(BaseModel):
    """y = w.x: a convex problem on which any working loop must lower the loss."""

    def __init__(self, config=TinyRegressionConfig()):
        super().__init__(config)
        self.linear = nn.Linear(config.dim, 1)
        self.blow_up_at = None
        self.calls = 0

    def forward(self, x, y=None, phase="loss"):
        self.calls += 1
        pred = self.linear(x).squeeze(1)
        loss = ((pred - y) ** 2).mean()
        if self.blow_up_at is not None and self.calls >= self.blow_up_at:
            loss = loss * float("nan")
        return ModelOutput(loss=loss, terms={"mse": loss})


def _regression_batches(n=256, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    return rl.DeviceBatches(x, y, batch_size=32, seed=seed)


def test_fit_lowers_the_loss_and_records_history():
    model = TinyRegression()
    history = rl.fit(model, _regression_batches(), TrainConfig(epochs=5, lr=0.3), progress=False)
    mse = history.epochs["mse"]
    assert len(mse) == 5 and len(history.steps["mse"]) == 5 * 8
    assert mse[-1] < 0.1 * mse[0]
    assert len(history.epoch_seconds) == 5


class _Log(rl.Callback):
    def __init__(self):
        self.events = []

    def on_train_start(self, model, history):
        self.events.append(("start", model.training))

    def on_step_end(self, step, model, terms):
        self.events.append(("step", step, sorted(terms)))

    def on_epoch_end(self, epoch, model, history):
        self.events.append(("epoch", epoch, len(history.epochs["mse"])))

    def on_train_end(self, model, history):
        self.events.append(("end", model.training))


def test_fit_calls_every_callback_hook_in_order():
    log = _Log()
    rl.fit(TinyRegression(), _regression_batches(), TrainConfig(epochs=2), progress=False, callbacks=[log])
    assert log.events[0] == ("start", True) and log.events[-1] == ("end", False)
    steps = [e[1] for e in log.events if e[0] == "step"]
    assert steps == list(range(1, 17)) and all(e[2] == ["mse"] for e in log.events if e[0] == "step")
    assert [e[1:] for e in log.events if e[0] == "epoch"] == [(1, 1), (2, 2)]
    assert log.events.index(("epoch", 1, 1)) == 1 + 8  # after the 8 steps of epoch 1


def test_recorder_records_at_steps_including_the_untrained_model():
    probe = torch.randn(3, 4)
    rec = rl.Recorder("pred", lambda m, x: {"y": m.linear(x).squeeze(1), "w": m.linear.weight},
                      steps=(0, 1, 16), inputs={"x": probe})
    model = TinyRegression()
    initial = model.linear(probe).squeeze(1).detach().clone()
    rl.fit(model, _regression_batches(), TrainConfig(epochs=2, lr=0.3), progress=False, callbacks=[rec])
    out = rec.result
    assert out["steps"].tolist() == [0, 1, 16] and out["y"].shape == (3, 3) and out["w"].shape == (3, 1, 4)
    assert torch.equal(out["y"][0], initial)  # step 0 is the model as initialised
    assert torch.allclose(out["y"][-1], model.linear(probe).squeeze(1).detach())
    assert not out["y"].requires_grad


def test_recorder_by_epochs_and_its_errors():
    rec = rl.Recorder("bias", lambda m: {"b": m.linear.bias}, epochs=(1, 3))
    rl.fit(TinyRegression(), _regression_batches(), TrainConfig(epochs=2), progress=False, callbacks=[rec])
    with pytest.raises(ValueError, match=r"nothing at epochs \[3\]"):
        rec.result
    for kwargs, match in ((dict(), "exactly one"), (dict(steps=(1,), epochs=(1,)), "exactly one"),
                          (dict(steps=(-1,)), "steps"), (dict(epochs=(1.5,)), "epochs")):
        with pytest.raises(ValueError, match=match):
            rl.Recorder("x", lambda m: {}, **kwargs)
    with pytest.raises(ValueError, match="name"):
        rl.Recorder("no spaces", lambda m: {}, steps=(1,))
    bad = rl.Recorder("bad", lambda m: m.linear.bias, steps=(1,))
    with pytest.raises(ValueError, match="dict of tensors"):
        rl.fit(TinyRegression(), _regression_batches(), TrainConfig(epochs=1), progress=False, callbacks=[bad])


def test_recordings_are_cached_with_the_checkpoint_and_keyed_by_their_inputs():
    cfg, train = AutoencoderConfig(hidden=(16,), latent_dim=2), TrainConfig(epochs=2, batch_size=64, train_subset=256)
    probe = rl.mnist_tensors("test", subset=3)[0]

    def recon(probe_images):
        return rl.Recorder("recon", lambda m, x: {"images": m.reconstruct(x)}, steps=(0, 3, 8),
                           inputs={"x": probe_images})

    first = rl.train_or_load(cfg, train, progress=False, recorders=[recon(probe)])
    images = first.recordings["recon"]["images"]
    assert not first.loaded and images.shape == (3, 3, 784)
    torch.testing.assert_close(images[-1], first.model.reconstruct(probe))
    assert (images[0] - images[-1]).abs().mean() > 1e-3  # training changed the reconstructions
    again = rl.train_or_load(cfg, train, progress=False, recorders=[recon(probe)])
    assert again.loaded and torch.equal(again.recordings["recon"]["images"], images)
    # another probe is another recording: the model is trained again (same seeds) to record it
    other = rl.train_or_load(cfg, train, progress=False, recorders=[recon(probe.flip(0))])
    assert not other.loaded
    torch.testing.assert_close(other.recordings["recon"]["images"], images.flip(1), atol=1e-4, rtol=0)
    assert len(list(first.path.parent.glob(first.path.stem + ".recon-*.pt"))) == 2
    # a corrupt recording is an error, never silently replaced
    side = rl.training.recording_path(first.path, recon(probe))
    side.write_bytes(b"garbage")
    with pytest.raises(rl.CheckpointError, match="corrupt"):
        rl.train_or_load(cfg, train, progress=False, recorders=[recon(probe)])
    with pytest.raises(ValueError, match="unique"):
        rl.train_or_load(cfg, train, progress=False, recorders=[recon(probe), recon(probe)])


def test_fit_autoencoder_on_mnist_subset_lowers_reconstruction():
    x, y = rl.mnist_tensors("train", subset=2048)
    model = rl.build_model(AutoencoderConfig(hidden=(64,), latent_dim=8))
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=128), TrainConfig(epochs=3), progress=False)
    assert history.epochs["reconstruction"][-1] < 0.8 * history.steps["reconstruction"][0]


def test_nan_guard_stops_with_a_message():
    model = TinyRegression()
    model.blow_up_at = 5
    with pytest.raises(rl.TrainingDiverged, match=r"'mse' became nan at epoch 1, step 5"):
        rl.fit(model, _regression_batches(), TrainConfig(epochs=2), progress=False)


def test_fit_requires_an_optimizer_per_phase():
    model = TinyRegression()
    with pytest.raises(ValueError, match="optimizers"):
        rl.fit(model, _regression_batches(), TrainConfig(epochs=1), optimizers={}, progress=False)


def test_checkpoint_round_trip_and_cache_hit(tmp_path):
    cfg, train = AutoencoderConfig(hidden=(32,), latent_dim=4), TrainConfig(epochs=1, train_subset=512)
    first = rl.train_or_load(cfg, train, device="cpu", progress=False)
    assert not first.loaded and first.path.exists()
    second = rl.train_or_load(cfg, train, device="cpu", progress=False)
    assert second.loaded
    for (k, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a.cpu(), b.cpu()), k
    assert second.history.epochs == first.history.epochs
    # A different configuration is a different cache entry.
    assert checkpoint_path(cfg, train) != checkpoint_path(cfg, train.replace(seed=1))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    rl.save_checkpoint(path, {"state_dict": {"w": torch.ones(2)}})
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        rl.save_checkpoint(path, {"state_dict": {"w": torch.zeros(2)}})
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_text_results_are_written_atomically_too(tmp_path):
    from replearn_core.paths import write_atomic, write_text_atomic

    path = write_text_atomic(tmp_path / "r.json", "old\n")

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, broken)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_corrupt_checkpoint_raises_and_is_not_replaced():
    cfg, train = AutoencoderConfig(hidden=(16,), latent_dim=2), TrainConfig(epochs=1, train_subset=256)
    path = rl.train_or_load(cfg, train, device="cpu", progress=False).path
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(rl.CheckpointError, match="corrupt"):
        rl.train_or_load(cfg, train, device="cpu", progress=False)
    assert os.path.getsize(path) > 0  # still there, for the user to inspect or delete


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(rl.CheckpointError, match="corrupt or unreadable"):
        rl.load_checkpoint(path)


def test_checkpoint_for_another_config_is_refused():
    cfg, train = AutoencoderConfig(hidden=(16,), latent_dim=2), TrainConfig(epochs=1, train_subset=256)
    path = rl.train_or_load(cfg, train, device="cpu", progress=False).path
    payload = rl.load_checkpoint(path)
    payload["train_config"]["epochs"] = 99
    rl.save_checkpoint(path, payload)
    with pytest.raises(rl.CheckpointError, match="another configuration"):
        rl.train_or_load(cfg, train, device="cpu", progress=False)


def test_pick_device_respects_environment(monkeypatch):
    assert rl.pick_device("cpu").type == "cpu"
    monkeypatch.setenv("REPLEARN_DEVICE", "cpu")
    assert rl.pick_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            rl.pick_device("cuda")


def test_results_round_trip():
    rl.save_results("chapter_x", {"accuracy": 0.912345678, "n": 3})
    rl.save_results("chapter_x", {"other": 1.0})
    assert rl.load_results("chapter_x") == {"accuracy": 0.9123, "n": 3, "other": 1.0}
    with pytest.raises(FileNotFoundError, match="chapter_y"):
        rl.load_results("chapter_y")


def test_check_prints_stable_line_or_raises(capsys):
    rl.check("accuracy", 0.9912, ">=", 0.99)
    assert capsys.readouterr().out == "accuracy >= 0.99: OK\n"
    with pytest.raises(rl.CheckFailed, match="FAILED"):
        rl.check("accuracy", 0.95, ">=", 0.99)


def test_check_records_every_check_when_asked(tmp_path, monkeypatch, capsys):
    import json

    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("REPLEARN_CHECK_LOG", str(log))
    monkeypatch.setenv("REPLEARN_CHECK_CONTEXT", json.dumps({"chapter": "02_x", "seed": 1}))
    rl.check("accuracy", 0.9912, ">=", 0.99)
    with pytest.raises(rl.CheckFailed):
        rl.check("loss", 3.0, "<", 2, unit=" nats")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {r.pop("process") for r in records} == {os.getpid()}  # splits a log by kernel
    assert records == [
        {"name": "accuracy", "value": 0.9912, "op": ">=", "bound": 0.99, "unit": "", "ok": True,
         "context": {"chapter": "02_x", "seed": 1}},
        {"name": "loss", "value": 3.0, "op": "<", "bound": 2.0, "unit": " nats", "ok": False,
         "context": {"chapter": "02_x", "seed": 1}}]
    with pytest.raises(rl.CheckFailed):
        rl.check("nan value", float("nan"), "<", 1)


def test_seed_offset_shifts_training_seeds_and_cache_keys(monkeypatch):
    cfg, train = AutoencoderConfig(hidden=(8,), latent_dim=2), TrainConfig(epochs=1, train_subset=128)
    base = rl.train_or_load(cfg, train, progress=False)
    monkeypatch.setenv("REPLEARN_SEED_OFFSET", "3")
    shifted = rl.train_or_load(cfg, train, progress=False)
    assert shifted.train.seed == 3 and shifted.path != base.path and not shifted.loaded
    monkeypatch.setenv("REPLEARN_SEED_OFFSET", "x")
    with pytest.raises(ValueError, match="REPLEARN_SEED_OFFSET"):
        rl.train_or_load(cfg, train, progress=False)


def test_importing_the_models_loads_neither_the_book_nor_the_training_loop():
    import subprocess
    import sys

    code = ("import sys, replearn_core.models; "
            "bad = [m for m in sys.modules if m.startswith(('replearn_core.book', 'replearn_core.training'))]; "
            "print(bad); raise SystemExit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

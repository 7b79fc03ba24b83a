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


def test_fit_calls_step_and_epoch_callbacks():
    steps, epochs = [], []
    rl.fit(TinyRegression(), _regression_batches(), TrainConfig(epochs=2), progress=False,
           on_step=lambda s, m: steps.append(s), on_epoch=lambda e, m, h: epochs.append(e))
    assert steps == list(range(1, 17)) and epochs == [1, 2]


def test_fit_autoencoder_on_mnist_subset_lowers_reconstruction():
    x, y = rl.mnist_tensors("train", subset=2048)
    model = rl.build_model(AutoencoderConfig(hidden=(64,), latent_dim=8))
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=128), TrainConfig(epochs=3), progress=False)
    assert history.epochs["recon"][-1] < 0.8 * history.steps["recon"][0]


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
    from replearn_core.paths import write_atomic
    from replearn_core.results import write_text_atomic

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

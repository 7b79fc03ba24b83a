"""Model parallelism: a split network computes the same function and gradients as the whole one."""
import copy

import pytest
import torch
from torch import nn

from replearn_core import parallel


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
                         nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 20))


def _grads(module):
    return [p.grad.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("micro_batches", [1, 3])
def test_split_gives_same_outputs_and_gradients(micro_batches):
    whole = _net()
    split = parallel.split_sequential(copy.deepcopy(whole), ["cpu", "cpu"], micro_batches=micro_batches)
    x = torch.randn(10, 20)
    target = torch.randn(10, 20)
    out_whole, out_split = whole(x), split(x)
    assert out_split.shape == out_whole.shape
    torch.testing.assert_close(out_split, out_whole, rtol=0, atol=1e-6)
    ((out_whole - target) ** 2).mean().backward()
    ((out_split - target) ** 2).mean().backward()
    for g_whole, g_split in zip(_grads(whole), _grads(split)):
        torch.testing.assert_close(g_split, g_whole, rtol=0, atol=1e-6)


def test_split_moves_layers_and_follows_balance():
    net = _net()
    split = parallel.split_sequential(net, ["cpu", "cpu", "cpu"], balance=[2, 3, 2])
    assert [len(s) for s in split.stages] == [2, 3, 2]
    assert split.stages[0][0] is net[0]  # moved, not copied: parameters are shared
    assert sum(r["parameters"] for r in split.placement()) == sum(p.numel() for p in net.parameters())
    assert split.output_device == torch.device("cpu")


def test_default_balance_equalises_parameters_and_keeps_activations_with_their_layer():
    layers = list(_net())
    counts = parallel.balance_by_parameters(layers, 2)
    assert sum(counts) == len(layers) and all(c >= 1 for c in counts)
    # the first stage ends after an activation, never between a Linear and its activation
    assert not isinstance(layers[counts[0]], (nn.ReLU, nn.Tanh))
    assert parallel.balance_by_parameters(layers, len(layers)) == [1] * len(layers)


def test_split_trains_like_the_whole_network():
    whole = _net()
    split = parallel.split_sequential(copy.deepcopy(whole), ["cpu", "cpu"])
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (whole, split)]
    x, target = torch.randn(32, 20), torch.randn(32, 20)
    for _ in range(5):
        for model, opt in zip((whole, split), opts):
            opt.zero_grad()
            ((model(x) - target) ** 2).mean().backward()
            opt.step()
    for a, b in zip(whole.parameters(), split.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_pipeline_schedule_fills_and_drains():
    order = parallel.pipeline_schedule(2, 3)
    assert order == [(0, 0, 0), (1, 1, 0), (1, 0, 1), (2, 1, 1), (2, 0, 2), (3, 1, 2)]
    # every chunk passes every stage once, each stage after the one before it
    for s, m in [(3, 4), (4, 2), (1, 5)]:
        order = parallel.pipeline_schedule(s, m)
        assert sorted((c, st) for _, st, c in order) == [(c, st) for c in range(m) for st in range(s)]
        assert max(t for t, _, _ in order) == m + s - 2


def test_invalid_splits_raise_naming_the_field():
    with pytest.raises(ValueError, match="balance"):
        parallel.split_sequential(_net(), ["cpu", "cpu"], balance=[3, 3])
    with pytest.raises(ValueError, match="devices"):
        parallel.split_sequential(_net(), ["cpu"] * 8)
    with pytest.raises(ValueError, match="micro_batches"):
        parallel.split_sequential(_net(), ["cpu"], micro_batches=0)
    with pytest.raises(ValueError, match="model"):
        parallel.split_sequential(nn.Linear(2, 2), ["cpu"])


def test_single_process_defaults():
    info = parallel.init_distributed()
    assert (info.rank, info.world_size, info.is_main) == (0, 1, True)
    assert not parallel.is_distributed()
    parallel.barrier()  # no-op without a process group


# ---------------------------------------------------------------------------------------------
# fit's speed options: mixed precision and compilation (off by default)

import replearn_core as rl  # noqa: E402
from replearn_core.models import AutoencoderConfig  # noqa: E402


def _ae_fit(**options):
    x, y = rl.mnist_tensors("train", subset=512)
    rl.seed_everything(0)
    model = rl.build_model(AutoencoderConfig(hidden=(32,), latent_dim=4))
    history = rl.fit(model, rl.DeviceBatches(x, y, batch_size=128), rl.TrainConfig(epochs=2), progress=False,
                     **options)
    return model, history


def test_bfloat16_autocast_trains_close_to_float32():
    model32, h32 = _ae_fit()
    model16, h16 = _ae_fit(amp="bfloat16")
    assert h16.epochs["reconstruction"][-1] < h16.steps["reconstruction"][0]
    assert h16.epochs["reconstruction"][-1] == pytest.approx(h32.epochs["reconstruction"][-1], rel=0.02)
    assert all(p.dtype == torch.float32 for p in model16.parameters())  # parameters stay float32
    assert not all(torch.equal(a, b) for a, b in zip(model16.parameters(), model32.parameters()))


def test_compiled_forward_gives_the_same_training():
    # the "eager" backend runs TorchDynamo's graph capture without generating code (fast in CI)
    model_c, h_c = _ae_fit(compile={"backend": "eager"})
    model_e, h_e = _ae_fit()
    assert h_c.epochs["reconstruction"] == pytest.approx(h_e.epochs["reconstruction"], rel=1e-5)
    for a, b in zip(model_c.parameters(), model_e.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_invalid_speed_options_raise_naming_the_option():
    with pytest.raises(ValueError, match="amp"):
        _ae_fit(amp="int8")
    with pytest.raises(ValueError, match="compile"):
        _ae_fit(compile="fastest")


def test_compiled_two_phase_model_back_propagates_each_graph_once():
    # the DCGAN reuses the discriminator phase's G(z) in the generator phase: compiled as one graph
    # per forward it would be back-propagated twice; "aot_eager" builds the real autograd graphs
    from replearn_core.models.dcgan import DCGANConfig

    x, y = rl.mnist_tensors("train", flatten=False, subset=32)
    params = []
    for compile in (False, {"backend": "aot_eager"}):
        rl.seed_everything(0)
        gan = rl.build_model(DCGANConfig())
        rl.fit(gan, rl.DeviceBatches(x, y, batch_size=16, shuffle=False), rl.TrainConfig(epochs=1, lr=2e-4),
               progress=False, compile=compile)
        assert "forward" not in vars(gan.generator)  # the compiled forward is removed after fit
        params.append(torch.cat([p.detach().flatten() for p in gan.parameters()]))
    torch.testing.assert_close(params[1], params[0], rtol=1e-4, atol=1e-5)


def test_compiled_vae_trains_through_a_partial_last_batch():
    # 300 images in batches of 128 end with a batch of 44: TorchDynamo recompiles with a symbolic
    # batch size, and the VAE's noise has to be drawn for a shape it only knows symbolically
    from replearn_core.models.vae import VAEConfig

    x, y = rl.mnist_tensors("train", subset=300)
    histories = []
    for compile in (False, {"backend": "eager"}):
        rl.seed_everything(0)
        vae = rl.build_model(VAEConfig(hidden=(32,), latent_dim=2))
        histories.append(rl.fit(vae, rl.DeviceBatches(x, y, batch_size=128), rl.TrainConfig(epochs=2),
                                progress=False, compile=compile))
    assert histories[1].epochs["neg_elbo"] == pytest.approx(histories[0].epochs["neg_elbo"], rel=1e-5)

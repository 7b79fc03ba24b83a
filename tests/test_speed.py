"""The CPU speed changes of issue 20: each is exact (or 1-ulp) where it claims to be, and the floor adds up."""
import copy

import pytest
import torch

import replearn_core as rl
from replearn_tools import bench
from replearn_core.config import TrainConfig
from replearn_core.models.base import adam, build_model
from replearn_core.models.dcgan import DCGANConfig, ConvBlock
from replearn_core.models.vae import VAEConfig, reparameterize

TINY_GAN = DCGANConfig(d1=8, generator_blocks=(ConvBlock(4), ConvBlock(1, batch_norm=False)),
                       discriminator_blocks=(ConvBlock(4, batch_norm=False), ConvBlock(8)), z_dim=8,
                       generator_ema=0.9)


def test_adam_is_fused_on_the_cpu_and_matches_the_for_loop_to_rounding():
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(50, 7, generator=g), torch.randn(13, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) for p in start] for _ in range(10)]
    results = {}
    for name, make in (("fused", lambda ps: adam(ps, lr=1e-2)),
                       ("loop", lambda ps: torch.optim.Adam(ps, lr=1e-2, foreach=False))):
        params = [p.clone().requires_grad_() for p in start]
        opt = make(params)
        for step in grads:
            for p, gr in zip(params, step):
                p.grad = gr.clone()
            opt.step()
        results[name] = (opt, torch.cat([p.detach().flatten() for p in params]))
    assert results["fused"][0].defaults["fused"] is True
    fused, loop = results["fused"][1], results["loop"][1]
    assert not torch.equal(start[0].flatten(), fused[:350])  # it trained
    torch.testing.assert_close(fused, loop, rtol=1e-6, atol=1e-6)


def test_device_batches_select_exactly_the_rows_advanced_indexing_would():
    x = torch.randn(100, 3, 5)
    y = torch.arange(100)
    batches = rl.DeviceBatches(x, y, batch_size=32, seed=3)
    order = batches.order(0)
    for i, (bx, by) in enumerate(batches):
        idx = order[i * 32:(i + 1) * 32]
        assert torch.equal(bx, x[idx]) and torch.equal(by, y[idx])


def test_reparameterize_draws_what_randn_draws():
    mu, logvar = torch.zeros(6, 4), torch.zeros(6, 4)
    torch.manual_seed(7)
    expected = torch.randn(6, 4)
    torch.manual_seed(7)
    assert torch.equal(reparameterize(mu, logvar), expected)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(reparameterize(mu, logvar, g1), torch.randn(6, 4, generator=g2))


def _manual_gan_training(model, batches, train, steps):
    """fit's loop as it was: every phase back-propagates into every parameter."""
    opts = model.configure_optimizers(train)
    torch.manual_seed(train.seed + 1)
    model.train()
    for i, batch in enumerate(batches):
        if i == steps:
            break
        for phase in model.phases:
            opts[phase].zero_grad(set_to_none=True)
            model(*batch, phase=phase).loss.backward()
            opts[phase].step()
            model.after_optimizer_step(phase)
    return model


def test_phase_restricted_backward_and_foreach_weight_average_change_no_bit():
    torch.manual_seed(0)
    model = build_model(TINY_GAN)
    twin = copy.deepcopy(model)
    x = torch.rand(96, 1, 28, 28)
    train = TrainConfig(epochs=1, batch_size=32, lr=1e-3, seed=0)
    rl.fit(model, rl.DeviceBatches(x, torch.zeros(96), batch_size=32, seed=0), train, progress=False)
    _manual_gan_training(twin, rl.DeviceBatches(x, torch.zeros(96), batch_size=32, seed=0), train, 3)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), name


def test_matrix_floor_counts_every_product_of_a_linear_layer():
    # y = x W^T + b on a batch of 16: forward addmm, weight-gradient mm; no input gradient (x is data)
    layer = torch.nn.Linear(32, 8)
    x = torch.randn(16, 32)

    def step():
        layer.zero_grad(set_to_none=True)
        layer(x).square().sum().backward()

    floor = bench.matrix_floor(step, steps_per_epoch=10, dtypes=("float32",), warmup=1)
    ops = sorted(r["op"].split()[0] for r in floor["ops"] for _ in range(r["count"]))
    assert ops == ["addmm", "mm"]
    assert floor["epoch_gflop"] == pytest.approx(10 * 2 * (2 * 16 * 32 * 8) / 1e9)
    seconds = sum(r["count"] * r["float32_us"] for r in floor["ops"]) * 10 / 1e6
    assert floor["floor_s"]["float32"] == pytest.approx(seconds)


def test_gan_floor_skips_the_discriminator_weight_gradients_of_the_generator_phase():
    torch.manual_seed(0)
    model = build_model(TINY_GAN).train()
    batch = (torch.rand(4, 1, 28, 28), torch.zeros(4))
    opts = model.configure_optimizers(TrainConfig(batch_size=4))
    calls = bench.record_matrix_ops(bench.training_step(model, batch, opts))
    d_first = [bench.describe_matrix_op(k) for k in calls
               if bench.describe_matrix_op(k).startswith("convolution_backward") and "4x1x28x28" in bench.describe_matrix_op(k)
               and "transposed" not in bench.describe_matrix_op(k)]
    # the discriminator's first convolution: weight gradients on real and fake in its own phase,
    # only the input gradient (towards G) in the generator phase
    assert sorted(d.split()[0] for d in d_first) == ["convolution_backward[dw,db]", "convolution_backward[dx]"]


def test_foreach_weight_average_is_the_loop_of_lerp():
    torch.manual_seed(0)
    model = build_model(TINY_GAN)
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(torch.randn_like(p))
    expected = [a.clone().lerp_(p, 1 - 0.9) for a, p in zip(model.generator_ema.parameters(),
                                                            model.generator.parameters())]
    model.after_optimizer_step("generator")
    for a, e in zip(model.generator_ema.parameters(), expected):
        assert torch.equal(a, e)

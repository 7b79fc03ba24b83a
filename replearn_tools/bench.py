"""Speed benchmark: pytorch/examples-style training loops against replearn's ``fit``.

``replearn bench`` trains, one after the other in the same process and on the
same device,

* **VAE**: the MNIST VAE of pytorch/examples (784-400-20, ReLU, batch 128, Adam 1e-3), once
  written like ``pytorch/examples/vae/main.py`` (torchvision ``MNIST`` + ``DataLoader`` +
  ``ToTensor``, one ``.item()`` per batch) and then with ``rl.fit`` on the book's
  ``VAEConfig(hidden=(400,), latent_dim=20)`` (the data set is one tensor on the device,
  batches are index-selects, loss terms are read back once per epoch);
* **DCGAN**: the 64x64 DCGAN of ``pytorch/examples/dcgan/main.py`` (``--dataset mnist``:
  ``Resize(64)``, batch 64, Adam 2e-4, betas (0.5, 0.999)), naive against ``rl.fit`` on
  ``DCGANConfig.pytorch_examples(64)``, the same architecture.

``rl.fit`` is measured twice: plain (float32, no options: the training loop alone) and with
the device's speed options (:func:`default_fit_options`: bfloat16 autocast and ``torch.compile``
with CUDA graphs on a GPU, bfloat16 autocast on a CPU with native bfloat16 arithmetic), so the
gain of the loop and the gain of lower precision and compilation are reported separately. A
speed option that fails on a machine is recorded and the next one is tried.

For each it reports the median epoch time after a warm-up epoch, the ratio naive / replearn and
a quality number of each (VAE: test negative ELBO in nats per image, which must agree within
noise: speed must not be bought with worse training; DCGAN: the mean discriminator and
generator losses of the timed iterations, and in full-epoch runs the Frechet distance of 5,000
samples to the test digits in the book classifier's feature space). On a CPU a DCGAN epoch
takes many minutes, so there the DCGAN is timed over a limited number of iterations
(``--dcgan-iterations``, default 20 after 3 warm-up iterations) and its epoch time is
extrapolated (iterations per epoch times seconds per iteration); the output says so.

It prints a table and, last, a line with the speed-ups, and writes
``book/results/bench_<device>.json`` (``cpu`` or ``cuda``; ``--out`` to change) with the device
name, torch version, commit, command and date.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from replearn_core.data import MNIST_FILES, _read_checked
from replearn_core.devices import device_label, pick_device, seed_everything, synchronize
from replearn_core.paths import data_dir, results_dir
from replearn_core.training import Callback

# ---------------------------------------------------------------------------------------------
# Data for torchvision: the vendored MNIST, decompressed and checked


@contextlib.contextmanager
def torchvision_mnist_root():
    """A temporary folder holding ``MNIST/raw/*-ubyte``, the uncompressed vendored MNIST files.

    ``torchvision.datasets.MNIST(root, download=False)`` reads these IDX files. Each file is
    decompressed from ``data/MNIST/raw/*.gz`` and its MD5 is checked against the official
    checksum first (a corrupt file raises :class:`replearn_core.data.DataFileError`).
    """
    with tempfile.TemporaryDirectory(prefix="replearn-mnist-") as tmp:
        raw = Path(tmp) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for split in MNIST_FILES.values():
            for name, md5 in split.values():
                content = _read_checked(data_dir() / "MNIST" / "raw" / name, md5, "md5", decompress=True)
                (raw / name[:-3]).write_bytes(content)
        yield tmp


# ---------------------------------------------------------------------------------------------
# The naive baselines, written like pytorch/examples


class ExamplesVAE(nn.Module):
    """pytorch/examples' ``vae/main.py`` model, verbatim."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def examples_vae_loss(recon_x, x, mu, logvar):
    """Reconstruction + KL divergence losses summed over all elements and batch (pytorch/examples)."""
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def naive_vae(root: str, device: torch.device, epochs: int, seed: int = 1, log=None, subset: int | None = None,
              time_data: bool = True, test_subset: int | None = None) -> dict:
    """pytorch/examples' VAE training (``main.py`` with ``--epochs epochs``), timed per epoch.

    The per-batch ``loss.item()`` and the log line every 10 batches are kept (written to
    ``log``, by default discarded); the per-epoch sample and reconstruction PNGs are left out.
    ``subset`` / ``test_subset``: train / test on the first images only (quick runs). ``time_data``: also time
    one pass over the ``DataLoader`` alone (with the copy to the device), without training.
    """
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    log = log if log is not None else io.StringIO()
    batch_size, log_interval = 128, 10
    torch.manual_seed(seed)
    start = time.perf_counter()
    kwargs = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    train_set = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    if subset is not None:
        train_set = torch.utils.data.Subset(train_set, range(subset))
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, **kwargs)
    test_set = datasets.MNIST(root, train=False, transform=transforms.ToTensor())
    if test_subset is not None:
        test_set = torch.utils.data.Subset(test_set, range(test_subset))
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False, **kwargs)
    model = ExamplesVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    setup = time.perf_counter() - start

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = examples_vae_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % log_interval == 0:
                print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader), loss.item() / len(data)), file=log)
        print("====> Epoch: {} Average loss: {:.4f}".format(epoch, train_loss / len(train_loader.dataset)), file=log)
        return train_loss / len(train_loader.dataset)

    def test():
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for data, _ in test_loader:
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += examples_vae_loss(recon_batch, data, mu, logvar).item()
        return test_loss / len(test_loader.dataset)

    seconds, cpu_seconds, train_losses = [], [], []
    for epoch in range(1, epochs + 1):
        synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        train_losses.append(train(epoch))
        synchronize(device)
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)
    data_seconds = None
    if time_data:  # the input pipeline alone: decode, ToTensor, collate, copy to the device
        synchronize(device)
        t0 = time.perf_counter()
        for data, _ in train_loader:
            data = data.to(device)
        synchronize(device)
        data_seconds = time.perf_counter() - t0
    torch.manual_seed(seed)
    return {"epoch_seconds": seconds, "setup_seconds": setup, "train_loss": train_losses[-1], "test_loss": test(),
            "iterations_per_epoch": len(train_loader), "data_seconds": data_seconds, "cpu_seconds": cpu_seconds}


class ExamplesGenerator(nn.Module):
    """pytorch/examples' ``dcgan/main.py`` generator (nz=100, ngf=64, nc=1 for MNIST)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, input):
        return self.main(input)


class ExamplesDiscriminator(nn.Module):
    """pytorch/examples' ``dcgan/main.py`` discriminator (ndf=64, nc=1 for MNIST)."""

    def __init__(self, ndf: int = 64, nc: int = 1):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


def _examples_weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


def naive_dcgan(root: str, device: torch.device, epochs: int = 1, iterations: int | None = None,
                warmup_iterations: int = 3, seed: int = 1, outf: str | None = None, log=None,
                subset: int | None = None) -> dict:
    """pytorch/examples' DCGAN training loop on MNIST (``--dataset mnist``), timed.

    Full epochs (``iterations=None``: the first is the warm-up) or, on slow devices,
    ``warmup_iterations`` untimed then ``iterations`` timed iterations of the first epoch.
    Kept from the original: ``Resize(64)`` + ``ToTensor`` + ``Normalize`` in a ``DataLoader``
    with 2 workers, five ``.item()`` per iteration and the log line, the image grids every 100
    iterations and the checkpoints after each epoch (into a temporary ``outf``). ``subset``: the
    first ``subset`` training images only (quick checks).
    """
    import torchvision.utils as vutils
    from torch.utils.data import DataLoader
    from torchvision import datasets as dset, transforms

    log = log if log is not None else io.StringIO()
    nz, batch_size, lr, beta1, workers = 100, 64, 0.0002, 0.5, 2
    torch.manual_seed(seed)
    start = time.perf_counter()
    dataset = dset.MNIST(root=root, download=False, transform=transforms.Compose([
        transforms.Resize(64), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
    if subset is not None:
        dataset = torch.utils.data.Subset(dataset, range(subset))
    dataloader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    netG = ExamplesGenerator(nz).to(device)
    netG.apply(_examples_weights_init)
    netD = ExamplesDiscriminator().to(device)
    netD.apply(_examples_weights_init)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(batch_size, nz, 1, 1, device=device)
    real_label, fake_label = 1, 0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
    setup = time.perf_counter() - start
    tmp = tempfile.TemporaryDirectory(prefix="replearn-dcgan-") if outf is None else None
    outf = tmp.name if tmp is not None else outf
    seconds: list[float] = []
    losses_d: list[float] = []
    losses_g: list[float] = []
    n_epochs = 1 if iterations is not None else epochs
    try:
        for epoch in range(n_epochs):
            synchronize(device)
            t0 = time.perf_counter()
            for i, data in enumerate(dataloader, 0):
                if iterations is not None and i == warmup_iterations:
                    synchronize(device)
                    t0 = time.perf_counter()
                    losses_d.clear()
                    losses_g.clear()
                if iterations is not None and i == warmup_iterations + iterations:
                    break
                # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
                netD.zero_grad()
                real_cpu = data[0].to(device)
                batch_size = real_cpu.size(0)
                label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
                output = netD(real_cpu)
                errD_real = criterion(output, label)
                errD_real.backward()
                D_x = output.mean().item()
                noise = torch.randn(batch_size, nz, 1, 1, device=device)
                fake = netG(noise)
                label.fill_(fake_label)
                output = netD(fake.detach())
                errD_fake = criterion(output, label)
                errD_fake.backward()
                D_G_z1 = output.mean().item()
                errD = errD_real + errD_fake
                optimizerD.step()
                # (2) Update G network: maximize log(D(G(z)))
                netG.zero_grad()
                label.fill_(real_label)
                output = netD(fake)
                errG = criterion(output, label)
                errG.backward()
                D_G_z2 = output.mean().item()
                optimizerG.step()
                print("[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
                      % (epoch, n_epochs, i, len(dataloader), errD.item(), errG.item(), D_x, D_G_z1, D_G_z2),
                      file=log)
                losses_d.append(errD.item())
                losses_g.append(errG.item())
                if i % 100 == 0:
                    vutils.save_image(real_cpu, "%s/real_samples.png" % outf, normalize=True)
                    fake = netG(fixed_noise)
                    vutils.save_image(fake.detach(), "%s/fake_samples_epoch_%03d.png" % (outf, epoch),
                                      normalize=True)
            synchronize(device)
            seconds.append(time.perf_counter() - t0)
            if iterations is None:
                torch.save(netG.state_dict(), "%s/netG_epoch_%d.pth" % (outf, epoch))
                torch.save(netD.state_dict(), "%s/netD_epoch_%d.pth" % (outf, epoch))
                losses_d_epoch, losses_g_epoch = list(losses_d), list(losses_g)
                losses_d.clear()
                losses_g.clear()
    finally:
        if tmp is not None:
            tmp.cleanup()
    if iterations is None:
        losses_d, losses_g = losses_d_epoch, losses_g_epoch
    return {"epoch_seconds": seconds, "setup_seconds": setup, "iterations_per_epoch": len(dataloader),
            "timed_iterations": iterations, "d_loss": statistics.fmean(losses_d), "g_loss": statistics.fmean(losses_g),
            "generator": netG}


# ---------------------------------------------------------------------------------------------
# replearn's side


class _ProcessTime(Callback):
    """Processor seconds of this process (all its threads) per epoch."""

    def on_train_start(self, model, history) -> None:
        self.marks = [time.process_time()]

    def on_epoch_end(self, epoch, model, history) -> None:
        self.marks.append(time.process_time())

    def per_epoch(self) -> list[float]:
        return [b - a for a, b in zip(self.marks[:-1], self.marks[1:])]


def replearn_vae(device: torch.device, epochs: int, seed: int = 1, subset: int | None = None,
                 test_subset: int | None = None, **fit_options) -> dict:
    """The book's 784-400-20 VAE trained by ``rl.fit`` on device-resident batches (``subset``: the
    first ``subset`` training images only)."""
    from replearn_core.config import TrainConfig
    from replearn_core.data import DeviceBatches, mnist_tensors
    from replearn_core.models import build_model
    from replearn_core.models.vae import VAEConfig, evaluate_elbo
    from replearn_core.training import fit

    start = time.perf_counter()
    x, y = mnist_tensors("train", device, subset=subset)
    x_test, _ = mnist_tensors("test", device, subset=test_subset)
    seed_everything(seed)
    model = build_model(VAEConfig(hidden=(400,), latent_dim=20)).to(device)
    train = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=seed)
    batches = DeviceBatches(x, y, batch_size=train.batch_size, seed=seed)
    setup = time.perf_counter() - start
    clock = _ProcessTime()
    history = fit(model, batches, train, progress=False, callbacks=[clock], **fit_options)
    return {"epoch_seconds": history.epoch_seconds, "setup_seconds": setup,
            "train_loss": history.epochs["neg_elbo"][-1], "test_loss": evaluate_elbo(model, x_test)["neg_elbo"],
            "iterations_per_epoch": len(batches), "cpu_seconds": clock.per_epoch()}


def mnist_64(device: torch.device, n: int | None = None) -> torch.Tensor:
    """The first ``n`` MNIST training images resized to 64x64 (bilinear, like ``Resize(64)``), in [0, 1]."""
    from replearn_core.data import mnist_tensors

    x, _ = mnist_tensors("train", device, flatten=False, subset=n)
    out = torch.empty(len(x), 1, 64, 64, device=device)
    for i in range(0, len(x), 4096):  # in chunks, to bound the temporary memory
        out[i:i + 4096] = F.interpolate(x[i:i + 4096], size=64, mode="bilinear", align_corners=False,
                                        antialias=True).clamp_(0, 1)
    return out


def replearn_dcgan(device: torch.device, epochs: int = 1, iterations: int | None = None,
                   warmup_iterations: int = 3, seed: int = 1, subset: int | None = None, **fit_options) -> dict:
    """``DCGANConfig.pytorch_examples(64)`` trained by ``rl.fit``; timed like :func:`naive_dcgan`.

    With ``iterations``, the data set is cut to ``iterations`` batches, one warm-up "epoch" of
    ``warmup_iterations`` batches is run, then one timed epoch of ``iterations`` batches.
    """
    from replearn_core.config import TrainConfig
    from replearn_core.data import DeviceBatches
    from replearn_core.models import build_model
    from replearn_core.models import DCGANConfig
    from replearn_core.training import fit

    batch = 64
    start = time.perf_counter()
    x = mnist_64(device, subset if iterations is None else iterations * batch)
    y = torch.zeros(len(x), dtype=torch.long, device=device)
    seed_everything(seed)
    model = build_model(DCGANConfig.pytorch_examples(64)).to(device)
    optimizers = model.configure_optimizers(TrainConfig(batch_size=batch, lr=2e-4))
    setup = time.perf_counter() - start
    full_epoch_iterations = math.ceil((60_000 if subset is None else subset) / batch)
    if iterations is None:
        train = TrainConfig(epochs=epochs, batch_size=batch, lr=2e-4, seed=seed)
        history = fit(model, DeviceBatches(x, y, batch_size=batch, seed=seed), train, optimizers=optimizers,
                      progress=False, **fit_options)
        seconds = history.epoch_seconds
        last = slice(-full_epoch_iterations, None)
    else:
        warm = TrainConfig(epochs=1, batch_size=batch, lr=2e-4, seed=seed)
        fit(model, DeviceBatches(x[:warmup_iterations * batch], y[:warmup_iterations * batch], batch_size=batch,
                                 seed=seed), warm, optimizers=optimizers, progress=False, **fit_options)
        history = fit(model, DeviceBatches(x, y, batch_size=batch, seed=seed + 1), warm, optimizers=optimizers,
                      progress=False, **fit_options)
        seconds = history.epoch_seconds
        last = slice(None)
    return {"epoch_seconds": seconds, "setup_seconds": setup, "iterations_per_epoch": full_epoch_iterations,
            "timed_iterations": iterations, "d_loss": statistics.fmean(history.steps["discriminator"][last]),
            "g_loss": statistics.fmean(history.steps["generator"][last]), "generator": model}


# ---------------------------------------------------------------------------------------------
# Measurement


def epoch_time(result: dict) -> float:
    """Median epoch seconds after the warm-up epoch; with limited iterations, seconds per iteration
    times the iterations of a full epoch."""
    if result.get("timed_iterations"):
        return result["epoch_seconds"][-1] / result["timed_iterations"] * result["iterations_per_epoch"]
    timed = result["epoch_seconds"][1:] or result["epoch_seconds"]
    return statistics.median(timed)


def cpu_epoch_time(row: dict, key: str) -> float:
    """Median processor seconds per epoch after the warm-up epoch of loop ``key`` in a result row."""
    values = row[f"{key}_cpu_seconds"]
    return statistics.median(values[1:] or values)


def generator_frechet(generate, device: torch.device, n: int = 5000, seed: int = 0) -> float:
    """Frechet distance, in the book classifier's features, of ``n`` generated 64x64 images
    (downsampled to 28x28) to ``n`` test digits. ``generate(z)`` maps z [n, 100] to images in [-1, 1]."""
    from replearn_core.data import mnist_tensors
    from replearn_core.book.zoo import get_classifier
    from replearn_core.metrics import frechet_distance

    classifier = get_classifier(device)
    z = torch.randn(n, 100, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        fake = torch.cat([generate(z[i:i + 500]) for i in range(0, n, 500)])
    fake = F.interpolate((fake.float() + 1) / 2, size=28, mode="area").clamp_(0, 1)
    real, _ = mnist_tensors("test", device, flatten=False, subset=n)
    with torch.no_grad():
        return frechet_distance(classifier.features(fake), classifier.features(real))


def _naive_generate(net):
    def generate(z):
        net.eval()
        return net(z.view(len(z), -1, 1, 1))
    return generate


def _replearn_generate(model):
    def generate(z):
        return model.generate(z) * 2 - 1
    return generate


# ---------------------------------------------------------------------------------------------
# The matrix-work floor: what an epoch would take if it did nothing but its matrix products

#: the ops whose time is "matrix work": matrix products and convolutions, forward and backward
_MATRIX_OPS = ("mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward")


def _tensor_meta(value):
    """A hashable description of an op argument: tensors become (shape, strides, dtype, device)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), tuple(value.stride()), value.dtype, str(value.device))
    if isinstance(value, list):
        return ("list", tuple(_tensor_meta(v) for v in value))
    if isinstance(value, tuple):
        return tuple(_tensor_meta(v) for v in value)
    return value


def _materialize(meta, dtype: torch.dtype, gen: torch.Generator):
    """Random tensors laid out like the recorded ones; floating ones in ``dtype``."""
    if isinstance(meta, tuple) and meta and meta[0] == "tensor":
        _, shape, stride, dt, device = meta
        dt = dtype if dt.is_floating_point else dt
        t = torch.empty_strided(shape, stride, dtype=dt, device=device)
        if dt.is_floating_point:  # fill the whole storage: a strided view may not cover it
            flat = t.as_strided((t.untyped_storage().nbytes() // t.element_size(),), (1,))
            flat.copy_(torch.randn(flat.shape, generator=gen).to(dt))
        return t
    if isinstance(meta, tuple) and meta and meta[0] == "list":
        return [_materialize(v, dtype, gen) for v in meta[1]]
    if isinstance(meta, tuple):
        return tuple(_materialize(v, dtype, gen) for v in meta)
    return meta


def record_matrix_ops(step) -> dict:
    """The matrix ops one call of ``step()`` runs, forward and backward: ``{op key: count}``.

    A ``TorchDispatchMode`` sees every aten op below autograd, so the backward's products (the
    gradients of inputs and of weights, only those autograd needs) are recorded at their real
    shapes and strides.
    """
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    wanted = {getattr(torch.ops.aten, name).default for name in _MATRIX_OPS}
    calls: Counter = Counter()

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in wanted:
                calls[(func, _tensor_meta(args), tuple(sorted((k, _tensor_meta(v)) for k, v in kwargs.items())))] += 1
            return func(*args, **kwargs)

    with Recorder():
        step()
    return dict(calls)


def time_matrix_op(key, dtype: torch.dtype = torch.float32, min_seconds: float = 0.05,
                   rounds: int = 5) -> tuple[float, int]:
    """(seconds per call, FLOPs) of a recorded op replayed alone on random operands in ``dtype``.

    The fastest of ``rounds`` rounds of at least ``min_seconds`` each: the operands stay in cache,
    so this is the best the machine's kernels do at that shape, a floor for the op in a training step.
    """
    from torch.utils.flop_counter import flop_registry

    func, margs, mkwargs = key
    gen = torch.Generator().manual_seed(0)
    args = _materialize(margs, dtype, gen)
    kwargs = {k: _materialize(v, dtype, gen) for k, v in mkwargs}
    device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
    out = func(*args, **kwargs)
    flops = int(flop_registry[func._overloadpacket](*args, **kwargs, out_val=out))
    synchronize(device)
    t = time.perf_counter()
    func(*args, **kwargs)
    synchronize(device)
    once = time.perf_counter() - t
    reps = max(1, int(min_seconds / max(once, 1e-7)))
    rounds = rounds if once < 0.2 else 1  # a very slow kernel (bfloat16 without hardware support)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            func(*args, **kwargs)
        synchronize(device)
        best = min(best, (time.perf_counter() - t) / reps)
    return best, flops


def describe_matrix_op(key) -> str:
    """e.g. ``addmm 400 x 128x784 x 784x400`` or ``convolution_backward[dx,dw] ...``."""
    func, margs, _ = key
    name = func._overloadpacket.__name__
    shapes = [m[1] for m in margs if isinstance(m, tuple) and m and m[0] == "tensor"]
    if name == "convolution_backward":
        mask = margs[-1][1] if margs[-1][0] == "list" else margs[-1]
        name += "[" + ",".join(w for w, needed in zip(("dx", "dw", "db"), mask) if needed) + "]"
        if margs[7]:
            name += " transposed"
    elif name == "convolution" and margs[6]:
        name += " transposed"
    return f"{name} " + " x ".join("x".join(map(str, s)) for s in shapes)


def training_step(model, batch: tuple[torch.Tensor, ...], optimizers: dict) -> callable:
    """One optimisation step of ``model`` on ``batch`` as ``fit`` runs it (every phase: zero_grad,
    forward, backward into the phase's parameters, optimizer step)."""
    def step():
        for phase in model.phases:
            opt = optimizers[phase]
            opt.zero_grad(set_to_none=True)
            out = model(*batch, phase=phase)
            params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
            out.loss.backward(inputs=params if len(model.phases) > 1 else None)
            opt.step()
    return step


def matrix_floor(step, steps_per_epoch: int, dtypes=("float32", "bfloat16"), warmup: int = 2) -> dict:
    """The matrix-work floor of an epoch of ``steps_per_epoch`` calls of ``step()``, per dtype.

    Every matrix op one step runs (:func:`record_matrix_ops`) is timed alone at its shape
    (:func:`time_matrix_op`) in float32 and in bfloat16; the floor is the sum over the step's ops
    times the steps of an epoch: what the epoch would take if it did nothing else, on this machine
    and thread count. Returns ``epoch_gflop``, ``floor_s`` and ``gflops`` (the effective rate) per
    dtype, and ``ops``: one row per distinct op with its count, MFLOP and time per dtype.
    A dtype whose kernels fail here is reported with its error instead.
    """
    for _ in range(warmup):
        step()
    calls = record_matrix_ops(step)
    rows, totals, errors = [], {d: 0.0 for d in dtypes}, {}
    flops_step = 0
    for key, count in calls.items():
        row = {"op": describe_matrix_op(key), "count": count}
        for d in dtypes:
            try:
                seconds, flops = time_matrix_op(key, getattr(torch, d))
            except Exception as exc:  # noqa: BLE001 - e.g. no kernel for this dtype on this device
                errors[d] = f"{row['op']}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                continue
            row["mflop"] = flops / 1e6
            row[f"{d}_us"] = seconds * 1e6
            row[f"{d}_gflops"] = flops / seconds / 1e9
            totals[d] += count * seconds
        flops_step += row.get("mflop", 0.0) * 1e6 * count
        rows.append(row)
    floor = {d: totals[d] * steps_per_epoch for d in dtypes if d not in errors}
    return {"epoch_gflop": flops_step * steps_per_epoch / 1e9, "steps_per_epoch": steps_per_epoch,
            "floor_s": floor, "gflops": {d: flops_step * steps_per_epoch / 1e9 / s for d, s in floor.items()},
            "errors": errors, "ops": rows}


def vae_floor(device: torch.device, batch_size: int = 128, images: int = 60_000, **kwargs) -> dict:
    """:func:`matrix_floor` of the benchmark's VAE 784-400-20 (batch 128; an epoch of ``images``
    training images, 469 steps for all of MNIST)."""
    from replearn_core.config import TrainConfig
    from replearn_core.models.base import build_model
    from replearn_core.models.vae import VAEConfig

    seed_everything(0)
    model = build_model(VAEConfig(hidden=(400,), latent_dim=20)).to(device).train()
    batch = (torch.rand(batch_size, 784, device=device), torch.zeros(batch_size, dtype=torch.long, device=device))
    opts = model.configure_optimizers(TrainConfig(batch_size=batch_size))
    return matrix_floor(training_step(model, batch, opts), math.ceil(images / batch_size), **kwargs)


def dcgan_floor(device: torch.device, config=None, batch_size: int = 64, **kwargs) -> dict:
    """:func:`matrix_floor` of a DCGAN (default: the benchmark's ``DCGANConfig.pytorch_examples(64)``)."""
    from replearn_core.config import TrainConfig
    from replearn_core.models.base import build_model
    from replearn_core.models.dcgan import DCGANConfig

    config = config if config is not None else DCGANConfig.pytorch_examples(64)
    seed_everything(0)
    model = build_model(config).to(device).train()
    size = config.image_size
    batch = (torch.rand(batch_size, config.image_channels, size, size, device=device),
             torch.zeros(batch_size, dtype=torch.long, device=device))
    opts = model.configure_optimizers(TrainConfig(batch_size=batch_size))
    return matrix_floor(training_step(model, batch, opts), math.ceil(60_000 / batch_size), **kwargs)


def format_floor(floor: dict) -> str:
    """The per-op table of a :func:`matrix_floor` result."""
    dtypes = [d for d in ("float32", "bfloat16") if d in floor["floor_s"]]
    lines = [f"{'count':>5}  {'op':<64} {'MFLOP':>8}" + "".join(f" {d + ' us':>13} {'GFLOP/s':>8}" for d in dtypes)]
    for r in floor["ops"]:
        lines.append(f"{r['count']:>5}  {r['op']:<64} {r.get('mflop', 0):>8.2f}" + "".join(
            f" {r.get(d + '_us', float('nan')):>13.1f} {r.get(d + '_gflops', float('nan')):>8.1f}" for d in dtypes))
    lines.append(f"epoch: {floor['epoch_gflop']:.1f} GFLOP in {floor['steps_per_epoch']} steps; floor " + ", ".join(
        f"{d} {s:.2f} s ({floor['gflops'][d]:.0f} GFLOP/s)" for d, s in floor["floor_s"].items()))
    for d, e in floor["errors"].items():
        lines.append(f"{d}: no floor ({e})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Where a training step's time goes: torch.profiler over a few hundred steps

#: categories of the profile, tried in order on each ATen op's name (the first that matches wins)
PROFILE_CATEGORIES = (
    ("matrix products", ("mm", "conv", "linear")),
    ("optimizer (Adam)", ("adam", "_foreach")),
    ("batch indexing", ("index", "randperm")),
    ("loss", ("binary_cross_entropy", "softplus", "log_sigmoid", "mse_loss", "log_softmax", "nll")),
    ("dtype casts", ("aten::to", "_to_copy", "aten::copy_")),
    ("allocation, zeroing", ("empty", "zeros", "zero_", "fill_", "ones", "full")),
)


def profile_category(name: str) -> str:
    """The :data:`PROFILE_CATEGORIES` entry of one profiled op (``aten::addmm`` ...); other ATen
    ops are element-wise work; record functions other than the optimizer's are autograd's
    bookkeeping."""
    if not name.startswith("aten::"):
        # record functions: Optimizer.step#Adam.step, autograd::engine::..., MulBackward0, ...
        return "optimizer (Adam)" if "Optimizer" in name else "autograd bookkeeping"
    for category, parts in PROFILE_CATEGORIES:
        if any(p in name for p in parts):
            return category
    return "other element-wise ops"


def profile_steps(step, steps: int = 200, warmup: int = 10) -> dict:
    """Time ``steps`` calls of ``step()``, then profile as many with ``torch.profiler``.

    Returns ``step_ms`` (wall time per step without the profiler), ``categories``: milliseconds
    per step of the ops' own time (self CPU time) per category, ``outside_ops_ms``: what the
    profiled step spends outside any op (Python, the autograd engine, the profiler itself), and
    ``top``: the ten ops with the most own time. Host time only: on a GPU it measures launches.
    ``matrix_alone_ms`` is the step's matrix products timed alone (its float32
    :func:`matrix_floor`), to compare with the "matrix products" category: the
    products themselves can run slower inside a step (cold caches, threads woken from sleep,
    other tenants of a virtual machine) than back to back, which no overhead removal recovers.
    """
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    step_ms = (time.perf_counter() - start) / steps * 1e3
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        profiled_ms = (time.perf_counter() - start) / steps * 1e3
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    categories: dict[str, float] = {}
    for e in events:
        key = profile_category(e.key)
        categories[key] = categories.get(key, 0.0) + e.self_cpu_time_total / 1e3 / steps
    inside = sum(categories.values())
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:10]
    floor = matrix_floor(step, 1, dtypes=("float32",), warmup=0)
    alone = {"matrix_alone_ms": floor["floor_s"]["float32"] * 1e3} if "float32" in floor["floor_s"] else {}
    return {**alone, "steps": steps, "step_ms": step_ms, "profiled_step_ms": profiled_ms,
            "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
            "outside_ops_ms": max(0.0, profiled_ms - inside),
            "top": [{"op": e.key, "ms_per_step": e.self_cpu_time_total / 1e3 / steps, "calls_per_step": e.count / steps}
                    for e in top]}


def profiled_models(device: torch.device) -> dict:
    """The steps the profile covers, as ``fit`` runs them: the book's 784-400-20 VAE (batch 128),
    chapter 03's deep autoencoder (batch 64) and chapter 07's DCGAN (batch 32), each drawing its
    batches from MNIST held on the device (``DeviceBatches``), with the book's optimizers."""
    from replearn_core.book import zoo
    from replearn_core.config import TrainConfig
    from replearn_core.data import DeviceBatches, mnist_tensors
    from replearn_core.models.base import build_model
    from replearn_core.models.vae import VAEConfig

    specs = {"VAE 784-400-20": (VAEConfig(hidden=(400,), latent_dim=20), TrainConfig(batch_size=128), 200),
             "deep AE (chapter 03)": (zoo.DEEP_AE_LEAKY_RELU, zoo.DEEP_LEAKY_TRAINING, 200),
             "DCGAN (chapter 07)": (zoo.DCGAN_BOOK, zoo.DCGAN_TRAINING, 40)}
    steps = {}
    for label, (config, train, n) in specs.items():
        seed_everything(0)
        model = build_model(config).to(device).train()
        x, y = mnist_tensors("train", device, flatten=not model.image_input)
        batches = DeviceBatches(x, y, batch_size=train.batch_size, seed=0)
        stream = iter(())
        opts = model.configure_optimizers(train)

        def step(model=model, batches=batches, opts=opts):
            nonlocal stream
            batch = next(stream, None)
            if batch is None:
                stream = iter(batches)
                batch = next(stream)
            training_step(model, batch, opts)()

        steps[label] = (step, n)
    return steps


def format_profile(profiles: dict) -> str:
    """One block per model: its step time and the share of each category."""
    lines = []
    for label, p in profiles.items():
        total = p["profiled_step_ms"]
        lines.append(f"{label}: {p['step_ms']:.2f} ms per step ({p['profiled_step_ms']:.2f} ms under the profiler)")
        rows = [*p["categories"].items(), ("outside ops (Python, autograd engine, profiler)", p["outside_ops_ms"])]
        for category, ms in rows:
            lines.append(f"  {category:<50} {ms:7.3f} ms  {100 * ms / total:5.1f}%")
            if category == "matrix products" and p.get("matrix_alone_ms"):
                alone = p["matrix_alone_ms"]
                lines.append(f"    {'the same products timed alone (the floor)':<48} {alone:7.3f} ms  "
                             f"(inside the step {ms / alone:.2f}x as long)")
    return "\n".join(lines)


def cpu_has_native_bfloat16() -> bool:
    """True when this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX).

    Not ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: oneDNN reports bfloat16 support on any
    AVX-512 CPU, where it emulates it (on an Ice Lake Xeon a bfloat16 VAE step takes twice as
    long as a float32 one).
    """
    cpu = torch.cpu
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # pragma: no cover - a torch without these probes
        return False


def default_fit_options(device: torch.device) -> list[dict]:
    """replearn's speed options for this device, best first; the benchmark measures the first set
    that works, besides plain float32 ``fit``.

    On a GPU: bfloat16 autocast with ``torch.compile`` capturing CUDA graphs
    (``reduce-overhead``), then compiled without CUDA graphs, then autocast alone. On a CPU:
    bfloat16 autocast where the CPU has native bfloat16 arithmetic, else nothing.
    """
    if device.type == "cuda":
        return [{"amp": "bfloat16", "compile": "reduce-overhead"}, {"amp": "bfloat16", "compile": True},
                {"amp": "bfloat16"}]
    return [{"amp": "bfloat16"}] if cpu_has_native_bfloat16() else []


def run_benchmark(device: torch.device, *, vae_epochs: int = 4, dcgan_epochs: int = 2,
                  dcgan_iterations: int | None = None, dcgan_warmup: int = 3,
                  fit_options: list[dict] | None = None,
                  models: tuple[str, ...] = ("vae", "dcgan"), quality: bool | None = None,
                  vae_subset: int | None = None, floor_dtypes: tuple[str, ...] = ("float32", "bfloat16"),
                  progress=print) -> dict:
    """Run, for each model in ``models``, the naive loop, plain ``rl.fit`` (float32, no options)
    and ``rl.fit`` with speed options; return the measurements.

    ``fit_options``: sets of options of :func:`replearn_core.fit` to try in order (default:
    :func:`default_fit_options`; an empty list skips the third measurement); a set that raises is
    recorded and the next one is tried. ``floor_dtypes``: the dtypes of the matrix-work floor
    (:func:`matrix_floor`) measured for each model and reported beside its epoch times (empty: none).
    """
    fit_options = default_fit_options(device) if fit_options is None else [o for o in fit_options if o]
    quality = dcgan_iterations is None if quality is None else quality
    rows = {}
    with torchvision_mnist_root() as root:
        if "vae" in models:
            what = f"{vae_epochs} epochs" + (f" on {vae_subset} images" if vae_subset else "")
            progress(f"VAE: pytorch/examples loop, {what} ...")
            naive = naive_vae(root, device, vae_epochs, subset=vae_subset)
            progress(f"  epochs: {_fmt_list(naive['epoch_seconds'])} s; test loss {naive['test_loss']:.2f}")
            progress(f"VAE: replearn fit, float32, {what} ...")
            plain = replearn_vae(device, vae_epochs, 1, vae_subset)
            progress(f"  epochs: {_fmt_list(plain['epoch_seconds'])} s; test loss {plain['test_loss']:.2f}")
            fast = _with_fallback(replearn_vae, device, vae_epochs, 1, vae_subset, fit_options=fit_options,
                                  progress=progress, label="VAE: replearn fit")
            if fast is not None and "epoch_seconds" in fast:
                progress(f"  epochs: {_fmt_list(fast['epoch_seconds'])} s; test loss {fast['test_loss']:.2f}")
            row = _row(naive, plain, fast, "test -ELBO (nats/image)", "test_loss")
            row["naive_data_s"] = naive["data_seconds"]
            # processor time of this process per epoch (all its threads): less sensitive than the wall
            # clock to other programs running beside the benchmark
            for key, r in (("naive", naive), ("replearn", plain), ("fast", fast)):
                if r is not None and "cpu_seconds" in r:
                    row[f"{key}_cpu_seconds"] = r["cpu_seconds"]
            row["train_subset"] = vae_subset
            if floor_dtypes:
                progress(f"VAE: matrix-work floor ({', '.join(floor_dtypes)}) ...")
                _add_floor(row, vae_floor(device, images=vae_subset or 60_000, dtypes=tuple(floor_dtypes)))
            rows["vae"] = row
        if "dcgan" in models:
            what = (f"{dcgan_warmup} warm-up + {dcgan_iterations} timed iterations" if dcgan_iterations
                    else f"{dcgan_epochs} epochs")
            progress(f"DCGAN 64x64: pytorch/examples loop, {what} ...")
            naive = naive_dcgan(root, device, dcgan_epochs, dcgan_iterations, dcgan_warmup)
            progress(f"  timed: {_fmt_list(naive['epoch_seconds'])} s")
            progress(f"DCGAN 64x64: replearn fit, float32, {what} ...")
            plain = replearn_dcgan(device, dcgan_epochs, dcgan_iterations, dcgan_warmup)
            progress(f"  timed: {_fmt_list(plain['epoch_seconds'])} s")
            fast = _with_fallback(replearn_dcgan, device, dcgan_epochs, dcgan_iterations, dcgan_warmup,
                                  fit_options=fit_options, progress=progress, label="DCGAN 64x64: replearn fit")
            if fast is not None and "epoch_seconds" in fast:
                progress(f"  timed: {_fmt_list(fast['epoch_seconds'])} s")
            for r in (naive, plain, fast):
                if r is not None and "d_loss" in r:
                    r["losses"] = [r["d_loss"], r["g_loss"]]
            row = _row(naive, plain, fast, "D loss / G loss (timed iterations)", "losses")
            row["timed_iterations"] = dcgan_iterations
            row["extrapolated"] = dcgan_iterations is not None
            if quality:
                progress("  Frechet distance of 5,000 samples in classifier features ...")
                row["naive_frechet"] = generator_frechet(_naive_generate(naive["generator"]), device)
                row["replearn_frechet"] = generator_frechet(_replearn_generate(plain["generator"]), device)
                if fast is not None and "generator" in fast:
                    row["fast_frechet"] = generator_frechet(_replearn_generate(fast["generator"]), device)
            if floor_dtypes:
                progress(f"DCGAN 64x64: matrix-work floor ({', '.join(floor_dtypes)}) ...")
                _add_floor(row, dcgan_floor(device, dtypes=tuple(floor_dtypes)))
            rows["dcgan"] = row
    return rows


def _add_floor(row: dict, floor: dict) -> None:
    """Record a :func:`matrix_floor` in a result row: the floors, and each loop's epoch / floor.

    The float32 loops are compared with the float32 floor; the speed-option run with the floor of
    its autocast dtype when it used one.
    """
    row["floor"] = floor
    for dtype, seconds in floor["floor_s"].items():
        row[f"floor_{dtype}_s"] = seconds
    f32 = floor["floor_s"].get("float32")
    if f32:
        row["naive_over_floor"] = row["naive_epoch_s"] / f32
        row["replearn_over_floor"] = row["replearn_epoch_s"] / f32
    if "fast_epoch_s" in row:
        amp = str(row.get("fit_options", {}).get("amp", "None"))
        dtype = {"bfloat16": "bfloat16", "True": "bfloat16"}.get(amp, "float32")
        if floor["floor_s"].get(dtype):
            row["fast_floor_dtype"] = dtype
            row["fast_over_floor"] = row["fast_epoch_s"] / floor["floor_s"][dtype]


def _with_fallback(fn, *args, fit_options: list[dict], progress, label: str) -> dict | None:
    """Run ``fn(*args, **options)`` for the first set of ``fit_options`` that works.

    A speed option can fail on some machines (no C++ compiler for ``torch.compile``, a CUDA
    graph that cannot be captured); the failure is printed and recorded (``fit_options_failed``)
    and the next set is tried. Returns None when there is nothing to try.
    """
    failed = []
    for options in fit_options:
        progress(f"{label}, {', '.join(f'{k}={v}' for k, v in options.items())} ...")
        try:
            out = fn(*args, **options)
        except Exception as exc:  # noqa: BLE001 - recorded, then the next option set is tried
            first_line = str(exc).splitlines()[0][:300] if str(exc) else ""
            message = f"{options}: {type(exc).__name__}: {first_line}"
            progress(f"  failed ({message})")
            failed.append(message)
            continue
        out["fit_options"] = {k: str(v) for k, v in options.items()}
        out["fit_options_failed"] = failed
        return out
    return {"fit_options_failed": failed} if failed else None


def _fmt_list(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _row(naive: dict, plain: dict, fast: dict | None, quality_name: str, quality_key: str) -> dict:
    t_naive, t_plain = epoch_time(naive), epoch_time(plain)
    row = {"naive_epoch_s": t_naive, "replearn_epoch_s": t_plain, "speedup": t_naive / t_plain,
           "naive_epoch_seconds": naive["epoch_seconds"], "replearn_epoch_seconds": plain["epoch_seconds"],
           "naive_setup_s": naive["setup_seconds"], "replearn_setup_s": plain["setup_seconds"],
           "iterations_per_epoch": naive["iterations_per_epoch"], "quality_name": quality_name,
           "naive_quality": naive[quality_key], "replearn_quality": plain[quality_key]}
    if fast is not None and "epoch_seconds" in fast:
        t_fast = epoch_time(fast)
        row.update({"fast_epoch_s": t_fast, "fast_speedup": t_naive / t_fast,
                    "fast_epoch_seconds": fast["epoch_seconds"], "fast_quality": fast[quality_key],
                    "fit_options": fast["fit_options"]})
    if fast is not None:
        row["fit_options_failed"] = fast.get("fit_options_failed", [])
    return row


def _options_text(row: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.get("fit_options", {}).items())


def format_table(rows: dict) -> str:
    """The measurements as a text table: one line per model and loop."""
    lines = [f"{'model':<7} {'loop':<44} {'s/epoch':>9} {'speed-up':>9}   quality"]
    for name, r in rows.items():
        fmt = ((lambda v: " / ".join(f"{x:.3f}" for x in v)) if isinstance(r["naive_quality"], list)
               else (lambda v: f"{v:.2f}"))
        loops = [("pytorch/examples", r["naive_epoch_s"], 1.0, r["naive_quality"], r.get("naive_frechet")),
                 ("replearn fit (float32)", r["replearn_epoch_s"], r["speedup"], r["replearn_quality"],
                  r.get("replearn_frechet"))]
        if "fast_epoch_s" in r:
            loops.append((f"replearn fit ({_options_text(r)})", r["fast_epoch_s"], r["fast_speedup"],
                          r["fast_quality"], r.get("fast_frechet")))
        for loop, seconds, speedup, q, frechet in loops:
            extra = f", Frechet distance {frechet:.2f}" if frechet is not None else ""
            lines.append(f"{name:<7} {loop:<44} {seconds:>9.3f} {speedup:>8.1f}x   "
                         f"{r['quality_name']}: {fmt(q)}{extra}")
        if "naive_cpu_seconds" in r and "replearn_cpu_seconds" in r:
            cpu = {k: cpu_epoch_time(r, k) for k in ("naive", "replearn", "fast") if f"{k}_cpu_seconds" in r}
            lines.append(f"{'':<7} processor seconds per epoch: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                         + f" (naive / replearn {cpu['naive'] / cpu['replearn']:.1f}x)")
        if r.get("extrapolated"):
            lines.append(f"{'':<7} (epoch times extrapolated from {r['timed_iterations']} timed iterations "
                         f"x {r['iterations_per_epoch']} iterations per epoch)")
        for failure in r.get("fit_options_failed", []):
            lines.append(f"{'':<7} option set failed: {failure}")
        if "floor" in r:
            fl = r["floor"]
            lines.append(f"{'':<7} matrix-work floor ({fl['epoch_gflop']:.0f} GFLOP per epoch, each matrix op timed "
                         "alone at its shape on this machine): " + ", ".join(
                             f"{d} {s:.2f} s ({fl['gflops'][d]:.0f} GFLOP/s)" for d, s in fl["floor_s"].items()))
            ratios = [f"{name} {r[key]:.2f}x" for name, key in (("pytorch/examples", "naive_over_floor"),
                                                               ("fit float32", "replearn_over_floor"))
                      if key in r]
            if "fast_over_floor" in r:
                ratios.append(f"fit ({_options_text(r)}) {r['fast_over_floor']:.2f}x its {r['fast_floor_dtype']} floor")
            lines.append(f"{'':<7} epoch / float32 floor: " + ", ".join(ratios))
            for dtype, error in fl.get("errors", {}).items():
                lines.append(f"{'':<7} no {dtype} floor: {error}")
    return "\n".join(lines)


def speedup_line(rows: dict) -> str:
    """The last line of the benchmark: the speed-ups of each model."""
    parts = []
    for name, r in rows.items():
        if "speedup" not in r:  # the profile, the placement
            continue
        text = f"{name} {r['speedup']:.1f}x"
        if "fast_speedup" in r:
            text += f" ({_options_text(r)}: {r['fast_speedup']:.1f}x)"
        parts.append(text)
    return "speed-ups of replearn's epoch over pytorch/examples' (same device, same run): " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replearn bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--models", default="vae,dcgan", help="comma-separated: vae, dcgan")
    parser.add_argument("--vae-epochs", type=int, default=4, help="VAE epochs, the first is the warm-up")
    parser.add_argument("--vae-subset", type=int, help="train the VAEs on the first N images only (quick checks)")
    parser.add_argument("--dcgan-epochs", type=int, default=2, help="DCGAN epochs on a GPU, the first is the warm-up")
    parser.add_argument("--dcgan-iterations", type=int,
                        help="time this many DCGAN iterations instead of full epochs (default: 20 on a CPU)")
    parser.add_argument("--dcgan-warmup", type=int, default=3, help="untimed DCGAN iterations before them")
    parser.add_argument("--amp", choices=["none", "bfloat16", "float16"], help="autocast of the speed-option "
                        "run (default: bfloat16 on a GPU and on CPUs with native bfloat16)")
    parser.add_argument("--compile", help="torch.compile mode of the speed-option run (default, reduce-overhead, "
                        "...) or 'none' (default: reduce-overhead on a GPU, falling back as needed; none on a CPU)")
    parser.add_argument("--floor-dtypes", default="float32,bfloat16",
                        help="dtypes of the matrix-work floor measured per model ('none': skip)")
    parser.add_argument("--profile", choices=["on", "off"], default="on",
                        help="profile the steps of the VAE, the deep AE and the DCGAN on a CPU (default on)")
    parser.add_argument("--out", type=Path, help="JSON output (default: book/results/bench_<device type>.json)")
    args = parser.parse_args(argv)
    from replearn_core.book.results import provenance

    device = pick_device(args.device)
    options = default_fit_options(device)
    if args.amp is not None or args.compile is not None:  # one explicit option set
        chosen = dict(options[0]) if options else {}
        for key, value in (("amp", args.amp), ("compile", args.compile)):
            if value == "none":
                chosen.pop(key, None)
            elif value is not None:
                chosen[key] = value
        options = [chosen] if chosen else []
    iterations = args.dcgan_iterations
    if iterations is None and device.type == "cpu":
        iterations = 20
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = set(models) - {"vae", "dcgan"}
    if unknown:
        parser.error(f"--models: unknown {sorted(unknown)}; choose from vae, dcgan")
    command = "replearn bench " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = provenance(device, command=command.strip())
    label = device_label(device)
    load_before = _load_average()
    print(f"device: {label} | torch {meta['torch']} | commit {meta['commit']} | {meta['date']} | "
          f"load average {load_before}", flush=True)
    rows = run_benchmark(device, vae_epochs=args.vae_epochs, dcgan_epochs=args.dcgan_epochs,
                         dcgan_iterations=iterations, dcgan_warmup=args.dcgan_warmup, fit_options=options,
                         models=models, vae_subset=args.vae_subset, progress=lambda s: print(s, flush=True),
                         floor_dtypes=tuple(d for d in args.floor_dtypes.split(",") if d and d != "none"))
    if args.profile == "on" and device.type == "cpu":
        print("profile: where a step's time goes (torch.profiler) ...", flush=True)
        rows["profile"] = {label: profile_steps(step, n) for label, (step, n) in profiled_models(device).items()}
    out = args.out or results_dir() / f"bench_{device.type}.json"
    payload = {**meta, "device_type": device.type, "device_label": label, "threads": torch.get_num_threads(),
               "cpu_count": os.cpu_count(),
               # 1-minute load average of the machine before and after: other work running beside the
               # benchmark slows both loops, so a measurement with a high load is less reliable
               "load_average_before_after": [load_before, _load_average()], "results": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    print()
    print(format_table({k: v for k, v in rows.items() if k != "profile"}))
    if "profile" in rows:
        print()
        print(format_profile(rows["profile"]))
    print(f"wrote {out}")
    print(speedup_line(rows))
    return 0


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _json_default(value):
    if isinstance(value, nn.Module):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())

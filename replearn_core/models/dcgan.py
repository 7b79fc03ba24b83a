"""DCGAN: a deep convolutional generative adversarial network (report 4.0-4.2).

The report's network is "very dynamic": the convolution and deconvolution blocks are given
when the object is built. So is this one. :class:`DCGANConfig` holds

* the **generator**: z (``z_dim`` = 100) -> a dense layer to ``f1 x f1 x d1`` feature maps ->
  the ``generator_blocks``, fractionally-strided (transposed) convolutions that grow the maps up
  to the image; the last block has ``image_channels`` channels and a tanh;
* the **discriminator**: the ``discriminator_blocks``, strided convolutions that shrink the
  image, then a flatten and a dense layer to **one logit** (real vs generated).

Each block is a :class:`ConvBlock` (channels, kernel, stride, padding, ...). At construction the
spatial sizes are chained with the report's rule O = (W - K + 2P) / S + 1
(:func:`conv_output_size`) and its transposed form (:func:`conv_transpose_output_size`); a chain
that does not end at ``image_size`` raises ``ValueError`` naming the offending block.

Training has two phases, each with its own Adam(lr 2e-4, betas (0.5, 0.999)) over its own
parameters: ``"discriminator"`` minimises BCE(D(x), 1) + BCE(D(G(z)), 0) with G(z) detached;
``"generator"`` minimises the non-saturating BCE(D(G(z)), 1) on the *same* G(z) (as in
pytorch/examples' DCGAN: one generator pass per iteration). Images come in and go out in
[0, 1]; inside, the generator's tanh works in [-1, 1] and real images are mapped there.

``DCGANConfig.pytorch_examples(image_size=64)`` is exactly the architecture of
pytorch/examples' ``dcgan/main.py`` (ngf = ndf = 64, nz = 100, BatchNorm, N(0, 0.02) init): its
first ConvTranspose2d(nz, 8 ngf, 4, 1, 0) on a 1x1 input is a dense layer z -> 4 x 4 x 8 ngf,
and its last Conv2d(8 ndf, 1, 4, 1, 0) on a 4x4 input is flatten + dense to one logit.

The book's networks and training recipes are in :mod:`replearn_core.book.zoo`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import BaseConfig, TrainConfig, check_positive, check_positive_int, require
from ..losses import discriminator_loss, generator_loss
from .base import GenerativeModel, ModelOutput, adam, register

PHASES = ("discriminator", "generator")


# ---------------------------------------------------------------------------------------------
# Output sizes


def _check_size_args(width: int, kernel: int, stride: int, padding: int) -> None:
    for name, value, low in (("width", width, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                             ("padding", padding, 0)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def conv_output_size(width: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output width of a strided convolution: O = floor((W - K + 2P) / S) + 1 (report 4.1.1).

    When S does not divide W - K + 2P the last input pixels that a full kernel cannot reach are
    dropped (the report's "the kernel might run out of image pixels"), which is the floor.
    Raises ``ValueError`` when the kernel is larger than the padded input.
    """
    _check_size_args(width, kernel, stride, padding)
    if width + 2 * padding < kernel:
        raise ValueError(f"kernel {kernel} is larger than the padded input {width} + 2*{padding}")
    return (width - kernel + 2 * padding) // stride + 1


def conv_transpose_output_size(width: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0) -> int:
    """Output width of a fractionally-strided (transposed) convolution: O = (W - 1) S - 2P + K + OP.

    It inverts :func:`conv_output_size`: a stride-S transposed convolution is a convolution with
    stride 1/S. ``output_padding`` (< S) picks one of the S input widths that the forward
    convolution maps to the same output. Raises ``ValueError`` for a non-positive result.
    """
    _check_size_args(width, kernel, stride, padding)
    if not (isinstance(output_padding, int) and 0 <= output_padding < stride):
        raise ValueError(f"output_padding must be an integer in [0, stride={stride}), got {output_padding!r}")
    out = (width - 1) * stride - 2 * padding + kernel + output_padding
    if out < 1:
        raise ValueError(f"transposed convolution of width {width} (kernel {kernel}, stride {stride}, "
                         f"padding {padding}) would have output width {out} < 1")
    return out


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class ConvBlock:
    """One convolution (discriminator) or transposed convolution (generator) block.

    ``channels`` are the block's output channels. A hidden block is conv -> BatchNorm (if
    ``batch_norm``) -> activation (ReLU in the generator, LeakyReLU(0.2) in the discriminator);
    the generator's last block is conv -> tanh.
    """

    channels: int
    kernel: int = 4
    stride: int = 2
    padding: int = 1
    output_padding: int = 0  # transposed convolutions only
    batch_norm: bool = True


def _block_field_error(block, where: str) -> None:
    require(isinstance(block, ConvBlock), where, f"must be a ConvBlock, got {block!r}")
    for name, low in (("channels", 1), ("kernel", 1), ("stride", 1), ("padding", 0), ("output_padding", 0)):
        value = getattr(block, name)
        require(isinstance(value, int) and not isinstance(value, bool) and value >= low, f"{where}.{name}",
                f"must be an integer >= {low}, got {value!r}")
    require(isinstance(block.batch_norm, bool), f"{where}.batch_norm", f"must be True or False, got {block.batch_norm!r}")


INITS = ("dcgan", "pytorch")


@dataclass(frozen=True)
class DCGANConfig(BaseConfig):
    """A DCGAN whose blocks are given at construction; the defaults are the chapter's small 28x28 MNIST network."""

    image_size: int = 28
    image_channels: int = 1
    z_dim: int = 100
    #: hidden dense layers between z and the dense layer to the maps (each dense -> BatchNorm -> ReLU)
    generator_dense: tuple[int, ...] = ()
    #: the dense layer maps z to d1 feature maps of f1 x f1 pixels
    f1: int = 7
    d1: int = 64
    generator_blocks: tuple[ConvBlock, ...] = (ConvBlock(32), ConvBlock(1, batch_norm=False))
    discriminator_blocks: tuple[ConvBlock, ...] = (ConvBlock(32, batch_norm=False), ConvBlock(64),
                                                   ConvBlock(128, kernel=3, stride=2, padding=1))
    #: hidden dense layers between the flattened maps and the logit (each dense -> BatchNorm -> LeakyReLU)
    discriminator_dense: tuple[int, ...] = ()
    #: BatchNorm on the f1 x f1 x d1 maps after the dense layer
    dense_batch_norm: bool = True
    #: biases in the dense and convolution layers (pytorch/examples: none, BatchNorm has the shift)
    bias: bool = True
    leaky_slope: float = 0.2
    #: "dcgan": weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0 (the paper and pytorch/examples)
    init: str = "dcgan"
    beta1: float = 0.5
    beta2: float = 0.999
    #: decay of an exponential moving average of the generator's weights, updated after every
    #: generator step and used for sampling (0: sample from the trained weights themselves)
    generator_ema: float = 0.0

    def validate(self) -> None:
        check_positive_int(self, "image_size", "image_channels", "z_dim", "f1", "d1")
        check_positive(self, "leaky_slope")
        require(self.init in INITS, "init", f"must be one of {INITS}, got {self.init!r}")
        for name in ("beta1", "beta2", "generator_ema"):
            value = getattr(self, name)
            require(isinstance(value, (int, float)) and 0 <= value < 1, name, f"must be in [0, 1), got {value!r}")
        for name in ("generator_dense", "discriminator_dense"):
            value = getattr(self, name)
            require(isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                                     for v in value), name,
                    f"must be a tuple of positive layer sizes (e.g. (1024,)), got {value!r}")
        for name in ("dense_batch_norm", "bias"):
            require(isinstance(getattr(self, name), bool), name, f"must be True or False, got {getattr(self, name)!r}")
        self.generator_shapes()  # raise naming the offending block
        self.discriminator_shapes()

    def generator_shapes(self) -> list[tuple[str, tuple[int, int, int]]]:
        """(stage, (C, H, W)) after the dense layer and after every generator block."""
        blocks = self.generator_blocks
        require(isinstance(blocks, tuple) and len(blocks) >= 1, "generator_blocks",
                f"must be a non-empty tuple of ConvBlock, got {blocks!r}")
        size, shapes = self.f1, [("dense", (self.d1, self.f1, self.f1))]
        for i, block in enumerate(blocks):
            where = f"generator_blocks[{i}]"
            _block_field_error(block, where)
            require(block.output_padding < block.stride, f"{where}.output_padding",
                    f"must be smaller than the stride {block.stride}, got {block.output_padding}")
            out = (size - 1) * block.stride - 2 * block.padding + block.kernel + block.output_padding
            require(out >= 1, where, f"a transposed convolution of a {size}x{size} input with {block} gives "
                    f"{out}x{out}: no pixels left")
            size = conv_transpose_output_size(size, block.kernel, block.stride, block.padding, block.output_padding)
            shapes.append((f"deconv {i + 1}", (block.channels, size, size)))
        last = f"generator_blocks[{len(blocks) - 1}]"
        chain = " -> ".join(str(s[1][1]) for s in shapes)
        require(size == self.image_size, last,
                f"the generator's maps grow {chain}, ending at {size}x{size} instead of image_size "
                f"{self.image_size}x{self.image_size}")
        require(blocks[-1].channels == self.image_channels, f"{last}.channels",
                f"the last generator block outputs the image: must be image_channels={self.image_channels}, "
                f"got {blocks[-1].channels}")
        return shapes

    def discriminator_shapes(self) -> list[tuple[str, tuple[int, int, int]]]:
        """(stage, (C, H, W)) of the input and after every discriminator block."""
        blocks = self.discriminator_blocks
        require(isinstance(blocks, tuple) and len(blocks) >= 1, "discriminator_blocks",
                f"must be a non-empty tuple of ConvBlock, got {blocks!r}")
        size, shapes = self.image_size, [("input", (self.image_channels, self.image_size, self.image_size))]
        for i, block in enumerate(blocks):
            where = f"discriminator_blocks[{i}]"
            _block_field_error(block, where)
            require(block.output_padding == 0, f"{where}.output_padding",
                    f"only transposed convolutions take an output_padding, got {block.output_padding}")
            require(size + 2 * block.padding >= block.kernel, where,
                    f"kernel {block.kernel} does not fit the {size}x{size} input padded by {block.padding} "
                    f"(after {' -> '.join(str(s[1][1]) for s in shapes)})")
            size = conv_output_size(size, block.kernel, block.stride, block.padding)
            shapes.append((f"conv {i + 1}", (block.channels, size, size)))
        return shapes

    @classmethod
    def pytorch_examples(cls, image_size: int = 64, image_channels: int = 1, ngf: int = 64, ndf: int = 64,
                         nz: int = 100) -> "DCGANConfig":
        """The generator and discriminator of pytorch/examples' ``dcgan/main.py``.

        ``image_size=64`` is exactly that network (``--dataset mnist`` gives ``image_channels=1``,
        the colour data sets 3). Other powers of two >= 8 add or remove one doubling block per
        factor of two, with the same channel rule (ngf x 2^k).
        """
        n = int(round(math.log2(image_size / 4))) if isinstance(image_size, int) and image_size > 0 else -1
        require(n >= 1 and 4 * 2**n == image_size, "image_size",
                f"pytorch/examples' DCGAN needs a power of two >= 8 (64 in the original), got {image_size!r}")
        gen = tuple(ConvBlock(ngf * 2 ** k) for k in range(n - 2, -1, -1)) + (
            ConvBlock(image_channels, batch_norm=False),)
        disc = tuple(ConvBlock(ndf * 2 ** k, batch_norm=k > 0) for k in range(n))
        return cls(image_size=image_size, image_channels=image_channels, z_dim=nz, f1=4, d1=ngf * 2 ** (n - 1),
                   generator_blocks=gen, discriminator_blocks=disc, dense_batch_norm=True, bias=False,
                   leaky_slope=0.2, init="dcgan", beta1=0.5, beta2=0.999)


# ---------------------------------------------------------------------------------------------
# Model


class Generator(nn.Module):
    """z [N, z_dim] -> dense -> [N, d1, f1, f1] -> transposed convolutions -> tanh images [N, C, H, W]."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        c = config
        hidden: list[nn.Module] = []
        width = c.z_dim
        for size in c.generator_dense:
            hidden += [nn.Linear(width, size, bias=c.bias), nn.BatchNorm1d(size), nn.ReLU(True)]
            width = size
        self.hidden = nn.Sequential(*hidden)
        self.dense = nn.Linear(width, c.d1 * c.f1 * c.f1, bias=c.bias)
        self.dense_act = nn.Sequential(*([nn.BatchNorm2d(c.d1)] if c.dense_batch_norm else []), nn.ReLU(True))
        layers: list[nn.Module] = []
        channels = c.d1
        for i, b in enumerate(c.generator_blocks):
            last = i == len(c.generator_blocks) - 1
            layers.append(nn.ConvTranspose2d(channels, b.channels, b.kernel, b.stride, b.padding, b.output_padding,
                                             bias=c.bias))
            if b.batch_norm:
                layers.append(nn.BatchNorm2d(b.channels))
            layers.append(nn.Tanh() if last else nn.ReLU(True))
            channels = b.channels
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        h = self.dense(self.hidden(z)).view(len(z), c.d1, c.f1, c.f1)
        return self.deconv(self.dense_act(h))


class Discriminator(nn.Module):
    """images [N, C, H, W] in [-1, 1] -> strided convolutions -> flatten -> one logit [N]."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        c = config
        layers: list[nn.Module] = []
        channels = c.image_channels
        for b in c.discriminator_blocks:
            layers.append(nn.Conv2d(channels, b.channels, b.kernel, b.stride, b.padding, bias=c.bias))
            if b.batch_norm:
                layers.append(nn.BatchNorm2d(b.channels))
            layers.append(nn.LeakyReLU(c.leaky_slope, inplace=True))
            channels = b.channels
        self.conv = nn.Sequential(*layers)
        _, (ch, h, w) = c.discriminator_shapes()[-1]
        self.flatten = nn.Flatten()
        hidden: list[nn.Module] = []
        width = ch * h * w
        for size in c.discriminator_dense:
            hidden += [nn.Linear(width, size, bias=c.bias), nn.BatchNorm1d(size), nn.LeakyReLU(c.leaky_slope, inplace=True)]
            width = size
        self.hidden = nn.Sequential(*hidden)
        self.logit = nn.Linear(width, 1, bias=c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.hidden(self.flatten(self.conv(x)))).view(-1)


def dcgan_init_(module: nn.Module) -> None:
    """pytorch/examples' ``weights_init``: conv (and the dense layers standing in for them) N(0, 0.02),
    BatchNorm scale N(1, 0.02), every bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register(DCGANConfig)
class DCGAN(GenerativeModel):
    """Generator and discriminator trained by :func:`replearn_core.fit` in two phases."""

    phases = PHASES
    image_input = True

    def __init__(self, config: DCGANConfig = DCGANConfig()):
        super().__init__(config)
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        if config.init == "dcgan":
            self.apply(dcgan_init_)
        # The average of the generator's weights over the last ~1 / (1 - decay) steps: it smooths
        # out the step-to-step oscillation of the adversarial game (Yazici et al., 2019), so its
        # samples are cleaner than those of the weights at any single step.
        self.generator_ema: Generator | None = None
        if config.generator_ema > 0:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self._fake: torch.Tensor | None = None  # G(z) of the current iteration, shared by both phases

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {"discriminator": adam(self.discriminator.parameters(), lr=train.lr, betas=betas),
                "generator": adam(self.generator.parameters(), lr=train.lr, betas=betas)}

    def num_parameters(self) -> int:
        """Parameters of the generator and the discriminator (the weight average is a copy, not counted)."""
        return sum(p.numel() for part in (self.generator, self.discriminator) for p in part.parameters())

    @torch.no_grad()
    def after_optimizer_step(self, phase: str) -> None:
        if phase == "generator" and self.generator_ema is not None:
            decay = self.config.generator_ema
            # one call for all tensors instead of a Python loop of lerp_ (bitwise the same; on a
            # GPU one kernel launch instead of one per tensor)
            torch._foreach_lerp_(list(self.generator_ema.parameters()),
                                 list(self.generator.parameters()), 1 - decay)
            # BatchNorm's running statistics are already averages
            torch._foreach_copy_(list(self.generator_ema.buffers()), list(self.generator.buffers()))

    # -- sampling ---------------------------------------------------------------------------------

    @property
    def latent_dim(self) -> int:
        return self.config.z_dim

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 1000, averaged: bool = True) -> torch.Tensor:
        """G(z) as images [N, C, H, W] in [0, 1], in eval mode (BatchNorm running statistics).

        With ``averaged`` (the default) the generator's averaged weights are used where the model
        keeps them (``generator_ema > 0``); ``averaged=False`` uses the trained weights.
        """
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        net = self.generator_ema if averaged and self.generator_ema is not None else self.generator
        out = torch.cat([(net(z[i:i + batch_size].to(device)) + 1) / 2
                         for i in range(0, len(z), batch_size)])
        self.train(was_training)
        return out.clamp_(0, 1)

    @torch.no_grad()
    def real_probability(self, x: torch.Tensor) -> torch.Tensor:
        """D's probability [N] that images ``x`` in [0, 1] are real (eval mode)."""
        was_training = self.training
        self.eval()
        p = torch.sigmoid(self.discriminator(x * 2 - 1))
        self.train(was_training)
        return p

    # -- training ---------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "discriminator") -> ModelOutput:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        x = x.view(len(x), self.config.image_channels, self.config.image_size, self.config.image_size)
        if phase == "discriminator":
            z = torch.randn(len(x), self.config.z_dim, device=x.device)
            fake = self.generator(z)
            self._fake = fake  # reused, with its graph, by the generator phase of this iteration
            real_logit = self.discriminator(x * 2 - 1)
            fake_logit = self.discriminator(fake.detach())
            loss = discriminator_loss(real_logit, fake_logit)
            return ModelOutput(loss=loss, terms={"discriminator": loss.detach(),
                                                 "d_real": torch.sigmoid(real_logit).mean().detach(),
                                                 "d_fake": torch.sigmoid(fake_logit).mean().detach()},
                               z=z, logits=fake)
        fake, self._fake = self._fake, None
        if fake is None or len(fake) != len(x):  # a generator step on its own
            fake = self.generator(torch.randn(len(x), self.config.z_dim, device=x.device))
        loss = generator_loss(self.discriminator(fake))  # non-saturating: -log D(G(z))
        return ModelOutput(loss=loss, terms={"generator": loss.detach()}, logits=fake)


def stage_table(config: DCGANConfig, part: str = "discriminator") -> list[dict]:
    """Rows (stage, layer, NCHW shape, NHWC shape, parameters) of the generator or discriminator."""
    if part not in ("generator", "discriminator"):
        raise ValueError(f"part must be 'generator' or 'discriminator', got {part!r}")
    model = DCGAN(config)
    rows = []
    if part == "discriminator":
        shapes = config.discriminator_shapes()
        convs = [m for m in model.discriminator.conv if isinstance(m, nn.Conv2d)]
        bns = {i: b.batch_norm for i, b in enumerate(config.discriminator_blocks)}
        for i, (stage, (c, h, w)) in enumerate(shapes):
            if i == 0:
                layer, params = "image", 0
            else:
                b = config.discriminator_blocks[i - 1]
                layer = (f"conv {b.kernel}x{b.kernel}/{b.stride} pad {b.padding}"
                         f"{' + BN' if bns[i - 1] else ''} + LeakyReLU")
                params = sum(p.numel() for p in convs[i - 1].parameters()) + (2 * c if b.batch_norm else 0)
            rows.append({"stage": stage, "layer": layer, "shape": (c, h, w)})
            rows[-1]["params"] = params
        c, h, w = shapes[-1][1]
        rows.append({"stage": "flatten", "layer": "flatten", "shape": (c * h * w,), "params": 0})
        dense = [m for m in model.discriminator.hidden if isinstance(m, nn.Linear)]
        for i, (size, layer) in enumerate(zip(config.discriminator_dense, dense)):
            rows.append({"stage": f"dense {i + 1}", "layer": "dense + BN + LeakyReLU", "shape": (size,),
                         "params": sum(p.numel() for p in layer.parameters()) + 2 * size})
        rows.append({"stage": "logit", "layer": "dense -> 1 logit", "shape": (1,),
                     "params": sum(p.numel() for p in model.discriminator.logit.parameters())})
    else:
        rows.append({"stage": "z", "layer": "z ~ N(0, I)", "shape": (config.z_dim,), "params": 0})
        dense = [m for m in model.generator.hidden if isinstance(m, nn.Linear)]
        for i, (size, layer) in enumerate(zip(config.generator_dense, dense)):
            rows.append({"stage": f"dense {i + 1}", "layer": "dense + BN + ReLU", "shape": (size,),
                         "params": sum(p.numel() for p in layer.parameters()) + 2 * size})
        shapes = config.generator_shapes()
        convs = [m for m in model.generator.deconv if isinstance(m, nn.ConvTranspose2d)]
        for i, (stage, (c, h, w)) in enumerate(shapes):
            if i == 0:
                layer = "dense, reshape" + (" + BN" if config.dense_batch_norm else "") + " + ReLU"
                params = sum(p.numel() for p in model.generator.dense.parameters()) + (2 * c if config.dense_batch_norm else 0)
            else:
                b = config.generator_blocks[i - 1]
                last = i == len(shapes) - 1
                layer = (f"deconv {b.kernel}x{b.kernel}/{b.stride} pad {b.padding}"
                         f"{' + BN' if b.batch_norm else ''} + {'tanh' if last else 'ReLU'}")
                params = sum(p.numel() for p in convs[i - 1].parameters()) + (2 * c if b.batch_norm else 0)
            rows.append({"stage": stage, "layer": layer, "shape": (c, h, w), "params": params})
    return rows


def multiply_adds(config: DCGANConfig) -> dict[str, int]:
    """Multiply-adds of one forward pass per image, of the generator and of the discriminator.

    Dense layer: inputs x outputs; convolution: output pixels x C_out x C_in x K^2; transposed
    convolution: input pixels x C_in x C_out x K^2 (every input pixel scatters a K x K kernel).
    BatchNorm and activations are left out.
    """
    g_shapes = config.generator_shapes()
    widths = (config.z_dim,) + config.generator_dense
    gen = sum(a * b for a, b in zip(widths, widths[1:])) + widths[-1] * config.d1 * config.f1 ** 2
    for (_, (c_in, h_in, w_in)), b in zip(g_shapes[:-1], config.generator_blocks):
        gen += h_in * w_in * c_in * b.channels * b.kernel ** 2
    d_shapes = config.discriminator_shapes()
    disc = 0
    for (_, (c_in, _, _)), (_, (c_out, h, w)), b in zip(d_shapes[:-1], d_shapes[1:], config.discriminator_blocks):
        disc += h * w * c_out * c_in * b.kernel ** 2
    c, h, w = d_shapes[-1][1]
    widths = (c * h * w,) + config.discriminator_dense + (1,)
    disc += sum(a * b for a, b in zip(widths, widths[1:]))
    return {"generator": gen, "discriminator": disc}

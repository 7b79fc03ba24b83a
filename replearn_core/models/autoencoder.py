"""Fully connected autoencoders: h = f(x), r = g(h) (report 3.1-3.3).

The decoder mirrors the encoder. The decoder's last layer outputs logits; ``decode``
returns pixel probabilities in [0, 1] and the loss is the Bernoulli negative
log-likelihood (binary cross-entropy summed over pixels, nats per image).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ACTIVATIONS, BaseConfig, TrainConfig, check_layer_sizes, check_positive_int, require
from ..losses import bernoulli_nll
from .base import BaseModel, BernoulliDecoderMixin, ModelOutput, mlp, register


@dataclass(frozen=True)
class AutoencoderConfig(BaseConfig):
    """``input_dim -> hidden[0] -> ... -> latent_dim`` and the mirror image back."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (256,)
    latent_dim: int = 32
    activation: str = "relu"
    #: activation of the code h itself (None: linear code; "sigmoid": code in (0, 1))
    latent_activation: str | None = None

    def validate(self) -> None:
        check_positive_int(self, "input_dim", "latent_dim")
        require(isinstance(self.hidden, tuple), "hidden", f"must be a tuple of layer sizes, got {self.hidden!r}")
        if self.hidden:
            check_layer_sizes(self, "hidden")
        require(self.activation in ACTIVATIONS, "activation",
                f"must be one of {ACTIVATIONS}, got {self.activation!r}")
        require(self.latent_activation is None or self.latent_activation in ACTIVATIONS, "latent_activation",
                f"must be None or one of {ACTIVATIONS}, got {self.latent_activation!r}")


@register(AutoencoderConfig)
class Autoencoder(BernoulliDecoderMixin, BaseModel):
    """A deterministic autoencoder with a mirrored decoder and a Bernoulli reconstruction loss."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()):
        super().__init__(config)
        sizes = (config.input_dim, *config.hidden, config.latent_dim)
        self.encoder = mlp(sizes, config.activation, final_activation=config.latent_activation)
        self.decoder = mlp(sizes[::-1], config.activation, final_activation=None)  # logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x): the latent code [N, latent_dim]."""
        return self.encoder(x.reshape(len(x), -1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, phase: str = "loss") -> ModelOutput:
        z = self.encode(x)
        logits = self.decode_logits(z)
        recon = bernoulli_nll(logits, x)
        return ModelOutput(loss=recon, terms={"recon": recon}, z=z, recon=logits)


@torch.no_grad()
def encode_dataset(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Latent codes of ``x`` in eval mode (``model.encode``; for a VAE the posterior mean)."""
    model.eval()
    return torch.cat([model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


# ---------------------------------------------------------------------------------------------
# Weights as images, reconstructions recorded during training (report figures 3 and 4)


def _linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def encoder_filters(model: nn.Module) -> torch.Tensor:
    """Weights of the first encoder layer, one row per hidden unit: [hidden_0, input_dim].

    Row ``j`` is the pattern of input pixels that unit ``j`` responds to (its receptive field).
    """
    return _linear_layers(model.encoder)[0].weight.detach()


def decoder_filters(model: nn.Module) -> torch.Tensor:
    """Weights of the last decoder layer, one row per unit feeding it: [hidden_0, input_dim].

    Row ``j`` is the image (in logits) that unit ``j`` adds to the output when it is active.
    """
    return _linear_layers(model.decoder)[-1].weight.detach().T


def train_with_reconstructions(model_config: BaseConfig, train: TrainConfig, probe: torch.Tensor,
                               at_steps: tuple[int, ...] | list[int], *,
                               device: torch.device | str | None = None, progress: bool = True):
    """``train_or_load`` that also records the reconstructions of ``probe`` during training.

    ``at_steps`` are optimisation steps (0: the untrained model, as initialised with
    ``train.seed``); the last step of training is always recorded, later steps are dropped.
    The recordings are cached next to the checkpoint (keyed by the probe images and the
    steps), so a cached model comes back with them. If the checkpoint exists without them,
    the model is trained again, without overwriting the checkpoint, to record them.

    Returns ``(trained, steps, recons)``: the :class:`~replearn_core.training.Trained` model,
    the recorded steps [S] and the reconstructions (pixel probabilities) [S, len(probe), input_dim]
    on the CPU.
    """
    import hashlib

    from ..config import config_hash
    from ..devices import pick_device, seed_everything
    from ..training import CheckpointError, checkpoint_path, load_checkpoint, save_checkpoint, train_or_load
    from .base import build_model

    bad = [s for s in at_steps if not (isinstance(s, int) and not isinstance(s, bool) and s >= 0)]
    if bad or not len(at_steps):
        raise ValueError(f"at_steps: must be a non-empty sequence of non-negative integers, got {list(at_steps)!r}")
    require(train.dataset == "mnist", "dataset", f"recording needs the default MNIST batches, got {train.dataset!r}")
    device = pick_device(device)
    probe = probe.to(device).reshape(len(probe), -1)
    n_train = train.train_subset or 60_000
    total = train.epochs * -(-n_train // train.batch_size)
    steps = sorted({s for s in at_steps if s <= total} | {total})
    digest = hashlib.sha256(probe.detach().cpu().float().numpy().tobytes()
                            + ",".join(map(str, steps)).encode()).hexdigest()[:10]
    path = checkpoint_path(model_config, train)
    rec_path = path.with_name(f"{path.stem}.recon-{config_hash(model_config, train)}-{digest}.pt")

    if path.exists() and rec_path.exists():
        trained = train_or_load(model_config, train, device=device, progress=progress)
        payload = load_checkpoint(rec_path)
        rec = payload["state_dict"]
        if rec["steps"].tolist() != steps or tuple(rec["recons"].shape[1:]) != (len(probe), probe.shape[1]):
            raise CheckpointError(f"recordings {rec_path} do not match the requested steps or probe; delete them")
        return trained, rec["steps"], rec["recons"]

    recorded: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def record(step: int, model: BaseModel) -> None:
        if step in steps:
            was_training = model.training
            model.eval()
            recorded[step] = model.decode(model.encode(probe)).detach().cpu()
            model.train(was_training)

    if 0 in steps:  # the untrained model exactly as train_or_load initialises it
        seed_everything(train.seed)
        record(0, build_model(model_config).to(device))
    trained = train_or_load(model_config, train, device=device, progress=progress, on_step=record,
                            cache=not path.exists())
    if set(recorded) != set(steps):
        raise RuntimeError(f"recorded steps {sorted(recorded)} but expected {steps}")
    steps_t = torch.tensor(steps)
    recons = torch.stack([recorded[s] for s in steps])
    save_checkpoint(rec_path, {"state_dict": {"steps": steps_t, "recons": recons}})
    if trained.path is None:  # trained again only to record: hand back the cached checkpoint
        trained = train_or_load(model_config, train, device=device, progress=progress)
    return trained, steps_t, recons


# ---------------------------------------------------------------------------------------------
# The book's autoencoders (chapters 02-04), registered by name in replearn_core.zoo

#: Chapter 02: 784 -> 256 -> 32 and back, ReLU, a linear 32-d code.
UNDERCOMPLETE_AE = AutoencoderConfig(input_dim=784, hidden=(256,), latent_dim=32, activation="relu")
UNDERCOMPLETE_TRAINING = TrainConfig(epochs=5, batch_size=64, lr=2e-3, seed=0)

#: Chapter 02's bottleneck sweep: the same network with code widths 2..64, at CI scale
#: (the first 10,000 training images, 5 epochs).
BOTTLENECK_WIDTHS = (2, 4, 8, 16, 32, 64)
BOTTLENECK_TRAINING = TrainConfig(epochs=5, batch_size=64, lr=2e-3, seed=0, train_subset=10_000)


def bottleneck_config(width: int) -> AutoencoderConfig:
    """The chapter-02 autoencoder with a code of ``width`` dimensions."""
    return UNDERCOMPLETE_AE.replace(latent_dim=width)


#: Chapter 03: the report's deep autoencoder 784-400-200-100-20-10 with a mirrored decoder.
DEEP_HIDDEN = (400, 200, 100, 20)
DEEP_AE_SIGMOID = AutoencoderConfig(input_dim=784, hidden=DEEP_HIDDEN, latent_dim=10, activation="sigmoid",
                                    latent_activation="sigmoid")
DEEP_AE_LEAKY_RELU = AutoencoderConfig(input_dim=784, hidden=DEEP_HIDDEN, latent_dim=10, activation="leaky_relu",
                                       latent_activation=None)
DEEP_SIGMOID_TRAINING = TrainConfig(epochs=5, batch_size=64, lr=5e-3, seed=0)
DEEP_LEAKY_TRAINING = TrainConfig(epochs=5, batch_size=64, lr=2e-3, seed=0)


def _register_book_models() -> None:
    from .. import zoo

    zoo.add("undercomplete_ae", UNDERCOMPLETE_AE, UNDERCOMPLETE_TRAINING, "02_autoencoders")
    zoo.add("deep_ae_sigmoid", DEEP_AE_SIGMOID, DEEP_SIGMOID_TRAINING, "03_disentangling_style")
    zoo.add("deep_ae_leaky_relu", DEEP_AE_LEAKY_RELU, DEEP_LEAKY_TRAINING, "03_disentangling_style")


_register_book_models()

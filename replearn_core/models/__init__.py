"""The models of the book: each module defines a validated config dataclass and a model
registered for it (``build_model(config)``). Models know nothing of the training loop or of
the book's chapters: those live in :mod:`replearn_core.training` and :mod:`replearn_core.book`."""
from .base import (TERMS, BaseModel, GenerativeModel, LatentModel, ModelOutput, activation_layer, adam,
                   apply_batched, build_model, encode_dataset, mlp, register)
from .autoencoder import Autoencoder, AutoencoderConfig
from .sparse import SparseAutoencoder, SparseAutoencoderConfig
from .vae import VAE, VAEConfig
from .aae import AAEConfig, AdversarialAutoencoder, sample_prior
from .dcgan import DCGAN, ConvBlock, DCGANConfig
from .transfer import GlassesClassifier, GlassesClassifierConfig, GlassesJudge, TransferAutoencoder, TransferConfig
from .classifier import ClassifierConfig, MNISTClassifier

__all__ = ["TERMS", "BaseModel", "GenerativeModel", "LatentModel", "ModelOutput", "activation_layer", "adam",
           "apply_batched", "build_model", "encode_dataset", "mlp", "register",
           "Autoencoder", "AutoencoderConfig", "SparseAutoencoder", "SparseAutoencoderConfig", "VAE", "VAEConfig",
           "AAEConfig", "AdversarialAutoencoder", "sample_prior", "DCGAN", "ConvBlock", "DCGANConfig",
           "GlassesClassifier", "GlassesClassifierConfig", "GlassesJudge", "TransferAutoencoder", "TransferConfig",
           "ClassifierConfig", "MNISTClassifier"]

"""Models of the book. Each module defines a config dataclass and a model registered for it."""
from .base import BaseModel, ModelOutput, activation_layer, build_model, mlp, register
from .classifier import ClassifierConfig, MNISTClassifier, get_classifier

__all__ = ["BaseModel", "ModelOutput", "activation_layer", "build_model", "mlp", "register",
           "ClassifierConfig", "MNISTClassifier", "get_classifier"]
from .autoencoder import Autoencoder, AutoencoderConfig, encode_dataset  # noqa: E402
from .vae import VAE, VAEConfig, evaluate_elbo, importance_weighted_nll, quantile_grid  # noqa: E402
from .sparse import SparseAutoencoder, SparseAutoencoderConfig  # noqa: E402
from .aae import AAEConfig, AdversarialAutoencoder, sample_prior, train_with_snapshots  # noqa: E402
from .dcgan import DCGAN, ConvBlock, DCGANConfig, conv_output_size, conv_transpose_output_size  # noqa: E402
from .transfer import GlassesClassifier, GlassesClassifierConfig, TransferAutoencoder, TransferConfig  # noqa: E402

"""Models of the book. Each module defines a config dataclass and a model registered for it."""
from .base import BaseModel, ModelOutput, activation_layer, build_model, mlp, register
from .classifier import ClassifierConfig, MNISTClassifier, get_classifier

__all__ = ["BaseModel", "ModelOutput", "activation_layer", "build_model", "mlp", "register",
           "ClassifierConfig", "MNISTClassifier", "get_classifier"]
from .autoencoder import Autoencoder, AutoencoderConfig, encode_dataset  # noqa: E402

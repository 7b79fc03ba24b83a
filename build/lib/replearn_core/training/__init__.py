"""Training: the one loop ``fit``, the callback protocol and its recorder, and cached checkpoints."""
from .callbacks import Callback, Recorder, tensor_digest
from .checkpoints import (CheckpointError, DataFactory, Trained, checkpoint_path, load_checkpoint, mnist_data,
                          recording_path, save_checkpoint, train_or_load)
from .loop import History, TrainingDiverged, fit

__all__ = ["Callback", "Recorder", "tensor_digest", "CheckpointError", "DataFactory", "Trained", "checkpoint_path",
           "load_checkpoint", "mnist_data", "recording_path", "save_checkpoint", "train_or_load", "History",
           "TrainingDiverged", "fit"]

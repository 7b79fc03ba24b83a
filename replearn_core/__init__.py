"""replearn_core: the library behind the *replearn* book.

Notebooks import it with one line, ``import replearn_core as rl``, and call the
functions below; model code lives in :mod:`replearn_core.models`.
"""
from .config import BaseConfig, TrainConfig, config_hash
from .data import (DataFileError, DeviceBatches, load_mnist, load_olivetti, mnist_tensors,
                   split_by_subject)
from .devices import pick_device, seed_everything, set_threads, synchronize
from .models import ClassifierConfig, MNISTClassifier, build_model, get_classifier
from .paths import cache_dir, data_dir, results_dir
from .results import load_results, save_results
from .training import (CheckpointError, History, Trained, TrainingDiverged, fit, load_checkpoint,
                       save_checkpoint, train_or_load)

__version__ = "0.1.0"
from .notebook import CheckFailed, check, setup_notebook  # noqa: E402
from . import metrics, plots  # noqa: E402
from . import losses, models  # noqa: E402
from . import zoo  # noqa: E402
from .zoo import book_model  # noqa: E402
from . import explorer  # noqa: E402
from . import traversal, widgets  # noqa: E402


def __getattr__(name: str):
    # ``rl.exercises``: the book's exercise checkers (replearn_core.book.exercises), imported on
    # first use, so that importing the library never imports the book's package.
    if name == "exercises":
        from .book import exercises
        return exercises
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

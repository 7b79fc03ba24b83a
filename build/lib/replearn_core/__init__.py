"""replearn_core: the library behind the *replearn* book.

Notebooks import it with one line, ``import replearn_core as rl``, and call short functions::

    device = rl.setup_notebook()
    trained = rl.book_model("vae_2d", device)        # the chapter's model, trained once and cached
    rl.plots.show_images(trained.model.sample(16, seed=0), nrow=8)

The package is layered; each layer imports only the ones above it:

* ``config``, ``paths``, ``devices``, ``data``, ``losses``: configurations, locations, devices,
  the vendored data sets, loss functions;
* ``models``: one config dataclass and one model per family (no training code);
* ``training``: the one training loop ``fit``, its callbacks and recorder, cached checkpoints;
* ``metrics``, ``traversal``, ``parallel``, ``viz`` (``plots``, ``diagrams``, ``widgets``,
  ``explorer``): measurements, latent walks, model and data parallelism, figures;
* ``book``: the book's own models by name (``zoo``), notebook helpers, comparisons, sweeps and
  exercises. Nothing above imports it.

Names are resolved lazily, so ``import replearn_core.models`` loads neither the training loop
nor the book.
"""
from __future__ import annotations

import importlib

__version__ = "0.2.0"

#: public name -> (module, attribute or None for the module itself)
_API = {
    # configuration, data, devices, locations
    "BaseConfig": ("config", "BaseConfig"), "TrainConfig": ("config", "TrainConfig"),
    "config_hash": ("config", "config_hash"),
    "DataFileError": ("data", "DataFileError"), "DeviceBatches": ("data", "DeviceBatches"),
    "load_mnist": ("data", "load_mnist"), "load_olivetti": ("data", "load_olivetti"),
    "mnist_tensors": ("data", "mnist_tensors"), "mnist_batches": ("data", "mnist_batches"),
    "face_split": ("data", "face_split"), "augment_faces": ("data", "augment_faces"),
    "split_by_subject": ("data", "split_by_subject"),
    "pick_device": ("devices", "pick_device"), "seed_everything": ("devices", "seed_everything"),
    "set_threads": ("devices", "set_threads"), "synchronize": ("devices", "synchronize"),
    "device_label": ("devices", "device_label"),
    "cache_dir": ("paths", "cache_dir"), "data_dir": ("paths", "data_dir"), "results_dir": ("paths", "results_dir"),
    # models and training
    "build_model": ("models", "build_model"), "encode_dataset": ("models", "encode_dataset"),
    "fit": ("training", "fit"), "train_or_load": ("training", "train_or_load"), "Trained": ("training", "Trained"),
    "History": ("training", "History"), "Callback": ("training", "Callback"), "Recorder": ("training", "Recorder"),
    "CheckpointError": ("training", "CheckpointError"), "TrainingDiverged": ("training", "TrainingDiverged"),
    "load_checkpoint": ("training", "load_checkpoint"), "save_checkpoint": ("training", "save_checkpoint"),
    # the book
    "book_model": ("book.zoo", "book_model"), "get_classifier": ("book.zoo", "get_classifier"),
    "setup_notebook": ("book.notebook", "setup_notebook"), "check": ("book.notebook", "check"),
    "CheckFailed": ("book.notebook", "CheckFailed"),
    "save_results": ("book.results", "save_results"), "load_results": ("book.results", "load_results"),
    "show_source": ("book.display", "show_source"), "quiz": ("book.display", "quiz"),
    "table": ("book.display", "table"),
    # modules
    "config": ("config", None), "data": ("data", None), "devices": ("devices", None), "paths": ("paths", None),
    "losses": ("losses", None), "models": ("models", None), "training": ("training", None),
    "metrics": ("metrics", None), "traversal": ("traversal", None), "parallel": ("parallel", None),
    "viz": ("viz", None), "plots": ("viz.plots", None), "diagrams": ("viz.diagrams", None),
    "widgets": ("viz.widgets", None), "explorer": ("viz.explorer", None),
    "book": ("book", None), "zoo": ("book.zoo", None), "results": ("book.results", None),
    "compare": ("book.compare", None), "sweeps": ("book.sweeps", None), "exercises": ("book.exercises", None),
    "display": ("book.display", None),
}

__all__ = sorted(_API)


def __getattr__(name: str):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'replearn_core' has no attribute {name!r}") from None
    value = importlib.import_module(f".{module}", __name__)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

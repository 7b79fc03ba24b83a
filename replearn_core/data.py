"""The book's data: MNIST and the Olivetti faces, vendored under ``data/`` and checksummed.

Nothing is downloaded. Every file is verified on load; a missing or altered file
raises :class:`DataFileError` naming the file, the expected and found checksums and
how to restore it.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import TrainConfig, require
from .devices import world
from .paths import data_dir

# MD5 of the *uncompressed* IDX content: the official MNIST checksums.
MNIST_FILES = {
    "train": {
        "images": ("train-images-idx3-ubyte.gz", "6bbc9ace898e44ae57da46a324031adb"),
        "labels": ("train-labels-idx1-ubyte.gz", "a25bea736e30d166cdddb491f175f624"),
    },
    "test": {
        "images": ("t10k-images-idx3-ubyte.gz", "2646ac647ad5339dbf082846283269ea"),
        "labels": ("t10k-labels-idx1-ubyte.gz", "27ae3e4e09519cfbb04c329615203637"),
    },
}
MNIST_COUNTS = {"train": 60_000, "test": 10_000}

OLIVETTI_FACES = ("olivettifaces.mat", "b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d")
OLIVETTI_GLASSES = ("glasses.csv", "cf9dab3cc73456906f81a686ab6d8cc50f05d1e3dacb8bcad513ee15c629a61d")
#: Subjects photographed both with and without glasses (same-person checks of glasses removal).
SUBJECTS_WITH_AND_WITHOUT_GLASSES = (3, 6, 12, 16, 18, 19, 35)

RESTORE_HINT = ("restore it from the replearn repository's data/ folder (in a checkout: "
                "git checkout -- data/; see data/README.md), or point $REPLEARN_DATA at a good copy")


class DataFileError(RuntimeError):
    """A vendored data file is missing, unreadable or does not match its checksum."""


def _read_checked(path: Path, expected: str, algorithm: str, decompress: bool) -> bytes:
    if not path.is_file():
        raise DataFileError(f"data file {path} is missing (expected {algorithm} {expected}); {RESTORE_HINT}")
    try:
        raw = path.read_bytes()
        content = gzip.decompress(raw) if decompress else raw
    except (OSError, EOFError) as exc:
        raise DataFileError(f"data file {path} cannot be read ({exc}); expected {algorithm} "
                            f"{expected} of its {'uncompressed ' if decompress else ''}content; "
                            f"{RESTORE_HINT}") from exc
    found = hashlib.new(algorithm, content).hexdigest()
    if found != expected:
        raise DataFileError(f"data file {path} is corrupt: {algorithm} of its "
                            f"{'uncompressed ' if decompress else ''}content is {found}, expected "
                            f"{expected}; {RESTORE_HINT}")
    return content


def _parse_idx(content: bytes, path: Path) -> np.ndarray:
    """Parse an IDX file: magic (0x0000, dtype 0x08 = uint8, ndim), big-endian dims, data."""
    if len(content) < 4 or content[0:2] != b"\x00\x00" or content[2] != 0x08:
        raise DataFileError(f"data file {path} is not an uint8 IDX file; {RESTORE_HINT}")
    ndim = content[3]
    dims = np.frombuffer(content, dtype=">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


@lru_cache(maxsize=4)
def _load_mnist_cached(split: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(root) / "MNIST" / "raw"
    arrays = {}
    for kind, (name, md5) in MNIST_FILES[split].items():
        path = folder / name
        arrays[kind] = _parse_idx(_read_checked(path, md5, "md5", decompress=True), path)
    return arrays["images"], arrays["labels"]


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``split`` ("train": 60,000 or "test": 10,000) as uint8 images [N, 28, 28] and int64 labels."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = _load_mnist_cached(split, str(data_dir()))
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def mnist_tensors(split: str = "train", device: torch.device | str = "cpu", *, flatten: bool = True,
                  subset: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as float32 in [0, 1] on ``device``: [N, 784] (``flatten``) or [N, 1, 28, 28]."""
    images, labels = load_mnist(split)
    if subset is not None:
        images, labels = images[:subset], labels[:subset]
    x = images.to(device=device, dtype=torch.float32).div_(255.0)
    x = x.reshape(len(x), 784) if flatten else x.unsqueeze(1)
    return x, labels.to(device)


def mnist_batches(train: TrainConfig, device: torch.device | str, *, images: bool = False) -> "DeviceBatches":
    """The MNIST training batches of ``train`` (its batch size, seed and ``train_subset``) on ``device``:
    flat [B, 784] vectors, or [B, 1, 28, 28] ``images`` for convolutional models. In a data-parallel
    job each process gets its shard of every batch."""
    x, y = mnist_tensors("train", device, flatten=not images, subset=train.train_subset)
    rank, size = world()
    return DeviceBatches(x, y, batch_size=train.batch_size, shuffle=True, seed=train.seed,
                         num_shards=size, shard_index=rank)


@lru_cache(maxsize=2)
def _load_olivetti_cached(root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import io

    from scipy.io import loadmat

    folder = Path(root) / "olivetti"
    faces_path = folder / OLIVETTI_FACES[0]
    content = _read_checked(faces_path, OLIVETTI_FACES[1], "sha256", decompress=False)
    faces = loadmat(io.BytesIO(content))["faces"]  # (4096, 400), each column a column-major 64x64 face
    images = faces.T.reshape(400, 64, 64).transpose(0, 2, 1).astype(np.float32) / 255.0
    csv_path = folder / OLIVETTI_GLASSES[0]
    rows = list(csv.DictReader(io.StringIO(
        _read_checked(csv_path, OLIVETTI_GLASSES[1], "sha256", decompress=False).decode())))
    subjects = np.array([int(r["subject"]) for r in rows], dtype=np.int64)
    glasses = np.array([int(r["glasses"]) for r in rows], dtype=np.int64)
    return np.ascontiguousarray(images), subjects, glasses


def load_olivetti() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Olivetti faces: float32 [400, 64, 64] in [0, 1], subject ids [400], glasses labels [400] (1 = glasses)."""
    images, subjects, glasses = _load_olivetti_cached(str(data_dir()))
    return torch.from_numpy(images.copy()), torch.from_numpy(subjects.copy()), torch.from_numpy(glasses.copy())


FACE_SIDE = 64  # Olivetti faces are 64x64
#: Held-out subjects of the face chapters: the 7 people photographed both with and without glasses
#: (the identity check needs their no-glasses photos untouched by training: they are the gallery)
#: and 3 people who never wear glasses (more gallery identities). The other 30 subjects (the 8 who
#: always wear glasses and 22 who never do) are the training subjects.
FACE_TEST_SUBJECTS: tuple[int, ...] = tuple(sorted(SUBJECTS_WITH_AND_WITHOUT_GLASSES + (0, 20, 38)))


def split_by_subject(subjects: torch.Tensor, test_subjects: tuple[int, ...] | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of train and test images such that no subject appears in both."""
    test_mask = torch.isin(subjects, torch.as_tensor(list(test_subjects), dtype=subjects.dtype))
    return torch.nonzero(~test_mask).flatten(), torch.nonzero(test_mask).flatten()


class DeviceBatches:
    """Mini-batches of tensors that live on one device, shuffled by index each epoch.

    The whole data set is one tensor on the device (MNIST is 47 MB as uint8,
    188 MB as float32), so a batch is a single index-select: no DataLoader,
    no PIL, no host-to-device copy per step. Shuffling uses a generator seeded by
    ``(seed, epoch)``, so a run is reproducible and ``epoch`` can be set to resume.

    ``num_shards``/``shard_index`` split every global batch between data-parallel
    processes: shard ``i`` gets rows ``i::num_shards``... of the *same* global
    permutation, so ``num_shards`` processes see exactly the batches one process
    would see. All shards of a batch have the same size (so that averaging their
    gradients gives the gradient of the whole batch): a last, partial batch is cut
    to a multiple of ``num_shards`` rows (at most ``num_shards - 1`` examples are
    left out of that epoch), or dropped if it has fewer rows than shards.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, num_shards: int = 1, shard_index: int = 0):
        if not tensors:
            raise ValueError("DeviceBatches needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError(f"all tensors must have the same length, got {[len(t) for t in tensors]}")
        if any(t.device != tensors[0].device for t in tensors):
            raise ValueError("all tensors must be on the same device")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not (0 <= shard_index < num_shards):
            raise ValueError(f"shard_index must be in [0, {num_shards}), got {shard_index}")
        if batch_size % num_shards:
            raise ValueError(f"batch_size ({batch_size}) must be divisible by num_shards ({num_shards})")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_shards = num_shards
        self.shard_index = shard_index
        self.epoch = 0

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def __len__(self) -> int:
        n = len(self.tensors[0])
        if self.drop_last or n % self.batch_size < self.num_shards:  # no partial batch, or too small to shard
            return n // self.batch_size
        return -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation used for ``epoch`` (on the data's device)."""
        n = len(self.tensors[0])
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen).to(self.device, non_blocking=True)

    def __iter__(self):
        order = self.order(self.epoch)
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if self.num_shards > 1:
                idx = idx[:len(idx) - len(idx) % self.num_shards][self.shard_index::self.num_shards]
            # index_select copies whole rows; ``t[idx]`` (advanced indexing) goes through the
            # generic gather kernel element by element: 78 -> 18 us for a VAE batch of 128 x 784
            # on the CPU. The same values, bitwise.
            yield tuple(t.index_select(0, idx) for t in self.tensors)


@dataclass
class FaceSplit:
    """Olivetti faces split by subject, flattened to [N, 4096] on one device."""

    x_train: torch.Tensor
    glasses_train: torch.Tensor
    subjects_train: torch.Tensor
    x_test: torch.Tensor
    glasses_test: torch.Tensor
    subjects_test: torch.Tensor
    test_subjects: tuple[int, ...]

    @property
    def train_subjects(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.subjects_train.tolist())))


def face_split(device: torch.device | str = "cpu", test_subjects: tuple[int, ...] = FACE_TEST_SUBJECTS) -> FaceSplit:
    """The Olivetti faces split so that no subject is in both parts (:func:`split_by_subject`)."""
    require(len(test_subjects) > 0 and all(isinstance(s, int) and 0 <= s < 40 for s in test_subjects),
            "test_subjects", f"must be subject ids in 0..39, got {test_subjects!r}")
    x, subjects, glasses = load_olivetti()
    train_idx, test_idx = split_by_subject(subjects, test_subjects)
    x = x.reshape(len(x), -1).to(device)
    subjects, glasses = subjects.to(device), glasses.to(device)
    train_idx, test_idx = train_idx.to(device), test_idx.to(device)
    return FaceSplit(x[train_idx], glasses[train_idx], subjects[train_idx], x[test_idx], glasses[test_idx],
                     subjects[test_idx], tuple(test_subjects))


def augment_faces(x: torch.Tensor, *others: torch.Tensor, flips: bool = True,
                  shifts: tuple[int, ...] = ()) -> tuple[torch.Tensor, ...]:
    """Augmented copies of faces ``x`` [N, 64, 64] (or [N, 4096]) and labels ``others`` repeated alike.

    Every image appears as itself, its horizontal mirror image (``flips``) and, for each
    ``s`` in ``shifts``, each of those moved ``s`` pixels right and, separately, ``s`` pixels
    down (edges replicated): ``(1 + flips) * (1 + 2 * len(shifts))`` copies in all. Faces are
    symmetric enough that a mirror image is a plausible new photo of the same person.
    """
    side = FACE_SIDE
    flat = x.ndim == 2
    imgs = x.reshape(len(x), side, side) if flat else x
    require(imgs.shape[1:] == (side, side), "x", f"faces must be {side}x{side}, got {tuple(x.shape)}")
    views = [imgs]
    if flips:
        views.append(imgs.flip(-1))
    base = list(views)
    for s in shifts:
        require(isinstance(s, int) and not isinstance(s, bool) and s != 0 and abs(s) < side // 4, "shifts",
                f"shifts must be small non-zero integers of pixels, got {shifts!r}")
        p = abs(s)
        for v in base:
            padded = F.pad(v.unsqueeze(1), (p, p, p, p), mode="replicate").squeeze(1)
            views.append(padded[:, p:p + side, p - s:p - s + side])  # moved s pixels right
            views.append(padded[:, p - s:p - s + side, p:p + side])  # moved s pixels down
    out = torch.cat(views)
    out = out.reshape(len(out), -1) if flat else out
    reps = len(views)
    return (out, *(o.repeat(reps, *([1] * (o.ndim - 1))) for o in others))

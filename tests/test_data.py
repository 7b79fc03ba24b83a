import gzip
import hashlib
import shutil

import pytest
import torch

import replearn_core as rl
from replearn_core import data as D
from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()


def test_mnist_shapes_counts_and_labels():
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = rl.load_mnist(split)
        assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
        assert labels.shape == (n,) and labels.dtype == torch.int64
        assert int(labels.min()) == 0 and int(labels.max()) == 9
        assert int(images.max()) == 255 and int(images.min()) == 0
    # The first training labels of MNIST are well known.
    assert rl.load_mnist("train")[1][:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]


def test_mnist_checksums_are_the_official_ones():
    for split, files in D.MNIST_FILES.items():
        for name, md5 in files.values():
            content = gzip.decompress((REPO_ROOT / "data" / "MNIST" / "raw" / name).read_bytes())
            assert hashlib.md5(content).hexdigest() == md5


def test_mnist_tensors_float_range_and_layout():
    x, y = rl.mnist_tensors("test", flatten=True, subset=100)
    assert x.shape == (100, 784) and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    xi, _ = rl.mnist_tensors("test", flatten=False, subset=10)
    assert xi.shape == (10, 1, 28, 28)


def test_bad_split_raises():
    with pytest.raises(ValueError, match="split"):
        rl.load_mnist("validation")


def _copy_data(tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(REPO_ROOT / "data", dst)
    return dst


def test_missing_file_names_file_and_checksum(tmp_path, monkeypatch):
    dst = _copy_data(tmp_path)
    (dst / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("REPLEARN_DATA", str(dst))
    with pytest.raises(rl.DataFileError) as err:
        rl.load_mnist("test")
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "missing" in msg
    assert D.MNIST_FILES["test"]["labels"][1] in msg and "restore" in msg


def test_corrupt_file_names_expected_and_found_checksum(tmp_path, monkeypatch):
    dst = _copy_data(tmp_path)
    path = dst / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[5000] ^= 0xFF  # flip one pixel
    path.write_bytes(gzip.compress(bytes(content)))
    monkeypatch.setenv("REPLEARN_DATA", str(dst))
    with pytest.raises(rl.DataFileError) as err:
        rl.load_mnist("test")
    msg = str(err.value)
    assert "corrupt" in msg and D.MNIST_FILES["test"]["images"][1] in msg
    assert hashlib.md5(bytes(content)).hexdigest() in msg


def test_truncated_gzip_is_reported(tmp_path, monkeypatch):
    dst = _copy_data(tmp_path)
    path = dst / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    monkeypatch.setenv("REPLEARN_DATA", str(dst))
    with pytest.raises(rl.DataFileError, match="train-labels-idx1-ubyte.gz"):
        rl.load_mnist("train")


def test_olivetti_shapes_and_labels():
    faces, subjects, glasses = rl.load_olivetti()
    assert faces.shape == (400, 64, 64) and faces.dtype == torch.float32
    assert 0.0 <= float(faces.min()) and float(faces.max()) <= 1.0
    assert subjects.tolist() == [i // 10 for i in range(400)]
    assert int(glasses.sum()) == 119
    both = [s for s in range(40) if 0 < int(glasses[subjects == s].sum()) < 10]
    assert tuple(both) == D.SUBJECTS_WITH_AND_WITHOUT_GLASSES


def test_olivetti_corrupt_file(tmp_path, monkeypatch):
    dst = _copy_data(tmp_path)
    (dst / "olivetti" / "glasses.csv").write_text("index,subject,glasses\n0,0,1\n")
    monkeypatch.setenv("REPLEARN_DATA", str(dst))
    with pytest.raises(rl.DataFileError, match=D.OLIVETTI_GLASSES[1]):
        rl.load_olivetti()


def test_split_by_subject_keeps_subjects_apart():
    _, subjects, _ = rl.load_olivetti()
    train_idx, test_idx = rl.split_by_subject(subjects, [3, 7, 39])
    assert len(train_idx) == 370 and len(test_idx) == 30
    assert set(subjects[test_idx].tolist()) == {3, 7, 39}
    assert not set(subjects[train_idx].tolist()) & {3, 7, 39}


def test_device_batches_cover_data_once_and_are_reproducible():
    x = torch.arange(10).float().unsqueeze(1)
    y = torch.arange(10)
    b = rl.DeviceBatches(x, y, batch_size=4, seed=3)
    assert len(b) == 3
    epoch1 = torch.cat([yb for _, yb in b])
    assert sorted(epoch1.tolist()) == list(range(10))
    epoch2 = torch.cat([yb for _, yb in b])
    assert not torch.equal(epoch1, epoch2)  # reshuffled each epoch
    again = rl.DeviceBatches(x, y, batch_size=4, seed=3)
    assert torch.equal(torch.cat([yb for _, yb in again]), epoch1)
    assert len(rl.DeviceBatches(x, y, batch_size=4, drop_last=True)) == 2


def test_device_batches_shards_split_the_global_batch():
    x = torch.arange(16).float()
    full = [b[0] for b in rl.DeviceBatches(x, batch_size=8, seed=1)]
    shards = [[b[0] for b in rl.DeviceBatches(x, batch_size=8, seed=1, num_shards=2, shard_index=i)] for i in (0, 1)]
    for k, batch in enumerate(full):
        assert sorted(torch.cat([shards[0][k], shards[1][k]]).tolist()) == sorted(batch.tolist())


def test_device_batches_validation():
    with pytest.raises(ValueError, match="same length"):
        rl.DeviceBatches(torch.zeros(3), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        rl.DeviceBatches(torch.zeros(3), batch_size=0)

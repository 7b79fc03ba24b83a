"""The speed benchmark's pieces on tiny runs: data for torchvision, both loops, fallbacks, output."""
import json

import pytest
import torch

from replearn_core.book import benchmarks
from replearn_tools import bench
from replearn_core.data import DataFileError


def test_torchvision_reads_the_vendored_mnist(tmp_path):
    from torchvision import datasets

    with bench.torchvision_mnist_root() as root:
        train = datasets.MNIST(root, train=True, download=False)
        test = datasets.MNIST(root, train=False, download=False)
        assert (len(train), len(test)) == (60_000, 10_000)
        img, label = train[0]
        assert img.size == (28, 28) and label == 5


def test_corrupt_vendored_file_is_refused(tmp_path, monkeypatch):
    import gzip
    import shutil

    from replearn_core.paths import data_dir

    fake = tmp_path / "MNIST" / "raw"
    fake.mkdir(parents=True)
    for p in (data_dir() / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(p, fake / p.name)
    (fake / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01garbage"))
    monkeypatch.setenv("REPLEARN_DATA", str(tmp_path))
    with pytest.raises(DataFileError, match="t10k-labels"):
        with bench.torchvision_mnist_root():
            pass


def test_examples_vae_matches_the_book_vae_architecture():
    from replearn_core.models.base import build_model
    from replearn_core.models.vae import VAEConfig

    naive = bench.ExamplesVAE()
    book = build_model(VAEConfig(hidden=(400,), latent_dim=20))
    assert sum(p.numel() for p in naive.parameters()) == sum(p.numel() for p in book.parameters())
    recon, mu, logvar = naive(torch.rand(4, 1, 28, 28))
    assert recon.shape == (4, 784) and mu.shape == logvar.shape == (4, 20)


def test_examples_dcgan_matches_the_book_dcgan_architecture():
    from replearn_core.models.base import build_model
    from replearn_core.models.dcgan import DCGANConfig

    book = build_model(DCGANConfig.pytorch_examples(64))
    g, d = bench.ExamplesGenerator(), bench.ExamplesDiscriminator()
    assert sum(p.numel() for p in g.parameters()) == sum(p.numel() for p in book.generator.parameters())
    assert sum(p.numel() for p in d.parameters()) == sum(p.numel() for p in book.discriminator.parameters())
    assert g(torch.randn(2, 100, 1, 1)).shape == (2, 1, 64, 64)


def test_both_vae_loops_train_and_report_times_and_test_loss():
    with bench.torchvision_mnist_root() as root:
        naive = bench.naive_vae(root, torch.device("cpu"), epochs=2, subset=512, test_subset=500)
    fast = bench.replearn_vae(torch.device("cpu"), epochs=2, subset=512, test_subset=500)
    for r in (naive, fast):
        assert len(r["epoch_seconds"]) == 2 and r["iterations_per_epoch"] == 4
        assert 150 < r["test_loss"] < 550  # nats per image: trained a little from ~543
    assert naive["data_seconds"] > 0
    assert bench.epoch_time(naive) == naive["epoch_seconds"][1]  # the first epoch is the warm-up


def test_both_dcgan_loops_run_full_epochs():
    # the GPU path of the benchmark (whole epochs), on 2 batches per epoch
    with bench.torchvision_mnist_root() as root:
        naive = bench.naive_dcgan(root, torch.device("cpu"), epochs=2, subset=128)
    fast = bench.replearn_dcgan(torch.device("cpu"), epochs=2, subset=128)
    for r in (naive, fast):
        assert len(r["epoch_seconds"]) == 2 and r["iterations_per_epoch"] == 2
        assert 0 < r["d_loss"] < 10 and 0 < r["g_loss"] < 20


def test_extrapolated_epoch_time():
    r = {"epoch_seconds": [2.0], "timed_iterations": 20, "iterations_per_epoch": 938}
    assert bench.epoch_time(r) == pytest.approx(2.0 / 20 * 938)


def test_failing_speed_options_are_recorded_and_the_next_set_is_used():
    calls = []

    def run(**options):
        calls.append(options)
        if options.get("amp") == "int8":
            raise ValueError("amp: unknown")
        return {"epoch_seconds": [1.0]}

    out = bench._with_fallback(run, fit_options=[{"amp": "int8"}, {"amp": "bfloat16"}], progress=lambda s: None,
                               label="test")
    assert calls == [{"amp": "int8"}, {"amp": "bfloat16"}]
    assert out["fit_options"] == {"amp": "bfloat16"} and "int8" in out["fit_options_failed"][0]
    assert bench._with_fallback(run, fit_options=[], progress=lambda s: None, label="test") is None


def test_table_json_and_figure_from_a_stored_record(tmp_path):
    row = {"naive_epoch_s": 40.0, "replearn_epoch_s": 5.0, "speedup": 8.0, "naive_epoch_seconds": [41, 40, 40],
           "replearn_epoch_seconds": [6, 5, 5], "iterations_per_epoch": 469, "quality_name": "test -ELBO",
           "naive_quality": 105.0, "replearn_quality": 105.2, "fast_epoch_s": 4.0, "fast_speedup": 10.0,
           "fast_quality": 105.3, "fit_options": {"amp": "bfloat16"}}
    rows = {"vae": row}
    assert "vae 8.0x (amp=bfloat16: 10.0x)" in bench.speedup_line(rows)
    assert "replearn fit (amp=bfloat16)" in bench.format_table(rows)
    record = {"device": "cpu", "device_label": "CPU test", "device_type": "cpu", "date": "2026-11-27 10:00 UTC",
              "results": rows}
    (tmp_path / "bench_cpu.json").write_text(json.dumps(record))
    records = benchmarks.stored_benchmarks(tmp_path)
    frame = benchmarks.benchmark_table(records)
    assert list(frame["speed-up"]) == ["1.0x", "8.0x", "10.0x"]
    import matplotlib

    matplotlib.use("Agg")
    from replearn_core.book.display import FIGURE_RC, figure_problems

    with matplotlib.rc_context(FIGURE_RC):  # the book's figure style
        fig = benchmarks.plot_epoch_times(records)
        assert fig.axes[0].get_yscale() == "log"
        assert figure_problems(fig) == []  # fits the column, no text below the book's sizes


def test_profile_names_where_a_step_spends_its_time():
    assert bench.profile_category("aten::addmm") == "matrix products"
    assert bench.profile_category("aten::convolution_backward") == "matrix products"
    assert bench.profile_category("aten::_fused_adam_") == "optimizer (Adam)"
    assert bench.profile_category("Optimizer.step#Adam.step") == "optimizer (Adam)"
    assert bench.profile_category("aten::index_select") == "batch indexing"
    assert bench.profile_category("aten::binary_cross_entropy_with_logits") == "loss"
    assert bench.profile_category("aten::sigmoid") == "other element-wise ops"
    assert bench.profile_category("AddmmBackward0") == "autograd bookkeeping"
    a, b = torch.randn(64, 64), torch.randn(64, 64)

    def step():
        torch.sigmoid(a @ b).sum()

    p = bench.profile_steps(step, steps=5, warmup=1)
    assert p["steps"] == 5 and p["step_ms"] > 0
    assert p["categories"]["matrix products"] > 0 and "other element-wise ops" in p["categories"]
    assert p["top"][0]["calls_per_step"] >= 1
    # the one 64x64 product of the step, timed alone at its shape
    assert 0 < p["matrix_alone_ms"] < 1e3
    text = bench.format_profile({"tiny": p})
    assert "matrix products" in text and "the same products timed alone" in text


def _cpuinfo_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo") as f:
            line = next(line for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        return None
    return set(line.split(":", 1)[1].split())


def test_native_bfloat16_means_the_cpu_has_bfloat16_units():
    # the benchmark runs its bfloat16 option only where the CPU computes bfloat16 itself: on an
    # AVX-512 CPU without AVX512-BF16 (Ice Lake) oneDNN emulates it, at half float32's speed
    flags = _cpuinfo_flags()
    if flags is None or "avx2" not in flags:
        pytest.skip("needs an x86 Linux /proc/cpuinfo")
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert bench.cpu_has_native_bfloat16() == native
    assert (bench.default_fit_options(torch.device("cpu")) == [{"amp": "bfloat16"}]) == native


def test_nbval_times_sums_each_chapters_cells():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "nbval_times.py"
    spec = importlib.util.spec_from_file_location("nbval_times", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    log = """============================= slowest durations ==============================
713.61s call     book/11_final_analysis.ipynb::Cell 2
2.50s setup    book/11_final_analysis.ipynb::Cell 0
472.30s call     book/07_dcgan.ipynb::Cell 14
0.01s teardown book/07_dcgan.ipynb::Cell 3
1.00s call     tests/test_bench.py::test_something
"""
    seconds = module.chapter_seconds(log)
    assert seconds == pytest.approx({"book/11_final_analysis.ipynb": 716.11, "book/07_dcgan.ipynb": 472.31})

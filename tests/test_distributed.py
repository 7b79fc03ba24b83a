"""Data parallelism: 2 CPU processes (gloo) train exactly like one process on the whole batches.

The test starts two processes with torch.multiprocessing, sets the environment variables that
``torchrun`` would set, and in each process

1. trains a small autoencoder with ``rl.fit`` on its shard of every batch (DDP, gloo),
2. runs the command line ``replearn train`` (as ``torchrun ... -m replearn_tools train``
   would), counting the checkpoint writes,
3. trains a two-phase model (the DCGAN) for two steps, which needs DDP to cope with
   parameters a phase does not use.

The parent then trains the same autoencoder in one process on the unsharded batches and
compares.
"""
import json
import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

import replearn_core as rl
from replearn_core.models import AutoencoderConfig

WORLD = 2
AE = AutoencoderConfig(hidden=(32,), latent_dim=4)
TRAIN = rl.TrainConfig(epochs=2, batch_size=64, lr=1e-3, seed=3, train_subset=256)  # 4 steps per epoch
CLI_ARGS = ["autoencoder", "--set", "hidden=(32,)", "--set", "latent_dim=4", "--epochs", "2",
            "--batch-size", "64", "--seed", "3", "--train-subset", "256", "--threads", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ae_batches(shards: int = 1, index: int = 0) -> rl.DeviceBatches:
    x, y = rl.mnist_tensors("train", "cpu", subset=TRAIN.train_subset)
    return rl.DeviceBatches(x, y, batch_size=TRAIN.batch_size, seed=TRAIN.seed, num_shards=shards, shard_index=index)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    from replearn_core import parallel
    from replearn_tools import train as train_cli
    from replearn_core.models.dcgan import DCGANConfig

    info = parallel.init_distributed(timeout_s=180)
    report = {"rank": info.rank, "world": info.world_size, "backend": info.backend}

    # 1. fit on this process's shard, wrapped in DistributedDataParallel by fit itself
    rl.seed_everything(TRAIN.seed)
    model = rl.build_model(AE)
    history = rl.fit(model, _ae_batches(WORLD, rank), TRAIN, progress=False)
    torch.save({k: v.detach() for k, v in model.state_dict().items()}, f"{out_dir}/ae_rank{rank}.pt")
    report["history"] = history.epochs

    # 2. the command line; count checkpoint writes of this process
    saves = []
    real_save = torch.save
    torch.save = lambda obj, f, *a, **k: (saves.append(str(f)), real_save(obj, f, *a, **k))[1]
    report["cli_rc"] = train_cli.main(CLI_ARGS)  # inside the running group, as under torchrun
    torch.save = real_save
    report["checkpoint_writes"] = len(saves)

    # 3. a two-phase model: some parameters are unused in some phases
    rl.seed_everything(0)
    gan = rl.build_model(DCGANConfig())
    x, y = rl.mnist_tensors("train", "cpu", flatten=False, subset=16)
    before = [p.detach().clone() for p in gan.parameters()]
    rl.fit(gan, rl.DeviceBatches(x, y, batch_size=8, num_shards=WORLD, shard_index=rank), rl.TrainConfig(epochs=1),
           progress=False)
    report["gan_changed"] = all(not torch.equal(a, b) for a, b in zip(before, gan.parameters()))
    flat = torch.cat([p.detach().flatten() for p in gan.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(WORLD)]
    torch.distributed.all_gather(gathered, flat)
    report["gan_ranks_equal"] = all(torch.equal(gathered[0], g) for g in gathered)
    parallel.cleanup_distributed()
    with open(f"{out_dir}/report{rank}.json", "w") as f:
        json.dump(report, f)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    previous = os.environ.get("REPLEARN_CACHE")
    os.environ["REPLEARN_CACHE"] = str(out / "cache")  # inherited by the spawned processes
    try:
        ctx = mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False,
                                 start_method="spawn")
        deadline = time.monotonic() + 420
        while not ctx.join(timeout=2):  # raises if a process fails
            if time.monotonic() > deadline:
                for process in ctx.processes:
                    process.terminate()
                pytest.fail("the two training processes did not finish within 420 s")
    finally:
        if previous is None:
            os.environ.pop("REPLEARN_CACHE", None)
        else:
            os.environ["REPLEARN_CACHE"] = previous
    reports = [json.loads((out / f"report{r}.json").read_text()) for r in range(WORLD)]
    return out, reports


def test_two_gloo_processes_equal_one_process_on_the_concatenated_batches(two_process_run):
    out, reports = two_process_run
    assert [(r["rank"], r["world"], r["backend"]) for r in reports] == [(0, 2, "gloo"), (1, 2, "gloo")]
    rl.seed_everything(TRAIN.seed)
    single = rl.build_model(AE)
    history = rl.fit(single, _ae_batches(), TRAIN, progress=False)
    reference = single.state_dict()
    for rank in range(WORLD):
        params = torch.load(out / f"ae_rank{rank}.pt", weights_only=True)
        for name, value in reference.items():
            torch.testing.assert_close(params[name], value, rtol=0, atol=1e-6, msg=f"rank {rank}: {name}")
        assert not torch.equal(params["encoder.0.weight"], rl.build_model(AE).state_dict()["encoder.0.weight"])
    # the recorded losses are those of the global batches: the mean over the two shards
    for name, values in history.epochs.items():
        assert reports[0]["history"][name] == pytest.approx(values, rel=1e-5)
        assert reports[1]["history"][name] == reports[0]["history"][name]


def test_only_rank_0_writes_the_checkpoint_and_it_matches_one_process(two_process_run):
    out, reports = two_process_run
    assert [r["cli_rc"] for r in reports] == [0, 0]
    assert [r["checkpoint_writes"] for r in reports] == [1, 0]
    files = sorted((out / "cache").glob("*.pt"))
    assert len(files) == 1
    payload = rl.load_checkpoint(files[0])
    assert payload["meta"]["processes"] == WORLD
    single = rl.train_or_load(AE, TRAIN, device="cpu", cache=False, progress=False).model
    for name, value in single.state_dict().items():
        torch.testing.assert_close(payload["state_dict"][name], value, rtol=0, atol=1e-6, msg=name)


def test_two_phase_model_trains_data_parallel_and_stays_in_sync(two_process_run):
    _, reports = two_process_run
    assert all(r["gan_changed"] for r in reports)
    assert all(r["gan_ranks_equal"] for r in reports)


def test_fit_refuses_unsharded_batches_or_missing_process_group():
    model = rl.build_model(AE)
    with pytest.raises(ValueError, match="ddp"):
        rl.fit(model, _ae_batches(), TRAIN, ddp=True, progress=False)


@pytest.mark.parametrize("n", [24, 26, 27, 25])
def test_shards_partition_every_global_batch_into_equal_parts(n):
    data = torch.arange(n)
    one = list(rl.DeviceBatches(data, batch_size=8, seed=1))
    shards = [list(rl.DeviceBatches(data, batch_size=8, seed=1, num_shards=4, shard_index=k)) for k in range(4)]
    assert len({len(s) for s in shards}) == 1  # every process takes the same number of steps
    for step, parts in enumerate(zip(*shards)):
        sizes = {len(p[0]) for p in parts}
        assert len(sizes) == 1 and sizes.pop() > 0  # equal, non-empty shards
        union = torch.cat([p[0] for p in parts]).sort().values
        glob = one[step][0]
        # the shards together are the global batch (a partial last batch cut to a multiple of 4)
        assert set(union.tolist()) <= set(glob.tolist()) and len(glob) - len(union) < 4

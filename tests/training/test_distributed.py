"""Data-parallel training: 2 gloo processes follow 1 process with the global batch; resume on 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from evgen.errors import ConfigError
from evgen.training import BalancedSource, TensorSource, Trainer, load_checkpoint
from evgen.training.data import RankBatches, global_steps, rank_rows
from evgen.training.distributed import free_port, torchrun_command

# Shared by the test process and the workers: a weighted regression in float64 (so that
# the only difference between 1 and 2 processes is summation order), balanced groups,
# a loss normalised by the batch's weight sum like Eq. (10).
COMMON = textwrap.dedent(
    """
    import torch
    from evgen.training import BalancedSource, TrainConfig

    def make_data():
        g = torch.Generator().manual_seed(3)
        x = torch.randn(200, 3, generator=g, dtype=torch.float64)
        y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        w = torch.rand(200, generator=g, dtype=torch.float64) + 0.2
        groups = torch.tensor([1] * 100 + [2] * 60 + [3] * 40)
        return x, y, w, groups

    def make_source():
        x, y, w, groups = make_data()
        return BalancedSource(x, y, w, groups=groups, per_group=39)   # 117 rows: last global batch 21 = 11 + 10

    def make_model():
        torch.manual_seed(11)
        return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()

    def loss_fn(model, batch):
        x, y, w = batch
        return ((model(x).squeeze(-1) - y) ** 2 * w).sum() / w.sum()

    def config(batch_size):
        return TrainConfig(epochs=6, batch_size=batch_size, lr_start=1e-3, lr_max=5e-2)
    """
)

WORKER = COMMON + textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from evgen.training.distributed import process_group
    from evgen.training import Trainer

    class Crash(Exception):
        pass

    def crash(info):
        if info["epoch"] == 2:
            raise Crash

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    with process_group("cpu") as info:
        model = make_model()
        if info.rank == 1:   # a different start: DDP broadcasts rank 0's parameters
            torch.nn.init.zeros_(model[0].weight)
        trainer = Trainer(model, loss_fn, config(16), seed=7, checkpoint=out / "full.pt",
                          progress=False, weight_index=2)
        history = trainer.fit(make_source())
        torch.save(model.state_dict(), out / f"rank{info.rank}.pt")
        if info.rank == 0:
            (out / "history.json").write_text(json.dumps(history))
        try:
            Trainer(make_model(), loss_fn, config(16), seed=7, checkpoint=out / "crashed.pt",
                    progress=False, weight_index=2, on_epoch_end=crash).fit(make_source())
        except Crash:
            pass
    """
)


@pytest.fixture(scope="module")
def common() -> dict:
    namespace: dict = {}
    exec(compile(COMMON, "COMMON", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Run WORKER in 2 gloo processes (the environment torchrun would set); returns the output folder."""
    out = tmp_path_factory.mktemp("ddp")
    script = out / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": "2",
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(out)],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r, (p, text) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0, f"rank {r} failed:\n{text}"
    return out


def _reference(common, epochs_done: int | None = None, tmp_path=None):
    model = common["make_model"]()
    trainer = Trainer(model, common["loss_fn"], common["config"](32), seed=7, progress=False, weight_index=2)
    return model, trainer.fit(common["make_source"]())


def test_two_processes_follow_one_process_with_the_global_batch(two_processes, common):
    reference, ref_history = _reference(common)
    state = load_checkpoint(two_processes / "full.pt")
    assert state["world_size"] == 2 and len(state["rank_rng"]) == 2
    assert (state["epoch"], state["steps_per_epoch"]) == (6, 4)  # ceil(117 / (16 × 2))
    assert json.loads(state["fingerprint"])["training"]["batch_size"] == 32  # the global batch
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(state["model"][key], value, rtol=0, atol=1e-10)
    # the other rank ends with the same parameters, although it started from different ones
    rank1 = torch.load(two_processes / "rank1.pt", weights_only=True)
    for key, value in state["model"].items():
        torch.testing.assert_close(rank1[key], value, rtol=0, atol=1e-12)
    history = json.loads((two_processes / "history.json").read_text())
    assert [r["processes"] for r in history] == [2] * 6
    for mine, ref in zip(history, ref_history, strict=True):
        assert mine["loss"] == pytest.approx(ref["loss"], rel=1e-10)
        assert mine["lr"] == pytest.approx(ref["lr"], rel=1e-12)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]  # it learned something


def test_two_process_checkpoint_resumes_on_one_process(two_processes, common, tmp_path):
    reference, ref_history = _reference(common)
    crashed = two_processes / "crashed.pt"
    assert load_checkpoint(crashed)["epoch"] == 2
    # the per-process batch alone does not fix the run: 16 on 1 process is another global batch
    wrong = Trainer(
        common["make_model"](),
        common["loss_fn"],
        common["config"](16),
        seed=7,
        checkpoint=crashed,
        progress=False,
    )
    with pytest.raises(ConfigError, match=r"batch_size: 32 then, 16 now.*global batch.*32 / N"):
        wrong.fit(common["make_source"]())
    resumed_path = tmp_path / "resumed.pt"
    resumed_path.write_bytes(crashed.read_bytes())
    model = common["make_model"]()
    torch.nn.init.zeros_(model[2].weight)  # restored from the checkpoint, not from this start
    history = Trainer(
        model,
        common["loss_fn"],
        common["config"](32),
        seed=7,
        checkpoint=resumed_path,
        progress=False,
        weight_index=2,
    ).fit(common["make_source"]())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert "processes" in history[1] and "processes" not in history[2]
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=1e-10)
    assert history[-1]["loss"] == pytest.approx(ref_history[-1]["loss"], rel=1e-10)


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_draw_disjoint_slices_of_the_same_balanced_epoch(world):
    groups = torch.tensor([1] * 50 + [2] * 20 + [3] * 8)
    source = BalancedSource(torch.arange(78), groups=groups)  # 24 rows per epoch
    (epoch_rows,) = source.epoch(0, torch.Generator().manual_seed(5))
    per_rank = [RankBatches(source, 5, r, world) for r in range(world)]
    for rb in per_rank:
        rb.set_epoch(0, torch.Generator().manual_seed(5))
    steps = per_rank[0].steps
    assert steps == global_steps(24, 5, world)
    seen = []
    for b in range(steps):
        parts = [rb.batch(b) for rb in per_rank]
        rows = torch.cat([p[0][0] for p in parts])
        # the global batch, cut in rank order, is the single-process batch of size 5 × world
        assert torch.equal(rows, epoch_rows[b * 5 * world : (b + 1) * 5 * world])
        assert sum(p[1] for p in parts) == pytest.approx(1.0)
        seen.append(rows)
    seen = torch.cat(seen)
    assert len(set(seen.tolist())) == len(seen)  # disjoint
    assert len(seen) == 24  # every row once (the last global batch, 4 or 9 rows, is split, not dropped)
    assert torch.bincount(groups[seen]).tolist() == [0, 8, 8, 8]


def test_weight_share_and_a_too_small_last_batch():
    w = torch.tensor([1.0, 1.0, 2.0, 4.0])
    source = TensorSource(torch.arange(4), w, shuffle=False)
    shares = []
    for r in range(2):
        rb = RankBatches(source, 2, r, 2, weight_index=1)
        rb.set_epoch(0, torch.Generator())
        shares.append(rb.batch(0)[1])
    assert shares == [pytest.approx(2 / 8), pytest.approx(6 / 8)]
    assert rank_rows(torch.arange(5), 1, 2).tolist() == [3, 4]
    assert global_steps(9, 4, 2) == 1  # the last global batch of 1 row cannot feed 2 processes
    assert global_steps(9, 4, 1) == 3


def test_torchrun_command_runs_the_evgen_module():
    cmd = torchrun_command(["train", "zjets-inn", "--data", "a.root"], 4)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc-per-node=4" in cmd and "--standalone" in cmd
    assert cmd[cmd.index("-m", 3) + 1 :] == ["evgen", "train", "zjets-inn", "--data", "a.root"]
    with pytest.raises(ConfigError, match="--nproc 0"):
        torchrun_command([], 0)


TINY_TOML = """
seed = 0
[base]
blocks = 2
bins = 4
hidden = 16
[jets]
blocks = 1
bins = 4
hidden = 8
[training]
epochs = 2
batch_size = 128
threads = 1
"""


@pytest.mark.slow
def test_evgen_train_nproc_2_writes_one_run_that_resumes_and_generates_on_one_process(tmp_path, monkeypatch):
    from evgen_zjets_inn.synthetic import toy_zjets_events

    from evgen.cli import main
    from evgen.generation.run_dir import RunDir
    from evgen.io import read_events, write_events

    monkeypatch.chdir(tmp_path)
    write_events("toy.root", toy_zjets_events(1500, seed=0))
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    train = [
        "train",
        "zjets-inn",
        "--data",
        "toy.root",
        "-o",
        "run",
        "--config",
        "tiny.toml",
        "--no-progress",
    ]
    assert main([*train, "--nproc", "2"]) == 0
    run = RunDir("run")
    assert run.read_provenance()["distributed"] == {"processes": 2, "global_batch_size": 256}
    for stage in ("base", "j2", "j3"):
        state = load_checkpoint(run.checkpoint_path(stage))
        assert state["world_size"] == 2 and state["epoch"] == 2
    assert not list(tmp_path.rglob(".*.tmp"))  # every file complete, written once
    weights = run.load_weights("zjets_inn")
    # one process with the same global batch finds the run complete and keeps its weights
    assert main([*train, "--batch-size", "256"]) == 0
    for key, value in run.load_weights("zjets_inn").items():
        assert torch.equal(value, weights[key])
    assert main(["generate", "run", "-n", "2000", "-o", "gen.root", "--seed", "1", "--no-progress"]) == 0
    assert len(read_events("gen.root")) == 2000

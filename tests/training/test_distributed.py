"""Multi-process training: `dskd train` under torchrun with 2 CPU processes (gloo), and the helpers.

The torchrun tests start real processes in a subprocess, in their own session so that a timeout
can stop the launcher and its workers together; torchrun --standalone picks a free port.
"""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dskd.checkpoint import load_checkpoint
from dskd.config import load_config, replace
from dskd.data.synthetic import write_synthetic_dataset
from dskd.errors import ConfigError, DskdError
from dskd.training.distributed import World, process_group, reduce_sum, run_on_main, world_from_env
from dskd.training.fit import fit

DRIVER = Path(__file__).parent.parent / "torchrun_driver.py"
RUN_FILES = ["best.pt", "config.yaml", "last.pt", "log.csv", "training_curves.png"]
# Small, but long enough (24 steps) for validation Dice to move well away from its start.
DDP_CONFIG = """\
data: {crop_size: 32, batch_size: 8, samples_per_epoch: 64, val_fraction: 0.25}
model: {depth: 2, width: 8}
optim: {epochs: 3, lr: 0.003, optimizer: adam}
run: {threads: 1}
"""


def test_world_from_torchrun_environment():
    assert world_from_env({"PATH": "/bin"}) is None
    world = world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert world == World(rank=3, size=4, local_rank=1)
    assert world.distributed and not world.is_main
    with pytest.raises(DskdError, match="start multi-process training with torchrun"):
        world_from_env({"WORLD_SIZE": "2"})


def test_single_process_helpers_do_nothing_collective():
    with process_group(None) as world:
        assert world == World() and world.is_main and not world.distributed
    assert run_on_main(lambda: 7, world) == 7
    assert torch.equal(reduce_sum(torch.ones(2), world), torch.ones(2))


def test_settings_that_depend_on_the_processes_fail_before_any_waits(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match="batch_size=4 .* not divisible by the 3 processes"):
        fit(tiny_config, tmp_path / "run", world=World(rank=0, size=3))
    with pytest.raises(ConfigError, match="sync_batchnorm=true needs GPUs"):
        fit(replace(tiny_config, run={"sync_batchnorm": True}), tmp_path / "run",
            world=World(rank=0, size=2))
    assert not (tmp_path / "run").exists()


def _torchrun(*args: str, timeout: float = 240) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               "2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers
        process.communicate()
        pytest.fail(f"torchrun did not finish within {timeout}s")
    assert process.returncode == 0, output[-4000:]


def _history(run: Path) -> list[dict]:
    with open(run / "log.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> tuple[Path, Path]:
    """`dskd train` under torchrun, 2 processes; returns (config file, work folder)."""
    work = tmp_path_factory.mktemp("ddp")
    data = write_synthetic_dataset(work / "data", n=12, size=64, seed=3, progress=False)
    config = work / "ddp.yaml"
    config.write_text(DDP_CONFIG.replace("data: {", f"data: {{root: {data}, "))
    _torchrun("-m", "dskd", "train", "--config", str(config), "--out", str(work / "straight"))
    return config, work


@pytest.mark.slow
def test_two_processes_write_one_run_and_reach_the_dice_of_one(two_process_run):
    config_path, work = two_process_run
    assert sorted(p.name for p in (work / "straight").iterdir()) == RUN_FILES
    two = _history(work / "straight")
    assert [int(r["epoch"]) for r in two] == [1, 2, 3]

    threads = torch.get_num_threads()
    try:  # one process, the same global batch of 8 (and one thread, as each torchrun process)
        fit(load_config(config_path), work / "single")
    finally:
        torch.set_num_threads(threads)
    one = _history(work / "single")
    dice_one, dice_two = (float(one[-1]["val_dice"]), float(two[-1]["val_dice"]))
    # Each process normalises its 4 crops with their own BatchNorm statistics where one process
    # uses all 8 (SyncBatchNorm is GPU-only), so the runs are close, not equal.
    assert dice_one - float(one[0]["val_dice"]) > 0.1  # it learned: the comparison means something
    assert abs(dice_two - dice_one) < 0.05
    assert float(two[0]["loss"]) == pytest.approx(float(one[0]["loss"]), rel=0.02)


@pytest.mark.slow
def test_two_processes_refuse_a_used_folder_and_resume_to_the_same_weights(two_process_run):
    config_path, work = two_process_run
    _torchrun(str(DRIVER), str(config_path), str(work))
    for rank in (0, 1):
        seen = json.loads((work / f"rank{rank}.json").read_text())
        assert "already holds a run" in seen["refused"] and seen["interrupted"]
        assert seen["world"] == [rank, 2]
        # A NaN on rank 1 alone stops both processes at that step instead of hanging rank 0.
        assert "epoch 1/3, step 3" in seen["nan"]
        assert ("loss is nan" if rank == 1 else "the loss of another process is not finite") in seen["nan"]
    straight = load_checkpoint(work / "straight" / "last.pt")
    resumed = load_checkpoint(work / "resumed" / "last.pt")
    assert resumed["epoch"] == 3
    assert all(torch.equal(v, resumed["model"][k]) for k, v in straight["model"].items())
    assert all(torch.equal(v, resumed["teacher"]["model"][k])
               for k, v in straight["teacher"]["model"].items())
    assert [r["val_dice"] for r in straight["history"]] == [r["val_dice"] for r in resumed["history"]]

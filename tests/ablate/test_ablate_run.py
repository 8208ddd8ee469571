"""`dskd ablate --grid` end to end on a tiny synthetic grid: training processes, resume, skip,
scoring, result files, and the submitit job array on submitit's local executor."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import dskd.training.fit as train_module
from dskd.ablate.grid import read_grid
from dskd.ablate.launch import run_grid
from dskd.ablate.runner import plan_grid
from dskd.ablate.runs import config_hash, run_dir
from dskd.checkpoint import load_checkpoint
from dskd.cli import main
from dskd.config import load_config
from dskd.data.readers import read_cases
from dskd.inference.machine import describe_machine
from dskd.training.fit import fit
from tests.conftest import TINY_OVERRIDES

pytestmark = pytest.mark.slow


@pytest.fixture()
def grid_file(tmp_path, tiny_dataset):
    """Two folds of the 8 tiny images, a base config at the tiny budget, a grid of one variant."""
    names = [c.name for c in read_cases("folder", tiny_dataset)]
    (tmp_path / "cv.json").write_text(json.dumps({"fold_0": names[:4], "fold_1": names[4:]}))
    base = {"data": {"root": str(tiny_dataset), "split_file": "cv.json", "fold": 0}, "run": {"threads": 1}}
    for text in TINY_OVERRIDES:
        key, value = text.split("=")
        section, name = key.split(".")
        base.setdefault(section, {})[name] = yaml.safe_load(value)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    grid = {"base": "base.yaml", "folds": [0, 1], "seeds": [0], "reference": "dice",
            "variants": [{"name": "dice", "set": ["loss.objective=dice"]}]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    return tmp_path / "grid.yaml"


def _cell_config(grid, cell):
    return load_config(grid.base, [*cell.overrides, "run.threads=1"])


def _interrupted(config, folder, monkeypatch):
    """A run stopped by Ctrl-C during its second epoch (last.pt holds epoch 1)."""
    real = train_module.train_one_epoch

    def interrupted(*args, **kwargs):
        if kwargs["description"].startswith("epoch 2/"):
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(config, folder)
    monkeypatch.setattr(train_module, "train_one_epoch", real)


def test_local_pool_resumes_scores_then_skips(grid_file, tmp_path, monkeypatch, capsys):
    grid, out = read_grid(grid_file), tmp_path / "out"
    assert [p.action for p in plan_grid(grid, out, out / "results", threads=1)] == ["train", "train"]
    finished, stopped = grid.cells()
    fit(_cell_config(grid, finished), run_dir(out, finished))
    _interrupted(_cell_config(grid, stopped), run_dir(out, stopped), monkeypatch)
    assert main(["ablate", "--grid", str(grid_file), "--out", str(out), "--dry-run"]) == 0
    assert "1 score, 1 resume" in capsys.readouterr().out

    planned, failures = run_grid(grid, out, jobs=2, threads=2)  # fold 1 resumed
    assert [p.action for p in planned] == ["score", "resume"] and failures == []
    log = (out / "runs" / "dice" / "fold1-seed0.log").read_text()
    assert "(resume)" in log
    assert "NOTE resumes with run.threads=1, as it started" in log and "not --threads 2" in log
    trained_by = json.loads((out / "results" / "dice.fold1-seed0.json").read_text())["trained_by"]
    assert len(trained_by) == 1 and len(trained_by[0].split("+")[0]) == 40  # the resumed session's
    trained_on = json.loads((out / "results" / "dice.fold1-seed0.json").read_text())["trained_on"]
    assert trained_on == [describe_machine()]
    for cell in (finished, stopped):
        assert load_checkpoint(run_dir(out, cell) / "last.pt")["epoch"] == 2
        result = json.loads((out / "results" / f"dice.{cell.key}.json").read_text())
        assert (result["variant"], result["fold"], result["seed"]) == ("dice", cell.fold, 0)
        assert result["config_hash"] == config_hash(_cell_config(grid, cell))
        assert result["primary"]["threshold"] == 0.5 and result["primary"]["checkpoint"] == "last.pt"
        assert result["secondary"]["checkpoint"] == "best.pt"
        held_out = json.loads((tmp_path / "cv.json").read_text())[f"fold_{cell.fold}"]
        assert sorted(result["primary"]["images"]) == sorted(held_out)
        assert all(len(row) == 6 for row in result["primary"]["images"].values())
        assert result["wall_seconds"] > 0

    planned, failures = run_grid(grid, out, jobs=2, threads=1)  # nothing left to do
    assert [p.action for p in planned] == ["skip", "skip"] and failures == []


def test_submitit_job_array_on_the_local_executor(grid_file, tmp_path):
    grid, out = read_grid(grid_file), tmp_path / "out"
    for cell in grid.cells():
        fit(_cell_config(grid, cell), run_dir(out, cell))  # trained: the jobs only score
    planned, failures = run_grid(grid, out, jobs=2, threads=1, launcher="slurm", cluster="local")
    assert [p.action for p in planned] == ["score", "score"] and failures == []
    assert sorted(p.name for p in (out / "results").iterdir()) == ["dice.fold0-seed0.json",
                                                                   "dice.fold1-seed0.json"]
    assert any((out / "submitit").iterdir())
    assert [p.action for p in plan_grid(grid, out, out / "results", threads=1)] == ["skip", "skip"]


def test_slurm_without_sbatch_is_a_one_line_error(tmp_path, monkeypatch):
    from dskd.ablate.launch import launch_submitit
    from dskd.errors import DskdError

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(DskdError, match="--launcher slurm needs Slurm's sbatch on PATH"):
        launch_submitit([], tmp_path / "submitit", parallelism=1, threads=1)


def test_a_grid_takes_the_results_of_equal_runs_from_another_grid(grid_file, tmp_path):
    grid, out = read_grid(grid_file), tmp_path / "out"
    for cell in grid.cells():
        fit(_cell_config(grid, cell), run_dir(out, cell))
    assert run_grid(grid, out, jobs=1, threads=1)[1] == []
    other = {"base": "base.yaml", "folds": [0, 1], "seeds": [0], "reference": "same",
             "reuse": ["out/results"],
             "variants": [{"name": "same", "set": ["loss.objective=dice"]},  # = the dice runs
                          {"name": "other", "set": ["loss.objective=dice", "optim.lr=0.002"]}]}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    second, out2 = read_grid(tmp_path / "other.yaml"), tmp_path / "out2"
    actions = {(p.cell.variant.name, p.cell.fold): p.action
               for p in plan_grid(second, out2, out2 / "results", threads=1)}
    assert actions == {("same", 0): "reuse", ("same", 1): "reuse",
                       ("other", 0): "train", ("other", 1): "train"}

    only_same = {**other, "variants": other["variants"][:1]}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(only_same))
    planned, failures = run_grid(read_grid(tmp_path / "other.yaml"), out2, jobs=1, threads=1)
    assert [p.action for p in planned] == ["reuse", "reuse"] and failures == []
    assert not (out2 / "runs").exists()  # nothing trained
    for cell in grid.cells():
        source = json.loads((out / "results" / f"dice.{cell.key}.json").read_text())
        taken = json.loads((out2 / "results" / f"same.{cell.key}.json").read_text())
        assert taken["reused_from"] == f"grid/dice.{cell.key}" and taken["variant"] == "same"
        assert taken["grid"] == "other" and taken["primary"] == source["primary"]
    # A taken result counts as scored: a cell with a fresh result and no run folder is skipped.
    assert [p.action for p in plan_grid(read_grid(tmp_path / "other.yaml"), out2, out2 / "results",
                                        threads=1)] == ["skip", "skip"]


def test_a_second_ablate_on_the_same_folder_is_refused(grid_file, tmp_path):
    from dskd.errors import DskdError
    from dskd.folder_lock import folder_lock

    grid, out = read_grid(grid_file), tmp_path / "out"
    out.mkdir()
    with folder_lock(out, command="dskd ablate"):  # the first `dskd ablate`, still running
        with pytest.raises(DskdError, match=r"out: another dskd ablate \(pid \d+\) is writing here"):
            run_grid(grid, out, jobs=1, threads=1)
        planned, _ = run_grid(grid, out, jobs=1, threads=1, dry_run=True)  # looking is allowed
        assert [p.action for p in planned] == ["train", "train"]
    assert not (out / "runs").exists()


def _processes() -> list[tuple[int, int, str, str]]:
    """(pid, parent pid, state, command line) of every live process (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):  # ended while we looked
            continue
        if state != "Z":
            found.append((int(entry.name), int(ppid), state, command))
    return found


def _children(pid: int) -> list[int]:
    return [p for p, ppid, _, _ in _processes() if ppid == pid]


def _alive(pid: int) -> bool:
    return any(p == pid for p, _, _, _ in _processes())


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_killing_ablate_ends_its_training_processes(grid_file, tmp_path):
    raw = yaml.safe_load(grid_file.read_text())
    raw["variants"] = [{"name": "dice", "set": ["loss.objective=dice", "optim.epochs=5000"]}]
    grid_file.write_text(yaml.safe_dump(raw))
    out, descendants = tmp_path / "killed", []
    parent = subprocess.Popen([sys.executable, "-m", "dskd", "ablate", "--grid", str(grid_file), "--out",
                               str(out), "--jobs", "2", "--threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    logs = [out / "runs" / "dice" / f"fold{k}-seed0.log" for k in (0, 1)]
    try:
        deadline = time.monotonic() + 120
        while not all(p.is_file() and "epoch 2/" in p.read_text() for p in logs):
            assert time.monotonic() < deadline and parent.poll() is None, "no training started"
            time.sleep(0.2)
        # the pool's workers, each one's training process (and multiprocessing's tracker)
        descendants = _descendants(parent.pid)
        assert len(descendants) >= 4
        parent.send_signal(signal.SIGTERM)  # as `kill` does: the workers are not told directly
        parent.wait(timeout=30)
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in descendants):
            assert time.monotonic() < deadline, f"still running: {[p for p in descendants if _alive(p)]}"
            time.sleep(0.2)
    finally:
        for pid in (p for p in descendants if _alive(p)):
            os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
    assert "epoch 5000/" not in logs[0].read_text()  # stopped, to be resumed

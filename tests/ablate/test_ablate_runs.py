"""Adopting run folders: the path-normalised config comparison, its hash, and each run's state."""

import pytest

from dskd.ablate.grid import GridError
from dskd.ablate.runs import config_hash, inspect_run, normalise_config, resume_overrides
from dskd.checkpoint import save_checkpoint
from dskd.config import config_from_dict, config_to_dict, load_config


def _config(tmp_path, *extra):
    split = tmp_path / "here" / "cv.json"
    split.parent.mkdir(exist_ok=True)
    split.write_text('{"fold_0": ["a"], "fold_1": ["b"]}')
    return load_config(None, [f"data.root={tmp_path / 'here' / 'data'}", f"data.split_file={split}",
                              "data.fold=1", "optim.epochs=3", "run.threads=1", *extra])


def _elsewhere(raw, tmp_path, **run):
    """The same config as stored by a run on another machine (other paths, other threads)."""
    other = tmp_path / "there"
    other.mkdir(exist_ok=True)
    (other / "cv.json").write_text('{"fold_0": ["a"], "fold_1": ["b"]}')
    return {**raw, "data": {**raw["data"], "root": str(other / "data"), "split_file": str(other / "cv.json")},
            "run": {**raw["run"], **run}}


def _run(folder, stored, epoch):
    save_checkpoint({"config": stored, "model": {}, "epoch": epoch}, folder / "last.pt")


def test_machine_paths_and_threads_do_not_change_the_config_or_its_hash(tmp_path):
    config = _config(tmp_path)
    moved = config_from_dict(_elsewhere(config_to_dict(config), tmp_path, threads=4))
    assert moved.data.split_file != config.data.split_file
    assert normalise_config(moved) == normalise_config(config)
    assert normalise_config(config)["data"]["split_file"] == "cv.json"
    assert "threads" not in normalise_config(config)["run"]
    assert config_hash(moved) == config_hash(config)
    assert config_hash(_config(tmp_path, "loss.tau=1")) != config_hash(config)
    assert len(config_hash(config)) == 16


def test_run_states(tmp_path):
    config = _config(tmp_path)
    folder = tmp_path / "run"
    assert inspect_run(folder, config).status == "new"
    stored = _elsewhere(config_to_dict(config), tmp_path)
    _run(folder, stored, 2)
    state = inspect_run(folder, config)
    assert (state.status, state.epoch) == ("interrupted", 2)
    _run(folder, stored, 3)
    assert inspect_run(folder, config).status == "interrupted"  # fit did not get to its end
    (folder / "training_curves.png").write_bytes(b"")
    assert inspect_run(folder, config).status == "finished"
    stored["loss"] = {**stored["loss"], "tau": 1.0}
    _run(folder, stored, 3)
    state = inspect_run(folder, config)
    assert state.status == "conflict" and "loss.tau" in state.detail and "\n" not in state.detail


def test_a_run_made_before_an_option_existed_is_still_the_same_run(tmp_path):
    config = _config(tmp_path)
    stored = config_to_dict(config)
    stored["loss"] = {k: v for k, v in stored["loss"].items() if k != "deep_supervision_decay"}
    _run(tmp_path / "run", stored, 3)
    (tmp_path / "run" / "training_curves.png").write_bytes(b"")
    assert inspect_run(tmp_path / "run", config).status == "finished"


def test_resume_uses_the_stored_paths_and_threads_when_they_hold_the_same_files(tmp_path):
    config = _config(tmp_path)
    (tmp_path / "there" / "data").mkdir(parents=True)
    stored = _elsewhere(config_to_dict(config), tmp_path, threads=2)
    assert resume_overrides(stored, config) == [
        f"data.root={tmp_path / 'there' / 'data'}", f"data.split_file={tmp_path / 'there' / 'cv.json'}",
        "run.threads=2"]
    assert resume_overrides(config_to_dict(config), config) == []
    (tmp_path / "there" / "cv.json").write_text('{"fold_0": ["b"], "fold_1": ["a"]}')
    with pytest.raises(GridError, match="cannot resume: the run read data.split_file="):
        resume_overrides(stored, config)


def test_a_result_names_the_file_its_run_started_from(tmp_path):
    from dskd.ablate.grid import Cell, Variant
    from dskd.ablate.results import build_result
    from dskd.checkpoint import file_sha256

    init = tmp_path / "pretrained.pt"
    init.write_bytes(b"first build")
    config = _config(tmp_path, f"model.init={init}")

    def result(config):
        return build_result(grid="g", reference="a", cell=Cell(Variant("a", ()), 1, 0), config=config,
                            config_hash="h", commit="c", trained_by=[], trained_on=[], seconds=1.0,
                            figures={})

    first = result(config)["init_sha256"]
    assert first == file_sha256(init)
    init.write_bytes(b"rebuilt")  # same name, other weights: another result
    assert result(config)["init_sha256"] != first
    assert "init_sha256" not in result(_config(tmp_path))

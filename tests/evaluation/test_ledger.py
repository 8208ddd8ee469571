"""The test ledger: scoring a split file's test part appends one line; other parts do not."""

import json
import os

import pytest

from dskd.cli import main
from dskd.errors import DskdError
from dskd.evaluation.ledger import check_ledger, ledger_path, read_ledger
from tests.model_files import write_random_checkpoint


@pytest.fixture()
def tiny_run(tmp_path):
    """Three synthetic angiograms, a split file and a random checkpoint."""
    data = tmp_path / "data"
    assert main(["synth", "--out", str(data), "--n", "3", "--size", "64", "--seed", "3"]) == 0
    split = tmp_path / "splits" / "s.json"
    split.parent.mkdir()
    split.write_text(json.dumps({"train": ["case_0000"], "val": ["case_0001"], "test": ["case_0002"]}))
    return data, split, write_random_checkpoint(tmp_path / "model.pt", depth=2, width=4)


def test_a_look_at_test_is_recorded_and_validation_is_not(tiny_run, tmp_path):
    data, split, checkpoint = tiny_run
    common = ["evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--split-file", str(split),
              "--no-report", "--metrics", "overlap"]
    assert main([*common, "--split", "val", "--out", str(tmp_path / "val")]) == 0
    assert read_ledger(ledger_path(split)) == []
    assert main([*common, "--out", str(tmp_path / "test")]) == 0
    [look] = read_ledger(split.parent / "test-ledger.jsonl")
    summary = json.loads((tmp_path / "test" / "summary.json").read_text())
    assert look["part"] == "test" and look["n_images"] == 1 and look["what"] == str(checkpoint)
    assert look["figure"]["dice"] == pytest.approx(summary["per_image"]["dice"]["mean"], abs=1e-4)
    assert look["command"] and look["commit"]  # the process that scored, and the code
    other = tmp_path / "elsewhere.jsonl"
    assert main([*common, "--out", str(tmp_path / "test2"), "--ledger", str(other)]) == 0
    assert len(read_ledger(other)) == 1 and len(read_ledger(ledger_path(split))) == 1


def test_an_unwritable_ledger_stops_before_the_work(tmp_path):
    with pytest.raises(DskdError, match="is a folder"):
        check_ledger(tmp_path)
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere: the read-only case cannot be shown")
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(DskdError, match="cannot be written"):
        check_ledger(folder / "test-ledger.jsonl")


def test_paths_under_the_working_directory_are_recorded_relative(tmp_path, monkeypatch):
    from dskd.evaluation.ledger import record_look

    project = tmp_path / "project"
    (project / "splits").mkdir(parents=True)
    monkeypatch.chdir(project)
    monkeypatch.setattr("sys.argv", [str(project / "benchmarks" / "x.py"), "--recipe", "r"])
    look = record_look(project / "splits" / "l.jsonl", split_file=project / "splits" / "s.json",
                       part="test", what="m.pt", data=str(tmp_path / "shared" / "data"), n_images=1,
                       figure={"dice": 0.5}, threshold=0.5, tta="none", out=project / "results" / "t")
    assert look["split_file"] == "splits/s.json" and look["data"] == "../shared/data"
    assert look["out"] == "results/t" and look["command"] == "python benchmarks/x.py --recipe r"
    assert read_ledger(project / "splits" / "l.jsonl") == [look]


def test_the_history_counts_looks_through_split_files_with_the_same_test_part():
    from tests.benchmark_scripts import load_benchmark

    history = load_benchmark("test_ledger_history")
    looks = [{"split_file": "splits/cimat.json"}, {"split_file": "splits/cimat_cv5.json"},
             {"split_file": "splits/drive.json"}]
    groups = history._split_files_by_test_part(looks)
    assert sorted(map(sorted, groups.values())) == [["splits/cimat.json", "splits/cimat_cv5.json"],
                                                    ["splits/drive.json"]]

import csv
import logging
import math

import pytest
import torch

import dskd.training.fit as train_module
import dskd.training.teachers as teachers_module
from dskd.checkpoint import load_checkpoint, load_model
from dskd.config import replace
from dskd.errors import CheckpointError, ConfigError
from dskd.training.fit import fit
from dskd.training.setup import lr_factor


def _weights(path):
    return load_checkpoint(path)["model"]


def _interrupt_then_resume(config, run_dir, monkeypatch, *, epoch: int, resumed_config=None) -> None:
    """Ctrl-C during `epoch` (1-based), check last.pt holds the epoch before, then --resume
    (with resumed_config when given)."""
    real_epoch = train_module.train_one_epoch

    def interrupted(*args, **kwargs):
        if kwargs["description"].startswith(f"epoch {epoch}/"):
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(config, run_dir)
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == epoch - 1
    monkeypatch.setattr(train_module, "train_one_epoch", real_epoch)
    fit(resumed_config or config, run_dir, resume=True)


@pytest.mark.parametrize("objective", ["dice", "deep_supervision", "pskd", "ddl", "dskd"])
def test_every_objective_trains(tiny_config, tmp_path, objective):
    config = replace(tiny_config, loss={"objective": objective}, optim={"epochs": 1})
    best = fit(config, tmp_path / objective)
    assert best.exists() and (tmp_path / objective / "log.csv").exists()
    model, stored, threshold = load_model(best)
    assert stored.loss.objective == objective and threshold == 0.5


def test_run_folder_contents(tiny_config, tmp_path):
    fit(tiny_config, tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.yaml", "log.csv", "best.pt", "last.pt", "training_curves.png"):
        assert (run / name).exists(), name
    with open(run / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[0]["alpha_t"]) == 0.0 and float(rows[1]["alpha_t"]) == 0.25
    assert "ddl" in rows[1] and rows[0]["ddl"] == ""  # no teacher, no DDL in the first epoch
    assert all(0 <= float(r["val_dice"]) <= 1 for r in rows)


def test_same_seed_same_weights(tiny_config, tmp_path):
    fit(tiny_config, tmp_path / "a")
    fit(tiny_config, tmp_path / "b")
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_interrupt_gives_same_final_weights(tiny_config, tmp_path, monkeypatch):
    config = replace(tiny_config, optim={"epochs": 3})
    fit(config, tmp_path / "straight")
    _interrupt_then_resume(config, tmp_path / "resumed", monkeypatch, epoch=2)

    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert resumed["epoch"] == 3
    assert all(torch.equal(straight["model"][k], resumed["model"][k]) for k in straight["model"])
    assert all(torch.equal(straight["teacher"]["model"][k], resumed["teacher"]["model"][k])
               for k in straight["teacher"]["model"])
    assert [r["val_dice"] for r in straight["history"]] == [r["val_dice"] for r in resumed["history"]]


def test_teacher_on_whole_images_teaches_from_epoch_two_and_resumes(tiny_config, tmp_path,
                                                                   monkeypatch):
    config = replace(tiny_config, teacher={"runs_on": "whole_images"}, optim={"epochs": 3})
    real_compute = teachers_module.TeacherMaps.compute
    computed = []

    def counting_compute(*args, **kwargs):
        computed.append(1)
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(teachers_module.TeacherMaps, "compute", counting_compute)
    fit(config, tmp_path / "straight")
    assert len(computed) == 2  # epochs 2 and 3: no teacher in the first
    with open(tmp_path / "straight" / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["ddl"] == "" and all(float(r["ddl"]) >= 0 for r in rows[1:])

    # Epoch 2 is the first with maps: the resumed run must remake them from the saved teacher.
    _interrupt_then_resume(config, tmp_path / "resumed", monkeypatch, epoch=2)
    straight, resumed = _weights(tmp_path / "straight" / "last.pt"), _weights(
        tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_refuses_to_overwrite_or_resume_a_different_run(tiny_config, tmp_path):
    fit(replace(tiny_config, optim={"epochs": 1}), tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run"):
        fit(tiny_config, tmp_path / "run")
    with pytest.raises(CheckpointError, match=r"config differs .*optim.epochs"):
        fit(tiny_config, tmp_path / "run", resume=True)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(tiny_config, tmp_path / "fresh", resume=True)


def test_validation_threshold_is_stored(tiny_config, tmp_path):
    config = replace(tiny_config, run={"threshold": "validation"}, optim={"epochs": 1})
    best = fit(config, tmp_path / "run")
    threshold = load_checkpoint(best)["threshold"]
    assert 0.05 <= threshold <= 0.95


def test_lr_schedules():
    from dskd.config import OptimConfig

    step = OptimConfig(schedule="step", step_size=10, gamma=0.3, epochs=30)
    assert [lr_factor(e, step) for e in (0, 9, 10, 20)] == pytest.approx([1, 1, 0.3, 0.09])
    cosine = OptimConfig(schedule="cosine", epochs=10)
    assert lr_factor(0, cosine) == 1 and lr_factor(5, cosine) == pytest.approx(0.5)


def test_lazy_data_read_by_workers_trains_to_the_same_weights(tiny_config, tmp_path):
    # Two epochs: the workers live across epochs and must still draw the second epoch's crops.
    config = tiny_config
    fit(config, tmp_path / "cached")
    fit(replace(config, data={"cache": False, "num_workers": 2}), tmp_path / "lazy")
    cached, lazy = _weights(tmp_path / "cached" / "last.pt"), _weights(tmp_path / "lazy" / "last.pt")
    assert all(torch.equal(cached[k], lazy[k]) for k in cached)


def test_bf16_on_cpu_trains_and_says_so(tiny_config, tmp_path, caplog, monkeypatch):
    config = replace(tiny_config, run={"amp": True, "device": "cpu"}, optim={"epochs": 1})
    with caplog.at_level(logging.INFO):
        fit(config, tmp_path / "on")
    assert "precision: bfloat16 autocast (asked for" in caplog.text
    last = torch.load(tmp_path / "on" / "last.pt", weights_only=True)
    assert last["precision"].startswith("bfloat16") and all(v.isfinite().all() for v in last["model"].values()
                                                              if v.is_floating_point())
    # auto: bf16 exactly where the CPU has bf16 units (here both answers are shown by pretending)
    import dskd.inference.precision as precision

    for units, expected in ((None, "float32 (auto: CPU without bf16 units"),
                            ("AMX", "bfloat16 autocast (auto")):
        monkeypatch.setattr(precision, "cpu_bf16_units", lambda units=units: units)
        fit(replace(config, run={"amp": "auto"}), tmp_path / f"auto-{units}")
        stored = torch.load(tmp_path / f"auto-{units}" / "best.pt", weights_only=True)["precision"]
        assert stored.startswith(expected)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.parametrize("amp_dtype", ["bfloat16", "float16"])
def test_mixed_precision_training_on_gpu(tiny_config, tmp_path, amp_dtype):
    if amp_dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    config = replace(tiny_config, run={"device": "cuda", "amp": True, "amp_dtype": amp_dtype})
    fit(config, tmp_path / "run")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert all(math.isfinite(value) for row in last["history"] for value in row.values())
    assert all(torch.isfinite(w).all() for w in last["model"].values() if w.is_floating_point())
    assert (last["scaler"] is not None) == (amp_dtype == "float16")  # float16 needs loss scaling
    assert all(w.device.type == "cpu" for w in last["model"].values())


@needs_cuda
def test_gpu_run_resumes_with_its_scaler(tiny_config, tmp_path, monkeypatch):
    config = replace(tiny_config, run={"device": "cuda", "amp": True, "amp_dtype": "float16"},
                     optim={"epochs": 2})
    _interrupt_then_resume(config, tmp_path / "run", monkeypatch, epoch=2)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 2


@needs_cuda
@pytest.mark.slow
def test_compiled_training_on_gpu(tiny_config, tmp_path):
    config = replace(tiny_config, run={"device": "cuda", "amp": True, "compile": True},
                     optim={"epochs": 2})
    fit(config, tmp_path / "run")
    history = load_checkpoint(tmp_path / "run" / "last.pt")["history"]
    assert len(history) == 2 and all(math.isfinite(row["loss"]) for row in history)


def test_dskd_on_top_of_deep_supervision_trains(tiny_config, tmp_path):
    config = replace(tiny_config, loss={"objective": "custom",
                                        "terms": {"deep_supervision": 1, "psdl": 1, "ddl": 1}})
    fit(config, tmp_path / "run")
    with open(tmp_path / "run" / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["ddl"] == ""  # no teacher in the first epoch
    assert all(float(r["deep_supervision"]) > 0 and float(r["psdl"]) > 0 for r in rows)
    assert float(rows[1]["ddl"]) >= 0


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path,
                                                                           monkeypatch):
    config = replace(tiny_config, optim={"epochs": 3})
    import dskd.training.step as step_module

    real_step = step_module.train_step
    calls = {"n": 0}

    def poisoned(training, batch, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # first step of epoch 2
            batch = type(batch)(batch.images * float("nan"), batch.masks, batch.placements)
        return real_step(training, batch, **kwargs)

    monkeypatch.setattr(step_module, "train_step", poisoned)
    with pytest.raises(step_module.NonFiniteLossError, match=r"epoch 2/3, step 1: loss is nan"):
        fit(config, tmp_path / "run")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_resume_with_other_threads(tiny_config, tmp_path, monkeypatch):
    config = replace(tiny_config, optim={"epochs": 2}, run={"threads": 1})
    _interrupt_then_resume(config, tmp_path / "run", monkeypatch, epoch=2,
                           resumed_config=replace(config, run={"threads": 2}))
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 2


def test_tensorboard_events_hold_every_term_and_overlays(tiny_config, tmp_path):
    pytest.importorskip("tensorboard", reason="pip install tensorboard (the [tensorboard] extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = replace(tiny_config, run={"tensorboard": True})
    fit(config, tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"loss/loss", "loss/dice", "loss/psdl", "loss/ddl", "schedule/lr", "schedule/alpha_t",
            "validation/val_dice"} <= scalars
    with open(tmp_path / "run" / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    logged = [e.value for e in events.Scalars("validation/val_dice")]
    assert logged == pytest.approx([float(r["val_dice"]) for r in rows], rel=1e-6)
    assert [e.step for e in events.Scalars("loss/ddl")] == [2]  # no teacher in epoch 1
    images = events.Tags()["images"]
    assert len(images) == 2  # the 2 validation images of the tiny set
    assert len(events.Images(images[0])) == 2  # one overlay per epoch

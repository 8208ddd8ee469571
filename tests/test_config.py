import pytest

from dskd.config import Config, load_config, replace, save_config
from dskd.errors import ConfigError


def test_defaults_follow_method():
    config = Config()
    assert config.loss.objective == "dskd"
    assert (config.loss.w_dice, config.loss.w_ddl, config.loss.w_psdl) == (1.0, 1.0, 1.0)
    assert config.loss.alpha_T == 0.5 and config.loss.ddl_patches == 16 and config.loss.tau == 3.0
    assert config.loss.ddl_form == "frequency" and config.teacher.kind == "snapshot"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.01\n  epochs: 5\nloss:\n  objective: dice\n")
    config = load_config(path, ["optim.epochs=7", "loss.tau=2"])
    assert config.optim.lr == 0.01 and config.optim.epochs == 7
    assert config.loss.objective == "dice" and config.loss.tau == 2.0


def test_relative_data_root_resolves_against_config_file(tmp_path):
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "c.yaml"
    path.write_text("data:\n  root: ../data\n")
    assert load_config(path).data.root == str((tmp_path / "data").resolve())


def test_round_trip(tmp_path):
    config = load_config(None, ["loss.objective=pskd", "model.width=8"])
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config


@pytest.mark.parametrize("override,message", [
    ("optim.learning_rate=1", r"unknown config key 'optim.learning_rate'.*did you mean 'lr'"),
    ("optimizer.lr=1", r"unknown config section 'optimizer'.*did you mean 'optim'"),
    ("loss.objective=dkd", r"loss.objective='dkd' is not an option.*did you mean 'dskd'"),
    ("optim.epochs=ten", r"optim.epochs='ten' must be an integer"),
    ("loss.ddl_patches=10", r"loss.ddl_patches=10 must be a perfect square"),
    ("loss.tau=0", r"loss.tau=0.0 must be > 0"),
    ("loss.cldice_iterations=0", r"loss.cldice_iterations=0 must be >= 1"),
    ("loss.skeleton_tube_radius=-1", r"loss.skeleton_tube_radius=-1 must be >= 0"),
    ("loss.deep_supervision_decay=0", r"loss.deep_supervision_decay=0.0 must be in \(0, 1\]"),
    ("data.crop_size=100", r"not divisible by 2\*\*model.depth=16; use 96"),
    ("lr=3", r"must name section.key"),
    ("data.layout=cimta", r"data.layout: unknown dataset layout 'cimta'.*did you mean 'cimat'"),
])
def test_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_whole_image_teacher_needs_a_snapshot():
    assert load_config(None, ["teacher.runs_on=whole_images"]).teacher.runs_on == "whole_images"
    with pytest.raises(ConfigError, match="teacher.runs_on=whole_images needs teacher.kind=snapshot"):
        load_config(None, ["teacher.runs_on=whole_images", "teacher.kind=ema"])


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  widht: 8\n")
    with pytest.raises(ConfigError, match="unknown config key 'model.widht'.*did you mean 'width'"):
        load_config(path)


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_base_file_is_merged_under_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text(
        "data:\n  root: data\n  crop_size: 64\nmodel:\n  width: 16\noptim:\n  lr: 0.01\n")
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("base: ../base.yaml\nmodel:\n  width: 8\n")
    config = load_config(child)
    assert config.model.width == 8 and config.data.crop_size == 64 and config.optim.lr == 0.01
    assert config.data.root == str((tmp_path / "data").resolve())  # relative to the base file


def test_base_loops_and_missing_bases_are_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="in a loop"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: nope.yaml\n")
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "c.yaml")


def test_shipped_configs_load():
    from pathlib import Path

    configs = Path(__file__).parent.parent / "configs"
    for path in sorted(configs.glob("*.yaml")):
        load_config(path)
    fast, full = load_config(configs / "cimat-fast.yaml"), load_config(configs / "cimat.yaml")
    assert fast.model.width == 8 and replace(fast, model={"width": 16}) == full


def test_loss_terms_need_objective_custom_and_known_names():
    config = load_config(None, ["loss.objective=custom", "loss.terms={deep_supervision: 1, psdl: 1, ddl: 2}"])
    assert config.loss.terms == {"deep_supervision": 1.0, "psdl": 1.0, "ddl": 2.0}
    with pytest.raises(ConfigError, match="set loss.objective=custom"):
        load_config(None, ["loss.terms={dice: 1}"])
    with pytest.raises(ConfigError, match="needs loss.terms"):
        load_config(None, ["loss.objective=custom"])
    with pytest.raises(ConfigError, match="unknown term 'cldise'.*did you mean 'cldice'"):
        load_config(None, ["loss.objective=custom", "loss.terms={dice: 1, cldise: 1}"])
    with pytest.raises(ConfigError, match="loss.terms.dice=-1.0 must be >= 0"):
        load_config(None, ["loss.objective=custom", "loss.terms={dice: -1}"])
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(None, ["loss.objective=custom", "loss.terms=dice"])


@pytest.mark.parametrize("override", ["optim.lr=.inf", "optim.lr=.nan", "loss.tau=-.inf",
                                      "loss.objective=custom,loss.terms={dice: .nan}"])
def test_non_finite_numbers_are_refused(override):
    with pytest.raises(ConfigError, match="must be a finite number"):
        load_config(None, override.split(","))


def test_every_crop_of_an_epoch_is_trained_on():
    with pytest.raises(ConfigError, match="samples_per_epoch=4 must be a multiple of data.batch_size=8"):
        load_config(None, ["data.samples_per_epoch=4", "data.batch_size=8"])
    with pytest.raises(ConfigError, match="use 400"):
        load_config(None, ["data.samples_per_epoch=401", "data.batch_size=8"])


def test_resume_may_change_only_what_does_not_change_the_result():
    from dskd.config import config_to_dict, resume_conflicts

    stored = config_to_dict(load_config(None, ["run.threads=1"]))
    assert resume_conflicts(stored, load_config(None, ["run.threads=2", "data.num_workers=2"])) == []
    assert resume_conflicts(stored, load_config(None, ["optim.lr=0.1"])) == ["optim.lr"]
    del stored["loss"]["terms"]  # a checkpoint from before loss.terms existed
    assert resume_conflicts(stored, load_config(None, ["run.threads=1"])) == []

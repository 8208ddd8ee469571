"""One typed configuration: frozen dataclasses per concern, built from defaults <- YAML <- overrides.

    config = load_config("configs/cimat.yaml", ["optim.epochs=40", "loss.objective=dice"])

Unknown sections or keys are rejected with the list of valid ones (and a "did you mean"), values
are checked against the field's type and allowed options, and the resolved config is saved as YAML
next to every run and inside every checkpoint.
"""

from dskd.config.files import RESUME_MAY_CHANGE, load_config, replace, resume_conflicts, save_config
from dskd.config.sections import (
    AugmentConfig,
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    Objective,
    OptimConfig,
    RunConfig,
    SyntheticConfig,
    TeacherConfig,
)
from dskd.config.validate import config_from_dict, config_to_dict

__all__ = [
    "DataConfig",
    "AugmentConfig",
    "ModelConfig",
    "LossConfig",
    "TeacherConfig",
    "OptimConfig",
    "RunConfig",
    "SyntheticConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "save_config",
    "replace",
    "resume_conflicts",
    "Objective",
    "RESUME_MAY_CHANGE",
]

"""Started by tests/test_distributed.py under torchrun (2 processes, gloo), after a plain
`torchrun ... -m dskd train` made OUT/straight. In one launch, to keep the test fast (a process
joins one process group in its life, as `dskd train` does), it calls what `dskd train` calls:

1. fit into OUT/straight again, which every process must refuse (the folder holds a run);
2. fit into OUT/resumed, interrupted (Ctrl-C) at the start of its second epoch;
3. fit with resume=True of that run;
4. fit into OUT/nan where rank 1 alone gets a NaN loss in its third step: both must stop there.

Each process writes OUT/rank<R>.json with what it saw.
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/torchrun_driver.py CONFIG OUT
"""

import json
import math
import os
import sys
from pathlib import Path

import dskd.training.fit as train_module
import dskd.training.setup as setup_module
from dskd.config import load_config
from dskd.errors import DskdError
from dskd.losses.terms import LossTerms
from dskd.training.distributed import process_group, world_from_env
from dskd.training.step import NonFiniteLossError


def _interrupting_second_epoch(real):
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return interrupted


class _NanInThirdStep:
    """The objective, with a NaN total in its third call (as one bad batch would give)."""

    def __init__(self, objective):
        self._objective, self._calls = objective, 0

    def __getattr__(self, name):
        return getattr(self._objective, name)

    def __call__(self, *args, **kwargs):
        terms = self._objective(*args, **kwargs)
        self._calls += 1
        return LossTerms(terms.total * math.nan, terms.parts) if self._calls == 3 else terms


def main(config_path: str, out: Path) -> None:
    config = load_config(config_path)
    seen: dict[str, object] = {}
    with process_group(world_from_env(os.environ), backend="gloo") as world:
        try:
            train_module.fit(config, out / "straight", world=world)
        except DskdError as error:
            seen["refused"] = str(error)
        real = train_module.train_one_epoch
        train_module.train_one_epoch = _interrupting_second_epoch(real)
        try:
            train_module.fit(config, out / "resumed", world=world)
        except KeyboardInterrupt:
            seen["interrupted"] = True
        train_module.train_one_epoch = real
        train_module.fit(config, out / "resumed", resume=True, world=world)
        real_build = setup_module.build_objective
        if world.rank == 1:
            setup_module.build_objective = lambda loss: _NanInThirdStep(real_build(loss))
        try:
            train_module.fit(config, out / "nan", world=world)
        except NonFiniteLossError as error:
            seen["nan"] = str(error)
        setup_module.build_objective = real_build
        seen["world"] = [world.rank, world.size]
    (out / f"rank{world.rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
    # Everything this process checks is written by now. About 1 launch in 35 of this four-fit
    # driver aborted afterwards, in interpreter finalisation ("terminate called without an
    # active exception" from a C++ thread), which the tests do not examine; plain `dskd train`
    # under torchrun (the other test) exits normally. Skip finalisation so the race cannot fail CI.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

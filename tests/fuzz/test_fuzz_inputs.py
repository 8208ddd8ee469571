"""A bounded fuzz run of the input layer in CI (the long run: benchmarks/fuzz_inputs.py)."""

import tempfile
import warnings
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="pip install -e '.[test]' (hypothesis)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz.harness import FORMATS, check_one, mutate  # noqa: E402

EDITS = st.lists(st.tuples(st.sampled_from(["flip", "set", "cut", "insert", "delete"]),
                           st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_seed_is_read(name, tmp_path):
    assert check_one(FORMATS[name], FORMATS[name].seed(), tmp_path) is None


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=EDITS)
def test_mutated_inputs_are_read_or_refused_in_one_line(name, edits):
    fmt = FORMATS[name]
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libraries warn about damaged files; the contract is the error
        finding = check_one(fmt, mutate(fmt.seed(), edits), Path(folder))
    assert finding is None, f"{finding.problem}: {finding.detail}"


# Findings of the long run (benchmarks/fuzz_inputs.py), kept as regression cases: (format, edits).
FOUND = [
    ("dicom_cine", [("cut", 1964, 67), ("flip", 29742, 58), ("set", 44279, 76), ("set", 21545, 226),
                    ("set", 54770, 45)]),  # a transfer syntax UID with a line break (found on an
    # earlier seed whose UIDs were random: the edits now fall on the fixed-UID seed)
    ("config", [("set", 14206, 73), ("flip", 17247, 27), ("insert", 17081, 38)]),  # a null section name
    ("config", [("cut", 46772, 231), ("delete", 44230, 54), ("cut", 15444, 145), ("cut", 37944, 7),
                ("insert", 44607, 63)]),
]


@pytest.mark.parametrize(("name", "edits"), FOUND)
def test_findings_of_the_long_run_stay_fixed(name, edits, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finding = check_one(FORMATS[name], mutate(FORMATS[name].seed(), edits), tmp_path)
    assert finding is None, f"{finding.problem}: {finding.detail}"

"""Layout strings (name:key=value) and the checks read_cases makes for every reader."""

import pytest

from dskd.data.readers import READERS, gray_rule, parse_layout, read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import make_drive, make_folder


def test_parse_layout_options():
    assert parse_layout("folder") == ("folder", {})
    assert parse_layout("drive:gray=luma") == ("drive", {"gray": "luma"})
    assert parse_layout("nnunet:foreground_label=2, gray=green") == (
        "nnunet", {"foreground_label": 2, "gray": "green"})


@pytest.mark.parametrize("layout, message", [
    ("fold", r"unknown dataset layout 'fold'; valid: .*did you mean 'folder'\?"),
    ("drive:grey=luma", r"unknown option 'grey' for 'drive'; valid: gray; did you mean 'gray'\?"),
    ("drive:gray=blue", r"gray='blue' must be one of luma, green"),
    ("nnunet:foreground_label=vessel", r"foreground_label='vessel' must be an integer"),
    ("drive:gray", r"option 'gray' must look like key=value"),
    ("cimat:mask_suffix=_gt", r"unknown option 'mask_suffix' for 'cimat'"),
])
def test_bad_layouts_give_one_line_errors(layout, message):
    with pytest.raises(DataError, match=message):
        parse_layout(layout)


def test_every_reader_is_registered():
    assert set(READERS) == {"folder", "dca1", "xcad", "cimat", "drive", "nnunet", "arcade"}


def test_gray_option_applies_to_any_reader(tmp_path):
    make_folder(tmp_path, ["a"])
    assert read_cases("folder", tmp_path)[0].gray == "luma"
    assert read_cases("folder:gray=green", tmp_path)[0].gray == "green"


def test_repeated_case_names_are_an_error(tmp_path, monkeypatch):
    make_folder(tmp_path, ["a"])
    case = read_cases("folder", tmp_path)[0]
    monkeypatch.setitem(READERS, "folder", lambda root: [case, case])
    with pytest.raises(DataError, match="case name 'a' appears more than once"):
        read_cases("folder", tmp_path)


def test_gray_rule_matches_what_the_readers_do(tmp_path):
    make_folder(tmp_path / "f", ["a"])
    make_drive(tmp_path / "d", [21])
    for layout, root in (("folder", "f"), ("drive", "d"), ("drive:gray=luma", "d"),
                         ("folder:gray=green", "f")):
        assert gray_rule(layout) == read_cases(layout, tmp_path / root)[0].gray
    assert gray_rule("drive") == "green" and gray_rule("folder") == "luma"

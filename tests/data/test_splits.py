import json

import pytest

from dskd.data.readers import read_cases
from dskd.data.splits import (
    apply_split,
    carve_validation,
    hashed_order,
    parse_split,
    read_split_file,
    resolve_split,
)
from dskd.errors import DataError
from tests.data.fixture_trees import make_folder


@pytest.fixture()
def cases(tmp_path):
    return read_cases("folder", make_folder(tmp_path / "d", ["b", "a", "c", "d"]))


def test_carved_validation_is_seeded_and_disjoint(tmp_path):
    cases = read_cases("folder", make_folder(tmp_path, [str(i) for i in range(10)]))
    train, val = carve_validation(cases, 0.2, seed=1)
    again = carve_validation(cases, 0.2, seed=1)
    assert [c.name for c in val] == [c.name for c in again[1]] and len(val) == 2
    assert not {c.name for c in train} & {c.name for c in val}
    assert len(train) + len(val) == 10


def test_split_file_by_names(tmp_path, cases):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"description": "x", "train": ["c", "a"], "val": ["b"], "test": ["zz"]}))
    split = read_split_file(path)
    assert split.description == "x" and "val" in split and split["val"] == ["b"]
    assert [c.name for c in apply_split(cases, split, "train", source="s")] == ["c", "a"]
    with pytest.raises(DataError, match="names case 'zz' which is not in the dataset"):
        apply_split(cases, split, "test", source="s")
    with pytest.raises(DataError, match=r"no 'holdout' list \(has: train, val, test\)"):
        apply_split(cases, split, "holdout", source="s")
    # a plain dict is accepted too
    assert [c.name for c in apply_split(cases, {"val": ["d"]}, "val", source="s")] == ["d"]


def test_split_by_positions_follows_the_readers_order(cases):
    split = parse_split({"n_cases": 4, "train": [4, 1], "test": [2]}, "s")
    assert [c.name for c in apply_split(cases, split, "train", source="s")] == ["d", "a"]
    assert resolve_split(cases, split) == {"train": ["d", "a"], "test": ["b"]}
    with pytest.raises(DataError, match=r"numbers cases 1..4 but the dataset has 3"):
        apply_split(cases[:3], split, "train", source="s")


@pytest.mark.parametrize("raw, message", [
    ([], "expected an object"),
    ({"description": "only"}, "no parts"),
    ({"train": "a"}, "part 'train' must be a list"),
    ({"train": ["a", 1]}, "mixes case names and positions"),
    ({"train": ["a", "a"]}, "lists name 'a' twice"),
    ({"train": [1, 2]}, "must state \"n_cases\""),
    ({"n_cases": 3, "train": [1, 4]}, r"position 4 outside 1..3"),
    ({"train": ["a", "b"], "test": ["b"]}, "case 'b' is in both 'train' and 'test'"),
])
def test_bad_split_files(raw, message):
    with pytest.raises(DataError, match=message):
        parse_split(raw, "split.json")


def test_extra_parts_may_overlap():
    split = parse_split({"train": ["a"], "val": ["b"], "train_full": ["a", "b"]}, "s")
    assert split["train_full"] == ["a", "b"]


def test_split_file_read_errors(tmp_path):
    with pytest.raises(DataError, match="split file not found"):
        read_split_file(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{train: [")
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        read_split_file(tmp_path / "bad.json")


def test_hashed_order_is_a_fixed_sha256_shuffle():
    import hashlib

    names = ["a", "b", "c", "d", "e"]
    expected = sorted(names, key=lambda n: hashlib.sha256(f"7:{n}".encode()).hexdigest())
    assert hashed_order(names, 7) == expected
    assert hashed_order(list(reversed(names)), 7) == expected
    assert hashed_order(names, 7) != hashed_order(names, 8) or len(names) < 2


def test_fold_parts_hold_out_one_fold():
    from dskd.data.splits import fold_parts, parse_split

    split = parse_split({"fold_0": ["a"], "fold_1": ["b"], "fold_2": ["c"], "test": ["d"]}, "cv.json")
    assert fold_parts(split, 1) == (["fold_0", "fold_2"], "fold_1")
    with pytest.raises(DataError, match="folds 0-2"):
        fold_parts(split, 3)
    with pytest.raises(DataError, match="needs parts fold_0"):
        fold_parts(parse_split({"train": ["a"], "val": ["b"]}, "plain.json"), 0)


def test_config_fold_trains_on_the_other_folds(tiny_dataset, tmp_path):
    import json

    from dskd.config import load_config
    from dskd.data.training_split import split_training_cases

    names = sorted(p.stem for p in (tiny_dataset / "images").iterdir())
    (tmp_path / "cv.json").write_text(json.dumps({f"fold_{k}": names[k::4] for k in range(4)}))
    config = load_config(None, [f"data.root={tiny_dataset}", f"data.split_file={tmp_path / 'cv.json'}",
                                "data.fold=2"])
    train, val = split_training_cases(config.data, seed=config.run.seed)
    assert [c.name for c in val] == names[2::4]
    assert sorted(c.name for c in train) == sorted(set(names) - set(names[2::4]))


def test_train_images_keeps_nested_subsets_of_the_training_folds(tiny_dataset, tmp_path):
    import json

    from dskd.config import load_config
    from dskd.data.training_split import split_training_cases
    from dskd.errors import ConfigError

    names = sorted(p.stem for p in (tiny_dataset / "images").iterdir())
    (tmp_path / "cv.json").write_text(json.dumps({f"fold_{k}": names[k::4] for k in range(4)}))

    def split(count, seed=0):
        config = load_config(None, [f"data.root={tiny_dataset}", f"data.split_file={tmp_path / 'cv.json'}",
                                    "data.fold=0", f"data.train_images={count}", f"run.seed={seed}"])
        return split_training_cases(config.data, seed=config.run.seed)

    everything, val = split(0)
    two, three = ([c.name for c in split(n)[0]] for n in (2, 3))
    assert len(two) == 2 and set(two) < set(three) < {c.name for c in everything}
    assert [c.name for c in split(2)[1]] == [c.name for c in val]  # validation keeps its fold
    assert [c.name for c in split(2, seed=5)[0]] == two  # the same images whatever run.seed
    with pytest.raises(ConfigError, match=f"only {len(everything)} cases"):
        split(99)

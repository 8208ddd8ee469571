"""benchmarks/width_pareto.py: width against speed, and the real-time config it picks."""

import json

from dskd.ablate.results import write_result
from tests.benchmark_scripts import load_benchmark
from tests.test_benchmark_learning_curve import _result


def _speed(fps_by_width):
    rows = [{"model": f"depth 4, width {w} (untrained)", "variant": setting, "fps": fps * factor}
            for w, fps in fps_by_width.items()
            for setting, factor in (("onnxruntime", 1.0), ("torch channels_last", 0.9),
                                    ("torch bf16 channels_last", 3.0))]  # bf16 is not counted
    return {"cpu": "Test CPU", "cores": 2, "command": "python benchmarks/inference.py", "cpu_rows": rows}


def test_the_fastest_width_within_one_point_that_runs_in_real_time_is_chosen(tmp_path):
    module = load_benchmark("width_pareto")
    architectures = module._architectures(module.GRID)  # the committed grid, resolved
    assert architectures == {"dice": (4, 8), "dice_w4": (4, 4), "dice_w16": (4, 16)}
    w8 = {f"i{k}": 0.70 + 0.01 * k for k in range(6)}
    files = {"dice": w8, "dice_w16": {k: v + 0.005 for k, v in w8.items()},
             "dice_w4": {k: v - 0.03 for k, v in w8.items()}}
    for variant, dice in files.items():
        write_result(tmp_path / f"{variant}.fold0-seed0.json", _result(variant, dice))
    table = module.pareto(module.read_results(tmp_path), architectures,
                          _speed({4: 40.0, 8: 20.0, 16: 10.0}))
    rows = {r["variant"]: r for r in table["rows"]}
    assert table["best"] == "dice_w16" and [r["width"] for r in table["rows"]] == [4, 8, 16]
    assert abs(rows["dice"]["minus_best"] + 0.005) < 1e-9 and rows["dice"]["within_one_point"]
    assert not rows["dice_w4"]["within_one_point"] and rows["dice_w4"]["real_time"]
    assert rows["dice_w16"]["best_fps"] == 10.0 and not rows["dice_w16"]["real_time"]
    assert table["real_time_config"] == "dice"  # w4 is faster but 3 points worse; w16 too slow
    text = module.format_markdown(table)
    assert "| dice | 8 | 0 | " in text and "**dice**" in text
    json.dumps(table)  # the committed file is plain JSON

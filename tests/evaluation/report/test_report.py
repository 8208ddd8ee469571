"""HTML reports: readable offline (no network, no script), every link resolves, every image shown."""

import html as html_lib
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from PIL import Image

from dskd.evaluation.compare import compare_runs, write_comparison
from dskd.evaluation.folders import evaluate_folders
from dskd.evaluation.report.html import fmt, table


def _links(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def _check_offline(page: Path) -> str:
    html = page.read_text()
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    for target in _links(html):
        assert (page.parent / unquote(html_lib.unescape(target))).is_file(), target
    return html


NAMES = ["im0", "im1", "im #2"]  # a space and a '#' must not break the links


def _evaluation(root: Path, shift: int) -> Path:
    for k in range(3):
        label = np.zeros((24, 32), np.uint8)
        label[8 + k, 2:30] = 255
        pred = np.roll(label, shift, axis=0)
        pred[:, 14:16] = 0
        for folder, array in (("labels", label), (f"pred{shift}", pred)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"{NAMES[k]}.png")
    out = root / f"eval{shift}"
    evaluate_folders(root / f"pred{shift}", root / "labels", out, report=True)
    return out


def test_run_report_is_self_contained(tmp_path):
    out = _evaluation(tmp_path, 0)
    html = _check_offline(out / "report.html")
    for name in ("overlays/im0.png", "overlays/im1.png", "overlays/im%20%232.png"):
        assert name in html
    for name in ("dice", "cldice", "betti_0_error", "hd95", "per image only", "8-connectivity"):
        assert name in html
    assert {"dice_boxplot.png", "gallery.png"} <= {p.name for p in out.glob("*.png")}


def test_comparison_report_links_the_runs(tmp_path):
    a, b = _evaluation(tmp_path, 0), _evaluation(tmp_path, 1)
    result, runs = compare_runs([a, b], n_resamples=200)
    out = write_comparison(result, runs, tmp_path / "cmp")
    html = _check_offline(out / "report.html")
    assert "../eval0/report.html" in html and "eval1 vs eval0" in html


def test_formatting_helpers():
    assert fmt(float("nan")) == fmt(None) == "&ndash;"
    assert fmt(3.14159, "hd95") == "3.14" and fmt(0.123456, "dice") == "0.1235" and fmt(7) == "7"
    assert "&lt;b&gt;" in table(["<b>"], [])

"""<name>_qca.html: one printable page per study with the frame read, the centreline coloured by
diameter, the lesion table, each lesion's diameter profile, and the calibration with its source.

Self-contained HTML beside its pictures (relative links), no script, printable on A4; the
figures are those of the CSV and JSON written with it (deploy.qca.write_frame_outputs).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from dskd.qca import FrameQCA, lesion_rows

__all__ = ["write_qca_report"]

_STYLE = """body { font: 13px/1.4 system-ui, sans-serif; margin: 18px; color: #1d2733;
  max-width: 900px; }
h1 { font-size: 18px; } h2 { font-size: 15px; margin-top: 18px; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ccd; padding: 3px 8px; text-align: right; }
th { color: #555; font-weight: 500; } img { max-width: 100%; } .note { color: #555; }
@media print { body { margin: 0; } .lesion { page-break-inside: avoid; } }"""


def write_qca_report(
    out_dir: Path,
    name: str,
    result: FrameQCA,
    *,
    pictures: list[Path],
    frame: int | None = None,
    frame_choice: str | None = None,
    stability: dict | None = None,
) -> Path:
    unit, calibration = result.calibration.unit, result.calibration
    rows = lesion_rows(result)
    header = [
        "lesion",
        "segment",
        "%DS",
        "%AS",
        f"MLD ({unit})",
        f"reference ({unit})",
        f"length ({unit})",
        "row, col",
    ]
    cells = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(v))}</td>"
            for v in (
                r["lesion"],
                r["segment"],
                r["percent_diameter_stenosis"],
                r["percent_area_stenosis"],
                r["mld"],
                r["reference_diameter"],
                r["length"],
                f"{r['row']:.0f}, {r['col']:.0f}",
            )
        )
        + "</tr>"
        for r in rows
    )
    table = (
        f"<table><tr>{''.join(f'<th>{escape(h)}</th>' for h in header)}</tr>{cells}</table>"
        if rows
        else f"<p>No lesion of {result.min_stenosis:g}% diameter stenosis or more.</p>"
    )
    overview = [p for p in pictures if p.name.endswith("_qca.png")]
    profiles = [p for p in pictures if "_lesion" in p.name and p.suffix == ".png"]
    frame_text = f"<p>Frame read: {frame} ({escape(frame_choice or '')}).</p>" if frame is not None else ""
    body = [
        f"<h1>QCA: {escape(name)}</h1>",
        f"<p><b>Calibration:</b> {escape(calibration.source)} (figures in {unit}). Diameters from the "
        f"{'probability map' if result.method == 'probability' else 'binary mask'}.</p>",
        frame_text,
        *(f'<img src="{escape(p.name)}" alt="centreline coloured by diameter">' for p in overview),
        "<h2>Lesions</h2>",
        table,
        *(
            f'<div class="lesion"><h2>Lesion {k}</h2>'
            f'<img src="{escape(p.name)}" alt="diameter profile"></div>'
            for k, p in enumerate(profiles)
        ),
        *_stability_section(stability),
        '<p class="note">dskd QCA, a research tool, not a diagnostic device: 2D QCA cannot see '
        "foreshortening, vessel overlap or eccentric lesions seen edge-on (docs/qca.md).</p>",
    ]
    path = out_dir / f"{name}_qca.html"
    path.write_text(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>QCA {escape(name)}'
        f"</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
    return path


def _stability_section(stability: dict | None) -> list[str]:
    """The read frame's lesions over the frames around it (deploy.qca_writer), when a cine has them."""
    if not stability:
        return []
    first, last = stability["frames"]
    header = ["lesion", "found on", "%DS min", "%DS max", "%DS SD", "MLD min", "MLD max"]
    cells = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in (
            s["lesion"], f"{s['found_in']} of {s['frames']} frames", s["percent_diameter_stenosis_min"],
            s["percent_diameter_stenosis_max"], s["percent_diameter_stenosis_sd"],
            f"{s['mld_min']} {s['unit']}", f"{s['mld_max']} {s['unit']}")) + "</tr>"
        for s in stability["summary"]
    )
    return [
        f'<div class="lesion"><h2>Stability over frames {first}-{last}</h2>',
        "<p>Each lesion of the frame read, looked for on the frames around it (the nearest narrowing "
        "to its minimal lumen point, any severity). A figure that moves much between neighbouring "
        "frames owes much to the frame chosen.</p>",
        f"<table><tr>{''.join(f'<th>{escape(h)}</th>' for h in header)}</tr>{cells}</table>",
        f'<img src="{escape(stability["plot"].name)}" alt="%DS and MLD against the frame"></div>',
    ]

"""qca.tracking: a frame's lesions followed through its neighbours, by position."""

import math

from dskd.data.synthetic.phantoms import narrowing, render, straight
from dskd.qca import PIXELS, analyse_frame, follow_lesions, reading_rows, stability_summary


def _frame(shift: float, percent: float | None, min_stenosis: float = 0.0):
    """A 5-px-radius tube, stenosed by `percent` %DS (None: healthy), moved `shift` px down."""
    tube = straight((40 + shift, 8), (44 + shift, 150), 5.0)
    if percent is not None:
        tube = narrowing(tube, 0.5, percent, 30.0)
    phantom = render((96, 160), [tube])
    return analyse_frame(phantom.probability >= 0.5, probability=phantom.probability,
                         min_stenosis=min_stenosis)


def test_a_lesion_is_followed_as_it_moves_and_lost_where_it_is_gone():
    read = _frame(0.0, 60.0, min_stenosis=50.0)
    [lesion] = read.lesions
    neighbours = {4: _frame(3.0, 50.0), 6: _frame(-2.0, 65.0), 7: _frame(0.0, None), 8: _frame(40.0, 60.0)}
    readings = follow_lesions(read, 5, neighbours)
    by_frame = {r.frame: r for r in readings}
    assert [r.offset for r in readings] == [-1, 0, 1, 2, 3]
    assert by_frame[5].found and by_frame[5].percent_diameter_stenosis == lesion.percent_diameter_stenosis
    # moved a few px: found, at its own severity on that frame
    assert by_frame[4].found and abs(by_frame[4].distance_px - 3.0) < 2.5
    assert by_frame[4].percent_diameter_stenosis < by_frame[6].percent_diameter_stenosis
    assert abs(by_frame[6].percent_diameter_stenosis - 65) < 8
    # healthy there, or the narrowing is 40 px away (another vessel's): not found
    assert not by_frame[7].found and not by_frame[8].found and math.isnan(by_frame[8].mld_px)
    [summary] = stability_summary(readings, PIXELS)
    assert summary["unit"] == PIXELS.unit and summary["mld_min"] <= summary["mld_max"]
    rows = reading_rows(readings, PIXELS)
    assert [r["found"] for r in rows] == [True, True, True, False, False] and rows[3]["mld"] is None
    assert (summary["found_in"], summary["frames"]) == (3, 5)
    assert summary["percent_diameter_stenosis_min"] < 60 < summary["percent_diameter_stenosis_max"]

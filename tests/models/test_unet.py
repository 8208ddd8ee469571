import pytest
import torch

from dskd.errors import DataError
from dskd.models import UNet


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_output_shapes(depth):
    model = UNet(depth=depth, width=4)
    out = model(torch.randn(2, 1, 32, 48))
    assert out.logits.shape == (2, 1, 32, 48)
    assert len(out.side_logits) == depth
    assert all(s.shape == (2, 1, 32, 48) for s in out.side_logits)


def test_side_outputs_can_be_skipped():
    out = UNet(depth=3, width=4)(torch.randn(1, 1, 16, 16), with_side_outputs=False)
    assert out.side_logits == ()


def test_side_outputs_come_from_their_stages():
    # Changing only the stage-2 side head changes only side output 2 (index 1).
    torch.manual_seed(0)
    model = UNet(depth=3, width=4).eval()
    x = torch.randn(1, 1, 16, 16)
    before = model(x)
    with torch.no_grad():
        model.side_heads[1].bias += 1.0
    after = model(x)
    assert torch.equal(before.logits, after.logits)
    assert torch.equal(before.side_logits[0], after.side_logits[0])
    assert not torch.equal(before.side_logits[1], after.side_logits[1])


def test_calibration_parameter_count():
    # The plain U-Net of the data README: width 16, depth 4, about 1.9 M parameters.
    count = sum(p.numel() for p in UNet(depth=4, width=16).parameters())
    assert 1.8e6 < count < 2.0e6


def test_rejects_indivisible_size_with_padding_hint():
    with pytest.raises(DataError, match="301x300 is not divisible by 16.*pad to 304x304"):
        UNet(depth=4, width=4)(torch.randn(1, 1, 301, 300))

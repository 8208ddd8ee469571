"""Resampling for networks that see images upscaled (model.input_scale)."""

import numpy as np
import pytest
import torch

from dskd.data.cases import CaseArrays
from dskd.data.resolution import downscale_probabilities, upscale_case, upscale_image, upscale_mask


def test_upscaling_multiplies_the_sides_and_keeps_a_constant_image():
    image = np.full((7, 9), 0.3, dtype=np.float32)
    up = upscale_image(image, 3)
    assert up.shape == (21, 27) and up.dtype == np.float32
    np.testing.assert_allclose(up, 0.3, atol=1e-6)
    assert upscale_image(image, 1) is image


def test_a_one_pixel_vessel_becomes_scale_pixels_wide():
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:15, 10] = True  # a vertical vessel one pixel wide, ten long
    up = upscale_mask(mask, 2)
    assert up.shape == (40, 40) and up.dtype == bool
    widths = up[12:28].sum(axis=1)  # rows well inside the vessel
    assert set(widths.tolist()) == {2}
    assert np.array_equal(up[:, 20:22].any(axis=0), [True, True])  # where the pixel was


def test_downscaling_is_the_mean_of_each_block():
    probabilities = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    down = downscale_probabilities(probabilities, 2)
    assert torch.equal(down, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))


def test_down_after_up_returns_a_smooth_image():
    yy, xx = np.mgrid[:32, :32]
    image = (0.5 + 0.4 * np.sin(xx / 6.0) * np.cos(yy / 5.0)).astype(np.float32)
    up = torch.from_numpy(upscale_image(image, 2))[None, None]
    back = downscale_probabilities(up, 2)[0, 0].numpy()
    assert np.abs(back - image)[1:-1, 1:-1].max() < 0.01  # bilinear blurs a little, never shifts


def test_a_case_is_upscaled_whole():
    rng = np.random.default_rng(0)
    case = CaseArrays("a", rng.random((10, 12), dtype=np.float32), rng.random((10, 12)) > 0.5,
                      np.ones((10, 12), dtype=bool))
    up = upscale_case(case, 2)
    assert up.name == "a" and up.image.shape == up.mask.shape == up.fov.shape == (20, 24)
    assert up.fov.all()
    unlabelled = upscale_case(CaseArrays("b", case.image, None, None), 2)
    assert unlabelled.mask is None and unlabelled.fov is None


@pytest.mark.parametrize("scale", [1, 2])
def test_mask_area_grows_with_the_square_of_the_scale(scale):
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 12:18] = True
    assert upscale_mask(mask, scale).sum() == mask.sum() * scale**2

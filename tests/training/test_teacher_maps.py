"""teacher.runs_on=whole_images: maps of whole images cut exactly as the training crops were."""

import numpy as np
import torch

from dskd.config import AugmentConfig
from dskd.data.cases import CaseArrays
from dskd.data.datasets import TrainCrops, image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.models import UNet
from dskd.training.frozen_copy import FrozenCopy
from dskd.training.teacher_maps import TeacherMaps

GEOMETRY_ONLY = AugmentConfig(brightness=0, contrast=0, gamma=0, affine_prob=0.7)


def _cases(sizes=((80, 96), (64, 64))) -> list[CaseArrays]:
    cases = []
    for k, (height, width) in enumerate(sizes):
        image, mask = synth_angiogram(np.random.default_rng([7, k]), max(height, width))
        cases.append(CaseArrays(f"case_{k}", image[:height, :width], mask[:height, :width], None))
    return cases


def test_a_map_of_the_image_is_cut_into_the_image_crop():
    # Maps that are the standardised images themselves must come back as the crops TrainCrops
    # made: same case, rotation, zoom, flips, turns, and the same mirroring at the borders.
    cases = _cases()
    crops = TrainCrops(cases, crop_size=32, samples_per_epoch=24, foreground_prob=0.3,
                       augment=GEOMETRY_ONLY, seed=11, with_placement=True)
    maps = TeacherMaps([image_tensor(c.image, 1)[0] for c in cases])
    items = [crops[i] for i in range(len(crops))]
    images = torch.stack([image for image, _, _ in items])
    where = torch.stack([w for _, _, w in items])
    assert {int(k) for k in where[:, 0]} == {0, 1}  # both cases, of different sizes
    assert where[:, 9].unique().numel() > 1  # several quarter turns
    cut = maps.crops(where, 32)
    assert cut.logits.shape == images.shape and cut.side_logits == ()
    torch.testing.assert_close(cut.logits, images, atol=1e-4, rtol=0)


def test_maps_hold_main_and_side_outputs_of_the_whole_image():
    torch.manual_seed(0)
    student = UNet(depth=2, width=4).eval()
    teacher = FrozenCopy(student)
    teacher.refresh(student)
    cases = _cases(((40, 36),))
    maps = TeacherMaps.compute(teacher, cases, size_multiple=4, with_side_outputs=True,
                               device=torch.device("cpu"), show_progress=False)
    assert maps.maps[0].shape == (1, 3, 40, 36)  # main + 2 side outputs, cut back to the image
    with torch.no_grad():
        direct = student(image_tensor(cases[0].image, 4))
    torch.testing.assert_close(maps.maps[0][0, 0], direct.logits[0, 0, :40, :36], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(maps.maps[0][0, 2], direct.side_logits[1][0, 0, :40, :36], atol=1e-5,
                               rtol=1e-4)
    # An identity placement of the top-left corner gives the teacher's outputs there.
    where = torch.tensor([[0, 1, 0, 0, 1, 0, 0, 0, 0, 0]], dtype=torch.float64)
    cut = maps.crops(where, 16)
    assert len(cut.side_logits) == 2
    torch.testing.assert_close(cut.logits[0, 0], maps.maps[0][0, 0, :16, :16], atol=1e-5, rtol=0)

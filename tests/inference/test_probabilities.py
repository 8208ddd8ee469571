"""Whole-image inference: any size, flip TTA, sliding windows, and the PyTorch backend settings."""

import numpy as np
import pytest
import torch

from dskd.data.datasets import image_tensor
from dskd.data.synthetic import synth_angiogram
from dskd.errors import DataError
from dskd.inference import check_window, frame_probabilities, predict_probabilities
from dskd.inference.backends import TorchNet
from tests.model_files import random_model, torch_threads

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def model():
    return random_model(depth=2, width=4, seed=1)


def _angiogram(size, seed=0):
    return synth_angiogram(np.random.default_rng(seed), size)[0]


class PointwiseNet:
    """A stand-in network whose output at a pixel depends on that pixel only, so tiling must
    reproduce the whole-image result exactly; it records the shapes it was given."""

    size_multiple = 16
    input_scale = 1

    def __init__(self):
        self.shapes = []

    def __call__(self, batch):
        self.shapes.append(tuple(batch.shape[-2:]))
        return torch.sigmoid(3 * batch)


@pytest.mark.parametrize("height, width", [(61, 70), (33, 47), (64, 64), (17, 100)])
def test_any_size_keeps_the_input_size(model, height, width):
    image = _angiogram(100)[:height, :width]
    probs = predict_probabilities(model, image, CPU)
    assert probs.shape == (height, width) and probs.dtype == np.float32
    assert 0 <= probs.min() < 0.5 < probs.max() <= 1


def test_padding_changes_nothing_for_a_multiple(model):
    image = _angiogram(64)
    with torch.no_grad():
        direct = torch.sigmoid(model(image_tensor(image, 4), with_side_outputs=False).logits)[0, 0]
    np.testing.assert_allclose(predict_probabilities(model, image, CPU), direct.numpy(), atol=1e-6)


def test_flip_tta_makes_the_prediction_flip_equivariant(model):
    image = _angiogram(64)
    mirrored = image[:, ::-1].copy()
    plain = predict_probabilities(model, image, CPU)
    plain_mirrored = predict_probabilities(model, mirrored, CPU)
    assert np.abs(plain_mirrored[:, ::-1] - plain).max() > 1e-3  # an untrained net is not symmetric
    tta = predict_probabilities(model, image, CPU, tta="flips")
    tta_mirrored = predict_probabilities(model, mirrored, CPU, tta="flips")
    np.testing.assert_allclose(tta_mirrored[:, ::-1], tta, atol=1e-5)


def test_sliding_windows_cover_the_image_exactly():
    image = _angiogram(150)[:150, :131]
    net = PointwiseNet()
    whole = frame_probabilities(net, image)
    net.shapes.clear()
    tiled = frame_probabilities(net, image, window=check_window(70, 16))
    assert net.shapes and all(h <= 64 and w <= 64 for h, w in net.shapes)  # 70 -> 64 (multiple)
    assert tiled.shape == (150, 131)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_no_tiling_when_the_image_fits_the_window(model):
    image = _angiogram(64)
    np.testing.assert_array_equal(predict_probabilities(model, image, CPU, window=64),
                                  predict_probabilities(model, image, CPU))


def test_windowed_real_network_stays_close_to_whole_image(model):
    image = _angiogram(96)
    whole = predict_probabilities(model, image, CPU)
    tiled = predict_probabilities(model, image, CPU, window=48)
    assert np.mean(np.abs(tiled - whole)) < 0.05


def test_check_window():
    assert check_window(None, 16) is None and check_window(0, 16) is None
    assert check_window(100, 16) == 96
    with pytest.raises(DataError, match="window 8 is smaller than the network's size multiple 16"):
        check_window(8, 16)


def test_channels_last_gives_the_same_probabilities(model):
    image = _angiogram(64)
    plain = frame_probabilities(TorchNet(model, CPU), image)
    fast_net = TorchNet(random_model(depth=2, width=4, seed=1), CPU, channels_last=True)
    fast = frame_probabilities(fast_net, image)
    np.testing.assert_allclose(fast, plain, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_with_amp_agrees_with_cpu(model):
    image = _angiogram(64)
    reference = frame_probabilities(TorchNet(random_model(depth=2, width=4, seed=1), CPU), image)
    net = TorchNet(random_model(depth=2, width=4, seed=1), torch.device("cuda"),
                   autocast_dtype=torch.bfloat16)
    assert np.mean(np.abs(frame_probabilities(net, image) - reference)) < 0.02


def test_tiling_a_real_network_outside_inference_mode(model):
    """The path of `dskd predict`: a TorchNet tiled by MONAI with no enclosing inference mode
    (MONAI weights the network's output in place, which an inference tensor refuses)."""
    image = _angiogram(140)[:130, :140]
    tiled = frame_probabilities(TorchNet(model, CPU), image, window=check_window(64, 4))
    whole = frame_probabilities(TorchNet(model, CPU), image)
    assert tiled.shape == (130, 140) and np.mean(np.abs(tiled - whole)) < 0.05

"""Folding BatchNorm into the convolutions and fusing each ReLU into its convolution keep the
network's output and remove the BatchNorms and ReLUs."""

import pytest
import torch
from torch import nn

from dskd.inference.fusion import ConvReLU, fold_batch_norm, fuse_conv_relu
from tests.model_files import write_random_checkpoint


def test_folded_network_gives_the_same_logits_without_batch_norm(tmp_path):
    from dskd.checkpoint import load_model

    model, _, _ = load_model(write_random_checkpoint(tmp_path / "m.pt", depth=2, width=4))
    for module in model.modules():  # statistics far from the identity, so a missed fold shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    model.eval()
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x, with_side_outputs=False).logits
        assert torch.allclose(folded(x, with_side_outputs=False).logits, expected, atol=1e-4)


def _model_with_statistics(tmp_path):
    from dskd.checkpoint import load_model

    model, _, _ = load_model(write_random_checkpoint(tmp_path / "m.pt", depth=2, width=4))
    for module in model.modules():  # statistics far from the identity, so a missed fold shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return model.eval()


def test_fused_relu_network_gives_the_same_logits_with_every_relu_inside_a_convolution(tmp_path):
    model = _model_with_statistics(tmp_path)
    fused = fuse_conv_relu(fold_batch_norm(model))
    assert not any(isinstance(m, nn.ReLU) for m in fused.modules())
    n_relus = sum(isinstance(m, nn.ReLU) for m in model.modules())
    assert sum(isinstance(m, ConvReLU) for m in fused.modules()) == n_relus > 0
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x, with_side_outputs=False).logits
        assert torch.allclose(fused(x, with_side_outputs=False).logits, expected, atol=1e-4)


def test_a_batch_norm_between_convolution_and_relu_blocks_the_fusion(tmp_path):
    model = _model_with_statistics(tmp_path)
    assert not any(isinstance(m, ConvReLU) for m in fuse_conv_relu(model).modules())


@pytest.mark.parametrize("channels_last", [True, False])
def test_torch_net_in_bf16_with_fused_relu_matches_autocast(tmp_path, channels_last):
    from dskd.inference.backends import TorchNet

    model = _model_with_statistics(tmp_path)
    x = torch.randn(1, 1, 64, 48)
    settings = dict(channels_last=channels_last, autocast_dtype=torch.bfloat16, fold_batch_norm=True)
    fused = TorchNet(model, "cpu", **settings, fuse_relu=True)
    assert next(fused.model.parameters()).dtype == torch.bfloat16  # weights converted once
    probabilities = fused(x)  # a float32 input is cast on entry
    assert probabilities.dtype == torch.float32 and probabilities.shape == x.shape
    # The logits (probabilities of a random network sit near 0.5): both compute every convolution
    # in bf16 from the same folded weights, so they agree up to bf16 rounding.
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected = fold_batch_norm(model)(x, with_side_outputs=False).logits.float()
        got = fused.model(x.to(torch.bfloat16), with_side_outputs=False).logits.float()
    assert expected.std() > 0
    assert (got - expected).abs().max() <= 0.02 * expected.abs().max()

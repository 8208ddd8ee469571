"""Folding BatchNorm into the convolutions keeps the network's output and removes the BatchNorms."""

import torch
from torch import nn

from dskd.inference.fusion import fold_batch_norm
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

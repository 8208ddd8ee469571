import torch

from dskd.losses import soft_dice_loss


def test_hand_computed_value():
    # p = 0.5 everywhere; target has 2 of 4 pixels: (2*1 + 1) / (2 + 2 + 1) = 0.6 -> loss 0.4
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    assert torch.isclose(soft_dice_loss(logits, target), torch.tensor(0.4))


def test_perfect_and_empty_cases():
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    confident = (target * 2 - 1) * 50  # logits of +-50
    assert soft_dice_loss(confident, target) < 1e-6
    empty = torch.zeros(1, 1, 2, 2)
    assert soft_dice_loss(torch.full((1, 1, 2, 2), -50.0), empty) < 1e-6


def test_averages_per_image():
    good = torch.tensor([[[[50.0, -50.0]]]])
    bad = torch.tensor([[[[-50.0, 50.0]]]])
    target = torch.tensor([[[[1.0, 0.0]]]])
    pair = soft_dice_loss(torch.cat([good, bad]), torch.cat([target, target]))
    expected = (soft_dice_loss(good, target) + soft_dice_loss(bad, target)) / 2
    assert torch.isclose(pair, expected)

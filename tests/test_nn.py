"""The building blocks: gradient reversal, center loss and its update, the feature extractor's presets."""

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from serbench.methods.paper import PRESETS
from serbench.nn import CenterLoss, CnnBlstm, ganin_ramp, grad_reverse

torch.set_num_threads(2)


def test_gradient_reversal_is_identity_forward_and_negates_scaled_gradient_backward():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x, 0.3)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.3, -0.6, -0.9]))


def test_ganin_ramp_goes_from_zero_towards_one():
    assert ganin_ramp(0.0) == 0.0
    assert ganin_ramp(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert 0.999 < ganin_ramp(1.0) < 1.0


def test_center_loss_and_update_equal_a_hand_computation():
    centers = CenterLoss(n_classes=3, embedding_dim=2)
    centers.centers.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]))
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [1.0, 3.0]])
    y = torch.tensor([0, 0, 1])
    # 1/2 * mean of squared distances to the own center: (1 + 9 + (0 + 4)) / 2 / 3
    assert centers(x, y).item() == pytest.approx(14 / 6)
    centers.update(x, y, alpha=0.5)
    # class 0 (m = 2): delta = ((0 - 1) + (0 - 3), (0 - 0) + (0 - 0)) / 3; class 1 (m = 1): ((1 - 1), (1 - 3)) / 2
    expected = torch.tensor([[0.0 + 0.5 * 4 / 3, 0.0], [1.0, 1.0 + 0.5 * 1.0], [5.0, 5.0]])
    assert torch.allclose(centers.centers, expected)


def test_center_loss_gradient_reaches_the_features_not_the_centers():
    centers = CenterLoss(n_classes=2, embedding_dim=2)
    x = torch.tensor([[2.0, 0.0]], requires_grad=True)
    centers(x, torch.tensor([1])).backward()
    assert torch.allclose(x.grad, torch.tensor([[2.0, 0.0]]))
    assert list(centers.parameters()) == []


@pytest.mark.parametrize("name", list(PRESETS))
def test_extractor_maps_segments_to_fixed_embeddings(name):
    model = CnnBlstm(PRESETS[name], (32, 129)).eval()
    with torch.no_grad():
        embedding = model(torch.randn(3, 32, 129))
    assert embedding.shape == (3, PRESETS[name].embedding_dim)


def test_paper_preset_costs_about_1_14_gflop_per_segment_and_training_step():
    model = CnnBlstm(PRESETS["paper"], (32, 129))
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 32, 129)).sum().backward()
    # FlopCounterMode counts the convolutions (forward + backward); the CPU LSTM kernel adds about 0.3 GFLOP
    # it does not see (docs/methods.md).
    assert counter.get_total_flops() / 2 / 1e9 == pytest.approx(1.14, abs=0.02)



"""The bridge reads the model's real forward computation (torch.fx), not the
order in which modules were registered."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bridge
from bridge.convert import read_model
from bridge.errors import ModelError, UnsupportedOperationError


def lin(n_in, n_out, seed):
    layer = nn.Linear(n_in, n_out, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.empty(n_out, n_in).uniform_(-0.3, 0.5, generator=torch.Generator().manual_seed(seed)))
    return layer


class OutOfOrder(nn.Module):
    """fc2 is registered before fc1, forward calls fc1 first."""

    def __init__(self):
        super().__init__()
        self.fc2 = lin(20, 10, 2)
        self.fc1 = lin(16, 20, 1)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class InOrder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = lin(16, 20, 1)
        self.fc2 = lin(20, 10, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Scaled(InOrder):
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)) * 2.0)


class Offset(InOrder):
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)) + 0.1)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = lin(16, 16, 1), lin(16, 16, 2)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        return self.fc2(h) + h


class Sigmoidal(InOrder):
    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x)))


class Branching(InOrder):
    def forward(self, x):
        if x.sum() > 0:
            return self.fc2(F.relu(self.fc1(x)))
        return x


class SharedLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = lin(16, 16, 1)

    def forward(self, x):
        return self.fc(F.relu(self.fc(x)))


class ReusedRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = lin(16, 20, 1), lin(20, 20, 2), lin(20, 10, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = lin(16, 20, 1), lin(20, 20, 2), lin(20, 10, 3)

    def forward(self, x):
        h = torch.relu(self.fc1(torch.flatten(x, 1)))
        h = F.dropout(self.fc2(h).relu(), 0.2, self.training)
        return self.fc3(h)


def data(n=40, d=16, seed=0):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32) * 0.8


def test_layers_are_converted_in_forward_order():
    a, b = OutOfOrder(), InOrder()
    wa, wb = bridge.export_weights(a), bridge.export_weights(b)
    assert [w.shape for w in wa] == [(20, 16), (10, 20)]
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(bridge.layer_output_maxima(a, data()), bridge.layer_output_maxima(b, data()))
    params = bridge.SleepParams(beta=(0.4, 0.4), input_mode="poisson")
    sa = bridge.sleep(a, data(), params, steps=300, seed=1)
    sb = bridge.sleep(b, data(), params, steps=300, seed=1)
    assert sa.result.counts[:, 1:].sum() > 0
    np.testing.assert_array_equal(sa.result.counts, sb.result.counts)
    np.testing.assert_array_equal(sa.model.fc1.weight.detach().numpy(), sb.model.fc1.weight.detach().numpy())


@pytest.mark.parametrize("model, op", [
    (Scaled(), "operator.mul"),
    (Offset(), "operator.add"),
    (Residual(), "operator.add"),
    (Sigmoidal(), "torch.sigmoid"),
    (nn.Sequential(nn.Linear(16, 8, bias=False), nn.Tanh(), nn.Linear(8, 2, bias=False)), "Tanh"),
    (nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2)),
     "MaxPool2d .*use nn.AvgPool2d"),
    (nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)), "BatchNorm2d"),
    (nn.Sequential(nn.Flatten(0), nn.Linear(16, 2, bias=False)), "Flatten"),
])
def test_extra_operations_are_named(model, op):
    with pytest.raises(UnsupportedOperationError, match=op) as info:
        read_model(model)
    assert isinstance(info.value, ModelError) and isinstance(info.value, ValueError)
    with pytest.raises(ModelError, match=op):
        bridge.sleep(model, data(), steps=5)


def test_untraceable_and_shared_weights_are_model_errors():
    with pytest.raises(ModelError, match="torch.fx"):
        read_model(Branching())
    with pytest.raises(ModelError, match="'fc' is called more than once"):
        read_model(SharedLinear())
    with pytest.raises(ModelError, match="Linear layer 1 is not followed by a ReLU"):
        read_model(nn.Sequential(nn.Linear(4, 4, bias=False), nn.Dropout(), nn.Linear(4, 2, bias=False)))
    with pytest.raises(ModelError, match="has a bias"):
        read_model(nn.Sequential(nn.Linear(4, 2)))


def test_reused_relu_functional_relu_and_passive_layers_convert():
    for model in (ReusedRelu(), Functional()):
        graph = read_model(model)
        assert [l.weight.shape for l in graph.linears] == [(20, 16), (20, 20), (10, 20)]
        out = bridge.sleep(model, data(), bridge.SleepParams(beta=(0.3, 0.3, 0.3), input_mode="poisson"), steps=50)
        assert out.result.counts.shape == (50, 4)
    seq = nn.Sequential(nn.Identity(), nn.Flatten(), lin(16, 8, 1), nn.ReLU(), nn.Dropout(0.3), nn.Identity(),
                        lin(8, 4, 2), nn.ReLU())
    graph = read_model(seq)
    assert graph.flattens_input and len(graph.linears) == 2
    assert "ReLU ('3')" in graph.operations


def test_relu_maxima_match_a_manual_forward():
    model = Functional().eval()
    x = data()
    with torch.no_grad():
        h1 = torch.relu(model.fc1(torch.from_numpy(x)))
        h2 = torch.relu(model.fc2(h1))
        out = model.fc3(h2)
    np.testing.assert_allclose(bridge.layer_output_maxima(model, x),
                               [h1.max().item(), h2.max().item(), out.max().item()], rtol=1e-6)

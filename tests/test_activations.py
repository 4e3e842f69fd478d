"""Per-layer activations in test mode (ann.activations)."""
import numpy as np
import pytest
import torch

import bridge
from ann import SleepMLP
from ann.activations import hidden_activations, iter_layer_activations, layer_activations


def test_layer_activations_match_the_reference_test_mode():
    w = [np.array([[2.0, 0.0], [0.0, -1.0]], dtype=np.float32), np.eye(2, dtype=np.float32) * 3]
    model = SleepMLP.from_weights(w)  # reference dropout: hidden outputs x 0.75 in test mode
    model.train()
    x = np.array([[1.0, 0.5], [0.25, -2.0]], dtype=np.float32)
    acts = layer_activations(model, x, batch_size=1)
    hidden = np.maximum(x @ w[0].T, 0) * 0.75
    np.testing.assert_allclose(acts[0], hidden)
    np.testing.assert_allclose(acts[1], np.maximum(hidden @ w[1].T, 0))
    assert model.training  # the mode is restored
    np.testing.assert_allclose(hidden_activations(model, x)[0], hidden)
    assert len(hidden_activations(model, x)) == 1
    np.testing.assert_allclose(bridge.layer_output_maxima(model, x), [a.max() for a in acts])


def test_later_layers_are_not_computed():
    model = SleepMLP((4, 3, 2), generator=torch.Generator().manual_seed(0), init_range=0.5)
    calls = []
    model.linears[-1].register_forward_hook(lambda *a: calls.append(1))
    batches = list(iter_layer_activations(model, np.ones((5, 4)), batch_size=2, n_layers=1))
    assert [b[0].shape for b in batches] == [(2, 3), (2, 3), (1, 3)] and calls == []
    assert not model.linears[1]._forward_pre_hooks  # no hook left behind
    with pytest.raises(ValueError, match="n_layers"):
        layer_activations(model, np.ones((1, 4)), n_layers=3)

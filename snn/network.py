"""The sleep network: what every sleep engine simulates.

A :class:`SleepNetwork` is a feed-forward stack of layers of non-leaky-ish
integrate-and-fire neurons (SRC_SPEC.md section 4) built by the bridge from a
trained ANN. It holds plain NumPy arrays only: the ``snn`` side knows nothing
about PyTorch or training.

Units
-----
Time advances in steps of ``dt_ms`` (1 ms in the reference). The membrane
potential ``v`` is dimensionless (the ANN's activation scale); PyNN and Brian2
back ends read it as mV. The multiplicative leak ``decay`` per step corresponds
to a membrane time constant ``tau_m = -dt / ln(decay)`` (decay 0.999 at 1 ms is
tau_m = 999.5 ms).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np

from .errors import InvalidNetworkError
from .layers import LAYER_TYPES, Conv2d, Dense, Layer, Pool2d
from .plasticity import KERNEL_UPDATES, W_SCALE, WEIGHT_RULES, hebbian_rows, weight_factor  # noqa: F401 (public here too)


@dataclass
class SleepNetwork:
    """A layered integrate-and-fire network with SRC Hebbian plasticity.

    Attributes
    ----------
    weights:
        ``L`` arrays, layer ``l`` of shape ``(n_l, n_{l-1})`` (post, pre), the
        PyTorch ``nn.Linear.weight`` layout. Layer 0 is the input.
    alpha:
        ``(L,)`` synaptic scale per layer: ``v_l += alpha_l * W_l @ s_{l-1}``.
    threshold:
        ``(L,)`` firing threshold per layer (``threshold * beta_l`` in the spec).
    decay:
        Multiplicative membrane leak per step, in (0, 1].
    inc, dec:
        Hebbian potentiation / depression amplitudes (>= 0).
    rule:
        ``"reference"``: the authors' weight-dependent factor
        ``f(w) = 2 * (1 - 1 / (1 + exp(-w / 0.001)))``; ``"plain"``: f = 1
        (the paper's Algorithm 1).
    dt_ms:
        Length of one step in ms (1.0 in the reference).
    plasticity_gain:
        ``(L,)`` gain g_l >= 0 of the Hebbian rule per layer: layer l learns with
        amplitudes ``g_l * inc`` and ``g_l * dec``. Default: 1 for every layer (the
        reference, bit for bit), 0 for pooling layers (their weights are fixed, and an
        explicit gain there must be 0); 0 freezes a layer's weights (e.g. to ask which
        layer's plasticity carries the effect of sleep, or to sleep only the fully
        connected layers of a CNN). A named variant, not part of the paper's procedure.
    layers:
        ``(L,)`` what each layer is (:mod:`snn.layers`): :class:`~snn.layers.Dense`
        (weights ``(n_l, n_{l-1})``), :class:`~snn.layers.Conv2d` (a shared kernel
        ``(C_out, C_in, kh, kw)``) or :class:`~snn.layers.Pool2d` (fixed average-pooling
        weights ``(kh, kw)``). Default: every layer dense, read from the weights' shapes
        (the paper's network; nothing else changes for it).
    kernel_update:
        how a convolution's shared kernel gathers the updates of one step (docs/cnn.md):
        ``"sum"`` (default) or ``"sequential"``; no effect on dense layers.
    """

    weights: list[np.ndarray]
    alpha: np.ndarray
    threshold: np.ndarray
    decay: float = 0.999
    inc: float = 0.032064
    dec: float = 0.003344
    rule: str = "reference"
    dt_ms: float = 1.0
    layer_names: list[str] = field(default_factory=list)
    plasticity_gain: np.ndarray | None = None
    layers: list[Layer] | None = None
    kernel_update: str = "sum"

    def __post_init__(self) -> None:
        self.weights = [np.asarray(w) for w in self.weights]
        if self.layers is None:
            for l, w in enumerate(self.weights):
                if w.ndim != 2:
                    raise InvalidNetworkError(f"weights[{l}] must be 2-D (post, pre), got shape {w.shape}; "
                                              "convolution and pooling layers need `layers`")
            self.layers = [Dense(w.shape[1], w.shape[0]) for w in self.weights]
        self.layers = list(self.layers)
        if self.plasticity_gain is None:
            self.plasticity_gain = np.array([1.0 if getattr(layer, "plastic", True) else 0.0 for layer in self.layers])
        self.plasticity_gain = np.asarray(self.plasticity_gain, dtype=np.float64).reshape(-1)
        self.alpha = np.asarray(self.alpha, dtype=np.float64).reshape(-1)
        self.threshold = np.asarray(self.threshold, dtype=np.float64).reshape(-1)
        if not self.layer_names:
            n = len(self.weights)
            if self.is_dense:
                self.layer_names = ["input"] + [f"hidden{i}" for i in range(1, n)] + ["output"]
            else:
                self.layer_names = ["input"] + default_layer_names(self.layers)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first problem found."""
        if len(self.weights) == 0:
            raise InvalidNetworkError("SleepNetwork needs at least one weight matrix")
        L = len(self.weights)
        if all(isinstance(layer, Dense) for layer in self.layers) and all(w.ndim == 2 for w in self.weights):
            # a dense layer is nothing but its weights' shape: follow the weights (as before layers existed)
            self.layers = [Dense(w.shape[1], w.shape[0]) for w in self.weights]
        if len(self.layers) != L or not all(isinstance(layer, LAYER_TYPES) for layer in self.layers):
            raise InvalidNetworkError(f"layers must list one snn.layers.Dense, Conv2d or Pool2d per weight array "
                                      f"({L}), got {[type(x).__name__ for x in self.layers]}")
        for l, (w, layer) in enumerate(zip(self.weights, self.layers)):
            if isinstance(layer, Dense) and w.ndim != 2:
                raise InvalidNetworkError(f"weights[{l}] must be 2-D (post, pre), got shape {w.shape}")
            if not np.issubdtype(w.dtype, np.floating):
                raise InvalidNetworkError(f"weights[{l}] must be floating point, got {w.dtype}")
            if not np.all(np.isfinite(w)):
                raise InvalidNetworkError(f"weights[{l}] contains NaN or infinite values")
            if l > 0 and layer.n_in != self.layers[l - 1].n_out:
                raise InvalidNetworkError(
                    f"shape mismatch: weights[{l}] has {layer.n_in} inputs but weights[{l - 1}] has "
                    f"{self.layers[l - 1].n_out} outputs" + ("" if self.is_dense else
                                                             f" (layers {layer.kind} after {self.layers[l - 1].kind})"))
            if tuple(w.shape) != tuple(layer.weight_shape):
                raise InvalidNetworkError(f"shape mismatch: weights[{l}] has shape {w.shape}, but layer {l} "
                                          f"({layer.kind}) needs {tuple(layer.weight_shape)}")
        for name in ("alpha", "threshold"):
            arr = getattr(self, name)
            if arr.shape != (L,):
                raise InvalidNetworkError(f"{name} must have one value per layer ({L}), got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise InvalidNetworkError(f"{name} contains NaN or infinite values")
        if self.plasticity_gain.shape != (L,):
            raise InvalidNetworkError(f"plasticity_gain must have one gain per layer ({L}), got shape "
                                      f"{self.plasticity_gain.shape}")
        if not np.all(np.isfinite(self.plasticity_gain)) or np.any(self.plasticity_gain < 0):
            raise InvalidNetworkError(f"plasticity_gain values must be finite and >= 0, got {self.plasticity_gain}")
        for l, layer in enumerate(self.layers):
            if not layer.plastic and self.plasticity_gain[l] != 0:
                raise InvalidNetworkError(f"plasticity_gain[{l}] = {self.plasticity_gain[l]:g} is for a {layer.kind} "
                                          "layer, whose weights are fixed; give 0")
        if self.kernel_update not in KERNEL_UPDATES:
            raise InvalidNetworkError(f"unknown kernel_update {self.kernel_update!r}; choose one of {KERNEL_UPDATES}")
        if np.any(self.alpha < 0):
            raise InvalidNetworkError(f"alpha must be >= 0, got {self.alpha}")
        if not (0.0 < self.decay <= 1.0):
            raise InvalidNetworkError(f"decay must be in (0, 1], got {self.decay}")
        for name in ("inc", "dec"):
            val = getattr(self, name)
            if not math.isfinite(val) or val < 0:
                raise InvalidNetworkError(f"{name} must be a finite number >= 0, got {val}")
        if self.rule not in WEIGHT_RULES:
            raise InvalidNetworkError(f"unknown weight rule {self.rule!r}; choose one of {WEIGHT_RULES}")
        if not (self.dt_ms > 0):
            raise InvalidNetworkError(f"dt_ms must be > 0, got {self.dt_ms}")
        if len(self.layer_names) != L + 1:
            raise InvalidNetworkError(f"layer_names needs {L + 1} names (input + {L} layers)")

    # --------------------------------------------------------------- derived
    @property
    def sizes(self) -> list[int]:
        """Layer widths (neurons), input first: ``[n_0, n_1, ..., n_L]``."""
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def is_dense(self) -> bool:
        """Every layer is fully connected (the paper's network)."""
        return all(isinstance(layer, Dense) for layer in self.layers)

    def require_dense(self, what: str) -> None:
        """Raise :class:`~snn.errors.InvalidNetworkError` unless every layer is dense: ``what``
        (e.g. ``"save_network()"``) handles dense layers only."""
        if not self.is_dense:
            l = next(l for l, layer in enumerate(self.layers) if layer.kind != "dense")
            raise InvalidNetworkError(
                f"{what} handles dense layers only, and layer {l} ('{self.layer_names[l + 1]}') is a "
                f"{self.layers[l].kind} layer; network.unrolled() gives the dense network with the same synapses "
                "(the same spikes while weights are frozen)")

    def unrolled_weights(self, layer: int) -> np.ndarray:
        """Layer ``layer``'s weights as the dense ``(n_l, n_{l-1})`` matrix of the same synapses
        (a convolution's kernel copied to every position, 0 where no synapse; see
        :meth:`snn.layers.Conv2d.unroll`)."""
        return self.layers[layer].unroll(self.weights[layer])

    def unrolled(self) -> "SleepNetwork":
        """The dense network with the same neurons and synapses (:meth:`unrolled_weights` per
        layer): the same spikes while weights are frozen. Its plasticity is not the same (every
        position gets its own copy of the kernel); pooling layers keep gain 0."""
        net = self.copy()
        net.weights = [self.unrolled_weights(l).copy() for l in range(self.n_layers)]
        net.layers = [Dense(layer.n_in, layer.n_out) for layer in self.layers]
        net.validate()
        return net

    @property
    def n_layers(self) -> int:
        """Number of weight layers ``L``."""
        return len(self.weights)

    def amplitudes(self, layer: int) -> tuple[float, float]:
        """``(inc, dec)`` of weight layer ``layer`` (0-based): ``g_l * inc, g_l * dec``
        (exactly ``inc, dec`` for the default gain 1)."""
        g = float(self.plasticity_gain[layer])
        return g * self.inc, g * self.dec

    @property
    def tau_m_ms(self) -> float:
        """Membrane time constant in ms equivalent to ``decay`` per ``dt_ms`` step."""
        return math.inf if self.decay == 1.0 else -self.dt_ms / math.log(self.decay)

    def copy(self) -> "SleepNetwork":
        return SleepNetwork(
            weights=[w.copy() for w in self.weights],
            alpha=self.alpha.copy(),
            threshold=self.threshold.copy(),
            decay=self.decay,
            inc=self.inc,
            dec=self.dec,
            rule=self.rule,
            dt_ms=self.dt_ms,
            layer_names=list(self.layer_names),
            plasticity_gain=self.plasticity_gain.copy(),
            layers=list(self.layers),
            kernel_update=self.kernel_update,
        )


def default_layer_names(layers: list[Layer]) -> list[str]:
    """Names of a network's layers by kind: ``conv1, pool1, conv2, ..., fc1, ...``, the last ``output``."""
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        prefix = {"dense": "fc"}.get(layer.kind, layer.kind)
        counts[prefix] = counts.get(prefix, 0) + 1
        names.append(f"{prefix}{counts[prefix]}")
    return names[:-1] + ["output"]

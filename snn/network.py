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

#: Hebbian rules: ``"reference"`` (the weight-dependent factor f(w)) or ``"plain"`` (the paper's Algorithm 1)
WEIGHT_RULES = ("reference", "plain")


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
        reference, bit for bit); 0 freezes a layer's weights (e.g. to ask which
        layer's plasticity carries the effect of sleep). A named variant, not
        part of the paper's procedure.
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

    def __post_init__(self) -> None:
        self.weights = [np.asarray(w) for w in self.weights]
        if self.plasticity_gain is None:
            self.plasticity_gain = np.ones(len(self.weights))
        self.plasticity_gain = np.asarray(self.plasticity_gain, dtype=np.float64).reshape(-1)
        self.alpha = np.asarray(self.alpha, dtype=np.float64).reshape(-1)
        self.threshold = np.asarray(self.threshold, dtype=np.float64).reshape(-1)
        if not self.layer_names:
            n = len(self.weights)
            self.layer_names = ["input"] + [f"hidden{i}" for i in range(1, n)] + ["output"]
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first problem found."""
        if len(self.weights) == 0:
            raise InvalidNetworkError("SleepNetwork needs at least one weight matrix")
        for l, w in enumerate(self.weights):
            if w.ndim != 2:
                raise InvalidNetworkError(f"weights[{l}] must be 2-D (post, pre), got shape {w.shape}")
            if not np.issubdtype(w.dtype, np.floating):
                raise InvalidNetworkError(f"weights[{l}] must be floating point, got {w.dtype}")
            if not np.all(np.isfinite(w)):
                raise InvalidNetworkError(f"weights[{l}] contains NaN or infinite values")
            if l > 0 and w.shape[1] != self.weights[l - 1].shape[0]:
                raise InvalidNetworkError(
                    f"shape mismatch: weights[{l}] has {w.shape[1]} inputs but "
                    f"weights[{l - 1}] has {self.weights[l - 1].shape[0]} outputs"
                )
        L = len(self.weights)
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
        """Layer widths, input first: ``[n_0, n_1, ..., n_L]``."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

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
        )


def weight_factor(w: np.ndarray, rule: str = "reference") -> np.ndarray:
    """The Hebbian weight-dependent factor f(w) of SRC_SPEC.md section 4.

    ``reference``: ``f(w) = 2 * (1 - 1 / (1 + exp(-w / 0.001)))``; ``plain``: 1.
    """
    if rule == "plain":
        return np.ones_like(w)
    with np.errstate(over="ignore"):
        return 2.0 * (1.0 - 1.0 / (1.0 + np.exp(-w / w.dtype.type(0.001))))



def hebbian_rows(rows: np.ndarray, pre_on: np.ndarray, inc: float, dec: float, rule: str = "reference") -> np.ndarray:
    """SRC Hebbian update (SRC_SPEC.md section 4) of the weight rows onto neurons that fired.

    Args:
        rows: ``(k, n_pre)`` weights onto the ``k`` neurons that fired this step, as they are
            after this step's input was delivered.
        pre_on: ``(n_pre,)`` bool, which presynaptic neurons fired this step.
        inc, dec: amplitudes; pass them in the arithmetic's dtype (e.g. ``np.float32(inc)``).

    Returns the new rows: ``w + inc * f(w)`` where the pre neuron fired, ``w - dec * f(w)``
    where it did not. The one NumPy form of the rule (the compiled engines have their own
    kernels, checked against it by the engine contract tests).
    """
    f = weight_factor(rows, rule)
    return np.where(np.asarray(pre_on, dtype=bool)[None, :], rows + inc * f, rows - dec * f)

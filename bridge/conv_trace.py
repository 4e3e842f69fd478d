"""Reference traces of convolutional networks: the file format, its writer and its reader.

The authors' code has no CNN, so a CNN trace is written by this package's ``dense``
engine (the literal transcription, :mod:`snn.dense`) in float64, and replayed by
``sleep-replay conformance`` exactly as the golden MLP traces (:mod:`bridge.conformance`):
it pins the CNN semantics (conversion, normalization, kernel update) so that any engine,
any later version or another implementation can be checked against it.

Format: the keys of an MLP trace (docs/conformance.md) with these differences

``layer_kinds`` (L,) str
    ``"conv"``, ``"pool"`` or ``"dense"`` per layer of the sleep network (its presence marks a CNN trace).
``model`` () str
    JSON of the :class:`ann.SleepCNN` arguments (``image_shape``, ``channels``, ``kernel_size``,
    ``stride``, ``padding``, ``pool_size``, ``fc_sizes``, ``dropout``, ``dropout_mode``,
    ``output_activation``) that rebuild the model.
``w1_trained`` ... ``wL_trained``, ``expected_w1`` ...
    each layer's weights: ``(C_out, C_in, kh, kw)`` for a convolution, the fixed ``(kh, kw)`` average
    for a pooling layer, ``(n_l, n_{l-1})`` for a dense layer; expected weights in float64.
``rule``, ``kernel_update`` () str; ``plasticity_gain`` (L,) float
    the Hebbian rule, the kernel update (docs/cnn.md) and the per-layer gains.

Write one with ``python -m bridge.conv_trace OUT.npz [--steps 300] [--seed 0]`` or
:func:`write_conv_trace`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ann import SleepCNN
from snn.atomic_io import atomic_write
from snn.plasticity import KERNEL_UPDATES

from .convert import network_layers
from .errors import TraceError
from .params import SleepParams
from .sleep import sleep

#: SleepCNN arguments a trace records (every one that shapes the network or its activations)
MODEL_FIELDS = ("image_shape", "channels", "kernel_size", "stride", "padding", "pool_size", "fc_sizes", "dropout",
                "dropout_mode", "output_activation")
#: string entries of a CNN trace
STRING_KEYS = ("model", "rule", "kernel_update")


def model_arguments(model: SleepCNN) -> dict[str, Any]:
    """The :data:`MODEL_FIELDS` of ``model`` as JSON-ready values."""
    return {f: (list(v) if isinstance(v, tuple) else v) for f in MODEL_FIELDS for v in [getattr(model, f)]}


def is_conv_trace(data: dict[str, np.ndarray]) -> bool:
    return "layer_kinds" in data


def _string(data: dict[str, np.ndarray], key: str, path: str | Path) -> str:
    if key not in data:
        raise TraceError(f"{path} is missing key {key!r}")
    arr = data[key]
    if arr.shape != () or arr.dtype.kind != "U":
        raise TraceError(f"{path}: {key} must be a string, got dtype {arr.dtype} shape {arr.shape}")
    return str(arr)


def conv_model_from_trace(data: dict[str, np.ndarray], path: str | Path) -> SleepCNN:
    """The :class:`ann.SleepCNN` of a CNN trace, holding its trained weights; a
    :class:`TraceError` names what does not fit (keys, JSON, shapes, layer kinds)."""
    try:
        args = json.loads(_string(data, "model", path))
    except ValueError as exc:
        raise TraceError(f"{path}: model is not valid JSON ({exc})") from exc
    if not isinstance(args, dict) or sorted(args) != sorted(MODEL_FIELDS):
        raise TraceError(f"{path}: model must be a JSON object with the keys {list(MODEL_FIELDS)}")
    try:
        model = SleepCNN(**args)
    except (ValueError, TypeError) as exc:
        raise TraceError(f"{path}: model arguments do not make a SleepCNN: {exc}") from exc
    layers = network_layers(model)
    kinds = [str(k) for k in np.asarray(data["layer_kinds"]).reshape(-1)]
    if kinds != [layer.kind for layer in layers]:
        raise TraceError(f"{path}: layer_kinds {kinds} do not match the model's layers "
                         f"{[layer.kind for layer in layers]}")
    sizes = [layers[0].n_in] + [layer.n_out for layer in layers]
    if np.asarray(data["sizes"]).tolist() != sizes:
        raise TraceError(f"{path}: sizes {np.asarray(data['sizes']).tolist()} do not match the model's {sizes}")
    with torch.no_grad():
        weighted = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        it = iter(weighted)
        for l, layer in enumerate(layers, start=1):
            for key in (f"w{l}_trained", f"expected_w{l}"):
                if key not in data:
                    raise TraceError(f"{path} is missing key {key!r}")
                if tuple(data[key].shape) != tuple(layer.weight_shape):
                    raise TraceError(f"{path}: {key} has shape {data[key].shape}, expected {layer.weight_shape}")
            if layer.kind != "pool":
                next(it).weight.copy_(torch.as_tensor(data[f"w{l}_trained"]))
    return model


def params_from_conv_trace(data: dict[str, np.ndarray], path: str | Path, base: SleepParams) -> SleepParams:
    """``base`` (the MLP trace fields) with the CNN trace's rule, kernel update and gains."""
    gains = tuple(float(g) for g in data["plasticity_gain"]) if "plasticity_gain" in data else ()
    return base.replace(rule=_string(data, "rule", path), kernel_update=_string(data, "kernel_update", path),
                        plasticity_gain=gains)


def write_conv_trace(path: str | os.PathLike, model: SleepCNN, x_seen: np.ndarray, params: SleepParams,
                     steps: int, *, seed: int = 0, overwrite: bool = False) -> Path:
    """Sleep ``model`` with the ``dense`` engine in float64 and write the CNN trace to ``path``.

    x_seen: ``(n, 784)`` uint8 training images seen so far (intensity = value / 255).
    params: masked-mean-image sleep parameters (one ``beta`` per layer of the sleep network).
    The input's uniform draws and window origins come from ``numpy.random.default_rng(seed)``.
    """
    x_seen = np.asarray(x_seen)
    if x_seen.dtype != np.uint8 or x_seen.ndim != 2:
        raise TraceError(f"x_seen must be (n, pixels) uint8 images, got {x_seen.dtype} {x_seen.shape}")
    if params.input_mode != "masked_mean":
        raise TraceError("a trace records the masked mean-image input (params.input_mode = 'masked_mean')")
    n0 = x_seen.shape[1]
    side = math.isqrt(n0)
    rng = np.random.default_rng(seed)
    uniforms = rng.random((steps, n0), dtype=np.float32)
    window = rng.integers(0, side - params.mask_size, size=(steps, 2)).astype(np.int64)
    out = sleep(model, x_seen / 255.0, params, steps=steps, engine="dense", dtype="float64", uniforms=uniforms,
                windows=window)
    net = out.spec.network
    arrays: dict[str, np.ndarray] = {
        "sizes": np.asarray(net.sizes, dtype=np.int64), "layer_kinds": np.asarray([x.kind for x in net.layers]),
        "model": np.asarray(json.dumps(model_arguments(model))), "rule": np.asarray(params.rule),
        "kernel_update": np.asarray(params.kernel_update), "plasticity_gain": net.plasticity_gain.copy(),
        "x_seen": x_seen, "max_rate": np.asarray(params.max_rate_hz), "dt": np.asarray(params.dt_s),
        "inc": np.asarray(params.inc), "dec": np.asarray(params.dec), "alpha_scale": np.asarray(params.alpha_scale),
        "decay": np.asarray(params.decay), "threshold": np.asarray(params.threshold),
        "mask_size": np.asarray(params.mask_size, dtype=np.int64), "steps": np.asarray(steps, dtype=np.int64),
        "beta": np.asarray(params.beta, dtype=np.float64), "window": window, "uniforms": uniforms,
        "expected_alpha": net.alpha.copy(), "expected_norm_constants": out.spec.norm_constants.copy(),
        "expected_mean_image": out.spec.mean_image.astype(np.float64), "expected_counts": out.result.counts,
    }
    for l, (w, w_after) in enumerate(zip(net.weights, out.result.weights), start=1):
        arrays[f"w{l}_trained"] = np.asarray(w, dtype=np.float32)
        arrays[f"expected_w{l}"] = np.asarray(w_after, dtype=np.float64)
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # (a file object: savez would add ".npz" to the temporary name)
            np.savez_compressed(fh, **arrays)

    return atomic_write(path, write, overwrite=overwrite)


def main(argv: Sequence[str] | None = None) -> int:
    """Write a CNN trace: a SleepCNN trained on the first task of the embedded MNIST subset."""
    import ann
    from .params import preset

    p = argparse.ArgumentParser(prog="python -m bridge.conv_trace", description=main.__doc__)
    p.add_argument("out", help="the .npz file to write")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0, help="seed of the model, its training and the sleep input")
    p.add_argument("--kernel-update", default=KERNEL_UPDATES[0], choices=KERNEL_UPDATES)
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    task = ann.class_incremental_tasks(ann.load_mnist_subset(), [(0, 1)])[0]
    model = SleepCNN(channels=(4, 8), generator=torch.Generator().manual_seed(args.seed))
    ann.train_task(model, task.x_train, task.y_train, ann.TrainConfig(epochs=5), seed=args.seed)
    x_seen = np.round(task.x_train * 255).astype(np.uint8)
    params = preset("mnist").replace(beta=(2.0, 1.0, 2.0, 1.0, 2.0), kernel_update=args.kernel_update)
    path = write_conv_trace(args.out, model, x_seen, params, args.steps, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {path}: a conv 4 - avgpool - conv 8 - avgpool - fc 10 network, {args.steps} steps "
          f"(check it with: sleep-replay conformance {path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

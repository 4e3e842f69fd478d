"""The toy binary patches task of the paper (Tadros et al. 2022, Figs. 1-2).

Four binary ``width x width`` images; each has ``width * width // 6`` active
pixels: ``overlap`` pixels shared by all four images plus
``width * width // 6 - overlap`` pixels of its own. Task 1 is images 1-2
(labels 0, 1), task 2 images 3-4 (labels 2, 3).
"""
from __future__ import annotations

import numpy as np

from .tasks import Task
from .errors import DataError


def make_patches(overlap: int, width: int = 10, n_images: int = 4, seed: int = 0) -> np.ndarray:
    """``(n_images, width * width)`` float32 binary images (seeded pixel choice)."""
    n_pixels = width * width
    n_active = n_pixels // 6
    if not 0 <= overlap < n_active:
        raise DataError(f"overlap must be in [0, {n_active - 1}] for {width} x {width} images "
                         f"({n_active} active pixels each), got {overlap}")
    unique = n_active - overlap
    if overlap + n_images * unique > n_pixels:
        raise DataError(f"{n_images} images with {unique} unique pixels each do not fit {n_pixels} pixels")
    rng = np.random.default_rng(seed)
    pixels = rng.permutation(n_pixels)
    shared = pixels[:overlap]
    images = np.zeros((n_images, n_pixels), dtype=np.float32)
    for i in range(n_images):
        own = pixels[overlap + i * unique : overlap + (i + 1) * unique]
        images[i, shared] = 1.0
        images[i, own] = 1.0
    return images


def patches_tasks(images: np.ndarray) -> list[Task]:
    """Task 1 = images 1-2, task 2 = images 3-4; each image is its own test example."""
    labels = np.arange(len(images))
    half = len(images) // 2
    return [Task(tuple(range(a, b)), images[a:b], labels[a:b], images[a:b], labels[a:b])
            for a, b in ((0, half), (half, len(images)))]

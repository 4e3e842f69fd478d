"""Image corruptions (ann.corruptions) and class-stratified subsets (ann.sampling):
known properties, determinism from the seed, and typed errors for bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ann.corruptions import (CORRUPTIONS, Corruption, corrupt_mixed, corruption_list, gaussian_blur, gaussian_noise,
                             salt_and_pepper)
from ann.errors import CorruptionError, DataError
from ann.sampling import class_fraction, class_holdout


def images(n=20, seed=0):
    return np.random.default_rng(seed).random((n, 784), dtype=np.float32)


def test_gaussian_noise_is_seeded_clipped_and_of_the_given_spread():
    x = np.full((50, 784), 0.5, dtype=np.float32)
    a, b = gaussian_noise(x, 0.1, 3), gaussian_noise(x, 0.1, 3)
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)                         # same seed, same noise, bit for bit
    assert not np.array_equal(a, gaussian_noise(x, 0.1, 4))     # another seed, other noise
    assert abs(float((a - x).std()) - 0.1) < 0.005              # no clipping at 0.5 +- 5 sd
    big = gaussian_noise(images(), 0.6, 0)
    assert big.min() == 0.0 and big.max() == 1.0                # clipped to [0, 1]


@pytest.mark.parametrize("fraction", [0.2, 0.4, 0.6])
def test_salt_and_pepper_hits_the_fraction_with_half_salt(fraction):
    x = np.full((200, 784), 0.5, dtype=np.float32)              # 0.5: neither salt nor pepper
    y = salt_and_pepper(x, fraction, [1, 2])
    hit = y != 0.5
    assert abs(hit.mean() - fraction) < 0.01                    # 156800 pixels: SD of the share < 0.0013
    assert set(np.unique(y[hit]).tolist()) == {0.0, 1.0}
    assert abs((y[hit] == 1.0).mean() - 0.5) < 0.01
    np.testing.assert_array_equal(y, salt_and_pepper(x, fraction, [1, 2]))


@pytest.mark.parametrize("sigma", [2, 4, 6])
def test_blur_keeps_the_mean_and_the_range_and_smooths(sigma):
    x = images(10)
    y = gaussian_blur(x, sigma)
    np.testing.assert_allclose(y.mean(1), x.mean(1), atol=1e-5)  # reflect boundary: mass kept
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert y.std(1).max() < x.std(1).min()                      # smoother than the input
    np.testing.assert_array_equal(y, gaussian_blur(x, sigma))   # deterministic
    # image-shaped input gives the same images
    np.testing.assert_array_equal(gaussian_blur(x.reshape(10, 1, 28, 28), sigma).reshape(10, 784), y)
    # a constant image stays constant
    np.testing.assert_allclose(gaussian_blur(np.full((1, 784), 0.3, np.float32), sigma), 0.3, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(CORRUPTIONS), level=st.floats(0.01, 1.0), seed=st.integers(0, 2 ** 32))
def test_every_corruption_stays_in_the_unit_interval(kind, level, seed):
    y = Corruption(kind, level).apply(images(3, seed % 7), seed)
    assert y.shape == (3, 784) and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("kind, level, match", [
    ("salt_pepper", 1.5, r"salt_pepper level.*in \(0, 1\]"), ("blur", 0, "blur level.*> 0"),
    ("gaussian_noise", float("nan"), "finite"), ("gaussian_noise", True, "finite number"),
    ("speckle", 0.1, "unknown corruption"), ("blur", "2", "finite number")])
def test_bad_levels_name_the_condition(kind, level, match):
    with pytest.raises(CorruptionError, match=match):
        Corruption(kind, level)


def test_corruption_list_orders_kinds_and_names_bad_entries():
    conds = corruption_list({"blur": [2, 4], "gaussian_noise": [0.2]})
    assert [c.label for c in conds] == ["gaussian_noise 0.2", "blur 2", "blur 4"]
    with pytest.raises(CorruptionError, match=r"corruptions\.blur\[1\]"):
        corruption_list({"blur": [2, -1]})
    with pytest.raises(CorruptionError, match="twice"):
        corruption_list({"blur": [2, 2.0]})
    with pytest.raises(CorruptionError, match="non-empty list"):
        corruption_list({"blur": 2})
    with pytest.raises(DataError, match="not 28 x 28"):
        gaussian_blur(np.zeros((2, 100), np.float32), 2)


def test_corrupt_mixed_draws_a_condition_per_image_reproducibly():
    x = images(600)
    conds = [None, Corruption("blur", 2), Corruption("salt_pepper", 0.4)]
    y, which = corrupt_mixed(x, conds, [5])
    y2, which2 = corrupt_mixed(x, conds, [5])
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(which, which2)
    assert np.bincount(which, minlength=3).min() > 150           # uniform: about 200 each
    np.testing.assert_array_equal(y[which == 0], x[which == 0])  # clean images untouched
    np.testing.assert_array_equal(y[which == 1], gaussian_blur(x[which == 1], 2))


def test_class_holdout_and_fraction_are_stratified_seeded_and_nested():
    y = np.repeat(np.arange(10), 100)
    kept, held = class_holdout(y, 0.1, [0, 1])
    assert len(np.intersect1d(kept, held)) == 0 and len(kept) + len(held) == 1000
    assert np.bincount(y[held]).tolist() == [10] * 10
    np.testing.assert_array_equal(held, class_holdout(y, 0.1, [0, 1])[1])
    assert not np.array_equal(held, class_holdout(y, 0.1, [0, 2])[1])
    small = class_fraction(y[kept], 2, 7, class_totals={c: 100 for c in range(10)})
    large = class_fraction(y[kept], 10, 7, class_totals={c: 100 for c in range(10)})
    assert np.bincount(y[kept][small]).tolist() == [2] * 10
    assert np.bincount(y[kept][large]).tolist() == [10] * 10
    assert set(small) <= set(large)                              # nested for one seed
    assert np.bincount(y[class_fraction(y, 0.1, 0)]).tolist() == [1] * 10  # at least one per class
    with pytest.raises(DataError, match="only 90 are available"):
        class_fraction(y[kept], 100, 0, class_totals={c: 100 for c in range(10)})
    with pytest.raises(DataError, match="percent"):
        class_fraction(y, 0, 0)


@pytest.mark.parametrize("sigma, shape", [(0.7, (28, 28)), (2, (28, 28)), (4, (28, 28)), (6, (28, 28)),
                                          (6, (5, 7)), (1.3, (3, 11))])
def test_blur_equals_scipy_gaussian_filter(sigma, shape):
    # the reference: scipy.ndimage.gaussian_filter, mode "reflect", truncate 4 (the analysis extra has scipy);
    # (5, 7) with sigma 6: a kernel radius of 24, several mirrorings of the image
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(3).random((6, 2) + shape).astype(np.float32)
    want = ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="reflect")
    got = gaussian_blur(x, sigma)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-7)
    np.testing.assert_allclose(gaussian_blur(x.reshape(12, -1), sigma, image_shape=shape).reshape(x.shape), got)


def test_blur_kernel_is_scipys():
    from ann.corruptions import gaussian_kernel
    k = gaussian_kernel(2.0)
    assert len(k) == 17 and abs(k.sum() - 1) < 1e-15 and k.argmax() == 8
    np.testing.assert_allclose(k, k[::-1])

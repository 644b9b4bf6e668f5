import numpy as np
import pytest

from hw_lib import bootstrap
from hw_lib.metrics import course_miou

PERFECT = np.diag([10, 10, 10, 10, 10, 10, 0])  # every scored class right: mIoU 1


def half_wrong() -> np.ndarray:
    """Every class-c pixel half right, half predicted as c+1 (mod 6)."""
    mat = np.zeros((7, 7), dtype=np.int64)
    for c in range(6):
        mat[c, c] = mat[c, (c + 1) % 6] = 5
    return mat


def test_the_vectorised_resampling_equals_a_plain_loop():
    rng = np.random.default_rng(3)
    per_image = rng.integers(0, 50, size=(9, 7, 7))
    counts = bootstrap.resample_counts(9, resamples=40, seed=1)
    assert (counts.sum(1) == 9).all()
    expected = [course_miou(sum(k * m for k, m in zip(row, per_image))) for row in counts]
    assert bootstrap.resampled_miou(per_image, counts) == pytest.approx(expected, abs=1e-12)


def test_identical_images_leave_no_uncertainty():
    per_image = np.stack([half_wrong()] * 5)
    interval = bootstrap.miou_interval(per_image)
    assert interval.value == pytest.approx(1 / 3) and interval.low == interval.high == pytest.approx(1 / 3)


def test_two_images_give_the_interval_between_their_extremes():
    # resamples are {1, 1}, {2, 2} (each with probability 1/4) or {1, 2}: the 95% interval spans
    # the two extremes, image 2 alone (mIoU 1/3) and image 1 alone (mIoU 1)
    interval = bootstrap.miou_interval(np.stack([PERFECT, half_wrong()]))
    assert interval.value == pytest.approx(course_miou(PERFECT + half_wrong()))
    assert (interval.low, interval.high) == pytest.approx((1 / 3, 1.0))


def test_a_model_compared_with_itself_differs_by_exactly_zero():
    per_image = np.random.default_rng(0).integers(0, 50, size=(20, 7, 7))
    diff = bootstrap.paired_difference(per_image, per_image)
    assert (diff.value, diff.low, diff.high) == (0.0, 0.0, 0.0) and not diff.excludes_zero


def test_a_model_better_on_every_image_has_an_interval_above_zero():
    rng = np.random.default_rng(1)
    baseline = np.stack([half_wrong() * rng.integers(1, 4) for _ in range(12)])
    better = np.stack([PERFECT * rng.integers(1, 4) for _ in range(12)])
    diff = bootstrap.paired_difference(better, baseline)
    assert diff.value == pytest.approx(2 / 3) and diff.low == pytest.approx(2 / 3) and diff.excludes_zero
    assert (round(diff.low, 3), round(diff.high, 3)) == (0.667, 0.667)


def test_noisy_differences_straddle_zero_and_the_seed_fixes_the_interval():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 30, size=(30, 7, 7))
    b = a + rng.integers(0, 3, size=a.shape)
    first, again = bootstrap.paired_difference(b, a), bootstrap.paired_difference(b, a)
    assert first == again and first.low < first.value < first.high


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="same images"):
        bootstrap.paired_difference(np.zeros((3, 7, 7)), np.zeros((4, 7, 7)))
    with pytest.raises(ValueError, match=r"\(N, C, C\)"):
        bootstrap.miou_interval(np.zeros((7, 7)))

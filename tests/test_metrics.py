import math

import numpy as np
import pytest
import torch

from hw_lib.metrics import (
    ConfusionMatrix,
    accuracy_by_boundary_distance,
    boundary_distance,
    constant_prediction,
    most_predicted,
    per_image_confusion,
    scores_from_matrix,
)


def course_miou(pred: np.ndarray, labels: np.ndarray) -> tuple[list[float], float]:
    """The course's mean_iou_score, per pixel, written out literally."""
    ious = []
    for i in range(6):
        tp_fp = np.sum(pred == i)
        tp_fn = np.sum(labels == i)
        tp = np.sum((pred == i) * (labels == i))
        ious.append(tp / (tp_fp + tp_fn - tp))
    return ious, sum(ious) / 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_miou_equals_the_course_formula_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, (3, 17, 23))
    pred = np.where(rng.random(labels.shape) < 0.6, labels, rng.integers(0, 7, labels.shape))
    matrix = ConfusionMatrix()
    for t, p in zip(labels, pred):  # accumulated image by image, scored over the whole split
        matrix.update(torch.from_numpy(t), torch.from_numpy(p))
    scores = matrix.compute()
    ious, miou = course_miou(pred, labels)
    assert scores.iou[:6] == pytest.approx(ious, abs=1e-12)
    assert scores.miou == pytest.approx(miou, abs=1e-12)
    assert scores.pixel_accuracy == pytest.approx((pred == labels).mean())
    assert int(matrix.mat.sum()) == labels.size


def test_unknown_truth_and_unknown_predictions_count_as_errors():
    labels = torch.tensor([[0, 0, 6, 1]])
    pred = torch.tensor([[0, 6, 0, 1]])
    matrix = ConfusionMatrix()
    matrix.update(labels, pred)
    iou = matrix.compute().iou
    assert iou[0] == pytest.approx(1 / 3)  # TP 1, FN 1 (predicted Unknown), FP 1 (truth Unknown)
    assert iou[1] == 1.0


def test_a_class_absent_from_truth_and_prediction_is_nan_and_left_out_of_the_mean():
    matrix = ConfusionMatrix()
    matrix.update(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]))
    scores = matrix.compute()
    assert all(math.isnan(v) for v in scores.iou[2:6])
    assert scores.miou == pytest.approx((0.5 + 0.5) / 2)
    assert scores.per_class()["Rangeland"] is None


def test_course_report_format():
    matrix = ConfusionMatrix()
    matrix.update(torch.arange(6), torch.arange(6))
    report = matrix.compute().course_report()
    assert report.splitlines()[0] == "class #0 : 1.00000"
    assert report.splitlines()[-1] == "mean_iou: 1.000000"


def test_boundary_distance_counts_pixels_to_the_nearest_other_class():
    labels = torch.zeros(1, 6, 10, dtype=torch.uint8)
    labels[:, :, 5:] = 1
    assert boundary_distance(labels, cap=3)[0, 0].tolist() == [4, 4, 3, 2, 1, 1, 2, 3, 4, 4]
    diagonal = torch.zeros(1, 5, 5, dtype=torch.uint8)
    diagonal[0, 0, 0] = 1
    assert boundary_distance(diagonal, cap=8)[0, 2, 2] == 2  # Chebyshev: the diagonal counts as one step


def test_accuracy_by_distance_puts_each_error_in_its_band():
    labels = torch.zeros(1, 6, 10, dtype=torch.uint8)
    labels[:, :, 5:] = 1
    pred = labels.clone()
    pred[:, :, 4] = 1  # wrong on the column next to the boundary only
    near, middle, far = accuracy_by_boundary_distance(pred, labels, edges=(1, 2))
    assert (near.low, near.high, near.label) == (0, 1, "1-1 px") and near.pixel_share == pytest.approx(0.2)
    assert near.accuracy == pytest.approx(0.5) and middle.accuracy == 1.0 and far.accuracy == 1.0
    assert (far.high, far.label) == (None, "> 2 px") and far.pixel_share == pytest.approx(0.6)
    empty = accuracy_by_boundary_distance(labels[:, :, :5], labels[:, :, :5], edges=(1,))
    assert empty[0].accuracy is None and empty[1].accuracy == 1.0  # one class: no boundary at all


def test_the_most_predicted_class_and_a_constant_prediction():
    mats = np.zeros((2, 7, 7), dtype=np.int64)
    mats[0, 1, 1], mats[0, 0, 1], mats[1, 3, 0] = 6, 2, 2
    top = most_predicted(mats.sum(0))
    assert (top.name, top.share) == ("Agriculture", 0.8)
    everywhere = constant_prediction(mats, 3)
    assert everywhere[:, :, 3].tolist() == mats.sum(-1).tolist() and everywhere.sum() == mats.sum()


def test_per_image_matrices_add_up_to_the_split_matrix():
    rng = np.random.default_rng(4)
    labels = torch.from_numpy(rng.integers(0, 7, (5, 9, 11)))
    pred = torch.from_numpy(rng.integers(0, 7, (5, 9, 11)))
    per_image = per_image_confusion(labels, pred)
    assert per_image.shape == (5, 7, 7)
    for i in range(5):
        one = ConfusionMatrix()
        one.update(labels[i], pred[i])
        assert torch.equal(per_image[i], one.mat)
    whole = ConfusionMatrix()
    whole.update(labels, pred)
    assert scores_from_matrix(per_image.sum(0).numpy()) == whole.compute()

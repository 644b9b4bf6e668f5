import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from hw_lib import run_analysis
from hw_lib.checkpoint import model_from_checkpoint
from hw_lib.engine import predict_image
from hw_lib.errors import CheckpointError, DataError, ImageSizeError
from hw_lib.evaluate import evaluate_folders
from hw_lib.predict import predict_folder
from hw_lib.runtime import Runtime

from .helpers import REAL_DATA, REPO, SCORER_FIXTURE, need


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


@pytest.mark.slow
def test_scorer_fixture_gives_the_published_ious():
    scores = evaluate_folders(need(REAL_DATA / "validation"), need(SCORER_FIXTURE))
    assert [round(v, 5) for v in scores.iou[:5]] == [0.74253, 0.86813, 0.30609, 0.77914, 0.72905]


def test_predict_then_evaluate_reproduces_the_runs_validation_miou(reference_run, synth_dir, tmp_path):
    written = predict_folder(reference_run.path / "model.pt", synth_dir / "validation", tmp_path / "pred",
                             progress=False)
    assert [p.name for p in written] == ["0000_mask.png", "0008_mask.png", "0097_mask.png", "0107_mask.png"]
    mask = np.asarray(Image.open(written[0]))
    assert mask.shape == (64, 64, 3)
    scores = evaluate_folders(synth_dir / "validation", tmp_path / "pred")
    analysis, final = run_analysis.current(reference_run)
    assert scores.miou == final.scores.miou and np.array_equal(scores.iou, final.scores.iou, equal_nan=True)
    assert analysis.scored_at_px == reference_run.train_px == 64

    result = run_module("hw_lib.evaluate", "-g", str(synth_dir / "validation"), "-p", str(tmp_path / "pred"))
    assert result.returncode == 0 and f"mean_iou: {scores.miou:f}" in result.stdout
    assert result.stdout.startswith("class #0 : ")


def test_a_run_trained_at_a_reduced_size_is_scored_as_predict_and_evaluate_score_it(reduced_run, synth_128, tmp_path):
    analysis, final = run_analysis.current(reduced_run)
    assert reduced_run.train_px == 64 and analysis.scored_at_px == 128
    written = predict_folder(reduced_run.path / "model.pt", synth_128 / "validation", tmp_path / "pred", progress=False)
    assert np.asarray(Image.open(written[0])).shape == (128, 128, 3)  # the run's 64 px by default, back at 128
    scores = evaluate_folders(synth_128 / "validation", tmp_path / "pred")
    assert final.scores == scores  # the same confusion matrix, pixel for pixel
    assert final.ids == ["0000", "0008", "0097", "0107"] and final.per_image.shape == (4, 7, 7)
    assert int(final.per_image.sum()) == 4 * 128 * 128


class Ramp(torch.nn.Module):
    """Class 1's score minus class 0's rises by one per input column and is 0 at column 2.25."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.arange(x.shape[-1], dtype=torch.float32) - 2.25
        return torch.stack([torch.zeros_like(ramp), ramp]).view(1, 2, 1, -1).expand(len(x), 2, x.shape[-2], -1)


def test_labels_at_the_images_size_follow_the_scores_between_the_pixels_of_the_smaller_input():
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    labels = predict_image(Ramp(), image, Runtime.create("cpu", "fp32"), image_size=8)
    assert labels.shape == (64, 64) and (labels == labels[:1]).all()
    # 8 px input, 8x upsampling: the scores cross at input column 2.25, i.e. output column
    # (2.25 + 0.5) * 8 - 0.5 = 21.5; repeating each input pixel as a block would put the edge at 24
    assert labels[0].tolist() == [0] * 22 + [1] * 42


def test_evaluate_refuses_missing_and_extra_predictions(synth_dir, tmp_path):
    pred = tmp_path / "pred"
    pred.mkdir()
    for path in sorted((synth_dir / "validation").glob("*_mask.png"))[1:]:
        shutil.copy(path, pred)
    shutil.copy(path, pred / "0999_mask.png")
    with pytest.raises(DataError, match=r"1 prediction\(s\) missing from .*0000_mask.png.*1 prediction\(s\) in .* have no ground truth.*0999_mask.png"):
        evaluate_folders(synth_dir / "validation", pred)
    result = run_module("hw_lib.evaluate", "-g", str(synth_dir / "validation"), "-p", str(pred))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: 1 prediction(s) missing")


def test_evaluate_refuses_a_prediction_of_another_size(synth_dir, tmp_path):
    pred = tmp_path / "pred"
    shutil.copytree(synth_dir / "validation", pred)
    Image.new("RGB", (32, 32)).save(pred / "0097_mask.png")
    with pytest.raises(DataError, match="0097_mask.png: is 32x32 but the ground truth .* is 64x64"):
        evaluate_folders(synth_dir / "validation", pred)


def test_checkpoints_of_another_kind_are_refused(reference_run, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("no checkpoint")
    with pytest.raises(CheckpointError, match=f"{junk}: is not a checkpoint"):
        model_from_checkpoint(junk)
    with pytest.raises(CheckpointError, match="is a checkpoint of fcn8s, not of fcn32s"):
        model_from_checkpoint(reference_run.path / "model.pt", "fcn32s")
    bare = tmp_path / "bare.pt"
    model, _ = model_from_checkpoint(reference_run.path / "model.pt")
    torch.save(model.state_dict(), bare)
    with pytest.raises(CheckpointError, match="not an hw_lib checkpoint"):
        model_from_checkpoint(bare)
    with pytest.raises(CheckpointError, match="its weights do not fit FCN32s"):
        model_from_checkpoint(bare, "fcn32s")
    loaded, config = model_from_checkpoint(bare, "fcn8s")
    assert config is None and torch.equal(loaded.upsample8.weight, model.upsample8.weight)


def test_predict_cli_errors_name_the_file(reference_run, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((80, 80, 3), dtype=np.uint8)).save(images / "0001_sat.jpg")
    with pytest.raises(ImageSizeError, match=f"{images / '0001_sat.jpg'}: FCN8s cannot take a 80x80 image"):
        predict_folder(reference_run.path / "model.pt", images, tmp_path / "out", image_size=80, progress=False)
    written = predict_folder(reference_run.path / "model.pt", images, tmp_path / "out", progress=False)
    assert np.asarray(Image.open(written[0])).shape == (80, 80, 3)  # at the run's 64 px, back at the image's size

    result = run_module("hw_lib.predict", str(tmp_path / "nothing.pt"), str(images), str(tmp_path / "out2"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nothing.pt'}: checkpoint file does not exist"

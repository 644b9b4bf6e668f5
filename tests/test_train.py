import dataclasses
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from hw_lib import engine, run_analysis, runtime
from hw_lib.checkpoint import load_checkpoint
from hw_lib.cli import config_from_args, run_cli
from hw_lib.config import RunConfig, default_snapshot_epochs
from hw_lib.data import fingerprint
from hw_lib.errors import ConfigError, DataError, TrainingError
from hw_lib.runs import Run, git_commit, run_state
from hw_lib.train import fit, main

from .helpers import REPO, tiny_config

TIMING_KEYS = {"train_seconds", "seconds"}


def metrics_only(run: Run) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in run.history]


def test_git_commit_is_dirty_for_code_changes_but_not_for_the_report(tmp_path: Path, monkeypatch) -> None:
    # run_all.sh rewrites the tracked report/ between models: that output must not mark later runs dirty
    monkeypatch.delenv("HW_GIT_COMMIT", raising=False)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "results.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    head = git("rev-parse", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "report" / "results.json").write_text('{"miou": 0.5}')
    (tmp_path / "untracked.txt").write_text("scratch")
    assert git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "+dirty"


def test_a_two_epoch_run_lowers_the_loss_and_writes_every_file(reference_run):
    run = reference_run
    assert run.finished and len(run.history) == 2
    assert run.history[1]["train_loss"] < run.history[0]["train_loss"]
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "model.pt", "summary.json", "final_scores.npz",
                 "analysis.json"):
        assert (run.path / name).is_file(), name
    for epoch in (1, 2):
        for sample_id in ("0008", "0097", "0107"):
            assert run.snapshot(epoch, sample_id).is_file()
    stored = json.loads((run.path / "config.json").read_text())
    assert stored["config"]["model"] == "fcn8s" and stored["config"]["epochs"] == 2
    prov = stored["provenance"]
    assert prov["data_source"] == "synthetic" and prov["weights"].startswith("none")
    assert prov["device"].startswith("cpu") and prov["torch"] == torch.__version__ and prov["git_commit"]
    row = run.history[0]
    assert set(row["iou"]) == {"Urban", "Agriculture", "Rangeland", "Forest", "Water", "Barren"}
    assert 0 <= row["miou"] <= 1 and row["train_images"] == 8
    assert run.summary.model == "fcn8s" and run.summary.epochs == 2 and run.summary.finished
    assert run.train_images_per_second > 0 and run.train_px == 64
    analysis, final = run_analysis.current(run)
    assert analysis.version == run_analysis.VERSION and analysis.miou_at_train_px == run.history[-1]["miou"]
    assert final.per_image.shape == (4, 7, 7) and analysis.scored_images == 4 == final.per_image.shape[0]
    assert set(analysis.skip_ablation) == {"pool3", "pool4", "pool4+pool3"}
    assert [b.high for b in analysis.boundary_profile] == [2, 4, 8, 16, None]
    assert sum(b.pixel_share for b in analysis.boundary_profile) == pytest.approx(1)
    assert sum(run.provenance["train_class_pixels"]) == 8 * 64 * 64
    ckpt = load_checkpoint(run.path / "checkpoint.pt", expected_model="fcn8s")
    assert ckpt["epoch"] == 2 and ckpt["config"] == run.config and "optimizer" in ckpt


def test_a_finished_run_with_the_same_config_is_reused(reference_run, capsys):
    before = (reference_run.path / "model.pt").stat().st_mtime_ns
    run = fit(RunConfig(**reference_run.config), progress=False)
    assert "reused" in capsys.readouterr().out
    assert (run.path / "model.pt").stat().st_mtime_ns == before and run.history == reference_run.history


@pytest.mark.slow
def test_same_config_and_seed_give_identical_metrics(reference_run, synth_dir, tmp_path):
    again = fit(tiny_config(synth_dir, tmp_path / "again"), progress=False)
    assert metrics_only(again) == metrics_only(reference_run)


@pytest.mark.slow
def test_killed_run_resumes_and_ends_like_an_uninterrupted_one(synth_dir, tmp_path):
    config = tiny_config(synth_dir, tmp_path / "killed", epochs=3, snapshot_epochs=[1, 3])
    args = [sys.executable, "-m", "hw_lib.train", "--no-progress", "--model", config.model,
            "--data-dir", config.data_dir, "--run-dir", config.run_dir, "--epochs", "3", "--batch-size", "4",
            "--lr", str(config.lr), "--image-size", "64", "--snapshot-epochs", "1", "3", "--device", "cpu", "--precision", "fp32"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoint = Path(config.run_dir) / "checkpoint.pt"
    while not checkpoint.exists() and proc.poll() is None:  # the run's first checkpoint: epoch 1 is done
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode != 0, output
    killed_after = load_checkpoint(checkpoint)["epoch"]
    assert 1 <= killed_after < 3 and not (Path(config.run_dir) / "summary.json").exists()
    (Path(config.run_dir) / ".checkpoint.pt.leftover.tmp").write_bytes(b"half a file")  # a kill mid-write

    resumed = fit(config, progress=False)
    uninterrupted = fit(tiny_config(synth_dir, tmp_path / "whole", epochs=3, snapshot_epochs=[1, 3]), progress=False)
    assert len(resumed.history) == 3
    assert metrics_only(resumed) == metrics_only(uninterrupted)
    assert resumed.provenance["resumed"][0]["after_epoch"] == killed_after


@pytest.mark.slow
def test_force_and_changed_config_keep_the_old_run(reference_run, synth_dir, tmp_path):
    config = tiny_config(synth_dir, tmp_path / "run", epochs=1, snapshot_epochs=[1])
    fit(config, progress=False)
    fit(config, force=True, progress=False)
    fit(tiny_config(synth_dir, tmp_path / "run", epochs=1, snapshot_epochs=[1], lr=1e-4), progress=False)
    archived = sorted(p for p in tmp_path.iterdir() if p.name.startswith("run.archived-"))
    assert len(archived) == 2 and all((p / "summary.json").is_file() for p in archived)
    assert Run.load(tmp_path / "run").config["lr"] == 1e-4


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(synth_dir, tmp_path, monkeypatch):
    real = engine.F.cross_entropy
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss  # epoch 2 (2 steps per epoch), step 1

    monkeypatch.setattr(engine.F, "cross_entropy", poisoned)
    config = tiny_config(synth_dir, tmp_path / "nan", epochs=3, snapshot_epochs=[1])
    with pytest.raises(TrainingError, match=r"NaN or infinite at epoch 2, step 1 of 2.*last good checkpoint.*epoch 1"):
        fit(config, progress=False)
    assert load_checkpoint(Path(config.run_dir) / "checkpoint.pt")["epoch"] == 1
    assert not (Path(config.run_dir) / "summary.json").exists()


@pytest.mark.parametrize("overrides, error, message", [
    ({"model": "fcn9s"}, ConfigError, "model: unknown value 'fcn9s'"),
    ({"epochs": "2"}, ConfigError, "epochs: expected int"),
    ({"image_size": 100}, ConfigError, "image_size: 100 does not work"),
    ({"crop_size": 96}, ConfigError, r"crop_size: 96 does not work; .* at most image_size \(64\)"),
    ({"crop_size": 80}, ConfigError, "crop_size: 80 does not work"),
    ({"image_size": None, "crop_size": 96}, ConfigError, "crop_size: 96 is larger than the 64 px training images of"),
    ({"sample_ids": ["0001"]}, ConfigError, "sample_ids: 0001 not in"),
    ({"data_dir": "/nonexistent/data"}, DataError, "/nonexistent/data: data folder does not exist"),
    ({"snapshot_epochs": [0, 3]}, ConfigError, r"snapshot_epochs: \[0, 3\] outside 1..2 \(epochs=2\)"),
    ({"snapshot_epochs": []}, ConfigError, "snapshot_epochs: empty"),
])
def test_bad_parameters_are_refused_clearly(synth_dir, tmp_path, overrides, error, message):
    with pytest.raises(error, match=message):
        fit(dataclasses.replace(tiny_config(synth_dir, tmp_path / "bad"), **overrides), progress=False)


def test_a_run_trains_on_crops_and_validates_and_scores_whole_images(synth_128, tmp_path, monkeypatch):
    trained_on, validated_on = [], []
    crop, predict = engine.random_crop, engine.predict_labels

    def spy_crop(*args):
        out = crop(*args)
        trained_on.append(tuple(out[1].shape))
        return out

    def spy_predict(model, images, *args, **kwargs):
        validated_on.append(tuple(images.shape))
        return predict(model, images, *args, **kwargs)

    monkeypatch.setattr(engine, "random_crop", spy_crop)
    monkeypatch.setattr(engine, "predict_labels", spy_predict)
    run = fit(tiny_config(synth_128, tmp_path / "crops", epochs=1, image_size=128, crop_size=64, batch_size=2,
                          snapshot_epochs=None), progress=False)
    assert trained_on == [(2, 64, 64)] * 2 and validated_on[0] == (4, 3, 128, 128)
    assert set(validated_on) == {(4, 3, 128, 128), (1, 3, 128, 128)}  # the split, and image by image as predict
    assert run.provenance["image_size"] == 128 and run.provenance["crop_size"] == 64
    analysis, final = run_analysis.current(run)
    assert analysis.scored_at_px == final.side == 128 and final.scores.miou == pytest.approx(run.history[-1]["miou"], abs=1e-6)


def test_a_cpu_computes_float32_unless_bf16_is_asked_for_and_native(synth_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ConfigError, match="bf16 needs a CUDA card of compute capability 8.0\\+ or a CPU with AVX512-BF16/AMX"):
        fit(tiny_config(synth_dir, tmp_path / "bf16", precision="bf16"), progress=False)
    assert runtime.Runtime.create("cpu").precision == "fp32"
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert runtime.Runtime.create("cpu").precision == "fp32"  # auto: the same arithmetic on every CPU kind
    asked = runtime.Runtime.create("cpu", "bf16")
    assert asked.precision == "bf16" and asked.channels_last


@pytest.mark.skipif(not runtime.cpu_has_native_bf16(), reason="this CPU has no native bf16 (avx512_bf16 or amx_bf16)")
@pytest.mark.slow
def test_the_bf16_path_trains_where_the_cpu_has_native_bf16(synth_dir, tmp_path):
    run = fit(tiny_config(synth_dir, tmp_path / "bf16", precision="bf16", epochs=1, snapshot_epochs=[1]),
              progress=False)
    assert run.provenance["precision"] == "bf16"
    assert run.history[0]["train_loss"] < math.log(7)  # below the zero-initialised scores' loss: it learned
    again = fit(tiny_config(synth_dir, tmp_path / "bf16-again", precision="bf16", epochs=1, snapshot_epochs=[1]),
                progress=False)
    assert metrics_only(again) == metrics_only(run)  # bf16 on one CPU kind repeats too


def test_snapshot_epochs_default_to_the_first_middle_and_last():
    assert [default_snapshot_epochs(n) for n in (1, 2, 3, 12, 20)] == [[1], [1, 2], [1, 2, 3], [1, 6, 12], [1, 10, 20]]
    assert RunConfig.preset("demo", epochs=3).validate().snapshot_epochs == [1, 2, 3]
    assert RunConfig.preset("demo", epochs=1).validate().snapshot_epochs == [1]


def parsed(*flags: str) -> RunConfig:
    import argparse

    from hw_lib.cli import add_config_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(list(flags)))


def test_the_cli_takes_none_over_a_preset_for_every_optional_parameter():
    laptop = parsed("--preset", "laptop")
    assert (laptop.image_size, laptop.epochs, laptop.lr) == (64, 5, 5e-4)
    cleared = parsed("--preset", "laptop", "--image-size", "none", "--crop-size", "None", "--train-limit", "none",
                     "--val-limit", "none", "--snapshot-epochs", "none")
    assert (cleared.image_size, cleared.crop_size, cleared.train_limit, cleared.val_limit,
            cleared.snapshot_epochs) == (None, None, None, None, None)
    given = parsed("--preset", "laptop", "--model", "fcn32s", "--train-limit", "8", "--snapshot-epochs", "1", "3",
                   "--no-augment")
    assert (given.lr, given.train_limit, given.snapshot_epochs, given.augment) == (5e-4, 8, [1, 3], False)
    assert parsed("--preset", "laptop", "--model", "fcn32s", "--lr", "1e-2").lr == 1e-2  # flags beat the preset


def test_every_preset_trains_its_models_with_one_recipe():
    """The models a preset trains differ in the model only (and where the run is written): a fair comparison."""
    from hw_lib.config import EXECUTION_DETAILS, PRESETS

    for preset in PRESETS:
        recipes = [{k: v for k, v in RunConfig.preset(preset, model=m).to_dict().items()
                    if k != "model" and k not in EXECUTION_DETAILS} for m in ("fcn32s", "fcn16s", "fcn8s")]
        assert recipes[0] == recipes[1] == recipes[2], preset


def test_a_model_that_predicts_one_class_is_named_at_the_end_of_training(synth_dir, tmp_path):
    lines: list[str] = []
    fit(tiny_config(synth_dir, tmp_path / "flat", model="fcn32s", lr=1e-12, epochs=1, snapshot_epochs=[1]), progress=False,
              log=lines.append)  # the zero-initialised class scores barely move: every pixel gets one class
    assert lines[-1].startswith("warning: FCN32s predicts ") and "collapsed to (nearly) one class" in lines[-1]
    assert not any(line.startswith("warning:") for line in lines[:-1])


def test_class_weights_favour_rare_classes():
    labels = torch.tensor([0] * 90 + [1] * 10)
    weights = engine.class_weights(labels, "inverse_sqrt")
    assert weights[1] == pytest.approx(3 * weights[0]) and weights[2] == 0
    assert engine.class_weights(labels, "none") is None


def test_train_cli_reports_errors_in_one_line(tmp_path, capsys):
    argv = ["--data-dir", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "run"), "--device", "cpu"]
    assert run_cli(main, argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'}: data folder does not exist"


def test_a_run_is_reused_where_the_same_data_lies_elsewhere_but_not_for_other_data(reference_run, synth_dir, tmp_path,
                                                                                    capsys):
    moved = tmp_path / "moved"
    shutil.copytree(synth_dir, moved)
    config = dataclasses.replace(RunConfig(**reference_run.config), data_dir=str(moved), compile=True)
    assert run_state(config, fingerprint(moved)) == "finished"
    fit(config, progress=False)
    assert "reused" in capsys.readouterr().out
    Image.new("RGB", (64, 64)).save(moved / "validation" / "0000_mask.png")  # other data, same names
    assert run_state(config, fingerprint(moved)) == "replace"


def test_every_parameter_is_explained():
    from hw_lib.config import HELP

    assert set(HELP) == set(RunConfig().to_dict())


def test_none_means_whole_images_in_every_way_in_and_default_means_the_preset_s_value(monkeypatch, tmp_path):
    from hw_lib.pipeline import check_parameters, parse_set

    set_null = parse_set(["image_size=null", "epochs=default"])  # ./run_all.sh --set image_size=null epochs=default
    check_parameters("laptop", set_null, force=False)
    assert RunConfig.from_parameters("laptop", **set_null).image_size is None
    assert RunConfig.from_parameters("laptop", **set_null).epochs == 5
    # the train notebook's parameters, as papermill injects them
    assert RunConfig.from_parameters("laptop", image_size=None, lr="default").image_size is None
    assert RunConfig.from_parameters("laptop", image_size="default").image_size == 64
    assert parsed("--preset", "laptop", "--image-size", "none").image_size is None  # the train CLI


def test_run_dir_and_data_dir_follow_the_preset_the_model_and_the_data(synth_dir, monkeypatch):
    monkeypatch.delenv("HW_RUNS_DIR", raising=False)
    assert RunConfig.preset("laptop", model="fcn32s").run_dir == "runs/laptop-real/fcn32s"
    assert RunConfig.preset("laptop", model="fcn32s").data_dir == "../shared/dlcv_p2_data"
    assert RunConfig.preset("demo", model="fcn16s", run_dir="default").run_dir == "runs/demo-synthetic/fcn16s"
    assert RunConfig.preset("laptop", model="fcn8s", data_dir=str(synth_dir)).run_dir == "runs/laptop-synthetic/fcn8s"
    assert parsed("--preset", "laptop", "--model", "fcn16s").run_dir == "runs/laptop-real/fcn16s"  # the train CLI
    assert RunConfig.preset("demo", run_dir="elsewhere").run_dir == "elsewhere"


def test_the_train_cli_help_shows_each_preset_s_values(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "training epochs [demo 14, laptop 5, course 20, course-scratch 20]" in text
    assert "default runs/<preset>-<real|synthetic>/<model>" in text and "weight decay [default 0.0001]" in text

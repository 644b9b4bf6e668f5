"""Precision by the card (CUDA queried through mocks only), the float16 gradient scaler trained for real
on the CPU, and out of memory as one line that keeps the last checkpoint."""
from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch
from torch import nn

from hw_lib import engine, memory, train
from hw_lib.bench import random_split
from hw_lib.checkpoint import load_checkpoint, model_from_checkpoint
from hw_lib.cli import run_cli
from hw_lib.config import HELP, PRECISIONS, RunConfig
from hw_lib.data import fingerprint
from hw_lib.errors import ConfigError, TrainingError
from hw_lib.models import build_model
from hw_lib.runs import Run, run_state
from hw_lib.runtime import Runtime, choose_precision
from hw_lib.train import fit, main

from .helpers import REPO, tiny_config

GIB = 1024**3
CARDS = [  # (compute capability, name, what auto picks)
    ((6, 1), "NVIDIA GeForce GTX 1080 Ti", "fp32"),
    ((7, 0), "Tesla V100-SXM2-16GB", "fp16"),
    ((7, 5), "Tesla T4", "fp16"),
    ((8, 0), "NVIDIA A100-SXM4-40GB", "bf16"),
    ((9, 0), "NVIDIA H100 80GB HBM3", "bf16"),
]


@pytest.fixture
def fake_cuda(monkeypatch):
    """A CUDA card as torch's queries describe it, with CUDA itself out of reach: initialising it, or
    asking ``is_bf16_supported`` (True on a T4, by emulation), fails the test."""
    def card(capability: tuple[int, int], name: str, memory_bytes: int = 16 * GIB) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        monkeypatch.setattr(torch.cuda, "get_device_properties",
                            lambda device=None: SimpleNamespace(total_memory=memory_bytes, name=name))

    def untouchable(*args, **kwargs):
        raise AssertionError("CUDA was touched")

    monkeypatch.setattr(torch.cuda, "_lazy_init", untouchable)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", untouchable)
    flags = [(torch.backends.cudnn, "benchmark"), (torch.backends.cudnn, "allow_tf32"),
             (torch.backends.cuda.matmul, "allow_tf32")]
    before = [getattr(owner, name) for owner, name in flags]
    yield card
    for (owner, name), value in zip(flags, before):  # Runtime.create sets them for a CUDA device
        setattr(owner, name, value)


@pytest.mark.parametrize("capability, name, picked", CARDS)
def test_auto_picks_the_precision_by_the_cards_compute_capability(fake_cuda, capability, name, picked):
    assert choose_precision("auto", "cuda", capability, name) == picked
    fake_cuda(capability, name)
    runtime = Runtime.create("auto", "auto")
    assert runtime.device.type == "cuda" and runtime.precision == picked
    assert runtime.channels_last == (picked != "fp32")
    assert (runtime.grad_scaler() is not None) == (picked == "fp16")
    assert torch.backends.cuda.matmul.allow_tf32 == (picked == "bf16")
    text = {"fp32": "float32", "fp16": "fp16 autocast + gradient scaler", "bf16": "bf16 autocast"}[picked]
    assert runtime.describe() == f"cuda ({name}, compute capability {capability[0]}.{capability[1]}), {text}"


@pytest.mark.parametrize("capability, name, picked", CARDS)
def test_bf16_is_refused_below_compute_capability_8_and_fp16_allowed_everywhere(fake_cuda, capability, name, picked):
    fake_cuda(capability, name)
    assert Runtime.create("cuda", "fp16").precision == "fp16"
    assert Runtime.create("cuda", "fp32").precision == "fp32"
    if capability >= (8, 0):
        assert Runtime.create("cuda", "bf16").precision == "bf16"
        return
    with pytest.raises(ConfigError) as refused:
        Runtime.create("cuda", "bf16")
    assert str(refused.value) == (
        f"precision: bf16 needs a CUDA card of compute capability 8.0 or newer, and {name} is "
        f"{capability[0]}.{capability[1]} (torch would emulate bf16 there): use fp16 (float16 autocast + gradient "
        "scaler) or auto")


def test_a_cpu_computes_float32_by_default_and_fp16_only_when_asked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Runtime.create("auto").precision == "fp32" and Runtime.create("auto").grad_scaler() is None
    fp16 = Runtime.create("cpu", "fp16")
    assert fp16.precision == "fp16" and fp16.amp_dtype is torch.float16 and fp16.channels_last
    assert isinstance(fp16.grad_scaler(), torch.amp.GradScaler) and fp16.describe().endswith(
        "threads), fp16 autocast + gradient scaler")
    with pytest.raises(ConfigError, match="precision: unknown value 'fp8'; choose one of auto, fp32, bf16, fp16"):
        RunConfig(precision="fp8").validate()
    assert RunConfig(precision="fp16").validate().precision == "fp16"


def test_the_help_and_the_notebook_name_every_precision_and_what_auto_picks():
    assert set(PRECISIONS) == {"auto", "fp32", "bf16", "fp16"}
    for said in ("8.0", "7.x", "below 7.0", "fp32 on a CPU", "fp16", "not necessarily faster"):
        assert said in HELP["precision"], said
    cell = next(c for c in nbformat.read(REPO / "notebooks" / "train.ipynb", as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    line = next(line for line in cell.source.splitlines() if line.startswith("precision = "))
    assert all(p in line for p in PRECISIONS) and "7.x" in line and "8.0" in line, line


# --- the gradient scaler on a tiny model (milliseconds) ------------------------------------------------------

def tiny_training(fused: bool, steps: int) -> tuple[nn.Module, engine.Optimization, Runtime, engine.Split]:
    """A 1x1 convolution to 7 classes trained in float16 on ``steps`` random 32 px images, batch 1."""
    torch.manual_seed(0)
    runtime = Runtime.create("cpu", "fp16")
    model = runtime.prepare(nn.Conv2d(3, 7, kernel_size=1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=fused)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=steps)
    return model, engine.Optimization(optimizer, scheduler, runtime.grad_scaler()), runtime, random_split(steps, 32, runtime.device)


def poison_losses(monkeypatch, bad_steps: set[int], on_call=None) -> None:
    """Make the loss of the given (1-based) steps infinite; ``on_call(step)`` runs before each loss."""
    real, calls = engine.F.cross_entropy, []

    def poisoned(*args, **kwargs):
        calls.append(1)
        if on_call is not None:
            on_call(len(calls))
        loss = real(*args, **kwargs)
        return loss * float("inf") if len(calls) in bad_steps else loss

    monkeypatch.setattr(engine.F, "cross_entropy", poisoned)


@pytest.mark.filterwarnings("error")  # the schedule stepping after a skipped step must not warn either
@pytest.mark.parametrize("fused", [True, False])
def test_an_overflowing_float16_step_is_skipped_and_halves_the_scale(monkeypatch, fused):
    model, optim, runtime, split = tiny_training(fused, steps=2)
    initial = [p.detach().clone() for p in model.parameters()]
    after_step_1 = {}

    def look(step: int) -> None:
        if step == 2:
            after_step_1["weights"] = [p.detach().clone() for p in model.parameters()]
            after_step_1["scale"] = optim.scaler.get_scale()

    poison_losses(monkeypatch, {1}, look)
    stats = engine.train_one_epoch(model, split, engine.Batches(1, augment=False), optim, runtime,
                                   torch.Generator().manual_seed(0), epoch=1)
    assert all(torch.equal(a, b) for a, b in zip(after_step_1["weights"], initial))  # step 1 changed nothing
    assert after_step_1["scale"] == 2.0**15 and optim.scaler.get_scale() == 2.0**15  # 2**16 halved
    assert stats.skipped == 1 and math.isfinite(stats.loss)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), initial))  # step 2 trained
    assert all(int(s["step"]) == 1 for s in optim.optimizer.state.values())  # the skipped step is not counted
    assert optim.scheduler.last_epoch == 2  # the schedule counts training steps, taken or skipped


@pytest.mark.parametrize("steps, bad, stops_at", [
    (12, set(range(2, 13)), 11),   # ten non-finite losses in a row stop it
    (12, set(range(2, 11)), None),  # nine do not
    (3, {1, 2, 3}, 3),              # nor does an epoch shorter than ten steps survive without one finite loss
])
def test_float16_losses_that_stay_non_finite_stop_training(monkeypatch, steps, bad, stops_at):
    model, optim, runtime, split = tiny_training(True, steps)
    poison_losses(monkeypatch, bad)

    def epoch() -> engine.EpochStats:
        return engine.train_one_epoch(model, split, engine.Batches(1, augment=False), optim, runtime,
                                      torch.Generator().manual_seed(0), epoch=1)

    if stops_at is None:
        assert epoch().skipped == len(bad)
    else:
        limit = min(engine.FP16_NONFINITE_LIMIT, steps)
        with pytest.raises(engine.NonFiniteLoss, match=rf"NaN or infinite in {limit} float16 steps in a row \(each "
                           rf"skipped by the gradient scaler\), the last at epoch 1, step {stops_at} of {steps}$"):
            epoch()
    assert all(torch.isfinite(p).all() for p in model.parameters())


# --- the float16 path through fit, for real on the CPU ----------------------------------------------------------

def fp16_config(data_dir: Path, run_dir: Path) -> RunConfig:
    """FCN32s (no skips to ablate: the quickest to finish) in float16, one image per epoch: the CPU emulates
    float16, so seconds per step."""
    return tiny_config(data_dir, run_dir, model="fcn32s", precision="fp16", epochs=2, batch_size=1, train_limit=1,
                       val_limit=1, sample_ids=["0000"], snapshot_epochs=[2], schedule="constant")


@pytest.fixture(scope="module")
def fp16_run(synth_dir, tmp_path_factory):
    lines: list[str] = []
    run = fit(fp16_config(synth_dir, tmp_path_factory.mktemp("fp16") / "whole"), progress=False, log=lines.append)
    return run, lines


@pytest.mark.slow
def test_the_fp16_path_trains_on_the_cpu_with_a_gradient_scaler(fp16_run):
    run, lines = fp16_run
    assert re.search(r"training FCN32s .* cpu \(.*threads\), fp16 autocast \+ gradient scaler; backbone", lines[0])
    assert run.provenance["precision"] == "fp16" and run.precision == "fp16"
    ckpt = load_checkpoint(run.path / "checkpoint.pt")
    assert ckpt["scaler"]["scale"] == 2.0**16 and ckpt["scaler"]["_growth_tracker"] == 2  # two steps, none skipped
    assert all(int(s["step"]) == 2 for s in ckpt["optimizer"]["state"].values())
    torch.manual_seed(0)
    initial = build_model("fcn32s").state_dict()
    trained, _ = model_from_checkpoint(run.path / "model.pt")
    weights = trained.state_dict()
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not torch.equal(weights["classifier.0.weight"], initial["classifier.0.weight"])
    assert all(math.isfinite(row["train_loss"]) for row in run.history)


@pytest.mark.slow
def test_an_interrupted_fp16_run_resumes_like_an_uninterrupted_one(fp16_run, synth_dir, tmp_path, monkeypatch):
    whole, _ = fp16_run
    config = fp16_config(synth_dir, tmp_path / "resumed")
    real = train._train_epoch

    def killed_in_epoch_2(training, epoch, on_progress):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(training, epoch, on_progress)

    monkeypatch.setattr(train, "_train_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        fit(config, progress=False)
    assert load_checkpoint(Path(config.run_dir) / "checkpoint.pt")["scaler"]["_growth_tracker"] == 1
    monkeypatch.setattr(train, "_train_epoch", real)
    lines: list[str] = []
    resumed = fit(config, progress=False, log=lines.append)
    assert re.search(r"resuming after epoch 1 of 2 on cpu \(.*threads\), fp16 autocast \+ gradient scaler$", lines[0])

    assert resumed.provenance["resumed"][0]["after_epoch"] == 1 and resumed.provenance["resumed"][0]["precision"] == "fp16"
    assert resumed.precision == "fp16"
    drop = {"train_seconds", "seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.history] == \
           [{k: v for k, v in r.items() if k not in drop} for r in whole.history]
    ours, theirs = (load_checkpoint(run.path / "checkpoint.pt") for run in (resumed, whole))
    assert ours["scaler"] == theirs["scaler"]
    assert all(torch.equal(ours["model"][k], theirs["model"][k]) for k in theirs["model"])


def test_a_float16_run_whose_loss_stays_non_finite_stops_with_the_training_error(synth_dir, tmp_path, monkeypatch):
    poison_losses(monkeypatch, {1})  # the only step of epoch 1
    with pytest.raises(TrainingError, match=r"^the loss was NaN or infinite in 1 float16 step in a row \(each skipped "
                       r"by the gradient scaler\), the last at epoch 1, step 1 of 1; training stopped and no epoch had "
                       r"finished, so there is no checkpoint. Lower lr \(now 0.0003\) or use precision=fp32 \(float16 "
                       r"ends at 65504\) and train again$"):
        fit(fp16_config(synth_dir, tmp_path / "diverged"), progress=False)


def test_a_run_resumed_in_another_precision_says_so(tmp_path):
    def precision(provenance):
        return Run(tmp_path, {}, provenance, [], None).precision

    assert precision({"precision": "fp16"}) == "fp16"
    assert precision({"precision": "bf16", "resumed": [{"precision": "bf16"}, {"precision": "fp16"},
                                                       {"precision": "fp16"}]}) == "bf16 then fp16"
    assert precision({"precision": "fp32", "resumed": [{"after_epoch": 1}]}) == "fp32"  # an older run


# --- out of memory --------------------------------------------------------------------------------------------

def test_the_batch_estimate_follows_the_measured_memory():
    assert memory.activation_gib(512, "fp32") == pytest.approx(0.53)
    assert memory.activation_gib(256, "fp32") == pytest.approx(0.25)
    assert memory.activation_gib(512, "bf16") == memory.activation_gib(512, "fp16") == pytest.approx(0.265)
    assert memory.batch_size_that_fits(512, "fp32", 80 * GIB) == int((0.9 * 80 - 0.6) / 0.53)  # 134
    assert memory.batch_size_that_fits(512, "fp16", 80 * GIB) == int((0.9 * 80 - 0.6) / 0.265)
    assert memory.batch_size_that_fits(512, "fp32", GIB // 2) == 0


def test_out_of_memory_on_a_card_names_it_and_what_fits(fake_cuda):
    fake_cuda((7, 5), "Tesla T4", memory_bytes=15_655_829_504)  # 14.6 GiB
    config = RunConfig.preset("course", model="fcn8s", batch_size=32, precision="fp32", run_dir="runs/course/fcn8s")
    runtime = Runtime.create("cuda", "fp32")
    line = memory.out_of_memory_message("training", 3, config, 512, runtime, Path("runs/course/fcn8s/checkpoint.pt"),
                                        16)
    assert line == (
        "out of memory in training epoch 3 of 20 (FCN8s, batch size 32, 512 px, float32, on cuda (Tesla T4, compute "
        "capability 7.5) with 14.6 GiB); nothing is lost: runs/course/fcn8s/checkpoint.pt keeps epoch 2, and the same "
        "command resumes after it (it runs out again unless something else held the memory). To fit: fp16 autocast + "
        "gradient scaler halves the activations (precision=fp16); a batch of 23 fits by this project's estimate "
        "(batch_size=23: --batch-size 23, or --set batch_size=23 for run_all.sh); a change of config starts a new run "
        "at epoch 1 (this one is kept as runs/course/fcn8s.archived-<time>)")


def oom_config(synth_dir: Path, run_dir: Path) -> RunConfig:
    """Two epochs of one step (4 images) and one validation image."""
    return tiny_config(synth_dir, run_dir, model="fcn32s", train_limit=4, val_limit=1, sample_ids=["0000"],
                       snapshot_epochs=[1])


def test_out_of_memory_in_training_stops_with_one_line_and_keeps_the_last_epoch(synth_dir, tmp_path, monkeypatch,
                                                                                   capsys):
    real, calls = engine.F.cross_entropy, []

    def out_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # epoch 2's step
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.F, "cross_entropy", out_in_epoch_2)
    monkeypatch.setattr(memory, "device_memory", lambda device: GIB)
    config = oom_config(synth_dir, tmp_path / "run")
    argv = ["--model", "fcn32s", "--data-dir", config.data_dir, "--run-dir", config.run_dir, "--epochs", "2",
            "--batch-size", "4", "--lr", str(config.lr), "--image-size", "64", "--snapshot-epochs", "1",
            "--train-limit", "4", "--val-limit", "1", "--sample-ids", "0000", "--device", "cpu", "--precision", "fp32",
            "--no-progress"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "error: out of memory in training epoch 2 of 2 (FCN32s, batch size 4, 64 px, float32, on cpu (")
    assert f"with 1.0 GiB of RAM); nothing is lost: {config.run_dir}/checkpoint.pt keeps epoch 1, and the same command " \
           "resumes after it" in err
    assert "a batch of 1 fits by this project's estimate (batch_size=1: --batch-size 1, or --set batch_size=1 for " \
           "run_all.sh); a change of config starts a new run at epoch 1 (this one is kept as " \
           f"{config.run_dir}.archived-<time>)\n" in err
    assert "Traceback" not in err and "Tried to allocate" not in err
    ckpt = load_checkpoint(Path(config.run_dir) / "checkpoint.pt", expected_model="fcn32s")
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1 and not (Path(config.run_dir) / "summary.json").exists()
    model_from_checkpoint(Path(config.run_dir) / "checkpoint.pt")  # its weights load
    # what the line promises: the same command resumes; another batch size is a new run (the old one archived)
    assert run_state(config, fingerprint(config.data_dir)) == "resume"
    assert run_state(dataclasses.replace(config, batch_size=1), fingerprint(config.data_dir)) == "replace"


def test_out_of_memory_in_validation_stops_with_one_line_and_keeps_the_last_epoch(synth_dir, tmp_path, monkeypatch):
    real, calls = engine.predict_labels, []

    def out_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory.")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "predict_labels", out_in_epoch_2)
    config = oom_config(synth_dir, tmp_path / "run")
    with pytest.raises(TrainingError) as stopped:
        fit(config, progress=False)
    line = str(stopped.value)
    assert "\n" not in line and line.startswith(
        "out of memory in validation after epoch 2 of 2 (FCN32s, 16 images of 64 px at a time whatever batch_size "
        "is, float32, on cpu (")
    assert line.endswith(f"nothing is lost: {config.run_dir}/checkpoint.pt keeps epoch 1, and the same command resumes "
                         "after it (it runs out again unless something else held the memory). To fit: free the memory "
                         "other processes hold and run the same command")
    assert stopped.value.__context__ is None  # the torch error (and the memory its frames hold) is let go
    assert load_checkpoint(Path(config.run_dir) / "checkpoint.pt")["epoch"] == 1

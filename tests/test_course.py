"""The course preset as the homework ran it: ImageNet VGG16 fine-tuned, proven on the CPU at tiny scale with a
VGG16 state_dict put where torchvision looks; refused clearly where there is none."""
from __future__ import annotations

import urllib.error

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from hw_lib.config import RunConfig
from hw_lib.engine import make_optimization
from hw_lib.errors import WeightsError
from hw_lib.models import build_model, imagenet_cache_file
from hw_lib.models.backbone import sha256_prefix
from hw_lib.pipeline import build_report
from hw_lib.train import fit


def put_vgg16_in_the_hub_cache(torch_home, monkeypatch) -> str:
    """A VGG16-shaped ``features`` state_dict saved as torchvision's cached ImageNet file; its sha256 prefix."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))  # read by torch.hub here and in the notebooks' kernels
    torch.manual_seed(7)
    path = imagenet_cache_file()
    path.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}, path)
    return sha256_prefix(path)


def test_the_course_preset_fine_tunes_imagenet_weights_and_course_scratch_trains_from_scratch():
    course, scratch = RunConfig.preset("course", model="fcn8s"), RunConfig.preset("course-scratch", model="fcn8s")
    assert (course.weights, course.image_size, course.backbone_lr_scale, course.epochs) == ("imagenet", 256, 0.1, 20)
    assert (scratch.weights, scratch.image_size, scratch.backbone_lr_scale) == ("none", 256, 1.0)


def test_the_backbone_learns_at_a_fraction_of_the_new_layers_rate():
    model = build_model("fcn32s")
    optim = make_optimization(model, "adamw", 3e-4, 1e-4, "onecycle", total_steps=10, backbone_lr_scale=0.1)
    backbone, head = optim.optimizer.param_groups
    assert {id(p) for p in backbone["params"]} == {id(p) for p in model.features.parameters()}
    assert len(head["params"]) == len(list(model.parameters())) - len(backbone["params"])
    peaks = []
    for _ in range(10):
        peaks.append([group["lr"] for group in optim.optimizer.param_groups])
        optim.optimizer.step()
        optim.scheduler.step()
    assert max(p[0] for p in peaks) == pytest.approx(3e-5, rel=0.05)
    assert max(p[1] for p in peaks) == pytest.approx(3e-4, rel=0.05)


@pytest.mark.slow
def test_the_course_preset_trains_from_the_imagenet_weights_torchvision_caches(tmp_path, monkeypatch, synth_dir):
    digest = put_vgg16_in_the_hub_cache(tmp_path / "torch_home", monkeypatch)
    saved = torch.load(imagenet_cache_file(), weights_only=True)
    built = build_model("fcn8s", "imagenet")
    assert all(torch.equal(built.state_dict()[k], v) for k, v in saved.items())  # the cached file, as loaded
    few = {"epochs": 1, "val_limit": 1, "train_limit": 2, "batch_size": 2, "image_size": 64, "device": "cpu"}
    run = fit(RunConfig.preset("course", model="fcn8s", data_dir=str(synth_dir), run_dir=str(tmp_path / "run"), **few),
              progress=False)
    assert run.provenance["weights"] == ("imagenet: torchvision VGG16_Weights.IMAGENET1K_V1 (vgg16-397923af.pth, "
                                         f"sha256 {digest}...)")
    assert run.config["backbone_lr_scale"] == 0.1 and run.finished


def test_without_the_weights_the_course_preset_stops_before_it_trains_or_writes(tmp_path, monkeypatch, synth_dir):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(*_, **__):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match=r"vgg16-397923af.pth is not there and could not be downloaded .*"
                                           r"\$TORCH_HOME/hub/checkpoints/.*PRESET=course-scratch"):
        build_report("course", synth_dir, tmp_path / "report", tmp_path / "runs", allow_cpu=True)
    assert not (tmp_path / "report").exists() and not (tmp_path / "runs").exists()

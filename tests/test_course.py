"""The course preset as the homework ran it: ImageNet VGG16 fine-tuned at 512 px, proven end to end on the
CPU at tiny scale with a VGG16 state_dict put where torchvision looks; refused clearly where there is none."""
from __future__ import annotations

import json
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
from hw_lib.synth import write_dataset


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
    assert (course.weights, course.image_size, course.backbone_lr_scale) == ("imagenet", 512, 0.1)
    assert (scratch.weights, scratch.image_size, scratch.backbone_lr_scale) == ("none", 512, 1.0)


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


def test_the_course_path_runs_end_to_end_on_the_cpu_with_imagenet_weights(tmp_path, monkeypatch):
    digest = put_vgg16_in_the_hub_cache(tmp_path / "torch_home", monkeypatch)
    data = write_dataset(tmp_path / "data", n_train=1, n_val=3, size=512, seed=2)
    few = {"epochs": 1, "val_limit": 1, "sample_ids": ["0008"]}  # one training pair, two validation images
    files = build_report("course", data, tmp_path / "report", tmp_path / "runs", overrides=few, pdf=False,
                         allow_cpu=True)
    results = json.loads(files["results"].read_text())
    for model in results["models"].values():
        assert model["weights"] == ("imagenet: torchvision VGG16_Weights.IMAGENET1K_V1 (vgg16-397923af.pth, "
                                    f"sha256 {digest}...)")
        assert model["train_px"] == model["scored_at_px"] == 512 and model["recipe"]["backbone_lr_scale"] == 0.1
    html = files["html"].read_text()
    assert "Backbone weights:</strong> imagenet: torchvision VGG16_Weights.IMAGENET1K_V1" in html
    assert "course preset" in html


def test_without_the_weights_the_course_preset_stops_before_it_trains_or_writes(tmp_path, monkeypatch, synth_dir):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(*_, **__):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match=r"vgg16-397923af.pth is not there and could not be downloaded .*"
                                           r"\$TORCH_HOME/hub/checkpoints/.*PRESET=course-scratch"):
        build_report("course", synth_dir, tmp_path / "report", tmp_path / "runs", allow_cpu=True)
    assert not (tmp_path / "report").exists() and not (tmp_path / "runs").exists()

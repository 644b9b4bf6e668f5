import re
import textwrap
import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from hw_lib.errors import ConfigError, ImageSizeError, WeightsError
from hw_lib.models import build_model
from hw_lib.models.bilinear import bilinear_kernel, init_bilinear_

from .helpers import SEED, need

EXPECTED = Path(__file__).parent / "expected"

# The only wording newer PyTorch prints differently from the seed's (PyTorch 0.4) printout.
NEWER_WORDING = [
    (r"ReLU\(inplace=True\)", "ReLU(inplace)"),
    (r"Dropout2d\(p=0\.5, inplace=False\)", "Dropout2d(p=0.5)"),
    (r"MaxPool2d\(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False\)",
     "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), dilation=(1, 1), ceil_mode=False)"),
]


def seed_style(model: nn.Module) -> str:
    """``print(model)`` without the class line, dedented, in the seed's PyTorch wording."""
    lines = str(model).splitlines()
    assert lines[0] == f"{type(model).__name__}(" and lines[-1] == ")"
    text = textwrap.dedent("\n".join(lines[1:-1])) + "\n"
    for pattern, old in NEWER_WORDING:
        text = re.sub(pattern, old, text)
    return text


@pytest.fixture(scope="module")
def built() -> dict[str, nn.Module]:
    """Each model built once, in eval mode."""
    return {name: build_model(name).eval() for name in ("fcn32s", "fcn16s", "fcn8s")}


@pytest.mark.parametrize("name", ["fcn32s", "fcn8s"])
def test_printout_matches_the_seed_module_for_module(built, name):
    assert seed_style(built[name]) == (EXPECTED / f"{name}_seed.txt").read_text()


@pytest.mark.parametrize("name", ["fcn32s", "fcn8s"])
def test_expected_printouts_are_the_seeds_own(name):
    seed_blocks = re.findall(r"```\n(.*?)```", need(SEED).read_text(), re.S)
    block = seed_blocks[["fcn32s", "fcn8s"].index(name)].strip("\n") + "\n"
    assert block == (EXPECTED / f"{name}_seed.txt").read_text()


def test_fcn8s_slices_share_the_feature_modules(built):
    model = built["fcn8s"]
    assert model.to_pool3[0] is model.features[0]
    assert model.to_pool4[0] is model.features[17]
    assert model.to_pool5[6] is model.features[30]


def test_fcn16s_printout_has_the_documented_layers(built):
    text = seed_style(built["fcn16s"])
    assert "(7): ConvTranspose2d(7, 512, kernel_size=(4, 4), stride=(2, 2), bias=False)" in text
    assert "(upsample16): ConvTranspose2d(512, 7, kernel_size=(16, 16), stride=(16, 16), bias=False)" in text
    names = re.findall(r"^\((\w+)\)", text, re.M)
    assert names == ["features", "classifier", "to_pool4", "to_pool5", "upsample16"]


def last_upsampling(model: nn.Module) -> nn.Module:
    return {"FCN32s": lambda m: m.classifier[7], "FCN16s": lambda m: m.upsample16,
            "FCN8s": lambda m: m.upsample8}[type(model).__name__](model)


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
def test_output_has_the_input_size_and_the_score_map_the_documented_side(built, name):
    model, seen = built[name], []
    hook = last_upsampling(model).register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].shape[-1]))
    try:
        for side in (64, 96, 160):
            with torch.no_grad():
                assert model(torch.zeros(1, 3, side, side)).shape == (1, 7, side, side)
            assert seen[-1] == type(model).score_map_side(side)
    finally:
        hook.remove()
    assert [type(model).score_map_side(512) for model in built.values()] == [15, 32, 64]


def test_skips_can_be_left_out_at_inference(built):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        full, no_pool3 = built["fcn8s"](x), built["fcn8s"](x, drop=("pool3",))
        assert full.shape == no_pool3.shape and not torch.equal(full, no_pool3)
        fcn16s = built["fcn16s"]
        without = fcn16s(x, drop=("pool4",))
        assert torch.equal(without, fcn16s.upsample16(fcn16s.classifier(fcn16s.to_pool5(fcn16s.to_pool4(x)))))
        assert not torch.allclose(without, fcn16s(x))  # pool4 is added unweighted, so leaving it out shows
    with pytest.raises(ValueError, match="FCN32s has no skip pool4 \\(its skips: none\\)"):
        built["fcn32s"](x, drop=("pool4",))


@pytest.mark.parametrize("name, path", [("fcn32s", ["classifier.7"]), ("fcn16s", ["classifier.7", "upsample16"]),
                                        ("fcn8s", ["classifier.7", "upsample8"])])
def test_an_impulse_in_one_score_cell_lands_centred_on_that_cell_s_receptive_field(built, name, path):
    """Class scores of fc6-fc7 cell (i, j), which sees pool5 cells i..i+1, i.e. input pixels 32i..32i+63,
    come out of the upsampling centred on pixel 32i + 31.5: the output is not shifted against the input."""
    model = built[name]
    layers = dict(model.named_modules())
    side = 160
    cells = side // 32 - 1  # the fc6-fc7 map: pool5's side less one (the 2x2 fc6)
    i, j = 1, 3
    scores = torch.zeros(1, 7, cells, cells)
    scores[0, 2, i, j] = 1.0
    with torch.no_grad():
        out = scores
        for layer in path:
            out = layers[layer](out)
    response = out[0].abs().sum(0)
    assert response.shape == (side, side)
    rows, cols = torch.meshgrid(torch.arange(side, dtype=torch.float64), torch.arange(side, dtype=torch.float64),
                                indexing="ij")
    weights = response.double() / response.sum()
    assert (weights * rows).sum().item() == pytest.approx(32 * i + 31.5, abs=1e-6)
    assert (weights * cols).sum().item() == pytest.approx(32 * j + 31.5, abs=1e-6)


def test_non_square_inputs_work_too(built):
    with torch.no_grad():
        assert built["fcn8s"](torch.zeros(1, 3, 64, 160)).shape == (1, 7, 64, 160)


@pytest.mark.parametrize("shape", [(100, 128), (32, 32), (64, 65), (96, 48)])
def test_other_sizes_get_a_clear_error(built, shape):
    with pytest.raises(ImageSizeError, match="multiple of 32 and at least 64"):
        built["fcn32s"](torch.zeros(1, 3, *shape))


def test_bilinear_kernel_values():
    k = bilinear_kernel(2, 2, 4)
    row = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(k[0, 0], row[:, None] * row[None, :])
    assert torch.equal(k[0, 1], torch.zeros(4, 4)) and torch.equal(k[1, 1], k[0, 0])
    odd = bilinear_kernel(1, 1, 3)[0, 0]
    assert torch.allclose(odd[1], torch.tensor([0.5, 1.0, 0.5])) and odd[0, 0] == 0.25


def test_bilinear_deconv_interpolates_a_ramp_linearly():
    up = nn.ConvTranspose2d(1, 1, kernel_size=4, stride=2, padding=1, bias=False)
    init_bilinear_(up)
    ramp = torch.arange(6.0).repeat(6, 1)[None, None]
    out = up(ramp)[0, 0]
    inner = out[2:-2, 2:-2]  # away from the zero padding
    steps = inner[:, 1:] - inner[:, :-1]
    assert torch.allclose(steps, torch.full_like(steps, 0.5))


def test_fcn32s_at_init_upsamples_a_constant_score_map_smoothly(built):
    up = built["fcn32s"].classifier[7]
    scores = torch.zeros(1, 7, 4, 4)
    scores[:, 3] = 1.0
    out = up(scores)[0]
    assert out.shape[-1] == (4 - 1) * 32 + 64
    assert torch.allclose(out[3, 32:-32, 32:-32], torch.ones(out.shape[-2] - 64, out.shape[-1] - 64))
    assert out[[0, 1, 2, 4, 5, 6]].abs().max() == 0


def save_vgg_state(path: Path) -> dict:
    """A VGG16-shaped state_dict (its features part, plus a classifier tensor to ignore)."""
    torch.manual_seed(1)
    state = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    state["classifier.6.weight"] = torch.zeros(1000, 4096)
    torch.save(state, path)
    return state


def test_backbone_weights_from_a_local_state_dict(tmp_path):
    state = save_vgg_state(tmp_path / "vgg16.pth")
    model = build_model("fcn8s", weights=str(tmp_path / "vgg16.pth"))
    assert torch.equal(model.features[28].weight, state["features.28.weight"])
    assert model.backbone_weights.startswith(f"file: {tmp_path / 'vgg16.pth'}")


def test_imagenet_weights_come_through_torchvision_and_its_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    state = save_vgg_state(cache / "vgg16-397923af.pth")  # where torchvision looks before downloading
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model = build_model("fcn32s", weights="imagenet")
    assert torch.equal(model.features[0].weight, state["features.0.weight"])
    assert model.backbone_weights.startswith("imagenet: torchvision VGG16_Weights.IMAGENET1K_V1 (vgg16-397923af.pth, "
                                             "sha256 ")


def test_imagenet_weights_unavailable_is_a_clear_error(tmp_path, monkeypatch):
    def offline(*_, **__):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match="vgg16-397923af.pth is not there and could not be downloaded.*'none'"):
        build_model("fcn8s", weights="imagenet")


def test_scratch_weights_are_said_so(built):
    assert built["fcn16s"].backbone_weights.startswith("none: VGG16 trained from scratch")


@pytest.mark.parametrize("content", [b"not a torch file", None])
def test_bad_weights_files_are_refused(tmp_path, content):
    path = tmp_path / "weights.pth"
    if content is None:
        torch.save({"conv.weight": torch.zeros(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=str(path)):
        build_model("fcn32s", weights=str(path))


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="model: unknown value 'fcn9s'"):
        build_model("fcn9s")

import json

import pytest

from hw_lib import bench


@pytest.mark.slow
def test_bench_measures_the_training_step_on_the_cpu(tmp_path, capsys):
    assert bench.main(["--models", "fcn8s", "--device", "cpu", "--size", "64", "--batch", "2", "--steps", "2",
                       "--warmup", "1", "--json", str(tmp_path / "bench.json")]) == 0
    out = capsys.readouterr().out
    assert "fcn8s   fp32 " in out and "fast / naive: train x" in out
    naive, fast = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert naive["path"] == "fp32" and fast["path"].endswith("+fused_adamw")
    flops = bench.training_flops_per_image("fcn8s", 64, "cpu")
    for result in (naive, fast):
        assert result["train_tflops"] == pytest.approx(result["train_images_per_second"] * flops / 1e12)
        # a 2-core CPU does well under 1 TFLOP/s: a rate above it is a timing error, not a fast CPU
        assert 1e-4 < result["train_tflops"] < 1.0 and 0.1 < result["eval_images_per_second"] < 10_000


def test_flop_count_scales_with_the_image_area():
    small = bench.training_flops_per_image("fcn32s", 64, "cpu")
    large = bench.training_flops_per_image("fcn32s", 128, "cpu")
    assert 3.2 < large / small < 4.5  # the conv layers dominate; fc6/fc7 grow from 1x1 to 3x3 score cells

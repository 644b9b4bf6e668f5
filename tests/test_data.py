import numpy as np
import pytest
import torch
from PIL import Image

from hw_lib.colors import labels_to_rgb
from hw_lib.data import SAMPLE_IDS, data_source, find_pairs, load_pair, load_split
from hw_lib.errors import DataError
from hw_lib.synth import ensure_demo_data, make_sample, write_dataset
from hw_lib.transforms import IMAGENET_MEAN, normalize, random_crop, random_dihedral

from .helpers import REAL_DATA, need


def write_pair(folder, pair_id="0000", size=64, mask=None, image=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    if image is None:
        image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    image.save(folder / f"{pair_id}_sat.jpg")
    if mask is None:
        mask = Image.fromarray(labels_to_rgb(rng.integers(0, 7, (size, size))))
    mask.save(folder / f"{pair_id}_mask.png")


def test_pairs_are_matched_by_id_and_sorted(tmp_path):
    for i in ("0002", "0000", "0001"):
        write_pair(tmp_path, i)
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.id for p in find_pairs(tmp_path)] == ["0000", "0001", "0002"]


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'}: data folder does not exist"):
        find_pairs(tmp_path / "nope")


def test_empty_folder_hints_at_subfolders(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match=r"no NNNN_sat.jpg \+ NNNN_mask.png files.*subfolders train"):
        find_pairs(tmp_path)


def test_image_without_mask_and_mask_without_image(tmp_path):
    write_pair(tmp_path, "0000")
    write_pair(tmp_path, "0001")
    (tmp_path / "0001_mask.png").unlink()
    with pytest.raises(DataError, match="0001_mask.png: missing"):
        find_pairs(tmp_path)
    write_pair(tmp_path, "0001")
    (tmp_path / "0000_sat.jpg").unlink()
    with pytest.raises(DataError, match="0000_sat.jpg: missing"):
        find_pairs(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_jpeg_names_the_file(tmp_path, damage):
    write_pair(tmp_path)
    path = tmp_path / "0000_sat.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a jpeg at all")
    with pytest.raises(DataError, match=f"{path}: cannot read the image"):
        load_pair(find_pairs(tmp_path)[0])


def test_mask_of_another_size(tmp_path):
    write_pair(tmp_path, mask=Image.fromarray(labels_to_rgb(np.zeros((32, 64), dtype=np.uint8))))
    with pytest.raises(DataError, match=r"0000_mask.png: mask is 64x32 but its image 0000_sat.jpg is 64x64"):
        load_pair(find_pairs(tmp_path)[0])


def test_palette_mode_mask_is_converted_through_its_palette(tmp_path):
    labels = np.random.default_rng(1).integers(0, 7, (64, 64)).astype(np.uint8)
    rgb = Image.fromarray(labels_to_rgb(labels))
    write_pair(tmp_path, mask=rgb.quantize(colors=7, method=Image.Quantize.FASTOCTREE))
    assert Image.open(tmp_path / "0000_mask.png").mode == "P"
    assert (load_pair(find_pairs(tmp_path)[0]).labels == labels).all()


def test_greyscale_mask_is_refused(tmp_path):
    write_pair(tmp_path, mask=Image.fromarray(np.zeros((64, 64), dtype=np.uint8), mode="L"))
    with pytest.raises(DataError, match="0000_mask.png: greyscale mask"):
        load_pair(find_pairs(tmp_path)[0])


def test_colours_outside_the_palette_are_counted_and_mapped_by_the_course_rule(tmp_path):
    rgb = labels_to_rgb(np.ones((64, 64), dtype=np.uint8))  # Agriculture
    rgb[0, :5] = (255, 0, 0)        # red: no class -> Unknown
    rgb[1, :2] = (200, 200, 30)     # off-colour yellow -> Agriculture by the threshold
    write_pair(tmp_path, mask=Image.fromarray(rgb))
    sample = load_pair(find_pairs(tmp_path)[0])
    assert sample.off_palette == 7
    assert (sample.labels[0, :5] == 6).all() and (sample.labels[1, :2] == 1).all()
    split = load_split(tmp_path)
    assert split.off_palette == {"0000": 7}
    assert "7 mask pixels in 1 file are not palette colours" in split.off_palette_note()


def test_images_of_different_sizes_in_one_split(tmp_path):
    write_pair(tmp_path, "0000", size=64)
    write_pair(tmp_path, "0001", size=96)
    with pytest.raises(DataError, match="0001_sat.jpg: is 96x96 but 0000_sat.jpg is 64x64"):
        load_split(tmp_path)
    assert load_split(tmp_path, image_size=64).images.shape == (2, 3, 64, 64)


def test_normalize_uses_imagenet_statistics():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    x[:, 0] = round(IMAGENET_MEAN[0] * 255)
    out = normalize(x)
    assert abs(float(out[0, 0, 0, 0])) < 0.01 and float(out[0, 1, 0, 0]) > 2


def test_augmentation_moves_images_and_labels_together():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(16 * 16, dtype=torch.int64).reshape(1, 16, 16).repeat(64, 1, 1) % 251
    images = labels[:, None].repeat(1, 3, 1, 1).to(torch.uint8)
    out_images, out_labels = random_dihedral(images, labels.to(torch.uint8), gen)
    assert torch.equal(out_images[:, 0], out_labels)
    distinct = {tuple(x.flatten()[:3].tolist()) for x in out_labels}
    assert len(distinct) == 8  # all 8 symmetries of the square occur in 64 draws


def test_random_crops_cut_the_same_window_of_image_and_labels_at_offsets_drawn_per_sample():
    gen = torch.Generator().manual_seed(0)
    grid = torch.arange(12 * 12).reshape(12, 12)
    labels = (grid % 251).to(torch.uint8)[None].repeat(32, 1, 1)
    images = torch.stack([labels, labels // 2, labels // 3], 1)
    out_images, out_labels = random_crop(images, labels, 5, gen)
    assert out_images.shape == (32, 3, 5, 5) and out_labels.shape == (32, 5, 5)
    assert torch.equal(out_images[:, 0], out_labels) and torch.equal(out_images[:, 2], out_labels // 3)
    corners = []
    for crop in out_labels:  # each crop is a contiguous window of the grid
        top, left = divmod(int(crop[0, 0]), 12)
        assert torch.equal(crop, labels[0, top : top + 5, left : left + 5])
        corners.append((top, left))
    assert len(set(corners)) > 16 and {t for t, _ in corners} >= {0, 7}  # offsets vary and reach both ends
    whole_images, whole_labels = random_crop(images, labels, 12, gen)
    assert torch.equal(whole_images, images) and torch.equal(whole_labels, labels)
    with pytest.raises(ValueError, match="crop of 13 px is larger than the 12x12 images"):
        random_crop(images, labels, 13, gen)


def test_synthetic_data_is_deterministic_and_has_the_sample_ids(tmp_path):
    a, b = make_sample(3, "train", 5, 64), make_sample(3, "train", 5, 64)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], make_sample(4, "train", 5, 64)[0])
    out = write_dataset(tmp_path, n_train=2, n_val=3, size=64)
    assert [p.id for p in find_pairs(out / "validation")] == list(SAMPLE_IDS)
    assert data_source(out) == data_source(out / "train") == "synthetic" and data_source(tmp_path.parent) == "real"


def test_the_demo_data_is_written_only_where_no_folder_exists(tmp_path):
    ensure_demo_data(tmp_path / "demo")
    assert len(find_pairs(tmp_path / "demo" / "train")) == 32
    write_dataset(tmp_path / "custom", n_train=2, n_val=3, size=64)
    ensure_demo_data(tmp_path / "custom")  # an existing folder is used as it is
    assert len(find_pairs(tmp_path / "custom" / "train")) == 2


def test_synthetic_data_written_with_other_parameters_is_written_anew(tmp_path):
    write_dataset(tmp_path, n_train=3, n_val=3, size=64)
    write_dataset(tmp_path, n_train=2, n_val=3, size=96)
    pairs = find_pairs(tmp_path / "train")
    assert [p.id for p in pairs] == ["0000", "0001"]
    assert np.asarray(Image.open(pairs[0].image)).shape == (96, 96, 3)


def test_synthetic_classes_are_all_present_in_a_split():
    labels = np.stack([make_sample(0, "train", i, 64)[1] for i in range(16)])
    assert set(np.unique(labels)) >= {0, 1, 2, 3, 4, 5}


def test_real_data_loads():
    folder = need(REAL_DATA / "validation")
    pairs = find_pairs(folder)
    assert len(pairs) == 257 and pairs[8].id == "0008"
    split = load_split(folder, ids=["0008", "0097", "0107", "0177"])
    assert split.images.shape == (4, 3, 512, 512) and split.labels.shape == (4, 512, 512)
    assert split.off_palette == {"0177": 7}  # the 7 pure-red pixels SOURCES.txt lists
    assert len(find_pairs(REAL_DATA / "train")) == 2000

import numpy as np
import pytest

from hw_lib.colors import CODE_TO_LABEL, PALETTE, UNKNOWN, count_off_palette, labels_to_rgb, rgb_to_labels

# the course's mean_iou_evaluate.py: code 4R + 2G + B -> label
COURSE = {3: 0, 6: 1, 5: 2, 2: 3, 1: 4, 7: 5, 0: 6}


def code_colour(code: int) -> tuple[int, int, int]:
    return (255 * (code >> 2 & 1), 255 * (code >> 1 & 1), 255 * (code & 1))


@pytest.mark.parametrize("code", range(8))
def test_every_code_decodes_like_the_course_and_round_trips(code):
    rgb = np.full((2, 3, 3), code_colour(code), dtype=np.uint8)
    labels = rgb_to_labels(rgb)
    expected = COURSE.get(code, UNKNOWN)  # code 4 (pure red) belongs to no class
    assert (labels == expected).all()
    back = labels_to_rgb(labels)
    if code in COURSE:
        assert (back == rgb).all()
    else:
        assert (back == 0).all()  # red is written back as Unknown black


def test_threshold_is_128_per_channel():
    rgb = np.array([[[127, 128, 255], [128, 127, 127]]], dtype=np.uint8)
    # (0,1,1) -> code 3 Urban; (1,0,0) -> code 4 -> Unknown
    assert rgb_to_labels(rgb).tolist() == [[0, UNKNOWN]]


def test_palette_is_the_inverse_of_the_code_table():
    for label, colour in enumerate(PALETTE):
        code = 4 * (colour[0] >= 128) + 2 * (colour[1] >= 128) + (colour[2] >= 128)
        assert CODE_TO_LABEL[code] == label


def test_red_and_inexact_colours_are_counted_as_off_palette():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[0, :3] = (255, 0, 0)
    rgb[1, 0] = (254, 255, 0)  # nearly yellow
    rgb[2, :] = PALETTE[:4]
    assert count_off_palette(rgb) == 4


def test_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match="0..6"):
        labels_to_rgb(np.array([[7]]))

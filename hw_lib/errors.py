"""Errors the user can act on. The CLIs print their message (no traceback) and exit with 2."""


class HwLibError(Exception):
    """Base class: the message names the file or value and the problem."""


class DataError(HwLibError):
    """A data folder, image or mask that cannot be used."""


class CheckpointError(HwLibError):
    """A file that is no checkpoint, or a checkpoint of another model."""


class ConfigError(HwLibError, ValueError):
    """A run parameter of the wrong type or value."""


class TrainingError(HwLibError):
    """Training cannot go on (a non-finite loss, for instance)."""


class ImageSizeError(HwLibError, ValueError):
    """An image side the FCN cannot take."""


class WeightsError(HwLibError):
    """Backbone weights that cannot be had (no download, unreadable file)."""

"""VGG16-FCN semantic segmentation of satellite images into 7 land-cover classes."""

__version__ = "0.1.0"

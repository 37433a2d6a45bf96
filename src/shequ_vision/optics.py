"""A drone camera's optics: what it sees on the ground from a height (pinhole model, no distortion).

Shared by the mission planner (line spacing, photo spacing), the track coverage and the photo
footprints, so that the three agree on what "the camera sees" means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CameraModel:
    """Sensor size in millimetres, focal length in millimetres, image size in pixels (landscape:
    width is the long side, along the image's x axis)."""

    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width: int
    image_height: int

    def __post_init__(self) -> None:
        for name in ("sensor_width_mm", "sensor_height_mm", "focal_length_mm"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        for name in ("image_width", "image_height"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")

    @property
    def fov_x_deg(self) -> float:
        return math.degrees(2 * math.atan(self.sensor_width_mm / (2 * self.focal_length_mm)))

    @property
    def fov_y_deg(self) -> float:
        return math.degrees(2 * math.atan(self.sensor_height_mm / (2 * self.focal_length_mm)))

    def ground_size(self, altitude_m: float) -> tuple[float, float]:
        """Width and height in metres of the ground a nadir photo covers from `altitude_m` above it."""
        scale = altitude_m / self.focal_length_mm
        return self.sensor_width_mm * scale, self.sensor_height_mm * scale

    def gsd_m(self, altitude_m: float) -> float:
        """Ground sampling distance: metres of ground per pixel (the coarser of the two axes)."""
        w, h = self.ground_size(altitude_m)
        return max(w / self.image_width, h / self.image_height)

    def scaled(self, image_width: int, image_height: int) -> CameraModel:
        """The same optics for a photo stored at another pixel size (a resized copy sees the same)."""
        return CameraModel(
            self.sensor_width_mm, self.sensor_height_mm, self.focal_length_mm, image_width, image_height
        )

"""A fixed pinhole camera: world points in metres → pixels at the output size.

World axes: x across the room (0 … width), y up from the floor, z from the front wall (0, where the
board hangs) to the back wall (depth). Rendering projects 3D polygons straight to the output size, so
there is no resampling step and a 256 px frame costs the same as a 256 px drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEAR = 0.05
"""Near plane (metres in front of the lens); geometry behind it is clipped away."""


@dataclass(frozen=True)
class PinholeCamera:
    position: np.ndarray
    """(3,) lens centre in world metres."""
    rotation: np.ndarray
    """(3, 3) world → camera; camera axes are x right, y down, z forward (optical axis)."""
    focal: float
    """Focal length in pixels (same for both axes: square pixels)."""
    width: int
    height: int

    @classmethod
    def look_at(
        cls, position: np.ndarray, target: np.ndarray, *, hfov_deg: float, roll_deg: float, width: int, height: int
    ) -> PinholeCamera:
        """A camera at `position` aimed at `target`, with a horizontal field of view and a small roll."""
        forward = target - position
        forward = forward / np.linalg.norm(forward)
        right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        roll = np.deg2rad(roll_deg)
        right, down = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down
        rotation = np.stack([right, down, forward])
        focal = (width / 2) / np.tan(np.deg2rad(hfov_deg) / 2)
        return cls(np.asarray(position, float), rotation, float(focal), width, height)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points → (..., 3) camera-frame points."""
        return (points - self.position) @ self.rotation.T

    def to_pixels(self, cam_points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points (z > 0) → (..., 2) pixel coordinates."""
        z = cam_points[..., 2:3]
        return cam_points[..., :2] * (self.focal / z) + np.array([self.width / 2, self.height / 2])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points → pixels (..., 2) and distance from the lens (...), the painter's sort key."""
        cam = self.to_camera(points)
        z = np.maximum(cam[..., 2:3], NEAR)
        uv = cam[..., :2] * (self.focal / z) + np.array([self.width / 2, self.height / 2])
        return uv, np.linalg.norm(cam, axis=-1)

    def project_polygon(self, points: np.ndarray) -> list[tuple[float, float]] | None:
        """A planar world polygon clipped at the near plane → pixel vertices, or None if wholly behind."""
        cam = clip_near(self.to_camera(points))
        if len(cam) < 3:
            return None
        return [tuple(p) for p in self.to_pixels(cam).tolist()]

    def describe(self) -> dict[str, object]:
        """The pose as plain JSON for the manifest."""
        forward = self.rotation[2]
        return {
            "position": np.round(self.position, 3).tolist(),
            "forward": np.round(forward, 4).tolist(),
            "focal_px": round(self.focal, 2),
            "hfov_deg": round(float(np.rad2deg(2 * np.arctan(self.width / 2 / self.focal))), 2),
            "pitch_deg": round(float(np.rad2deg(np.arcsin(-forward[1]))), 2),
        }


def clip_near(cam_points: np.ndarray) -> np.ndarray:
    """Sutherland–Hodgman clip of a camera-frame polygon against z = NEAR (walls and floor reach behind the lens)."""
    if np.all(cam_points[:, 2] >= NEAR):
        return cam_points
    out: list[np.ndarray] = []
    n = len(cam_points)
    for i in range(n):
        a, b = cam_points[i], cam_points[(i + 1) % n]
        a_in, b_in = a[2] >= NEAR, b[2] >= NEAR
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))

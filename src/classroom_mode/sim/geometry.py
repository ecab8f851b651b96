"""Boxes, the one solid the classroom is built from, and the drawable parts the painter sorts by depth.

A desk is a top and two side panels, a chair a seat, a back and a post: all boxes. Each visible face
becomes a `Part` (a filled polygon or a thick line) carrying its distance from the lens, and the frame
is drawn far to near (painter's algorithm), so people and furniture occlude each other correctly
enough at 256 px without a depth buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from classroom_mode.sim.projection import PinholeCamera

Color = tuple[int, int, int]

_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
_FACES = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))
_LIGHT = np.array([0.35, 0.85, 0.4]) / np.linalg.norm([0.35, 0.85, 0.4])


@dataclass(frozen=True)
class Part:
    """One drawable primitive: a polygon (3+ points), a line `width` px wide (2 points, `width` > 0), or a
    disc given by its bounding box (2 points, `width` 0)."""

    depth: float
    points: list[tuple[float, float]]
    color: Color
    width: int = 0


def box_corners(center: np.ndarray, half: np.ndarray, yaw: float) -> np.ndarray:
    """(8, 3) corners of a box standing upright, turned `yaw` radians about the vertical axis."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return center + (_SIGNS * half) @ rot.T


def tip_over(corners: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotate corners about a horizontal `axis` through `pivot` (a chair toppling over its edge)."""
    axis = axis / np.linalg.norm(axis)
    p = corners - pivot
    c, s = np.cos(angle), np.sin(angle)
    rotated = p * c + np.cross(axis, p) * s + np.outer(p @ axis, axis) * (1 - c)
    return rotated + pivot


def shade(color: Color, factor: float) -> Color:
    return tuple(int(min(255, max(0, v * factor))) for v in color)  # type: ignore[return-value]


def box_parts(camera: PinholeCamera, corners: np.ndarray, color: Color) -> list[Part]:
    """The faces of a box the camera can see, shaded by a fixed overhead light."""
    parts = []
    centre = corners.mean(axis=0)
    for face in _FACES:
        quad = corners[list(face)]
        face_centre = quad.mean(axis=0)
        normal = face_centre - centre
        normal /= np.linalg.norm(normal) + 1e-9
        if normal @ (camera.position - face_centre) <= 0:
            continue
        polygon = camera.project_polygon(quad)
        if polygon is None:
            continue
        depth = float(np.linalg.norm(face_centre - camera.position))
        parts.append(Part(depth, polygon, shade(color, 0.55 + 0.5 * max(0.0, float(normal @ _LIGHT)))))
    return parts

"""The classroom itself: walls, floor, board, door, and desks and chairs in one of several layouts.

Layouts (rows facing the board, group islands, a U, a sparse room) are drawn independently of the
room's mode, so furniture says nothing about what the people in it are doing: a presentation can
happen at islands and a group can talk between rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from classroom_mode.sim.geometry import Color, Part, box_corners, box_parts, shade, tip_over
from classroom_mode.sim.projection import PinholeCamera

LAYOUTS = ("rows", "islands", "u-shape", "sparse")
FRONT_ZONE = 2.0
"""Metres in front of the board kept free of desks: where a presenter stands."""
SEAT_HEIGHT = 0.45

_WALLS = [(200, 196, 184), (214, 206, 188), (188, 200, 206), (206, 196, 200), (226, 222, 210), (180, 190, 176)]
_FLOORS = [(150, 118, 84), (128, 124, 118), (96, 104, 110), (170, 150, 120), (112, 88, 70)]
_BOARDS = [(40, 78, 58), (34, 38, 42), (236, 238, 236)]
_DESKS = [(176, 140, 100), (200, 196, 186), (140, 104, 72), (190, 176, 150)]
_CHAIRS = [(60, 70, 120), (40, 40, 44), (150, 40, 40), (70, 120, 80), (200, 120, 40)]


@dataclass(frozen=True)
class Seat:
    """Where a seated person's hips go, the way a chair faces, and the chair item that holds them."""

    x: float
    z: float
    heading: float
    item: int


@dataclass
class Item:
    """A piece of furniture: boxes with colours; chairs can be tipped over by an event."""

    kind: str
    boxes: list[tuple[np.ndarray, Color]]
    footprint: tuple[float, float, float]
    """(x, z, radius) on the floor, for keeping people from standing inside desks."""
    tilt: float = 0.0
    tilt_axis: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))

    def parts(self, camera: PinholeCamera) -> list[Part]:
        out = []
        pivot = np.array([self.footprint[0], 0.0, self.footprint[1]])
        for corners, color in self.boxes:
            if self.tilt:
                corners = tip_over(corners, pivot, self.tilt_axis, self.tilt)
            out.extend(box_parts(camera, corners, color))
        return out


def chair_boxes(x: float, z: float, heading: float, color: Color) -> list[tuple[np.ndarray, Color]]:
    """A chair whose sitter faces `heading` (radians; 0 faces +z, toward the back wall)."""
    fwd = np.array([np.sin(heading), 0.0, np.cos(heading)])
    seat = box_corners(np.array([x, SEAT_HEIGHT - 0.03, z]), np.array([0.21, 0.025, 0.21]), heading)
    back = box_corners(np.array([x, SEAT_HEIGHT + 0.22, z]) - 0.2 * fwd, np.array([0.2, 0.2, 0.02]), heading)
    post = box_corners(
        np.array([x, SEAT_HEIGHT / 2 - 0.02, z]), np.array([0.03, SEAT_HEIGHT / 2 - 0.02, 0.03]), heading
    )
    return [(post, shade(color, 0.5)), (seat, color), (back, color)]


def desk_boxes(x: float, z: float, yaw: float, width: float, depth: float, color: Color):
    top = box_corners(np.array([x, 0.72, z]), np.array([width / 2, 0.02, depth / 2]), yaw)
    c, s = np.cos(yaw), np.sin(yaw)
    side = np.array([c, 0.0, -s]) * (width / 2 - 0.04)
    legs = [
        box_corners(np.array([x, 0.35, z]) + sign * side, np.array([0.02, 0.35, depth / 2 - 0.03]), yaw)
        for sign in (-1, 1)
    ]
    return [(leg, shade(color, 0.7)) for leg in legs] + [(top, color)]


@dataclass
class Room:
    width: float
    depth: float
    height: float
    layout: str
    wall: Color
    floor: Color
    board: Color
    door_x: float
    """The door is in a side wall (x = 0 or x = width) at this z."""
    door_z: float
    items: list[Item] = field(default_factory=list)
    seats: list[Seat] = field(default_factory=list)

    @property
    def door(self) -> tuple[float, float]:
        """The floor point just inside the door, where people enter and leave."""
        inside = 0.4 if self.door_x == 0 else -0.4
        return self.door_x + inside, self.door_z

    def clearance(self, x: float, z: float) -> float:
        """Distance from a floor point to the nearest wall or furniture footprint edge (negative inside one)."""
        walls = min(x, self.width - x, z, self.depth - z)
        return min([walls, *(np.hypot(x - fx, z - fz) - r for fx, fz, r in (it.footprint for it in self.items))])

    def describe(self) -> dict[str, object]:
        return {
            "width": round(self.width, 2),
            "depth": round(self.depth, 2),
            "height": round(self.height, 2),
            "layout": self.layout,
            "desks": sum(it.kind == "desk" for it in self.items),
            "chairs": sum(it.kind == "chair" for it in self.items),
        }

    def _add_chair(self, x: float, z: float, heading: float, color: Color) -> None:
        self.items.append(Item("chair", chair_boxes(x, z, heading, color), (x, z, 0.25)))
        self.seats.append(Seat(x, z, heading, len(self.items) - 1))

    def _add_desk(self, x: float, z: float, yaw: float, width: float, depth: float, color: Color) -> None:
        radius = 0.5 * max(width, depth)
        self.items.append(Item("desk", desk_boxes(x, z, yaw, width, depth, color), (x, z, radius)))


def random_room(rng: np.random.Generator, min_seats: int = 16) -> Room:
    """A room of plausible size with a random layout holding at least `min_seats` chairs."""
    layout = str(rng.choice(LAYOUTS))
    width = float(rng.uniform(7.0, 10.0))
    depth = float(rng.uniform(8.0, 11.0))
    room = Room(
        width=width,
        depth=depth,
        height=float(rng.uniform(2.8, 3.4)),
        layout=layout,
        wall=_pick(rng, _WALLS),
        floor=_pick(rng, _FLOORS),
        board=_pick(rng, _BOARDS),
        door_x=float(rng.choice([0.0, width])),
        door_z=float(rng.uniform(1.0, 2.0) if rng.random() < 0.6 else rng.uniform(depth - 2.0, depth - 1.0)),
    )
    desk, chair = _pick(rng, _DESKS), _pick(rng, _CHAIRS)
    {"rows": _rows, "islands": _islands, "u-shape": _u_shape, "sparse": _sparse}[layout](room, rng, desk, chair)
    _fill_chair_rows(room, min_seats, chair)
    return room


def _fill_chair_rows(room: Room, min_seats: int, chair: Color) -> None:
    """Rows of loose chairs facing the board wherever the layout left floor free, until there are enough seats."""
    for z in np.arange(FRONT_ZONE + 0.6, room.depth - 0.6, 0.9):
        for x in np.arange(0.8, room.width - 0.6, 0.65):
            if len(room.seats) >= min_seats:
                return
            if room.clearance(x, z) > 0.2 and all(np.hypot(x - s.x, z - s.z) > 0.6 for s in room.seats):
                room._add_chair(float(x), float(z), np.pi, chair)


def _pick(rng: np.random.Generator, colors: list[Color]) -> Color:
    base = np.array(colors[rng.integers(len(colors))], dtype=float)
    return tuple(int(v) for v in np.clip(base * rng.uniform(0.88, 1.12) + rng.normal(0, 6, 3), 0, 255))  # type: ignore[return-value]


def _rows(room: Room, rng: np.random.Generator, desk: Color, chair: Color) -> None:
    per_row = int(rng.integers(3, 5))
    rows = int(rng.integers(3, 6))
    pair = rng.random() < 0.5  # two students per desk, or one
    desk_w = 1.3 if pair else 0.75
    xs = np.linspace(1.0, room.width - 1.0, per_row)
    zs = np.linspace(FRONT_ZONE + 0.5, room.depth - 1.2, rows)
    for z in zs:
        for x in xs:
            room._add_desk(x, z, 0.0, desk_w, 0.6, desk)
            for dx in (-0.32, 0.32) if pair else (0.0,):
                room._add_chair(x + dx, z + 0.55, np.pi, chair)


def _islands(room: Room, rng: np.random.Generator, desk: Color, chair: Color) -> None:
    count = int(rng.integers(3, 6))
    centres = _spread(rng, room, count, min_gap=2.6)
    for cx, cz in centres:
        yaw = float(rng.uniform(0, np.pi))
        room._add_desk(cx, cz, yaw, 1.4, 1.2, desk)
        n = int(rng.integers(4, 7))
        for k in range(n):
            a = yaw + 2 * np.pi * k / n
            x, z = cx + 1.0 * np.sin(a), cz + 1.0 * np.cos(a)
            room._add_chair(x, z, a + np.pi, chair)


def _u_shape(room: Room, rng: np.random.Generator, desk: Color, chair: Color) -> None:
    margin = 1.0
    z0, z1 = FRONT_ZONE + 0.8, room.depth - margin
    for z in np.arange(z0, z1, 1.3):
        for x, heading in ((margin, np.pi / 2), (room.width - margin, -np.pi / 2)):
            room._add_desk(x, z, np.pi / 2, 1.2, 0.6, desk)
            room._add_chair(x - 0.55 * np.sin(heading), z, heading, chair)
    for x in np.arange(margin + 1.3, room.width - margin - 0.6, 1.3):
        room._add_desk(x, z1, 0.0, 1.2, 0.6, desk)
        room._add_chair(x, z1 - 0.55, 0.0, chair)


def _sparse(room: Room, rng: np.random.Generator, desk: Color, chair: Color) -> None:
    for cx, cz in _spread(rng, room, int(rng.integers(3, 7)), min_gap=1.8):
        yaw = float(rng.uniform(-0.4, 0.4))
        room._add_desk(cx, cz, yaw, 1.0, 0.6, desk)
        room._add_chair(cx + 0.55 * np.sin(yaw), cz + 0.55 * np.cos(yaw), yaw + np.pi, chair)


def _spread(rng: np.random.Generator, room: Room, count: int, min_gap: float) -> list[tuple[float, float]]:
    """Up to `count` floor points behind the front zone, at least `min_gap` apart (rejection sampling)."""
    points: list[tuple[float, float]] = []
    for _ in range(200):
        x = float(rng.uniform(1.4, room.width - 1.4))
        z = float(rng.uniform(FRONT_ZONE + 1.2, room.depth - 1.4))
        if all(np.hypot(x - px, z - pz) >= min_gap for px, pz in points):
            points.append((x, z))
            if len(points) == count:
                break
    return points


def draw_shell(room: Room, camera: PinholeCamera, *, screen: Color | None, door_open: bool) -> Image.Image:
    """Walls, floor, ceiling, board, door and windows: everything that never occludes a person."""
    image = Image.new("RGB", (camera.width, camera.height), room.wall)
    draw = ImageDraw.Draw(image)
    w, d, h = room.width, room.depth, room.height

    def quad(points: list[tuple[float, float, float]], color: Color) -> None:
        polygon = camera.project_polygon(np.array(points, dtype=float))
        if polygon is not None:
            draw.polygon(polygon, fill=color)

    quad([(0, h, 0), (w, h, 0), (w, h, d), (0, h, d)], shade(room.wall, 1.08))
    quad([(0, 0, 0), (w, 0, 0), (w, 0, d), (0, 0, d)], room.floor)
    for x0, x1, factor in ((0, 0, 0.9), (w, w, 0.86)):  # side walls, a little darker than the front
        quad([(x0, 0, 0), (x1, 0, d), (x1, h, d), (x0, h, 0)], shade(room.wall, factor))
    quad([(0, 0, d), (w, 0, d), (w, h, d), (0, h, d)], shade(room.wall, 0.95))
    quad([(0, 0, 0), (w, 0, 0), (w, h, 0), (0, h, 0)], room.wall)
    for z in np.arange(0.0, d, 0.6):  # floor boards / tiles give the perspective its depth cue
        quad([(0, 0.001, z), (w, 0.001, z), (w, 0.001, z + 0.03), (0, 0.001, z + 0.03)], shade(room.floor, 0.88))
    quad([(0, 0, 0.01), (w, 0, 0.01), (w, 0.1, 0.01), (0, 0.1, 0.01)], shade(room.wall, 0.6))  # skirting
    bx0, bx1 = w / 2 - min(2.2, w / 3), w / 2 + min(2.2, w / 3)
    quad([(bx0 - 0.05, 0.85, 0.01), (bx1 + 0.05, 0.85, 0.01), (bx1 + 0.05, 2.25, 0.01), (bx0 - 0.05, 2.25, 0.01)],
         (120, 120, 124))  # fmt: skip
    quad([(bx0, 0.9, 0.02), (bx1, 0.9, 0.02), (bx1, 2.2, 0.02), (bx0, 2.2, 0.02)], room.board)
    if screen is not None:  # a projected slide beside the board
        sx = bx1 + 0.2 if bx1 + 1.6 < w else bx0 - 1.6
        quad([(sx, 1.1, 0.03), (sx + 1.4, 1.1, 0.03), (sx + 1.4, 2.2, 0.03), (sx, 2.2, 0.03)], screen)
    wx = w if room.door_x == 0 else 0.0  # windows on the wall opposite the door
    inset = -0.01 if wx else 0.01
    for z in np.arange(1.5, d - 1.0, 2.2):
        quad([(wx + inset, 1.0, z), (wx + inset, 1.0, z + 1.4), (wx + inset, 2.3, z + 1.4), (wx + inset, 2.3, z)],
             (196, 214, 230))  # fmt: skip
    dx = room.door_x + (0.01 if room.door_x == 0 else -0.01)
    door = (40, 36, 34) if door_open else (130, 96, 66)
    quad([(dx, 0, room.door_z - 0.5), (dx, 0, room.door_z + 0.5), (dx, 2.1, room.door_z + 0.5),
          (dx, 2.1, room.door_z - 0.5)], door)  # fmt: skip
    return image

"""From a scene to pixels: the camera's pose, the painter's pass, lighting and sensor noise.

`World` bundles one room, one camera, one light and one scene, and renders the scene's current
state. It is what both a labelled clip and a long stream are made of; the only difference is whether
the director changes while it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from classroom_mode.sim.geometry import Part
from classroom_mode.sim.people import person_parts
from classroom_mode.sim.projection import PinholeCamera
from classroom_mode.sim.room import Item, Room, chair_boxes, draw_shell, random_room
from classroom_mode.sim.scene import Scene


def random_camera(rng: np.random.Generator, room: Room, width: int, height: int) -> PinholeCamera:
    """An elevated camera on the back or a side wall, aimed into the room; every clip gets its own pose."""
    wall = rng.choice(["back", "left", "right", "corner"], p=[0.4, 0.2, 0.2, 0.2])
    h = float(rng.uniform(2.2, min(3.0, room.height - 0.15)))
    w, d = room.width, room.depth
    if wall == "back":
        pos = [float(rng.uniform(0.3 * w, 0.7 * w)), h, d - 0.2]
    elif wall == "corner":
        pos = [float(rng.choice([0.25, w - 0.25])), h, d - 0.25]
    else:
        pos = [0.2 if wall == "left" else w - 0.2, h, float(rng.uniform(0.45 * d, 0.8 * d))]
    target = [float(rng.uniform(0.35 * w, 0.65 * w)), 0.0, float(rng.uniform(0.25 * d, 0.5 * d))]
    hfov = float(rng.uniform(70, 95))
    return PinholeCamera.look_at(np.array(pos), np.array(target), hfov_deg=hfov,
                                 roll_deg=float(rng.normal(0, 1.5)), width=width, height=height)  # fmt: skip


def color_temperature_gain(kelvin: float) -> np.ndarray:
    """Per-channel gain of a light at `kelvin`, normalised to green (warm tungsten … cool daylight)."""
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.7 * (t - 60) ** -0.1332
    g = 99.47 * math.log(t) - 161.1 if t <= 66 else 288.1 * (t - 60) ** -0.0755
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5 * math.log(t - 10) - 305.0)
    rgb = np.clip(np.array([r, g, b]), 1, 255)
    gain = rgb / rgb.mean()
    return 1.0 + 0.45 * (gain - 1.0)  # white balance takes most of the cast away, as a camera's would


@dataclass
class Lighting:
    """Brightness, colour temperature, a slow drift, mains flicker and sensor noise, fixed per clip or stream."""

    brightness: float
    kelvin: float
    drift: float
    """Amplitude of a slow brightness change (clouds, dimmers)."""
    flicker: float
    noise: float
    """Sensor noise sigma in 8-bit levels."""
    phase: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Lighting:
        return cls(
            brightness=float(rng.uniform(0.65, 1.15)),
            kelvin=float(rng.uniform(2900, 6500)),
            drift=float(rng.uniform(0.0, 0.12)),
            flicker=float(rng.uniform(0.0, 0.03)),
            noise=float(rng.uniform(1.0, 5.0)),
            phase=float(rng.uniform(0, 2 * math.pi)),
        )

    def level(self, t: float) -> float:
        slow = self.drift * math.sin(2 * math.pi * t / 11.0 + self.phase)
        fast = self.flicker * math.sin(2 * math.pi * 7.3 * t + 3 * self.phase)
        return self.brightness * (1 + slow + fast)

    def describe(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in vars(self).items()}


class World:
    """One room seen by one camera under one light, with the people the scene puts in it."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int]) -> None:
        width, height = size
        self.rng = rng
        self.room = random_room(rng)
        self.camera = random_camera(rng, self.room, width, height)
        self.lighting = Lighting.random(rng)
        self.scene = Scene(self.room, rng)
        self.screen_colors = [None, (236, 236, 240), (70, 110, 190), (230, 200, 120)]
        self.screen = self.screen_colors[int(rng.integers(len(self.screen_colors)))]
        self.door_open = False
        self.lights_out = 0.0
        """0 … 1 how far the lights are off (an injected event)."""
        self._shell_key: tuple | None = None
        self._shell: Image.Image | None = None
        self._furniture: list[Part] = []
        self._furniture_key: tuple | None = None
        self._light_map = self._make_light_map(width, height)
        self._noise_rng = np.random.default_rng(rng.integers(2**63))

    def _make_light_map(self, width: int, height: int) -> np.ndarray:
        """Static shading: vignetting and a gradient from the windows, times the colour temperature."""
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        r2 = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
        vignette = 1.0 - float(self.rng.uniform(0.2, 0.5)) * r2
        angle = float(self.rng.uniform(0, 2 * math.pi))
        ramp = ((xx / width - 0.5) * math.cos(angle) + (yy / height - 0.5) * math.sin(angle)).astype(np.float32)
        gradient = 1.0 + float(self.rng.uniform(0.05, 0.25)) * ramp
        gain = color_temperature_gain(self.lighting.kelvin).astype(np.float32)
        return (vignette * gradient)[..., None] * gain[None, None, :]

    def describe(self) -> dict[str, object]:
        return {"room": self.room.describe(), "camera": self.camera.describe(), "lighting": self.lighting.describe()}

    def _background(self, door_open: bool) -> Image.Image:
        key = (self.screen, door_open)
        if key != self._shell_key:
            self._shell = draw_shell(self.room, self.camera, screen=self.screen, door_open=door_open)
            self._shell_key = key
        assert self._shell is not None
        return self._shell

    def _furniture_parts(self) -> list[Part]:
        key = tuple(it.tilt for it in self.room.items)
        if key != self._furniture_key:  # static unless a chair topples: project once
            self._furniture = [p for it in self.room.items for p in it.parts(self.camera)]
            self._furniture_key = key
        return self._furniture

    def render(self) -> np.ndarray:
        """The scene as the camera sees it now: (H, W, 3) uint8 RGB."""
        return self._paint(self._background_now(), self._scene_parts())

    def render_with_mask(self) -> tuple[np.ndarray, np.ndarray]:
        """The frame and, (H, W) bool, where a person is visible in it (furniture in front hides them).

        The mask is the ground truth of the world model's occupancy indicator: which token cells hold a person.
        """
        parts = self._scene_parts()
        frame = self._paint(self._background_now(), parts)
        mask = Image.new("L", (self.camera.width, self.camera.height))
        _draw(ImageDraw.Draw(mask), [(part, 255 if person else 0) for part, person in parts])
        return frame, np.asarray(mask) > 127

    def _background_now(self) -> Image.Image:
        door_x, door_z = self.room.door
        someone_at_door = any(math.hypot(a.x - door_x, a.z - door_z) < 0.8 for a in self.scene.visible())
        return self._background(self.door_open or someone_at_door).copy()

    def _scene_parts(self) -> list[tuple[Part, bool]]:
        """Everything drawn over the room's shell, far to near, each with whether it is part of a person."""
        parts = [(part, False) for part in self._furniture_parts()]
        for actor in self.scene.visible():
            pose = actor.pose(self.scene.t)
            if actor.role.own_chair and actor.sit > 0.3:
                chair = Item(
                    "chair", chair_boxes(actor.x, actor.z, actor.heading, (90, 90, 96)), (actor.x, actor.z, 0.25)
                )
                parts.extend((part, False) for part in chair.parts(self.camera))
            parts.extend((part, True) for part in person_parts(self.camera, actor.look, pose))
        parts.sort(key=lambda entry: -entry[0].depth)
        return parts

    def _paint(self, image: Image.Image, parts: list[tuple[Part, bool]]) -> np.ndarray:
        _draw(ImageDraw.Draw(image), [(part, part.color) for part, _ in parts])
        return self._expose(np.asarray(image, dtype=np.float32))

    def _expose(self, pixels: np.ndarray) -> np.ndarray:
        level = self.lighting.level(self.scene.t) * (1.0 - 0.9 * self.lights_out)
        pixels *= self._light_map * np.float32(level)
        noise = self._noise_rng.standard_normal(pixels.shape, dtype=np.float32)
        pixels += noise * np.float32(self.lighting.noise)
        return np.clip(pixels, 0, 255).astype(np.uint8)


def _draw(draw: ImageDraw.ImageDraw, parts: list[tuple[Part, object]]) -> None:
    """The painter's pass: each part in the given order, in the given fill."""
    for part, fill in parts:
        if part.width:
            draw.line(part.points, fill=fill, width=part.width)  # type: ignore[arg-type]
        elif len(part.points) == 2:
            draw.ellipse(part.points, fill=fill)  # type: ignore[arg-type]
        else:
            draw.polygon(part.points, fill=fill)  # type: ignore[arg-type]

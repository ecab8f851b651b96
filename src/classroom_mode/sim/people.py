"""Articulated people: a skeleton posed from a few numbers, drawn as capsules, a torso and a head.

The pose is what the modes differ in, so it is explicit: where the person stands, which way they face,
how far they have sat down, the walk cycle, each arm's raise and elbow bend, the head's turn, and a
fall. Hair is drawn on the back of the head, so a face turned to the camera and a head turned away
look different even at a few pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from classroom_mode.sim.geometry import Color, Part, shade
from classroom_mode.sim.projection import PinholeCamera
from classroom_mode.sim.room import SEAT_HEIGHT

_SKIN = [(241, 204, 170), (224, 172, 130), (190, 130, 90), (140, 92, 60), (96, 62, 42)]
_HAIR = [(30, 24, 20), (70, 46, 30), (150, 110, 60), (200, 170, 110), (110, 110, 110), (120, 40, 24)]
_CLOTHES = [
    (200, 40, 40), (40, 80, 160), (40, 120, 70), (230, 200, 60), (240, 240, 236), (30, 30, 34), (120, 70, 140),
    (230, 120, 50), (90, 160, 200), (150, 150, 150), (170, 60, 100), (70, 60, 50),
]  # fmt: skip
_TROUSERS = [(40, 50, 80), (30, 30, 34), (90, 80, 70), (60, 90, 140), (160, 140, 110), (110, 40, 40)]


@dataclass(frozen=True)
class Look:
    """What a person looks like; fixed for their whole life in a clip or stream."""

    height: float
    build: float
    skin: Color
    hair: Color
    hair_size: float
    shirt: Color
    trousers: Color
    long_sleeves: bool

    @classmethod
    def random(cls, rng: np.random.Generator) -> Look:
        def jitter(colors: list[Color]) -> Color:
            base = np.array(colors[rng.integers(len(colors))], dtype=float)
            return tuple(int(v) for v in np.clip(base * rng.uniform(0.8, 1.15) + rng.normal(0, 8, 3), 0, 255))  # type: ignore[return-value]

        return cls(
            height=float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.98)),
            build=float(rng.uniform(0.85, 1.25)),
            skin=jitter(_SKIN),
            hair=jitter(_HAIR),
            hair_size=float(rng.uniform(1.0, 1.35)),
            shirt=jitter(_CLOTHES),
            trousers=jitter(_TROUSERS),
            long_sleeves=bool(rng.random() < 0.5),
        )


@dataclass(frozen=True)
class Pose:
    """One frame of a person: floor position, facing, and the joint angles that make them move."""

    x: float
    z: float
    heading: float
    """Radians; 0 faces +z (toward the back wall), pi faces the board."""
    sit: float = 0.0
    """0 standing … 1 seated."""
    walk_phase: float = 0.0
    walk: float = 0.0
    """0 … 1 how much of the walk cycle shows (legs and arm swing)."""
    arms: tuple[float, float, float, float] = (0.0, 0.0, 0.2, 0.2)
    """(left raise, right raise, left elbow bend, right elbow bend), radians; raise 0 hangs, pi/2 points ahead."""
    spread: float = 0.12
    head_yaw: float = 0.0
    lean: float = 0.0
    bob: float = 0.0
    fall: float = 0.0
    """0 upright … 1 lying on the floor."""


def joints(look: Look, pose: Pose) -> dict[str, np.ndarray]:
    """World positions of the skeleton's joints (metres)."""
    s, w = look.height / 1.75, look.build
    sit = pose.sit
    # local coordinates: (right, up, forward)
    pelvis = np.array([0.0, (1 - sit) * (0.95 * s + pose.bob) + sit * (SEAT_HEIGHT + 0.05), -0.08 * sit])
    thigh, shin = 0.46 * s, 0.46 * s
    out: dict[str, np.ndarray] = {"pelvis": pelvis}
    for side, sign in (("l", -1.0), ("r", 1.0)):
        hip = pelvis + np.array([sign * 0.09 * s * w, -0.02 * s, 0.0])
        swing = pose.walk * 0.45 * np.sin(pose.walk_phase + (0 if sign < 0 else np.pi))
        bend = pose.walk * 0.7 * max(0.0, -np.sin(pose.walk_phase + (0 if sign < 0 else np.pi)))
        stand_knee = hip + thigh * np.array([0.0, -np.cos(swing), np.sin(swing)])
        stand_foot = stand_knee + shin * np.array([0.0, -np.cos(swing - bend), np.sin(swing - bend)])
        sit_knee = hip + np.array([0.02 * sign, 0.02, thigh])
        sit_foot = np.array([hip[0] + 0.04 * sign, 0.05, sit_knee[2] + 0.05])
        out[f"hip_{side}"] = hip
        out[f"knee_{side}"] = (1 - sit) * stand_knee + sit * sit_knee
        out[f"foot_{side}"] = (1 - sit) * stand_foot + sit * sit_foot
    lean = pose.lean + 0.05 * sit
    neck = pelvis + 0.53 * s * np.array([0.0, np.cos(lean), np.sin(lean)])
    out["neck"] = neck
    out["head"] = neck + np.array([0.0, 0.14 * s, 0.02 * s])
    yaw = pose.head_yaw
    out["hair"] = out["head"] + s * np.array([-0.035 * np.sin(yaw), 0.03, -0.035 * np.cos(yaw)])
    for i, (side, sign) in enumerate((("l", -1.0), ("r", 1.0))):
        shoulder = neck + np.array([sign * 0.19 * s * w, -0.05 * s, 0.0])
        raise_, bend = pose.arms[i], pose.arms[2 + i]
        swing = -pose.walk * 0.35 * np.sin(pose.walk_phase + (0 if sign < 0 else np.pi))
        raise_ = raise_ + swing
        upper = np.array([sign * np.sin(pose.spread), -np.cos(raise_) * np.cos(pose.spread), np.sin(raise_)])
        elbow = shoulder + 0.29 * s * upper / np.linalg.norm(upper)
        fore = np.array([sign * 0.3 * np.sin(pose.spread), -np.cos(raise_ + bend), np.sin(raise_ + bend)])
        out[f"shoulder_{side}"] = shoulder
        out[f"elbow_{side}"] = elbow
        out[f"hand_{side}"] = elbow + 0.27 * s * fore / np.linalg.norm(fore)
    names = list(out)
    local = np.stack([out[n] for n in names])
    if pose.fall > 0:  # tip the whole body forward about the feet, then lift it onto the floor
        phi = pose.fall * np.pi / 2
        u, f = local[:, 1].copy(), local[:, 2].copy()
        local[:, 1] = u * np.cos(phi) - f * np.sin(phi) + 0.12 * pose.fall
        local[:, 2] = u * np.sin(phi) + f * np.cos(phi)
    fwd = np.array([np.sin(pose.heading), 0.0, np.cos(pose.heading)])
    right = np.array([-np.cos(pose.heading), 0.0, np.sin(pose.heading)])
    world = np.array([pose.x, 0.0, pose.z]) + np.outer(local[:, 0], right) + np.outer(local[:, 2], fwd)
    world[:, 1] = local[:, 1]
    return dict(zip(names, world, strict=True))


_LIMBS = (  # (from joint, to joint, colour, thickness, colour of the rounded end, its radius), metres at 1.75 m
    ("hip", "knee", "trousers", 0.15, "trousers", 0.075),
    ("knee", "foot", "trousers", 0.12, "shoe", 0.065),
    ("shoulder", "elbow", "shirt", 0.1, "shirt", 0.05),
    ("elbow", "hand", "sleeve", 0.08, "skin", 0.05),
)
_SHOE = (36, 32, 30)


def person_parts(camera: PinholeCamera, look: Look, pose: Pose) -> list[Part]:
    """Drawable parts of one person, each with its own depth so limbs pass in front of and behind things."""
    j = joints(look, pose)
    names = list(j)
    uv, dist = camera.project(np.stack([j[n] for n in names]))
    if np.any(camera.to_camera(np.stack([j["head"], j["pelvis"]]))[:, 2] < 0.3):
        return []  # a person brushing past the lens: skip rather than draw a wall of colour
    at = {n: (tuple(uv[i]), float(dist[i])) for i, n in enumerate(names)}
    s, w = look.height / 1.75, look.build
    colors = {
        "trousers": look.trousers,
        "shirt": look.shirt,
        "sleeve": look.shirt if look.long_sleeves else look.skin,
        "skin": look.skin,
        "shoe": _SHOE,
    }
    parts: list[Part] = []

    def px(metres: float, depth: float) -> int:
        return max(1, round(camera.focal * metres / depth))

    for a, b, cloth, thickness, end, radius in _LIMBS:
        for side in ("l", "r"):
            (pa, da), (pb, db) = at[f"{a}_{side}"], at[f"{b}_{side}"]
            depth = (da + db) / 2
            width = px(thickness * s * (w if cloth != "sleeve" else 1), depth)
            parts.append(Part(depth, [pa, pb], colors[cloth], width))
            parts.append(Part(db - 0.01, _disc(pb, px(radius * s, db)), colors[end]))
    torso = [at[k] for k in ("shoulder_l", "shoulder_r", "hip_r", "hip_l")]  # in order round the quad
    torso_depth = sum(d for _, d in torso) / 4
    parts.append(Part(torso_depth, [p for p, _ in torso], look.shirt))
    parts.append(
        Part(torso_depth, [at["neck"][0], at["pelvis"][0]], shade(look.shirt, 0.92), px(0.24 * s * w, torso_depth))
    )
    head_uv, head_d = at["head"]
    hair_uv, hair_d = at["hair"]
    r_head = px(0.105 * s, head_d)
    head_parts = [
        Part(head_d, _disc(head_uv, r_head), look.skin),
        Part(hair_d, _disc(hair_uv, px(0.1 * s * look.hair_size, hair_d)), look.hair),
    ]
    head_parts.sort(key=lambda p: -p.depth)  # hair behind the face when the face is toward the camera
    parts.extend(Part(head_d - 0.05 - 0.001 * i, p.points, p.color) for i, p in enumerate(head_parts))
    return parts


def _disc(centre: tuple[float, float], radius: int) -> list[tuple[float, float]]:
    """A disc as its bounding box (drawn with `ellipse` when a part has exactly two points and width 0)."""
    x, y = centre
    return [(x - radius, y - radius), (x + radius, y + radius)]

"""People with intentions: where each one wants to be, and how they move there, frame after frame.

A mode is not drawn, it is *directed*: the director for a mode hands every person a spot, a facing, a
posture and a way of moving (pacing, gesturing, listening), and the scene walks them there. The same
scene continues across a mode change: people who are no longer needed walk out through the door,
new ones walk in, the rest get up and rearrange over a few seconds. A clip is the same machinery
started with everyone already in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from classroom_mode.errors import UserError
from classroom_mode.sim.people import Look, Pose
from classroom_mode.sim.room import FRONT_ZONE, Room

MODES = ("empty", "solo", "group", "presentation")
"""The room modes the simulator knows how to direct."""

CROWD = (4, 14)
"""People in a group or presentation scene (inclusive): the same range for both, so a count cannot separate them."""


def check_modes(modes: list[str] | tuple[str, ...]) -> list[str]:
    """The modes as given, or a UserError naming the unknown one and the known ones."""
    for mode in modes:
        if mode not in MODES:
            raise UserError(f"mode {mode!r}: the simulator knows only {', '.join(MODES)}")
    if not modes:
        raise UserError("modes: at least one mode is needed")
    return list(modes)


@dataclass
class Role:
    """What a director asks of one person."""

    name: str
    x: float
    z: float
    heading: float
    sit: bool = False
    own_chair: bool = False
    gesture: float = 0.1
    """0 still … 1 talking with the hands."""
    fidget: float = 0.1
    speed: float = 1.2
    dance: bool = False
    group: int = -1


@dataclass
class Actor:
    pid: int
    look: Look
    role: Role
    x: float
    z: float
    heading: float
    sit: float = 0.0
    walk: float = 0.0
    walk_phase: float = 0.0
    head_yaw: float = 0.0
    look_at: tuple[float, float] | None = None
    leaving: bool = False
    placed: bool = True
    """Reached the spot the current mode first gave them (later wandering within the mode does not unset it)."""
    enter_at: float = 0.0
    fall: float = 0.0
    falling_until: float = -1.0
    raise_hand_until: float = -1.0
    talking: bool = False
    tempo: float = 1.0
    phase: float = 0.0
    arms: tuple[float, float, float, float] = (0.0, 0.0, 0.2, 0.2)

    @property
    def arrived(self) -> bool:
        return math.hypot(self.role.x - self.x, self.role.z - self.z) < 0.08

    def pose(self, t: float) -> Pose:
        bob = 0.05 * math.sin(2 * math.pi * 1.8 * t + self.phase) if self.role.dance else 0.0
        lean = 0.12 if self.sit > 0.5 and self.role.gesture < 0.1 else 0.0
        return Pose(
            self.x, self.z, self.heading, self.sit, self.walk_phase, self.walk, self.arms,
            0.12 + (0.4 if self.role.dance else 0.0), self.head_yaw, lean, bob, self.fall,
        )  # fmt: skip


@dataclass
class Scene:
    """The room's people and the clock; `step` advances everyone by one frame."""

    room: Room
    rng: np.random.Generator
    actors: list[Actor] = field(default_factory=list)
    t: float = 0.0
    mode: str = "empty"
    director: Director | None = None
    _next_pid: int = 0

    def new_actor(self, role: Role, *, at_door: bool, enter_at: float = 0.0) -> Actor:
        x, z = self.room.door if at_door else (role.x, role.z)
        actor = Actor(
            pid=self._next_pid, look=Look.random(self.rng), role=role, x=x, z=z,
            heading=role.heading if not at_door else (math.pi / 2 if self.room.door_x == 0 else -math.pi / 2),
            sit=1.0 if role.sit and not at_door else 0.0, enter_at=enter_at,
            tempo=float(self.rng.uniform(0.6, 1.6)), phase=float(self.rng.uniform(0, 2 * math.pi)),
        )  # fmt: skip
        self._next_pid += 1
        self.actors.append(actor)
        return actor

    def direct(self, mode: str, *, settled: bool) -> None:
        """Hand the scene to `mode`'s director; `settled` puts everyone in place at once (a clip's first frame)."""
        self.mode = mode
        self.director = DIRECTORS[mode](self.room, self.rng)
        roles = self.director.roles()
        present = [a for a in self.actors if not a.leaving]
        if settled:
            self.actors = []
            for role in roles:
                self.new_actor(role, at_door=False)
            return
        free = list(range(len(roles)))
        for actor in present:  # nearest free role for everyone already here; the rest leave
            if not free:
                actor.leaving = True
                dx, dz = self.room.door
                actor.role = Role("leaving", dx, dz, 0.0, speed=actor.role.speed)
                continue
            best = min(free, key=lambda i: math.hypot(roles[i].x - actor.x, roles[i].z - actor.z))
            free.remove(best)
            actor.role, actor.placed = roles[best], False
        for k, i in enumerate(free):
            self.new_actor(roles[i], at_door=True, enter_at=self.t + 0.7 * k).placed = False

    def step(self, dt: float) -> None:
        """Advance the clock by `dt` seconds: directors update intentions, then everyone moves."""
        self.t += dt
        if self.director is not None:
            self.director.update(self, dt)
        for actor in self.actors:
            if actor.enter_at <= self.t:
                _move(actor, dt, self.t)
                actor.placed = actor.placed or actor.arrived
        self.actors = [a for a in self.actors if not (a.leaving and a.arrived)]

    @property
    def settled(self) -> bool:
        """Everyone the mode wants is in place and everyone it does not want has left: the room *looks* like its mode.

        Between a mode change and this moment people are still walking in or out, so the picture is
        ambiguous; a labelled clip cut then would teach the probe the wrong thing.
        """
        return all(a.placed and not a.leaving for a in self.actors)

    def visible(self) -> list[Actor]:
        return [a for a in self.actors if a.enter_at <= self.t]


def _turn(current: float, target: float, max_step: float) -> float:
    diff = (target - current + math.pi) % (2 * math.pi) - math.pi
    return current + max(-max_step, min(max_step, diff))


def _move(actor: Actor, dt: float, t: float) -> None:
    role = actor.role
    dx, dz = role.x - actor.x, role.z - actor.z
    dist = math.hypot(dx, dz)
    if actor.falling_until > t or actor.fall > 0:  # a fall overrides everything until they get up
        actor.fall = min(1.0, actor.fall + dt / 0.6) if actor.falling_until > t else max(0.0, actor.fall - dt / 1.5)
        actor.walk = max(0.0, actor.walk - 4 * dt)
        return
    actor.arms = _arms(actor, t)
    actor.head_yaw = _head(actor, t)
    if dist > 0.08:
        if actor.sit > 0:  # stand up before walking off
            actor.sit = max(0.0, actor.sit - dt / 0.8)
            return
        actor.heading = _turn(actor.heading, math.atan2(dx, dz), 5.0 * dt)
        err = abs((math.atan2(dx, dz) - actor.heading + math.pi) % (2 * math.pi) - math.pi)
        step = min(dist, role.speed * dt * max(0.0, math.cos(err)))
        actor.x += step * dx / dist
        actor.z += step * dz / dist
        actor.walk = min(1.0, actor.walk + 4 * dt)
        actor.walk_phase += 2 * math.pi * step / (0.75 * actor.look.height / 1.75 * (1.6 if role.speed > 2.5 else 1))
    else:
        actor.walk = max(0.0, actor.walk - 4 * dt)
        actor.heading = _turn(actor.heading, role.heading, 3.0 * dt)
        if role.sit and abs((role.heading - actor.heading + math.pi) % (2 * math.pi) - math.pi) < 0.5:
            actor.sit = min(1.0, actor.sit + dt / 0.8)


def _arms(actor: Actor, t: float) -> tuple[float, float, float, float]:
    """Arm angles from the role's gesture level, with a per-person tempo so no two people move in step."""
    role, w = actor.role, actor.tempo
    if actor.raise_hand_until > t:
        return (0.1, 2.9, 0.3, 0.1)
    if role.dance:
        lift = 1.6 + 1.1 * math.sin(2 * math.pi * 0.9 * w * t + actor.phase)
        return (lift, 3.0 - lift * 0.6, 0.6, 0.8 + 0.4 * math.sin(3 * t))
    g = (role.gesture + (0.35 if actor.talking else 0.0)) * (
        0.6 + 0.4 * math.sin(0.7 * w * t + actor.phase)
    )  # bursts of talking
    resting = 0.55 * actor.sit  # hands on the desk or lap when seated
    left = resting + g * (0.9 + 0.5 * math.sin(2 * math.pi * 0.8 * w * t + actor.phase))
    right = resting + g * (1.0 + 0.6 * math.sin(2 * math.pi * 1.1 * w * t + 2 * actor.phase))
    bend = 0.25 + 0.9 * g
    return (left, right, bend + 0.3 * actor.sit, bend + 0.2 * g * math.sin(5 * w * t) + 0.3 * actor.sit)


def _head(actor: Actor, t: float) -> float:
    """Head yaw relative to the body: toward whoever they listen to, plus a fidget."""
    yaw = actor.role.fidget * 0.6 * math.sin(0.5 * actor.tempo * t + actor.phase)
    if actor.look_at is not None:
        want = math.atan2(actor.look_at[0] - actor.x, actor.look_at[1] - actor.z)
        rel = (want - actor.heading + math.pi) % (2 * math.pi) - math.pi
        yaw += max(-1.2, min(1.2, rel))
    return yaw


class Director:
    """A mode's script: the roles it casts and how it nudges them as time passes."""

    def __init__(self, room: Room, rng: np.random.Generator) -> None:
        self.room, self.rng = room, rng

    def roles(self) -> list[Role]:
        return []

    def update(self, scene: Scene, dt: float) -> None:
        """Called every frame before people move; the default leaves everyone to their role."""

    def _every(self, mean_s: float, dt: float) -> bool:
        return bool(self.rng.random() < dt / mean_s)

    def _free_spot(
        self, margin: float, *, z_min: float = 0.8, avoid: Sequence[tuple[float, float, float]] = ()
    ) -> tuple[float, float]:
        """A floor point `margin` clear of furniture, walls and the circles in `avoid` (else the clearest tried)."""
        best, best_clear = (self.room.width / 2, self.room.depth / 2), -1e9
        for _ in range(60):
            x = float(self.rng.uniform(0.7, self.room.width - 0.7))
            z = float(self.rng.uniform(z_min, self.room.depth - 0.7))
            clear = min([self.room.clearance(x, z), *(math.hypot(x - ax, z - az) - ar for ax, az, ar in avoid)])
            if clear > margin:
                return x, z
            if clear > best_clear:
                best, best_clear = (x, z), clear
        return best


class EmptyDirector(Director):
    pass


class SoloDirector(Director):
    """One person: wandering, pacing, dancing, or working at a desk and getting up now and then."""

    def __init__(self, room: Room, rng: np.random.Generator) -> None:
        super().__init__(room, rng)
        self.style = str(rng.choice(["wander", "pace", "dance", "desk"], p=[0.35, 0.25, 0.2, 0.2]))
        self.points = [self._free_spot(0.4) for _ in range(2)]

    def roles(self) -> list[Role]:
        x, z = self.points[0]
        heading = float(self.rng.uniform(-math.pi, math.pi))
        if self.style == "desk":
            seat = self.room.seats[self.rng.integers(len(self.room.seats))]
            return [Role("solo", seat.x, seat.z, seat.heading, sit=True, gesture=0.15, fidget=0.5)]
        speed = float(self.rng.uniform(0.7, 1.5))
        return [Role("solo", x, z, heading, gesture=0.3, fidget=0.6, speed=speed, dance=self.style == "dance")]

    def update(self, scene: Scene, dt: float) -> None:
        for actor in scene.actors:
            if actor.leaving:
                continue
            role = actor.role
            if self.style == "dance" and self._every(2.5, dt):
                role.x = float(np.clip(role.x + self.rng.normal(0, 0.4), 0.7, self.room.width - 0.7))
                role.z = float(np.clip(role.z + self.rng.normal(0, 0.4), 0.7, self.room.depth - 0.7))
                role.heading = float(self.rng.uniform(-math.pi, math.pi))
            elif self.style == "pace" and actor.arrived and self._every(0.8, dt):
                self.points.reverse()
                role.x, role.z = self.points[0]
                role.heading = math.atan2(self.points[1][0] - role.x, self.points[1][1] - role.z)
            elif self.style == "wander" and actor.arrived and self._every(1.5, dt):
                role.x, role.z = self._free_spot(0.4)
            elif self.style == "desk" and self._every(12.0, dt):  # get up for a moment, or go back
                if role.sit:
                    role.sit, (role.x, role.z) = False, self._free_spot(0.4)
                else:
                    seat = self.room.seats[self.rng.integers(len(self.room.seats))]
                    role.x, role.z, role.heading, role.sit = seat.x, seat.z, seat.heading, True


class GroupDirector(Director):
    """2–4 clusters of 2–5 people facing each other, standing or seated, taking turns to talk."""

    def __init__(self, room: Room, rng: np.random.Generator, count: int | None = None) -> None:
        super().__init__(room, rng)
        n = count if count is not None else int(rng.integers(CROWD[0], CROWD[1] + 1))
        ks = [k for k in (2, 3, 4) if 2 * k <= n <= 5 * k]
        k = int(rng.choice(ks))
        sizes = [2] * k
        for _ in range(n - 2 * k):
            sizes[int(rng.choice([i for i in range(k) if sizes[i] < 5]))] += 1
        self.sizes = sizes
        self.speakers = [0] * k
        self.centres: list[tuple[float, float, float]] = []
        self.standing: list[int] = []
        """Clusters whose members stand: someone may drift from one to another."""

    def roles(self) -> list[Role]:
        roles: list[Role] = []
        islands = [it for it in self.room.items if it.kind == "desk"] if self.room.layout == "islands" else []
        for g, size in enumerate(self.sizes):
            seated = self.rng.random() < 0.5
            if seated and islands and self.rng.random() < 0.7:  # work around an island's table
                island = islands.pop(int(self.rng.integers(len(islands))))
                cx, cz, _ = island.footprint
                seats = [s for s in self.room.seats if math.hypot(s.x - cx, s.z - cz) < 1.3][:size]
                roles += [
                    Role("member", s.x, s.z, s.heading, sit=True, gesture=0.4, fidget=0.5, group=g) for s in seats
                ]
                self.centres.append((cx, cz, 1.0))
                continue
            if not seated:
                self.standing.append(g)
            radius = 0.45 + 0.1 * size + (0.25 if seated else 0.0)
            cx, cz = self._free_spot(radius + 0.3, z_min=0.9, avoid=[(x, z, r + 0.8) for x, z, r in self.centres])
            self.centres.append((cx, cz, radius))
            start = float(self.rng.uniform(0, 2 * math.pi))
            for m in range(size):
                a = start + 2 * math.pi * m / size + float(self.rng.normal(0, 0.25))
                r = radius * float(self.rng.uniform(0.85, 1.15))
                x, z = cx + r * math.sin(a), cz + r * math.cos(a)
                heading = a + math.pi + float(self.rng.normal(0, 0.2))
                roles.append(
                    Role("member", x, z, heading, sit=seated, own_chair=seated,
                         gesture=float(self.rng.uniform(0.25, 0.7)), fidget=0.6, group=g)
                )  # fmt: skip
        return roles

    def update(self, scene: Scene, dt: float) -> None:
        members = [a for a in scene.actors if not a.leaving and a.role.group >= 0]
        for g in range(len(self.sizes)):
            group = [a for a in members if a.role.group == g]
            if not group:
                continue
            if self._every(3.0, dt):
                self.speakers[g] = int(self.rng.integers(len(group)))
            speaker = group[self.speakers[g] % len(group)]
            for actor in group:
                actor.talking = actor is speaker
                actor.look_at = None if actor is speaker else (speaker.x, speaker.z)
                if not actor.role.sit and self._every(6.0, dt):  # small shifts of weight and place
                    actor.role.x += float(self.rng.normal(0, 0.08))
                    actor.role.z += float(self.rng.normal(0, 0.08))
        if len(self.standing) >= 2 and self._every(10.0, dt):  # someone wanders over to another circle
            self._drift([a for a in members if a.role.group in self.standing])

    def _drift(self, standing: list[Actor]) -> None:
        sizes = {g: sum(a.role.group == g for a in standing) for g in self.standing}
        movers = [a for a in standing if sizes[a.role.group] > 2]
        if not movers:
            return
        actor = movers[int(self.rng.integers(len(movers)))]
        target = int(self.rng.choice([g for g in self.standing if g != actor.role.group]))
        cx, cz, radius = self.centres[target]
        a = float(self.rng.uniform(0, 2 * math.pi))
        role = actor.role
        role.x, role.z, role.heading, role.group = (
            cx + radius * math.sin(a),
            cz + radius * math.cos(a),
            a + math.pi,
            target,
        )


class PresentationDirector(Director):
    """One presenter at the front, moving and gesturing; an audience seated facing the front, nearly still."""

    def __init__(self, room: Room, rng: np.random.Generator, count: int | None = None) -> None:
        super().__init__(room, rng)
        self.count = count if count is not None else int(rng.integers(CROWD[0], CROWD[1] + 1))

    def _front_spot(self) -> tuple[float, float]:
        return float(self.rng.uniform(1.0, self.room.width - 1.0)), float(self.rng.uniform(0.7, FRONT_ZONE - 0.4))

    def roles(self) -> list[Role]:
        x, z = self._front_spot()
        presenter = Role("presenter", x, z, float(self.rng.normal(0, 0.4)), gesture=float(self.rng.uniform(0.5, 1.0)),
                         fidget=0.4, speed=float(self.rng.uniform(0.6, 1.1)))  # fmt: skip
        seats = self.room.seats
        noise = self.rng.normal(0, 1.5, len(seats))  # fill the front rows first, loosely
        chosen = sorted(range(len(seats)), key=lambda i: seats[i].z + noise[i])[: self.count - 1]
        audience = []
        for i in chosen:
            seat = seats[i]
            facing = math.atan2(self.room.width / 2 - seat.x, 0.5 - seat.z) + float(self.rng.normal(0, 0.1))
            audience.append(Role("audience", seat.x, seat.z, facing, sit=True, gesture=0.02, fidget=0.12))
        return [presenter, *audience]

    def update(self, scene: Scene, dt: float) -> None:
        presenter = next((a for a in scene.actors if a.role.name == "presenter"), None)
        for actor in scene.actors:
            if actor.role.name == "audience":
                actor.look_at = (presenter.x, presenter.z) if presenter is not None else None
                if self._every(40.0, dt):  # a question
                    actor.raise_hand_until = scene.t + float(self.rng.uniform(1.5, 3.0))
        if presenter is not None and presenter.arrived and self._every(3.0, dt):
            role = presenter.role
            if self.rng.random() < 0.25:  # turn to the board for a moment
                role.heading = math.pi + float(self.rng.normal(0, 0.3))
            else:
                role.x, role.z = self._front_spot()
                role.heading = float(self.rng.normal(0, 0.5))


DIRECTORS: dict[str, type[Director]] = {
    "empty": EmptyDirector,
    "solo": SoloDirector,
    "group": GroupDirector,
    "presentation": PresentationDirector,
}

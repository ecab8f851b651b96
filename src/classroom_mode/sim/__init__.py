"""The classroom simulator: labelled synthetic footage with ground truth, for tests, training and the demo.

`render_clip` makes one labelled clip, `generate_dataset` a folder of them with a manifest,
`render_stream` a long video whose mode changes over a timeline (with injected events), and
`camera.SimCamera` plays a timeline as a live camera.
"""

from classroom_mode.sim.clips import check_render_args, generate_dataset, parse_size, render_clip
from classroom_mode.sim.manifest import load_manifest
from classroom_mode.sim.scene import MODES, check_modes
from classroom_mode.sim.sheet import contact_sheet
from classroom_mode.sim.stream import EVENT_KINDS, parse_events, parse_timeline, render_stream, sidecar_path

__all__ = [
    "EVENT_KINDS",
    "MODES",
    "check_modes",
    "check_render_args",
    "contact_sheet",
    "generate_dataset",
    "load_manifest",
    "parse_events",
    "parse_size",
    "parse_timeline",
    "render_clip",
    "render_stream",
    "sidecar_path",
]

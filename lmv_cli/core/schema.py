"""The UE4 export layout (docs/capture.md#the-ue4-export): one definition used by every command and by the
`ue4/` capture sources (a test checks that they agree).

An export scene is `<scene>/<Folder>/frame_<k>.EXR`, k = 0, 1, 2, … without zero padding. Every file
is a single-part RGBA EXR (float32, half accepted); only some channels carry meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

FRAME_NAME = re.compile(r"^frame_(\d+)\.exr$", re.IGNORECASE)
"""File names of export frames; the extension is matched in any case (UE writes `.EXR`)."""

SKY_DEPTH_CM = 1.0e6
"""Depth UE-like captures write for sky pixels (and SkyDepth everywhere), cm."""


class Kind(str, Enum):
    """What a buffer holds; decides range checks and whether lossy compression hurts."""

    COLOR = "color"  # linear HDR radiance, >= 0
    ALPHA = "alpha"  # in [0, 1]
    GBUFFER = "gbuffer"  # material/geometry data; lossy compression damages it
    VELOCITY_DEPTH = "velocity_depth"
    DEPTH = "depth"  # cm, > 0
    NORMAL = "normal"  # unit vectors in [-1, 1]
    POSITION = "position"  # cm


@dataclass(frozen=True)
class Channel:
    """One meaningful channel of a buffer file."""

    name: str  # EXR channel name: R, G, B or A
    meaning: str
    unit: str = ""


@dataclass(frozen=True)
class Buffer:
    """One buffer folder of the export."""

    folder: str
    kind: Kind
    channels: tuple[Channel, ...]
    meaning: str
    required: bool = True

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)


def _rgb(meaning: str, unit: str = "") -> tuple[Channel, ...]:
    return tuple(Channel(c, f"{meaning} ({c})", unit) for c in "RGB")


BUFFERS: tuple[Buffer, ...] = (
    Buffer("SceneColor", Kind.COLOR, _rgb("final linear HDR colour incl. separate translucency"),
           "final linear HDR colour, with translucency"),
    Buffer("SceneColorNoST", Kind.COLOR, _rgb("linear HDR colour without separate translucency"),
           "the same without separate translucency: (PPI0 - ST.rgb) / ST.a before tonemapping"),
    Buffer("STAlpha", Kind.ALPHA, (Channel("R", "separate-translucency transmittance (1 = nothing in front)"),),
           "translucency transmittance"),
    Buffer("SkyColor", Kind.COLOR, _rgb("sky radiance (sky-only render)"),
           "sky radiance at every pixel, also behind geometry"),
    Buffer("SkyDepth", Kind.DEPTH, (Channel("R", "planar depth of the sky-only render", "cm"),),
           "depth of the sky-only render"),
    Buffer("BaseColor", Kind.GBUFFER, _rgb("base colour, linear; 0 on sky"), "GBuffer base colour"),
    Buffer("MetallicRoughnessStencil", Kind.GBUFFER,
           (Channel("R", "metallic"), Channel("G", "roughness"), Channel("B", "custom stencil", "0-255")),
           "metallic, roughness, custom stencil"),
    Buffer("NoVSpecular", Kind.GBUFFER,
           (Channel("R", "N.V, not clamped"), Channel("G", "UE specular (default 0.5)")),
           "N.V and UE specular"),
    Buffer("VelocityDepth", Kind.VELOCITY_DEPTH,
           (Channel("R", "velocity x = current - previous NDC x (full width 2, x right)", "NDC"),
            Channel("G", "velocity y = current - previous NDC y (full height 2, y up)", "NDC"),
            Channel("B", "planar scene depth", "cm")),
           "screen-space velocity and planar depth"),
    Buffer("WorldNormal", Kind.NORMAL, _rgb("world-space normal in [-1, 1]"), "world-space normal"),
    Buffer("WorldPosition", Kind.POSITION, _rgb("absolute world position", "cm"),
           "absolute world position", required=False),
)

BUFFERS_BY_FOLDER: dict[str, Buffer] = {b.folder: b for b in BUFFERS}
REQUIRED_FOLDERS: tuple[str, ...] = tuple(b.folder for b in BUFFERS if b.required)

LOSSY_COMPRESSIONS = frozenset({"DWAA", "DWAB", "B44", "B44A", "PXR24"})
"""EXR codecs that change G-buffer values (ecosystem notes §1.2)."""


def frame_path_name(k: int) -> str:
    """File name UE writes for exported frame k."""
    return f"frame_{k}.EXR"

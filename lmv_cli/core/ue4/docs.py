"""`ue4/Materials.md`: every capture and material node graph written out as text.

One section per buffer (`## \\`Folder\\``) with a channel table `| channel | fed by | meaning | unit |`
whose meaning and unit columns come from the schema; `lmv_cli.core.ue4.check` parses these tables back.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmv_cli.core.schema import SKY_DEPTH_CM, Buffer
from lmv_cli.core.ue4.generate import REGENERATE, paired
from lmv_cli.core.ue4.spec import MATERIAL_ROOT, CaptureSpec, Enum, MaterialGraph, Node

CHANNEL_HEADER = "| channel | fed by | meaning | unit |"

_GENERATED = f"Generated from lmv_cli/core/schema.py and lmv_cli/core/ue4/spec.py by `{REGENERATE}`; do not edit."
_PREAMBLE = f"""<!-- {_GENERATED} -->
# Captures and post-process materials of the LMV capture

Every buffer folder is rendered by its own `USceneCaptureComponent2D` with capture source
`SCS_FinalColorHDR` into an `RTF_RGBA32f` render target, and written as float RGBA EXR. A buffer either
takes that image as it is (SceneColor, SkyColor) or applies one post-process material, listed below
with its whole node graph. `Scripts/create_materials.py` builds these graphs in the editor from
`Scripts/lmv_materials.json` (same content as this file) under `{MATERIAL_ROOT}`.

Settings shared by every material:

- **Material Domain** = Post Process; **Shading Model** = Unlit; **Allow Negative Emissive Color** = on.
  Velocity, normals and N·V are signed; without the flag UE clamps the emissive output to >= 0.
- **Blendable Location** `BL_ReplacingTonemapper`: the material replaces the tonemapper, so its emissive
  value reaches the float render target untouched (no exposure, no tone curve). `BL_BeforeTonemapping`
  (SceneColorNoST only): the material replaces the HDR scene colour and exposure then applies to it
  exactly as it does to SceneColor.
- SceneTexture nodes read unfiltered (`filtered` = off). Data captures render without anti-aliasing, so
  the G-buffer they read is not jittered.
- Depths are planar scene depth in cm, clamped to {SKY_DEPTH_CM:.0f} cm (the schema's sky depth): where
  nothing is rendered (a SkyAtmosphere sky) the engine's scene depth is a meaningless huge number.

Node notation: `name = Expression(property=value, ...) <- pin: source`; a source is a node name
(first output) or `node:Output`; pin `""` is the only input of single-input nodes. The last line
of each graph names the node that feeds **Emissive Color**.
"""


def _value(value: object) -> str:
    if isinstance(value, Enum):
        return f"{value.enum}.{value.value}"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _node_line(node: Node) -> list[str]:
    settings = [f"{k}={_value(v)}" for k, v in node.settings if k != "code"]
    inputs = ", ".join(f'{pin or chr(34) * 2}: {source}' for pin, source in node.inputs)
    line = f"- `{node.name}` = {node.expression}({', '.join(settings)})" + (f" <- {inputs}" if inputs else "")
    code = dict(node.settings).get("code")
    if code is None:
        return [line]
    return [line, "", "  ```hlsl", *(f"  {row}" for row in str(code).splitlines()), "  ```", ""]


def _graph_lines(graph: MaterialGraph) -> list[str]:
    lines = [f"Material `{graph.asset}` at `{graph.location}` ({graph.path}):", ""]
    for node in graph.nodes:
        lines += _node_line(node)
    return [*lines, f"- **Emissive Color** <- `{graph.emissive}`", ""]


def _section(buffer: Buffer, spec: CaptureSpec) -> list[str]:
    what = "the sky actors only" if spec.sky_only else "every actor"
    aa = "the manager's AntiAliasing setting" if spec.anti_aliased else "no anti-aliasing"
    source = "the raw `SCS_FinalColorHDR` image, no material" if spec.material is None else "a post-process material"
    meaning = buffer.meaning[:1].upper() + buffer.meaning[1:]
    lines = [f"## `{buffer.folder}`", "", f"{meaning}{'' if buffer.required else ' (optional buffer)'}. "
             f"Renders {what} with {aa}; output is {source}.", ""]
    if spec.note:
        lines += [spec.note, ""]
    lines += [CHANNEL_HEADER, "|---|---|---|---|"]
    fed = dict(spec.channels)
    lines += [f"| {c.name} | {fed.get(c.name, '(nothing)')} | {c.meaning} | {c.unit} |" for c in buffer.channels]
    lines.append("")
    return lines + (_graph_lines(spec.material) if spec.material else [])


def materials_doc(buffers: Sequence[Buffer], specs: Sequence[CaptureSpec]) -> str:
    """The full text of `ue4/Materials.md`."""
    lines = [_PREAMBLE]
    for buffer, spec in paired(buffers, specs):
        lines += _section(buffer, spec)
    return "\n".join(lines).rstrip("\n") + "\n"

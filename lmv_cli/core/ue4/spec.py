"""How each buffer of the export is captured in Unreal (docs/capture.md#the-original-capture-code), as data.

One `CaptureSpec` per schema buffer (`lmv_cli.core.schema.BUFFERS`, matched by folder name): whether a
post-process material is applied and its node graph, whether only the sky actors are rendered, whether
anti-aliasing applies, and what feeds each EXR channel. The files under `ue4/` (capture items, the C++
buffer table, the material graphs for the editor script, the material documentation) are generated
from these specs plus the schema by `lmv_cli.core.ue4.generate`; `lmv_cli.core.ue4.check` verifies that
the committed files still agree with both.

Corrections against the original materials (docs/capture.md#the-original-capture-code): SceneColor and SkyColor are raw
`SCS_FinalColorHDR` captures (no material: the original's TestMaterial/SkyBoxMaterial were never applied);
depth is raw centimetres clamped to `SKY_DEPTH_CM` (no abandoned 2×8-bit encoding); N·V is not clamped;
SceneColorNoST guards the division and clamps tiny negative results; the far background gets the
camera-only velocity the engine's fallback path reconstructs wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmv_cli.core.schema import SKY_DEPTH_CM

MATERIAL_ROOT = "/Game/LmvCapture/Materials"
"""Content folder the editor script creates the materials in (and the default capture items point to)."""
REPLACING_TONEMAPPER = "BL_ReplacingTonemapper"  # output = raw emissive, written as float to the target
BEFORE_TONEMAPPING = "BL_BeforeTonemapping"  # output replaces the HDR scene colour, then exposure etc. apply


@dataclass(frozen=True)
class Enum:
    """A UE enum value, written `unreal.<enum>.<value>` in editor Python."""

    enum: str
    value: str


@dataclass(frozen=True)
class Node:
    """One material expression.

    `expression` is the UE class without its `MaterialExpression` prefix; `settings` are editor
    properties (Python names); `inputs` map an input pin ("" = the only/first pin) to a source,
    `node` (first output) or `node:Output`.
    """

    name: str
    expression: str
    settings: tuple[tuple[str, object], ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MaterialGraph:
    """A post-process material: where it runs and which node feeds Emissive Color."""

    asset: str
    location: str
    nodes: tuple[Node, ...]
    emissive: str

    @property
    def path(self) -> str:
        """Object path of the asset, as UE writes it in soft references."""
        return f"{MATERIAL_ROOT}/{self.asset}.{self.asset}"


@dataclass(frozen=True)
class CaptureSpec:
    """How one buffer folder is captured; `channels` pairs an EXR channel with what feeds it in UE."""

    folder: str
    channels: tuple[tuple[str, str], ...]
    material: MaterialGraph | None = None  # None: the raw SCS_FinalColorHDR image
    sky_only: bool = False  # render only the actors in the manager's SkyActors list
    anti_aliased: bool = False  # apply the manager's AntiAliasing setting (colour buffers only)
    note: str = ""


def _texture(name: str, ppi: str) -> Node:
    return Node(name, "SceneTexture", (("scene_texture_id", Enum("SceneTextureId", ppi)),))


def _mask(name: str, source: str, channels: str) -> Node:
    return Node(name, "ComponentMask", tuple((c.lower(), True) for c in channels), (("", f"{source}:Color"),))


def _constant(name: str, value: float) -> Node:
    return Node(name, "Constant", (("r", value),))


def _append(name: str, a: str, b: str) -> Node:
    return Node(name, "AppendVector", inputs=(("A", a), ("B", b)))


def _custom(name: str, output: str, code: str, pins: tuple[tuple[str, str], ...], description: str) -> Node:
    settings = (("code", code), ("output_type", Enum("CustomMaterialOutputType", output)),
                ("description", description), ("inputs", tuple(pin for pin, _ in pins)))
    return Node(name, "Custom", settings, pins)


def _material(asset: str, nodes: tuple[Node, ...], location: str = REPLACING_TONEMAPPER) -> MaterialGraph:
    return MaterialGraph(asset, location, nodes, emissive=nodes[-1].name)


# HLSL of the two Custom nodes; `View` is the capture's view uniform buffer (UE 4.27 and 5.x).
NO_ST_CODE = """// Inverse of UE's separate-translucency composite Scene = NoST * ST.a + ST.rgb (study 1.8).
// Where the translucency is opaque (ST.a < 1e-5) nothing behind it is visible: keep the composite.
float3 NoST = Alpha >= 1e-5 ? (Color - ST) / Alpha : Color;
return max(NoST, 0.0);"""

FAR_VELOCITY_CODE = """// Velocity = NDC(current) - NDC(previous), y up. Pixels where no geometry wrote velocity
// (the sky atmosphere, beyond FarCm) get the camera-only motion of a point at infinity
// (device z = 0): the engine's own fallback for unwritten velocity treats the texture UV as clip space.
if (Depth < FarCm) return Velocity;
float2 Clip = float2(UV.x * 2.0 - 1.0, 1.0 - UV.y * 2.0);
float4 Prev = mul(float4(Clip, 0.0, 1.0), View.ClipToPrevClip);
return Clip - Prev.xy / Prev.w;"""


def _rgb_of(ppi: str, label: str) -> tuple[tuple[Node, ...], tuple[tuple[str, str], ...]]:
    nodes = (_texture("tex", ppi), _mask("rgb", "tex", "RGB"))
    return nodes, tuple((c, f"SceneTexture:{label}.{c.lower()}") for c in "RGB")


def _r_only(nodes: tuple[Node, ...], source: str) -> tuple[Node, ...]:
    """Emissive = (source, 0, 0): the buffer's meaning lives in R only."""
    return (*nodes, _constant("zero", 0.0), _append("rg", source, "zero"), _append("rgb", "rg", "zero"))


def _depth_nodes() -> tuple[Node, ...]:
    return (_texture("depth_tex", "PPI_SCENE_DEPTH"), _mask("depth_raw", "depth_tex", "R"),
            _constant("far_cm", SKY_DEPTH_CM), Node("depth", "Min", inputs=(("A", "depth_raw"), ("B", "far_cm"))))


def _scene_color_no_st() -> CaptureSpec:
    nodes = (_texture("ppi0", "PPI_POST_PROCESS_INPUT0"), _mask("color", "ppi0", "RGB"),
             _texture("st", "PPI_SEPARATE_TRANSLUCENCY"), _mask("st_rgb", "st", "RGB"), _mask("st_a", "st", "A"),
             _custom("no_st", "CMOT_FLOAT3", NO_ST_CODE, (("Color", "color"), ("ST", "st_rgb"), ("Alpha", "st_a")),
                     "SceneColorNoST"))
    feed = "ST.a >= 1e-5 ? (PostProcessInput0 - ST.rgb) / ST.a : PostProcessInput0, clamped to >= 0"
    return CaptureSpec("SceneColorNoST", tuple((c, f"{feed} (ST = SceneTexture:SeparateTranslucency)")
                                               for c in "RGB"),
                       _material("M_Lmv_SceneColorNoST", nodes, BEFORE_TONEMAPPING), anti_aliased=True,
                       note="Runs before tonemapping, so exposure applies exactly as for SceneColor. The "
                            "guard keeps the division finite where translucency is opaque.")


def _velocity_depth() -> CaptureSpec:
    nodes = (_texture("vel_tex", "PPI_VELOCITY"), _mask("velocity", "vel_tex", "RG"), *_depth_nodes(),
             Node("uv", "ScreenPosition"),
             _custom("far_velocity", "CMOT_FLOAT2", FAR_VELOCITY_CODE,
                     (("Velocity", "velocity"), ("Depth", "depth_raw"), ("FarCm", "far_cm"), ("UV", "uv:ViewportUV")),
                     "velocity, camera-only beyond FarCm"),
             _append("rgb", "far_velocity", "depth"))
    far = f"{SKY_DEPTH_CM:.0f}"
    return CaptureSpec("VelocityDepth", (
        ("R", f"SceneTexture:Velocity.r (decoded by the engine); camera-only motion where SceneDepth >= {far}"),
        ("G", f"SceneTexture:Velocity.g (decoded by the engine); camera-only motion where SceneDepth >= {far}"),
        ("B", f"min(SceneTexture:SceneDepth.r, {far})")),
        _material("M_Lmv_VelocityDepth", nodes),
        note="Needs r.BasePassOutputsVelocity=1 and r.BasePassForceOutputsVelocity=1 so that static geometry "
             "writes velocity (camera motion); depth is clamped to the sky depth of the schema.")


def _gbuffer_specs() -> tuple[CaptureSpec, ...]:
    base_nodes, base_channels = _rgb_of("PPI_BASE_COLOR", "BaseColor")
    normal_nodes, normal_channels = _rgb_of("PPI_WORLD_NORMAL", "WorldNormal")
    mrs = (_texture("metallic_tex", "PPI_METALLIC"), _mask("metallic", "metallic_tex", "R"),
           _texture("roughness_tex", "PPI_ROUGHNESS"), _mask("roughness", "roughness_tex", "R"),
           _texture("stencil_tex", "PPI_CUSTOM_STENCIL"), _mask("stencil", "stencil_tex", "R"),
           _append("rg", "metallic", "roughness"), _append("rgb", "rg", "stencil"))
    nov = (_texture("normal_tex", "PPI_WORLD_NORMAL"), _mask("normal_raw", "normal_tex", "RGB"),
           Node("normal", "Normalize", inputs=(("", "normal_raw"),)), Node("to_camera", "CameraVectorWS"),
           Node("nov", "DotProduct", inputs=(("A", "normal"), ("B", "to_camera"))),
           _texture("specular_tex", "PPI_SPECULAR"), _mask("specular", "specular_tex", "R"),
           _constant("zero", 0.0), _append("rg", "nov", "specular"), _append("rgb", "rg", "zero"))
    return (
        CaptureSpec("BaseColor", base_channels, _material("M_Lmv_BaseColor", base_nodes)),
        CaptureSpec("MetallicRoughnessStencil",
                    (("R", "SceneTexture:Metallic.r"), ("G", "SceneTexture:Roughness.r"),
                     ("B", "SceneTexture:CustomStencil.r (raw 0-255; needs r.CustomDepth=3)")),
                    _material("M_Lmv_MetallicRoughnessStencil", mrs)),
        CaptureSpec("NoVSpecular",
                    (("R", "dot(normalize(SceneTexture:WorldNormal.rgb), CameraVectorWS), not clamped"),
                     ("G", "SceneTexture:Specular.r")),
                    _material("M_Lmv_NoVSpecular", nov)),
        _velocity_depth(),
        CaptureSpec("WorldNormal", normal_channels, _material("M_Lmv_WorldNormal", normal_nodes),
                    note="Signed values: the material must allow negative emissive colour."),
        CaptureSpec("WorldPosition", tuple((c, f"AbsoluteWorldPosition.{c.lower()} (cm)") for c in "RGB"),
                    _material("M_Lmv_WorldPosition", (Node("position", "WorldPosition"),))),
    )


def capture_specs() -> tuple[CaptureSpec, ...]:
    """The capture of every buffer lmv knows, in the order the schema lists them."""
    st_alpha = _r_only((_texture("st", "PPI_SEPARATE_TRANSLUCENCY"), _mask("st_a", "st", "A")), "st_a")
    sky_depth = _r_only(_depth_nodes(), "depth")
    return (
        CaptureSpec("SceneColor", tuple((c, f"FinalColorHDR.{c.lower()} (no material)") for c in "RGB"),
                    anti_aliased=True, note="The raw SCS_FinalColorHDR image: linear, exposed, no tone curve."),
        _scene_color_no_st(),
        CaptureSpec("STAlpha", (("R", "SceneTexture:SeparateTranslucency.a"),),
                    _material("M_Lmv_STAlpha", st_alpha)),
        CaptureSpec("SkyColor", tuple((c, f"FinalColorHDR.{c.lower()} of the sky-only render (no material)")
                                      for c in "RGB"), sky_only=True, anti_aliased=True),
        CaptureSpec("SkyDepth", (("R", f"min(SceneTexture:SceneDepth.r, {SKY_DEPTH_CM:.0f}) of the sky-only render"),),
                    _material("M_Lmv_SkyDepth", sky_depth), sky_only=True,
                    note="The sky atmosphere writes no depth and reads as the clamp value; a sky-sphere mesh "
                         "gives its own distance. The sky mask compares this with VelocityDepth.B."),
        *_gbuffer_specs(),
    )

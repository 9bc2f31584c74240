"""The Unreal capture side (`ue4/`) agrees with lmv's buffer schema (issue 6).

The consistency checker runs on the committed files, and on copies where a buffer is renamed on one side
(schema or a `ue4/` file) to show that it notices. The editor script runs against a stand-in `unreal`
module (Unreal itself cannot run here), and the C++ is checked for declared-but-undefined methods.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import runpy
import shutil
import sys
import types
from pathlib import Path

import pytest

from lmv_cli.core.schema import BUFFERS, Channel
from lmv_cli.core.ue4 import check_ue4_consistency, generated_files, write_ue4_files
from lmv_cli.core.ue4.__main__ import main
from lmv_cli.core.ue4.check import _check_graphs
from lmv_cli.core.ue4.spec import MaterialGraph, Node, capture_specs

UE4 = Path(__file__).resolve().parents[1] / "ue4"
SOURCE = UE4 / "Source" / "LmvCapture"


@pytest.fixture
def ue4_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(UE4, tmp_path / "ue4"))


_CPP_TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)


def code_of(path: Path) -> str:
    """A C++ file's text with its comments blanked (string literals kept), so that a name mentioned
    only in a comment does not satisfy a search for code."""
    return _CPP_TOKEN.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", path.read_text())


def test_code_of_blanks_comments_but_not_strings(tmp_path: Path) -> None:
    path = tmp_path / "a.cpp"
    path.write_text('// SetMotionBlur(false)\nint a; /* FApp::SetUseFixedTimeStep(true)\n */ T(TEXT("x // y"));\n')
    assert code_of(path) == ' \nint a;   T(TEXT("x // y"));\n'


def renamed(folder: str, new: str) -> tuple:
    return tuple(dataclasses.replace(b, folder=new) if b.folder == folder else b for b in BUFFERS)


def test_committed_ue4_files_agree_with_the_schema() -> None:
    assert check_ue4_consistency(UE4) == []


def test_every_schema_buffer_has_an_item_a_table_row_and_a_documented_section() -> None:
    items = re.findall(r'BufferName="([^"]+)"', (UE4 / "CaptureItems.txt").read_text())
    header = (SOURCE / "Public" / "LmvCaptureSchema.h").read_text()
    doc = (UE4 / "Materials.md").read_text()
    assert items == [b.folder for b in BUFFERS]
    for buffer in BUFFERS:
        assert f'{{TEXT("{buffer.folder}"),' in header
        assert f"## `{buffer.folder}`" in doc
        for channel in buffer.channels:
            assert f"| {channel.name} |" in doc and channel.meaning in doc


def test_buffer_renamed_in_the_schema_is_reported_everywhere() -> None:
    problems = check_ue4_consistency(UE4, renamed("BaseColor", "Albedo"))
    text = "\n".join(problems)
    assert "schema buffer 'Albedo' has no capture spec" in text
    assert "capture spec for 'BaseColor', which is no buffer of the schema" in text
    for where in ("CaptureItems.txt (BufferName)", "LmvCaptureSchema.h", "Materials.md (sections)",
                  "README.md (buffer table)"):
        assert f"{where}: schema buffer 'Albedo' is missing" in text, where
        assert f"{where}: 'BaseColor' is no buffer of the schema" in text, where
    # The material list holds only buffers with a material, so it names the stray one alone.
    assert "lmv_materials.json: 'BaseColor' is no buffer of the schema" in text
    assert "regenerate with `python -m lmv_cli.core.ue4 --write ue4/`" in text


@pytest.mark.parametrize("relative, where", [
    ("CaptureItems.txt", "CaptureItems.txt (BufferName)"),
    ("Source/LmvCapture/Public/LmvCaptureSchema.h", "LmvCaptureSchema.h"),
    ("Scripts/lmv_materials.json", "lmv_materials.json"),
    ("Materials.md", "Materials.md (sections)"),
    ("README.md", "README.md (buffer table)"),
])
def test_buffer_renamed_in_one_ue4_file_is_reported(ue4_copy: Path, relative: str, where: str) -> None:
    path = ue4_copy / relative
    text = path.read_text()
    assert "VelocityDepth" in text
    path.write_text(text.replace("VelocityDepth", "MotionDepth"))
    problems = check_ue4_consistency(ue4_copy)
    assert f"{where}: schema buffer 'VelocityDepth' is missing" in "\n".join(problems)
    assert f"{where}: 'MotionDepth' is no buffer of the schema" in "\n".join(problems)


def test_changed_channel_meaning_is_reported() -> None:
    buffers = tuple(
        dataclasses.replace(b, channels=(Channel("R", "transmittance, 0 = clear"),)) if b.folder == "STAlpha" else b
        for b in BUFFERS)
    problems = check_ue4_consistency(UE4, buffers)
    assert any(p.startswith(f"{UE4 / 'Materials.md'}: channels of STAlpha are documented as R='separate-translucency")
               and "schema has R='transmittance, 0 = clear'" in p for p in problems), problems


def test_extra_schema_channel_is_reported_against_the_capture_spec() -> None:
    buffers = tuple(
        dataclasses.replace(b, channels=(*b.channels, Channel("A", "coverage"))) if b.folder == "SkyDepth" else b
        for b in BUFFERS)
    problems = check_ue4_consistency(UE4, buffers)
    assert "lmv_cli/core/ue4/spec.py: SkyDepth feeds channels R, schema has R,A" in problems


def test_duplicate_capture_item_is_reported(ue4_copy: Path) -> None:
    path = ue4_copy / "CaptureItems.txt"
    path.write_text(path.read_text().replace('BufferName="STAlpha"', 'BufferName="SceneColor"'))
    problems = check_ue4_consistency(ue4_copy)
    assert f"{path} (BufferName): 'SceneColor' listed 2 times" in problems
    assert f"{path} (BufferName): schema buffer 'STAlpha' is missing" in problems


def test_hard_coded_buffer_name_in_cpp_is_reported(ue4_copy: Path) -> None:
    path = ue4_copy / "Source/LmvCapture/Private/CaptureManager.cpp"
    path.write_text(path.read_text() + '\nstatic const TCHAR* Sky = TEXT("SkyDepth");\n')
    problems = check_ue4_consistency(ue4_copy)
    assert problems == [f"{path}: hard-codes buffer name 'SkyDepth' (use LmvCaptureSchema.h)"]


def test_missing_file_and_missing_markers_are_reported(ue4_copy: Path) -> None:
    (ue4_copy / "Materials.md").unlink()
    readme = ue4_copy / "README.md"
    readme.write_text(readme.read_text().replace("<!-- END buffer table -->", ""))
    problems = check_ue4_consistency(ue4_copy)
    assert f"{ue4_copy / 'Materials.md'}: missing file" in problems
    assert any(p.startswith(f"{readme}: buffer table markers missing") for p in problems)


def test_write_regenerates_only_what_differs(ue4_copy: Path) -> None:
    (ue4_copy / "CaptureItems.txt").write_text("()\n")
    readme = ue4_copy / "README.md"
    readme.write_text(readme.read_text().replace("| `STAlpha` | R |", "| `STAlpha` | R, G |"))
    assert any("CaptureItems.txt: differs from what the schema generates" in p for p in check_ue4_consistency(ue4_copy))
    assert sorted(write_ue4_files(ue4_copy)) == sorted([ue4_copy / "CaptureItems.txt", readme])
    assert check_ue4_consistency(ue4_copy) == []
    assert write_ue4_files(ue4_copy) == []
    assert (ue4_copy / "README.md").read_text() == (UE4 / "README.md").read_text()


def test_module_entry_point_checks_and_writes(ue4_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["--check", str(ue4_copy)]) == 0
    (ue4_copy / "Scripts/lmv_materials.json").write_text("{}")
    assert main(["--check", str(ue4_copy)]) == 1
    assert "lmv_materials.json: not a material list ('materials')" in caplog.text
    assert main(["--write", str(ue4_copy)]) == 0
    assert main(["--check", str(ue4_copy)]) == 0


def test_graph_check_finds_undefined_sources_and_pin_mismatches() -> None:
    spec = dataclasses.replace(capture_specs()[2], material=MaterialGraph("M_Bad", "BL_ReplacingTonemapper", (
        Node("a", "AppendVector", inputs=(("A", "missing"), ("B", "later:Color"))),
        Node("later", "SceneTexture"),
        Node("c", "Custom", (("inputs", ("X",)),), (("Y", "a"),)),
    ), emissive="nowhere"))
    problems = _check_graphs([spec])
    assert problems == [
        "lmv_cli/core/ue4/spec.py: M_Bad: a.A reads 'missing', not defined before it",
        "lmv_cli/core/ue4/spec.py: M_Bad: a.B reads 'later:Color', not defined before it",
        "lmv_cli/core/ue4/spec.py: M_Bad: Custom node c declares pins ('X',), wires ['Y']",
        "lmv_cli/core/ue4/spec.py: M_Bad: Emissive Color reads 'nowhere', which is no node",
    ]
    assert _check_graphs(capture_specs()) == []


def test_generated_material_spec_matches_the_documented_depth_clamp() -> None:
    materials = json.loads(generated_files()[Path("Scripts/lmv_materials.json")])["materials"]
    by_buffer = {m["buffer"]: m for m in materials}
    assert set(by_buffer) == {b.folder for b in BUFFERS} - {"SceneColor", "SkyColor"}
    for name in ("SkyDepth", "VelocityDepth"):
        constants = [n["settings"]["r"] for n in by_buffer[name]["nodes"] if n["name"] == "far_cm"]
        assert constants == [1.0e6]
    assert by_buffer["SceneColorNoST"]["blendable_location"] == "BL_BeforeTonemapping"
    others = {m["blendable_location"] for b, m in by_buffer.items() if b != "SceneColorNoST"}
    assert others == {"BL_ReplacingTonemapper"}


# ---- The capture-item paste file uses exactly the fields of FCaptureItem (the original's did not) ----

def struct_fields(header: str, struct: str) -> list[str]:
    body = header.split(f"struct LMVCAPTURE_API {struct}", 1)[1].split("};", 1)[0]
    return re.findall(r"UPROPERTY\([^)]*\)\s*\n\s*[\w<>:]+\s+(\w+)", body)


def test_capture_items_use_exactly_the_struct_fields() -> None:
    fields = struct_fields(code_of(SOURCE / "Public" / "CaptureManager.h"), "FCaptureItem")
    assert fields == ["BufferName", "PPMaterial", "bSkyOnly", "bAntiAliased"]
    items = re.findall(r"\(([^()]*)\)", (UE4 / "CaptureItems.txt").read_text())
    assert len(items) == len(BUFFERS)
    for item in items:
        assert {f.split("=", 1)[0] for f in item.split(",")} <= set(fields)


# ---- C++: every declared method is defined (docs/capture.md#the-original-capture-code: declared-but-undefined methods) ----

_DECLARATION = re.compile(  # [virtual|static] <return type> Name(params) [const] [override];
    r"^\s*(?:virtual\s+|static\s+)?[\w:<>*&, ]+?[\s*&](~?\w+)\(([^;{]*)\)\s*(?:const\s*)?(?:override\s*)?;",
    re.MULTILINE)


def declared_methods(header: str, cls: str) -> set[str]:
    match = re.search(rf"(?:class|struct)\s+(?:LMVCAPTURE_API\s+)?{cls}\b[^;{{]*\{{", header)
    assert match, cls
    depth, end = 1, match.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(header[end], 0)
        end += 1
    body = header[match.end():end]
    methods = {name for name, params in _DECLARATION.findall(body) if "=" not in params}
    structors = re.findall(rf"^\s*(~?{cls})\([^;{{]*\)\s*;", body, re.MULTILINE)
    return methods | set(structors)


@pytest.mark.parametrize("header, cls", [
    ("CaptureManager.h", "ACaptureManager"),
    ("CaptureManager.h", "FLmvSequenceTickFunction"),
    ("LmvFrameWriter.h", "FLmvFrameWriter"),
    ("LmvCapture.h", "FLmvCaptureModule"),
])
def test_every_declared_method_is_defined(header: str, cls: str) -> None:
    declared = declared_methods(code_of(SOURCE / "Public" / header), cls)
    assert declared, f"no declarations parsed in {header}"
    code = "\n".join(code_of(p) for p in sorted((SOURCE / "Private").glob("*.cpp")))
    undefined = sorted(name for name in declared if not re.search(rf"\b{cls}::{name}\(", code))
    assert undefined == []


def test_cpp_has_no_stubs_and_no_manual_memory_management() -> None:
    for path in [*SOURCE.rglob("*.h"), *SOURCE.rglob("*.cpp")]:
        text = path.read_text()
        assert not re.search(r"\b(TODO|FIXME|unimplemented\(\)|checkNoEntry\(\))", text), path
        # Frames live in shared pointers, the writer in a TUniquePtr: no raw new/delete to get wrong.
        assert not re.search(r"\bnew\b|\bdelete\b(?!;)", text.replace("= delete;", "")), path


def test_cpp_uses_the_fixes_the_issue_asks_for() -> None:
    sources = ("CaptureManager.cpp", "CaptureManagerSetup.cpp")
    code = "\n".join(code_of(SOURCE / "Private" / name) for name in sources)
    for api in ("FApp::SetUseFixedTimeStep(true)", "FApp::SetFixedDeltaTime(", "SetPlaybackPosition(",
                "SetMotionBlur(false)", "SetEyeAdaptation(false)", "AEM_Manual", "SetSeparateTranslucency(true)",
                "bAlwaysPersistRenderingState = true", "PRM_UseShowOnlyList", "SCS_FinalColorHDR",
                "PF_A32B32G32R32F", "RCM_MinMax", "r.BasePassForceOutputsVelocity", "TG_PrePhysics"):
        assert api in code, api
    writer = code_of(SOURCE / "Private" / "LmvFrameWriter.cpp")
    assert "EImageFormat::EXR" in writer and "ERGBFormat::RGBA;" in writer and "FloatRGBA, 32)" in writer


def test_readme_walks_from_an_empty_project_to_a_checked_export() -> None:
    readme = (UE4 / "README.md").read_text()
    for needle in ("### 1. Project", "### 2. Plugin", "### 3. Renderer settings", "### 4. Materials",
                   "### 5. Scene and sequence", "### 6. The LMV Capture Manager", "### 7. Run", "### 8. Check",
                   "create_materials.py", "r.BasePassOutputsVelocity=1", "r.BasePassForceOutputsVelocity=1",
                   "-benchmark -fps=60", "lmv capture-check", "## UE 5 notes", "Lumen", "TSR",
                   "FReversedZPerspectiveMatrix", "Large World Coordinates", "Movie Render Queue", "DWAA",
                   "ndc-y-down", "motion blur", "NaN"):
        assert needle in readme, needle


# ---- The editor script, run against a stand-in `unreal` module ----

class FakeObject:
    def __init__(self, kind: str):
        self.kind = kind
        self.properties: dict[str, object] = {}

    def set_editor_property(self, name: str, value: object) -> None:
        self.properties[name] = value


def fake_unreal(refuse_pin: str | None = None) -> tuple[types.ModuleType, dict]:
    """A module with the names create_materials.py uses; records what the script does."""
    log: dict = {"assets": [], "nodes": [], "wires": [], "emissive": [], "errors": []}
    unreal = types.ModuleType("unreal")

    class Editing:
        @staticmethod
        def create_material_expression(material, cls, x, y):
            node = FakeObject(cls)
            log["nodes"].append((material.kind, node))
            return node

        @staticmethod
        def connect_material_expressions(source, output, target, pin):
            log["wires"].append((source.kind, output, target.kind, pin))
            return pin != refuse_pin

        @staticmethod
        def connect_material_property(source, output, prop):
            log["emissive"].append((source.kind, prop))
            return True

        delete_all_material_expressions = recompile_material = staticmethod(lambda material: None)

    class Assets:
        does_asset_exist = staticmethod(lambda path: False)
        make_directory = save_loaded_asset = staticmethod(lambda arg: True)

    class Tools:
        @staticmethod
        def create_asset(name, folder, cls, factory):
            log["assets"].append(f"{folder}/{name}")
            return FakeObject(name)

    def lookup(name: str):
        # Expression classes stand for themselves (by name); everything else is an enum.
        return name[len("MaterialExpression"):] if name.startswith("MaterialExpression") else _enum(name)

    unreal.__getattr__ = lookup
    unreal.MaterialEditingLibrary, unreal.EditorAssetLibrary = Editing, Assets
    unreal.AssetToolsHelpers = types.SimpleNamespace(get_asset_tools=lambda: Tools)
    unreal.MaterialFactoryNew = lambda: "factory"
    unreal.Material = "Material"
    unreal.CustomInput = lambda: FakeObject("CustomInput")
    unreal.Paths = types.SimpleNamespace(project_plugins_dir=lambda: "/nowhere")
    unreal.log = lambda message: None
    unreal.log_error = log["errors"].append
    return unreal, log


def _enum(name: str):
    class Members:
        def __getattr__(self, member: str) -> str:
            return f"{name}.{member}"
    return Members()


def run_script(monkeypatch: pytest.MonkeyPatch, unreal: types.ModuleType, *args: str) -> None:
    monkeypatch.setitem(sys.modules, "unreal", unreal)
    monkeypatch.setattr(sys, "argv", ["create_materials.py", *args])
    runpy.run_path(str(UE4 / "Scripts" / "create_materials.py"), run_name="__main__")


def test_editor_script_builds_every_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    unreal, log = fake_unreal()
    run_script(monkeypatch, unreal)
    spec = json.loads((UE4 / "Scripts" / "lmv_materials.json").read_text())
    assert log["assets"] == [f"/Game/LmvCapture/Materials/{m['asset']}" for m in spec["materials"]]
    assert len(log["nodes"]) == sum(len(m["nodes"]) for m in spec["materials"])
    assert len(log["wires"]) == sum(len(n["inputs"]) for m in spec["materials"] for n in m["nodes"])
    assert [prop for _, prop in log["emissive"]] == ["MaterialProperty.MP_EMISSIVE_COLOR"] * len(spec["materials"])
    nodes = {(material, node.kind): node for material, node in log["nodes"]}
    velocity = nodes["M_Lmv_VelocityDepth", "Custom"]
    assert [p.properties["input_name"] for p in velocity.properties["inputs"]] == ["Velocity", "Depth", "FarCm", "UV"]
    assert velocity.properties["output_type"] == "CustomMaterialOutputType.CMOT_FLOAT2"
    assert nodes["M_Lmv_BaseColor", "SceneTexture"].properties["scene_texture_id"] == "SceneTextureId.PPI_BASE_COLOR"
    assert ("Custom", "", "AppendVector", "A") in log["wires"]
    assert log["errors"] == []


def test_editor_script_reports_every_failed_material(monkeypatch: pytest.MonkeyPatch) -> None:
    unreal, log = fake_unreal(refuse_pin="B")
    # Every material with a pin named B fails (AppendVector, Min); the others are still built.
    expected = r"LMV capture: 5 material\(s\) failed:\nSTAlpha: M_Lmv_STAlpha.rg: cannot connect zero to input 'B'"
    with pytest.raises(RuntimeError, match=expected):
        run_script(monkeypatch, unreal, "/Game/Elsewhere")
    assert len(log["assets"]) == 9 and all(a.startswith("/Game/Elsewhere/") for a in log["assets"])
    assert len(log["errors"]) == 5 and all("to input 'B'" in e for e in log["errors"])


def test_editor_script_is_python_37_and_maps_enum_names(monkeypatch: pytest.MonkeyPatch) -> None:
    source = (UE4 / "Scripts" / "create_materials.py").read_text()
    ast.parse(source, feature_version=(3, 7))  # UE 4.27 embeds Python 3.7
    unreal, _ = fake_unreal()
    monkeypatch.setitem(sys.modules, "unreal", unreal)
    module = runpy.run_path(str(UE4 / "Scripts" / "create_materials.py"), run_name="create_materials")
    assert module["python_enum_name"]("BL_ReplacingTonemapper") == "BL_REPLACING_TONEMAPPER"
    assert module["python_enum_name"]("BL_BeforeTonemapping") == "BL_BEFORE_TONEMAPPING"

"""Create the LMV capture's post-process materials in the Unreal editor (UE 4.27; also UE 5.x).

Needs the "Python Editor Script Plugin" and "Editor Scripting Utilities" plugins. Run it from the
editor's Output Log (Cmd, Python mode) or File > Execute Python Script:

    py "<Project>/Plugins/LmvCapture/Scripts/create_materials.py"

An optional argument overrides the content folder (default /Game/LmvCapture/Materials; the capture
manager's default capture items point there). The node graphs come from `lmv_materials.json` next to
this file, which lmv generates from its buffer schema (`python -m lmv_cli.core.ue4 --write ue4/`);
`Materials.md` shows the same graphs as text. Existing materials of the same name are emptied and
rebuilt, so running the script again is harmless.

Written for the editor's Python 3.7 (UE 4.27): no walrus operator, no 3.8+ syntax.
"""

import json
import os
import re
import sys

import unreal

SPEC_NAME = "lmv_materials.json"
EDITING = unreal.MaterialEditingLibrary
ASSETS = unreal.EditorAssetLibrary


def python_enum_name(cpp_name):
    """`BL_ReplacingTonemapper` -> `BL_REPLACING_TONEMAPPER`: UE's Python names of C++ enum values."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cpp_name).upper()


def load_spec():
    """The generated material list: next to this file, else in the installed plugin's Scripts folder."""
    candidates = []
    if "__file__" in globals():
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), SPEC_NAME))
    candidates.append(os.path.join(unreal.Paths.project_plugins_dir(), "LmvCapture", "Scripts", SPEC_NAME))
    for path in candidates:
        if os.path.isfile(path):
            with open(path, "r", encoding="utf-8") as f:
                return json.load(f), path
    raise RuntimeError("cannot find %s; looked in: %s" % (SPEC_NAME, ", ".join(candidates)))


def resolve(value):
    """JSON setting value -> editor property value (enums are {"enum": ..., "value": ...})."""
    if isinstance(value, dict) and "enum" in value:
        return getattr(getattr(unreal, value["enum"]), value["value"])
    return value


def open_material(folder, asset):
    """An empty material named `asset` in `folder`: created, or an existing one with its nodes removed."""
    path = folder + "/" + asset
    if ASSETS.does_asset_exist(path):
        material = ASSETS.load_asset(path)
        EDITING.delete_all_material_expressions(material)
        return material
    factory = unreal.MaterialFactoryNew()
    material = unreal.AssetToolsHelpers.get_asset_tools().create_asset(asset, folder, unreal.Material, factory)
    if material is None:
        raise RuntimeError("could not create %s" % path)
    return material


def configure(material, location):
    """Post-process domain at `location`, unlit, signed emissive allowed (velocity, normals, N.V)."""
    material.set_editor_property("material_domain", unreal.MaterialDomain.MD_POST_PROCESS)
    material.set_editor_property("blendable_location", getattr(unreal.BlendableLocation, python_enum_name(location)))
    material.set_editor_property("shading_model", unreal.MaterialShadingModel.MSM_UNLIT)
    material.set_editor_property("allow_negative_emissive_color", True)


def add_node(material, node, column, row):
    """Create one expression and set its properties; Custom nodes get their input pins by name."""
    expression_class = getattr(unreal, "MaterialExpression" + node["expression"])
    expression = EDITING.create_material_expression(material, expression_class, -300 * column, 160 * row)
    for key, value in node["settings"].items():
        if node["expression"] == "Custom" and key == "inputs":
            pins = []
            for name in value:
                pin = unreal.CustomInput()
                pin.set_editor_property("input_name", name)
                pins.append(pin)
            expression.set_editor_property("inputs", pins)
        else:
            expression.set_editor_property(key, resolve(value))
    return expression


def connect(expressions, source, target, pin, where):
    """Wire `source` ("node" or "node:Output") into `pin` of `target`; raise with context on failure."""
    name, _, output = source.partition(":")
    if not EDITING.connect_material_expressions(expressions[name], output, target, pin):
        raise RuntimeError("%s: cannot connect %s to input %r" % (where, source, pin))


def build(folder, spec):
    """Build one material from its spec; returns its asset path."""
    material = open_material(folder, spec["asset"])
    configure(material, spec["blendable_location"])
    expressions = {}
    count = len(spec["nodes"])
    for row, node in enumerate(spec["nodes"]):
        expressions[node["name"]] = add_node(material, node, count - row, row)
    for node in spec["nodes"]:
        for pin, source in node["inputs"].items():
            connect(expressions, source, expressions[node["name"]], pin, spec["asset"] + "." + node["name"])
    emissive = unreal.MaterialProperty.MP_EMISSIVE_COLOR
    if not EDITING.connect_material_property(expressions[spec["emissive"]], "", emissive):
        raise RuntimeError("%s: cannot connect %s to Emissive Color" % (spec["asset"], spec["emissive"]))
    EDITING.recompile_material(material)
    ASSETS.save_loaded_asset(material)
    return folder + "/" + spec["asset"]


def main(argv):
    spec, spec_path = load_spec()
    folder = argv[1] if len(argv) > 1 else spec["material_root"]
    ASSETS.make_directory(folder)
    unreal.log("LMV capture: building %d materials from %s into %s" % (len(spec["materials"]), spec_path, folder))
    failures = []
    for entry in spec["materials"]:
        try:
            path = build(folder, entry)
            unreal.log("LMV capture: %s -> %s (%s)" % (entry["buffer"], path, entry["blendable_location"]))
        except Exception as error:  # keep going: report every material that failed, not just the first
            failures.append("%s: %s" % (entry["buffer"], error))
            unreal.log_error("LMV capture: %s: %s" % (entry["buffer"], error))
    if failures:
        raise RuntimeError("LMV capture: %d material(s) failed:\n%s" % (len(failures), "\n".join(failures)))
    unreal.log("LMV capture: all %d materials built and saved" % len(spec["materials"]))


if __name__ == "__main__":
    main(sys.argv)

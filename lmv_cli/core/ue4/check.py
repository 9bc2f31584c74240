"""Do the files under `ue4/` and the buffer schema agree? (issue 6; docs/capture.md#the-ue4-export)

`check_ue4_consistency` reads the committed files the way a user meets them (the capture items to
paste, the C++ buffer table, the material graphs, Materials.md, the README table) and compares every
buffer folder, channel, meaning and unit with the schema; then it regenerates the generated files and
compares them byte for byte. A buffer renamed on either side shows up as named problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from lmv_cli.core.schema import BUFFERS, Buffer
from lmv_cli.core.ue4.docs import CHANNEL_HEADER, materials_doc
from lmv_cli.core.ue4.generate import (
    CAPTURE_ITEMS,
    MATERIALS_DOC,
    MATERIALS_JSON,
    README,
    README_BEGIN,
    README_END,
    REGENERATE,
    SCHEMA_HEADER,
    capture_items,
    materials_json,
    readme_table,
    schema_header,
    with_readme_table,
)
from lmv_cli.core.ue4.spec import CaptureSpec, capture_specs

_ITEM_NAME = re.compile(r'BufferName="([^"]*)"')
_HEADER_ROW = re.compile(r'^\t\t\{TEXT\("([^"]*)"\)', re.MULTILINE)
_SECTION = re.compile(r"^## `([^`]*)`\s*$", re.MULTILINE)
_README_ROW = re.compile(r"^\| `([^`]*)` \|", re.MULTILINE)
_CPP_LITERAL = re.compile(r'TEXT\("([^"]*)"\)')


def generated_files(buffers: Sequence[Buffer] = BUFFERS) -> dict[Path, str]:
    """Path (relative to `ue4/`) -> text of every fully generated file."""
    specs = capture_specs()
    return {
        CAPTURE_ITEMS: capture_items(buffers, specs),
        SCHEMA_HEADER: schema_header(buffers, specs),
        MATERIALS_JSON: materials_json(buffers, specs),
        MATERIALS_DOC: materials_doc(buffers, specs),
    }


def write_ue4_files(ue4_dir: str | Path, buffers: Sequence[Buffer] = BUFFERS) -> list[Path]:
    """Write the generated files and the README's buffer table into `ue4_dir`; return what changed."""
    root = Path(ue4_dir)
    outputs = dict(generated_files(buffers))
    readme = root / README
    if readme.is_file():
        outputs[README] = with_readme_table(readme.read_text(encoding="utf-8"), readme_table(buffers, capture_specs()))
    changed = []
    for relative, text in outputs.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def check_ue4_consistency(ue4_dir: str | Path, buffers: Sequence[Buffer] = BUFFERS) -> list[str]:
    """Every disagreement between the `ue4/` files and `buffers` (the schema), as one line each; [] = consistent."""
    root = Path(ue4_dir)
    folders = [b.folder for b in buffers]
    specs = capture_specs()
    problems = _check_specs(buffers, specs) + _check_graphs(specs)
    texts = {p: _read(root / p, problems) for p in (*generated_files(buffers), README)}
    if texts[CAPTURE_ITEMS] is not None:
        problems += _compare_names(f"{root / CAPTURE_ITEMS} (BufferName)", _ITEM_NAME.findall(texts[CAPTURE_ITEMS]),
                                   folders)
    if texts[SCHEMA_HEADER] is not None:
        problems += _compare_names(str(root / SCHEMA_HEADER), _HEADER_ROW.findall(texts[SCHEMA_HEADER]), folders)
    if texts[MATERIALS_JSON] is not None:
        problems += _check_materials_json(root / MATERIALS_JSON, texts[MATERIALS_JSON], buffers, specs)
    if texts[MATERIALS_DOC] is not None:
        problems += _check_materials_doc(root / MATERIALS_DOC, texts[MATERIALS_DOC], buffers)
    if texts[README] is not None:
        problems += _check_readme(root / README, texts[README], folders)
    problems += _check_cpp_sources(root, folders)
    return problems + _check_generated(root, texts, buffers)


def _read(path: Path, problems: list[str]) -> str | None:
    if not path.is_file():
        problems.append(f"{path}: missing file")
        return None
    return path.read_text(encoding="utf-8")


def _check_specs(buffers: Sequence[Buffer], specs: Sequence[CaptureSpec]) -> list[str]:
    by_folder = {s.folder: s for s in specs}
    problems = [f"lmv_cli/core/ue4/spec.py: capture spec for {s.folder!r}, which is no buffer of the schema"
                for s in specs if s.folder not in {b.folder for b in buffers}]
    for buffer in buffers:
        spec = by_folder.get(buffer.folder)
        if spec is None:
            problems.append(f"lmv_cli/core/ue4/spec.py: schema buffer {buffer.folder!r} has no capture spec")
        elif tuple(c for c, _ in spec.channels) != buffer.channel_names:
            problems.append(f"lmv_cli/core/ue4/spec.py: {buffer.folder} feeds channels "
                            f"{','.join(c for c, _ in spec.channels)}, schema has {','.join(buffer.channel_names)}")
    return problems


def _check_graphs(specs: Sequence[CaptureSpec]) -> list[str]:
    """Every wire of every material graph starts at a node defined before it; Custom pins match their wires."""
    problems = []
    for spec in specs:
        if spec.material is None:
            continue
        where = f"lmv_cli/core/ue4/spec.py: {spec.material.asset}"
        defined: set[str] = set()
        for node in spec.material.nodes:
            for pin, source in node.inputs:
                if source.partition(":")[0] not in defined:
                    problems.append(f"{where}: {node.name}.{pin or 'input'} reads {source!r}, not defined before it")
            pins = dict(node.settings).get("inputs")
            if node.expression == "Custom" and tuple(pins or ()) != tuple(pin for pin, _ in node.inputs):
                wired = [pin for pin, _ in node.inputs]
                problems.append(f"{where}: Custom node {node.name} declares pins {pins}, wires {wired}")
            if node.name in defined:
                problems.append(f"{where}: node name {node.name!r} used twice")
            defined.add(node.name)
        if spec.material.emissive not in defined:
            problems.append(f"{where}: Emissive Color reads {spec.material.emissive!r}, which is no node")
    return problems


def _compare_names(where: str, found: Iterable[str], expected: Sequence[str]) -> list[str]:
    found = list(found)
    problems = [f"{where}: schema buffer {name!r} is missing" for name in expected if name not in found]
    problems += [f"{where}: {name!r} is no buffer of the schema" for name in dict.fromkeys(found)
                 if name not in expected]
    problems += [f"{where}: {name!r} listed {found.count(name)} times" for name in dict.fromkeys(found)
                 if found.count(name) > 1]
    return problems


def _check_materials_json(path: Path, text: str, buffers: Sequence[Buffer], specs: Sequence[CaptureSpec]) -> list[str]:
    try:
        materials = json.loads(text)["materials"]
        names = [m["buffer"] for m in materials]
    except (ValueError, KeyError, TypeError) as e:
        return [f"{path}: not a material list ({e})"]
    with_material = {s.folder for s in specs if s.material is not None}
    return _compare_names(str(path), names, [b.folder for b in buffers if b.folder in with_material])


def _check_materials_doc(path: Path, text: str, buffers: Sequence[Buffer]) -> list[str]:
    parts = _SECTION.split(text)  # [preamble, folder, body, folder, body, ...]
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    problems = _compare_names(f"{path} (sections)", parts[1::2], [b.folder for b in buffers])
    for buffer in buffers:
        if buffer.folder not in sections:
            continue
        rows = _channel_rows(sections[buffer.folder])
        expected = [(c.name, c.meaning, c.unit) for c in buffer.channels]
        if rows != expected:
            problems.append(f"{path}: channels of {buffer.folder} are documented as "
                            f"{_rows_text(rows)}, schema has {_rows_text(expected)}")
    return problems


def _channel_rows(section: str) -> list[tuple[str, str, str]]:
    lines = section.splitlines()
    if CHANNEL_HEADER not in lines:
        return []
    rows = []
    for line in lines[lines.index(CHANNEL_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((cells[0], cells[2], cells[3]) if len(cells) == 4 else (line, "", ""))
    return rows


def _rows_text(rows: Sequence[tuple[str, str, str]]) -> str:
    text = "; ".join(f"{name}={meaning!r}" + (f" [{unit}]" if unit else "") for name, meaning, unit in rows)
    return text or "nothing"


def _check_readme(path: Path, text: str, folders: Sequence[str]) -> list[str]:
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        return [f"{path}: buffer table markers missing ({README_BEGIN!r} ... {README_END!r})"]
    return _compare_names(f"{path} (buffer table)", _README_ROW.findall(text[start:end]), folders)


def _check_cpp_sources(root: Path, folders: Sequence[str]) -> list[str]:
    """Buffer names belong in the generated table only; C++ that branches on a name drifts (docs/capture.md#the-original-capture-code)."""
    problems = []
    for path in sorted((root / "Source").rglob("*.[ch]*")):
        if path.relative_to(root) == SCHEMA_HEADER:
            continue
        for literal in _CPP_LITERAL.findall(path.read_text(encoding="utf-8")):
            if literal in folders:
                problems.append(f"{path}: hard-codes buffer name {literal!r} "
                                f"(use LmvCaptureSchema.h)")
    return problems


def _check_generated(root: Path, texts: dict[Path, str | None], buffers: Sequence[Buffer]) -> list[str]:
    problems = []
    for relative, text in generated_files(buffers).items():
        if texts[relative] is not None and texts[relative] != text:
            problems.append(f"{root / relative}: differs from what the schema generates; "
                            f"regenerate with `{REGENERATE}`")
    readme = texts[README]
    if readme is not None and readme != with_readme_table(readme, readme_table(buffers, capture_specs())):
        problems.append(f"{root / README}: buffer table differs from the schema; regenerate with `{REGENERATE}`")
    return problems

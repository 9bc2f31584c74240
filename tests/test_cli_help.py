"""How the command line reads (issue 22): usage lines name arguments in upper case, flags show no value
placeholder, enum-like options refuse other values as usage errors (exit 2), help texts keep their
brackets and tell the truth about export sizes, and shell completion is on."""

from __future__ import annotations

import inspect
import re

import pytest
import typer
from typer.testing import CliRunner

from lmv_cli.cli.app import app

runner = CliRunner()
COMMANDS = ("capture-check", "synth", "pack", "train", "resume", "test", "extrapolate", "export-onnx",
            "import-checkpoint")


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_usage_names_arguments_in_upper_case_and_flags_take_no_value(command):
    text = _help(command)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    arguments = re.findall(r"[{\[]([^}\]]+)[}\]]", usage.split("[OPTIONS]", 1)[-1])
    assert arguments or command == "train", usage  # train takes options only
    assert all(a == a.upper() for a in arguments), usage
    assert "<bool>" not in text


def test_root_help_has_no_value_placeholder_on_flags_and_offers_completion():
    text = _help()
    assert "<bool>" not in text
    assert "--install-completion" in text


def test_shell_completion_completes_commands():
    result = runner.invoke(app, [], prog_name="lmv",
                           env={"_LMV_COMPLETE": "complete_bash", "COMP_WORDS": "lmv exp", "COMP_CWORD": "1"})
    assert result.exit_code == 0 and result.output.split() == ["export-onnx"]
    # the options that set it up are offered (what they print depends on the shell they detect)
    shown = runner.invoke(app, ["--help"], prog_name="lmv")
    assert "--install-completion" in shown.output and "--show-completion" in shown.output


@pytest.mark.parametrize(
    "args",
    [
        ["test", "bundled", "--data", "missing.zarr", "--precision", "bogus"],
        ["test", "bundled", "--data", "missing.zarr", "--backend", "tensorrt"],
        ["extrapolate", "missing.zarr", "--precision", "fp64"],
        ["extrapolate", "missing.zarr", "--backend", "bogus"],
        ["export-onnx", "bundled", "x.onnx", "--exporter", "tflite"],
    ],
)
def test_unknown_choice_is_a_usage_error_listing_the_choices(args):
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert args[-1] in result.output
    assert ("fp32" in result.output) or ("onnxruntime" in result.output) or ("torchscript" in result.output)


def test_choices_match_the_core():
    from typing import get_args

    from lmv_cli.cli._tables import Backend, Precision
    from lmv_cli.core.onnx_export import EXPORTERS
    from lmv_cli.core.infer.select import BACKENDS, PRECISIONS

    assert get_args(Precision) == PRECISIONS and get_args(Backend) == BACKENDS
    text = _help("export-onnx")
    assert all(e in text for e in EXPORTERS)


def test_export_help_keeps_the_extra_and_tells_the_sizes():
    text = " ".join(_help("export-onnx").split())
    assert "pip install 'lmv[onnx]'" in text
    assert "multiples of 32 for fsnet_lite" in text or "of 32 for fsnet_lite" in text
    assert "any H and W that are multiples of 16" not in text


@pytest.mark.parametrize("command", [*COMMANDS, "noise-floor"])
def test_help_flows_as_paragraphs_not_broken_where_the_docstring_breaks_its_lines(command):
    """A shown line may end where a docstring line ends only when the next word would not fit in 200
    columns (rich wrapped it there), never because the docstring broke its line."""
    doc = inspect.getdoc(typer.main.get_command(app).commands[command].callback)
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    shown = [line.strip(" │") for line in result.output.splitlines()]
    for paragraph in doc.split("\n\n"):
        source = [line.strip() for line in paragraph.splitlines()]
        for end, start in zip(source, source[1:]):
            broken = [a for a, b in zip(shown, shown[1:])
                      if a.endswith(end) and b.startswith(start) and len(a) + 1 + len(start.split()[0]) < 190]
            assert not broken, (command, end, start)

"""Packaging that `make demo` builds from a fresh clone (issue 22): the licence is a PEP 639 SPDX
expression, so setuptools prints no deprecation of the `project.license` table; and the demo's own
commands print nothing on stderr."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_licence_is_an_spdx_string_with_a_setuptools_that_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    (requirement,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.search(r">=\s*(\d+)", requirement)
    assert minimum and int(minimum.group(1)) >= 77  # PEP 639 licence expressions


@pytest.mark.slow
def test_demo_commands_print_nothing_on_stderr(tmp_path):
    """`make demo`'s lmv steps (smaller frames): synth, capture-check, pack, extrapolate."""
    lmv = [sys.executable, "-m", "lmv_cli"]
    steps = [
        ["synth", str(tmp_path / "export"), "--scene", "orbit", "--frames", "8", "--size", "64x48", "--seed", "7"],
        ["capture-check", str(tmp_path / "export")],
        ["pack", str(tmp_path / "export"), str(tmp_path / "store.zarr"), "--overwrite"],
        ["extrapolate", str(tmp_path / "store.zarr"), "--frames", "2", "--out", str(tmp_path / "out")],
    ]
    for step in steps:
        done = subprocess.run([*lmv, *step], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == "", (step[0], done.stderr)

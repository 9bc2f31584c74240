"""Validation of UE4 exports (`lmv capture-check`, docs/capture.md#checking-a-capture)."""

from lmv_cli.core.capture.check import check_export, check_scene
from lmv_cli.core.capture.folders import discover_scenes
from lmv_cli.core.capture.report import JSON_SCHEMA, CheckReport, MotionFigure, Problem, SceneReport, Severity

__all__ = [
    "JSON_SCHEMA",
    "CheckReport",
    "MotionFigure",
    "Problem",
    "SceneReport",
    "Severity",
    "check_export",
    "check_scene",
    "discover_scenes",
]

"""Per-frame and summary reports of an evaluation as CSV and JSON (docs/evaluation.md#lmv-test-output).

JSON numbers that are not finite (a PSNR of +inf: prediction identical to the truth) are written as
null, so every file is strict JSON. The `lmv test --json` document (schema `lmv.test/1`) is built by
`comparison_document`; its layout is documented in docs/evaluation.md and kept stable.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from lmv_cli.core.errors import LmvError
from lmv_cli.core.evaluate import FrameRecord, Summary

TEST_SCHEMA = "lmv.test/1"
FRAMES_SCHEMA = "lmv.frames/1"


def finite(value: float) -> float | None:
    """A metric value for JSON: the float, or None when it is inf/nan."""
    return value if math.isfinite(value) else None


def record_dict(record: FrameRecord) -> dict:
    """One frame as plain data: scene, frame, predicted, source, metrics (method → metric → value|null)."""
    metrics = {m: {k: finite(v) for k, v in values.items()} for m, values in record.metrics.items()}
    return {"scene": record.scene, "frame": record.frame, "predicted": record.predicted, "source": record.source,
            "metrics": metrics}


def summary_dict(summary: Summary) -> dict:
    """A summary as plain data: predicted frames scored and method → metric → mean|null."""
    methods = {m: {k: finite(v) for k, v in values.items()} for m, values in summary.methods.items()}
    return {"frames": summary.frames, "methods": methods}


def write_json(path: str | Path, document: Mapping) -> Path:
    """Write `document` as indented strict JSON; `LmvError` naming the file when it cannot be written."""
    path = Path(path)
    try:
        path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as e:
        raise LmvError(f"cannot write JSON: {e.strerror or e}", path=path) from None
    return path


def write_csv(path: str | Path, records: Sequence[FrameRecord]) -> Path:
    """One row per frame: scene, frame, predicted (0/1), source, then `<method>_<metric>` columns
    (empty for rendered frames; `inf` for identical images)."""
    path = Path(path)
    columns = list(dict.fromkeys(f"{m}_{k}" for r in records for m, values in r.metrics.items() for k in values))
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["scene", "frame", "predicted", "source", *columns])
            for r in records:
                flat = {f"{m}_{k}": v for m, values in r.metrics.items() for k, v in values.items()}
                cells = ["" if c not in flat else f"{flat[c]:.6g}" for c in columns]
                writer.writerow([r.scene, r.frame, int(r.predicted), r.source, *cells])
    except OSError as e:
        raise LmvError(f"cannot write CSV: {e.strerror or e}", path=path) from None
    return path


def frames_document(records: Sequence[FrameRecord], summaries: Mapping[str, Summary], **context) -> dict:
    """Per-frame metrics JSON of `lmv extrapolate`: context (store, scene, model, N), summaries, frames."""
    return {"schema": FRAMES_SCHEMA, **context,
            "summary": {name: summary_dict(s) for name, s in summaries.items()},
            "frames": [record_dict(r) for r in records]}


def comparison_document(
    records: Sequence[FrameRecord], summaries: Mapping[str, Summary], *, store: str, n: int,
    models: Mapping[str, str], metrics: Sequence[str], plot: str | None,
) -> dict:
    """The `lmv test --json` document (schema `lmv.test/1`, docs/evaluation.md#lmv-test-output)."""
    overall = summaries.get("all")
    return {
        "schema": TEST_SCHEMA,
        "ok": True,
        "store": store,
        "frames_per_rendered": n,
        "models": dict(models),
        "baselines": ["warp", "repeat"],
        "metrics": list(metrics),
        "scenes": {name: summary_dict(s) for name, s in summaries.items() if name != "all"},
        "overall": summary_dict(overall) if overall is not None else None,
        "plot": plot,
        "frames": [record_dict(r) for r in records],
    }

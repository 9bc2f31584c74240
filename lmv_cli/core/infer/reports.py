"""Per-frame and summary reports of an evaluation as CSV and JSON (docs/evaluation.md#lmv-test-output).

JSON numbers that are not finite (a PSNR of +inf: prediction identical to the truth) are written as
null, so every file is strict JSON. The `lmv test --json` document (schema `lmv.test/2`) is built by
`comparison_document`; its layout is documented in docs/evaluation.md and kept stable. Version 2 added the
per-region figures (`--regions`, docs/regions.md): a `regions` object per frame and per summary.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from lmv_cli.core.errors import LmvError
from lmv_cli.core.evaluate import FrameRecord, Summary
from lmv_cli.core.regions import REGIONS, RegionStats

TEST_SCHEMA = "lmv.test/2"
FRAMES_SCHEMA = "lmv.frames/2"
NOISE_FLOOR_SCHEMA = "lmv.noise-floor/1"


def finite(value: float) -> float | None:
    """A metric value for JSON: the float, or None when it is inf/nan."""
    return value if math.isfinite(value) else None


def record_dict(record: FrameRecord) -> dict:
    """One frame as plain data: scene, frame, predicted, source, metrics (method → metric → value|null)
    and, when regions were computed, `regions` (region → share, methods → psnr/ssim; absent regions left out)."""
    metrics = {m: {k: finite(v) for k, v in values.items()} for m, values in record.metrics.items()}
    result = {"scene": record.scene, "frame": record.frame, "predicted": record.predicted, "source": record.source,
              "metrics": metrics}
    if record.regions:
        result["regions"] = regions_dict(record.regions, record.pixels)
    return result


def summary_dict(summary: Summary) -> dict:
    """A summary as plain data: predicted frames scored and method → metric → mean|null; with regions,
    `regions` (pooled over the frames, `regions_dict`) and `noise_threshold` (scene → ACES units)."""
    methods = {m: {k: finite(v) for k, v in values.items()} for m, values in summary.methods.items()}
    result = {"frames": summary.frames, "methods": methods}
    if summary.regions:
        result["regions"] = regions_dict(summary.regions, summary.pixels)
        result["noise_threshold"] = dict(summary.noise_threshold)
    return result


def regions_dict(regions: Mapping[str, RegionStats], pixels: int) -> dict:
    """Region → {share of the pixels, frames it appears in, methods → {psnr (pooled MSE), ssim}|null}."""
    return {name: {"share": stats.pixels / pixels if pixels else None, "frames": stats.frames,
                   "methods": {m: {k: finite(v) for k, v in stats.metrics(m).items()} for m in stats.sq_error}}
            for name, stats in regions.items()}


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
    (empty for rendered frames; `inf` for identical images) and, with regions, `<region>_share` and
    `<method>_<region>_psnr|ssim` (empty where the region is absent)."""
    path = Path(path)
    flats = [_flat(r) for r in records]
    columns = list(dict.fromkeys(c for flat in flats for c in flat))
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["scene", "frame", "predicted", "source", *columns])
            for r, flat in zip(records, flats):
                cells = ["" if c not in flat else f"{flat[c]:.6g}" for c in columns]
                writer.writerow([r.scene, r.frame, int(r.predicted), r.source, *cells])
    except OSError as e:
        raise LmvError(f"cannot write CSV: {e.strerror or e}", path=path) from None
    return path


def _flat(record: FrameRecord) -> dict[str, float]:
    """A frame's CSV cells: `<method>_<metric>`, then per region present its share and method metrics."""
    flat = {f"{m}_{k}": v for m, values in record.metrics.items() for k, v in values.items()}
    for region in (r for r in REGIONS if r in record.regions):
        stats = record.regions[region]
        flat[f"{region}_share"] = stats.pixels / record.pixels
        flat.update({f"{m}_{region}_{k}": v for m in stats.sq_error for k, v in stats.metrics(m).items()})
    return flat


def frames_document(records: Sequence[FrameRecord], summaries: Mapping[str, Summary], **context) -> dict:
    """Per-frame metrics JSON of `lmv extrapolate`: context (store, scene, model, N), summaries, frames."""
    return {"schema": FRAMES_SCHEMA, **context,
            "summary": {name: summary_dict(s) for name, s in summaries.items()},
            "frames": [record_dict(r) for r in records]}


def comparison_document(
    records: Sequence[FrameRecord], summaries: Mapping[str, Summary], *, store: str, n: int,
    models: Mapping[str, str], metrics: Sequence[str], plot: str | None,
) -> dict:
    """The `lmv test --json` document (schema `lmv.test/2`, docs/evaluation.md#lmv-test-output)."""
    overall = summaries.get("all")
    return {
        "schema": TEST_SCHEMA,
        "ok": True,
        "store": store,
        "frames_per_rendered": n,
        "models": dict(models),
        "baselines": ["warp", "repeat"],
        "metrics": list(metrics),
        "regions": list(REGIONS) if any(s.regions for s in summaries.values()) else None,
        "scenes": {name: summary_dict(s) for name, s in summaries.items() if name != "all"},
        "overall": summary_dict(overall) if overall is not None else None,
        "plot": plot,
        "frames": [record_dict(r) for r in records],
    }

"""Streaming evaluation (docs/evaluation.md): models and the `warp` / `repeat` baselines on exactly the same frames.

A scene is walked frame by frame in the R P…P pattern of `rollout.rp_schedule` (the first three frames
rendered, then N predicted after every rendered one). Every model drives its own `Rollout`, so a
predicted frame's history holds the earlier predictions (and their streamed features) exactly as a
player would see them; the baselines show the last rendered frame, repeated or warped with the
rendered motion vectors. Only predicted frames are scored, all methods against the same ground truth.

Memory is bounded: frames are read one at a time from the store and only the last four stay alive.

    records = evaluate_scene(scene, 2, {"model": net}, device="cuda")
    table = summarize(records)   # per scene and "all", per method: mean of every metric
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from lmv_cli.core import baselines, regions as regions_
from lmv_cli.core.background import BackgroundTasks
from lmv_cli.core.compat import FRAME_BUFFERS
from lmv_cli.core.config import HISTORY_SLOTS
from lmv_cli.core.errors import InputError
from lmv_cli.core.inputs import TARGET_BUFFERS, Targets, frame_layers, targets_of
from lmv_cli.core.metrics import METRIC_NAMES, flip, frame_metrics, score_methods
from lmv_cli.core.model.interface import NetOutputs
from lmv_cli.core.progress import ProgressFn, report
from lmv_cli.core.regions import RegionStats
from lmv_cli.core.rollout import Rollout, rp_schedule

BASELINES = ("warp", "repeat")
"""Baselines every evaluation reports beside the models (docs/evaluation.md#baselines)."""
METRICS = METRIC_NAMES
"""Every metric of a scored frame (`evaluate_scene`'s default; `--all-metrics` of `lmv test` and
`lmv extrapolate`): psnr, ssim and the same of the no-translucency and the translucency-only layers
(`metrics.score_methods`)."""
FRAME_METRICS = ("psnr", "ssim", "psnr_no_st", "psnr_st")
"""What `lmv test` and `lmv extrapolate` score by default: the layers' SSIM, two more blurs of every
method (more CPU than the network at 720p and above), only with `--all-metrics`."""
FLIP_METRICS = ("flip_hdr", "flip_ldr")
"""ꟻLIP of the final colour (lower is better), with `flip=True` (the `metrics` extra)."""
OVERALL = "all"
"""Key of the summary over every scene."""
KEPT_BUFFERS = ("motion_vector", "depth", "skybox_mask", "st_alpha")
"""What the baselines and the regions read of frames t…t−3 besides their layers (kept apart, computed
once per frame; the rollouts keep their own history): frames are trimmed to these once layered."""
SCORED_BUFFERS = tuple(dict.fromkeys((*TARGET_BUFFERS, *KEPT_BUFFERS)))
"""What scoring reads of a frame: its ground-truth layers' buffers and `KEPT_BUFFERS`."""


@dataclass
class FrameRecord:
    """One frame of a scene: whether it was predicted, how far back the last rendered frame is, and
    (predicted frames only) each method's metrics: method name → metric name → value."""

    scene: str
    frame: int
    predicted: bool
    source: int  # distance to the last rendered frame: 0 for a rendered frame, 1..N for a predicted one
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    regions: dict[str, RegionStats] = field(default_factory=dict)  # with `regions=True`: the regions present
    pixels: int = 0  # pixels of the scored frame (H·W), 0 for a rendered one
    noise_threshold: float | None = None  # the scene's shading-change threshold, ACES units (`regions`)
    region_labels: torch.Tensor | None = field(default=None, repr=False, compare=False)
    """(1, H, W) index into `regions.REGIONS`, set only while `on_frame` runs (not kept: memory)."""


@dataclass
class Summary:
    """Means over the predicted frames of one scene (or all scenes): method → metric → mean."""

    scene: str
    frames: int  # predicted (scored) frames
    methods: dict[str, dict[str, float]]
    regions: dict[str, RegionStats] = field(default_factory=dict)  # pooled over the frames, `REGIONS` order
    pixels: int = 0  # pixels of all scored frames (the denominator of a region's share)
    noise_threshold: dict[str, float] = field(default_factory=dict)  # scene → shading-change threshold


OnFrame = Callable[[FrameRecord, Mapping[str, NetOutputs], Targets], None]
"""Called for every frame (rendered ones too, with no outputs): the record, each method's prediction
and the ground truth. `lmv extrapolate` writes its images from here. `record.region_labels` is only
set during the call: take what you need of it there."""
Reference = Callable[[int], NetOutputs]
"""A method that is not a network: frame index t → its image of frame t (batch 1), e.g. the same frame
rendered with another sampling seed (`noise_floor.py`)."""


def evaluate_scene(
    scene,
    n: int,
    models: Mapping[str, torch.nn.Module],
    *,
    device: torch.device | str = "cpu",
    start: int = 0,
    end: int | None = None,
    flip_metrics: bool = False,
    metrics: Sequence[str] = METRICS,
    regions: bool = False,
    references: Mapping[str, Reference] | None = None,
    on_frame: OnFrame | None = None,
    progress: ProgressFn | None = None,
    overlap: bool = False,
) -> list[FrameRecord]:
    """Walk frames `start` … `end`−1 of a store `Scene` in the R P…P pattern with N predictions per
    rendered frame, and score every model (already on `device`) and the baselines on each predicted frame.

    Models run in eval mode without gradient (their previous mode is restored afterwards), each through
    its own `Rollout` with cached history encodings; `references` are scored beside them. `metrics`: the
    PSNR/SSIM names to compute (`METRICS`, all by default; fewer SSIMs cost less). With `regions`,
    every scored frame is also split into `regions.REGIONS` (computed once, shared by every method) and
    each method's squared error and SSIM summed per region. With `overlap` (on CPU), the baselines, the
    scores, `on_frame` and the progress report of frame t run on a second thread while the models
    predict frame t+1. Returns one `FrameRecord` per frame walked.
    """
    first, stop = frame_range(scene, n, start, end)
    references = dict(references or {})
    _check_names(models, references)
    schedule = rp_schedule(stop - first, n)
    rollouts = {name: Rollout(model) for name, model in models.items()}
    modes = {name: model.training for name, model in models.items()}
    finish = _Finish(metrics, flip_metrics, regions, on_frame, progress, scene.name, stop - first)
    scorer, source = _Scorer(overlap and torch.device(device).type == "cpu"), 0
    try:
        for model in models.values():
            model.eval()
        with torch.no_grad():
            for i, t in enumerate(range(first, stop)):
                frame = read_frame(scene, t, device)
                source = source + 1 if schedule[i] else 0
                outputs = _step(t, frame, source, rollouts, references)
                scored = {name: frame[name] for name in SCORED_BUFFERS}  # the scorer's own dict: it empties it
                scorer.run(finish, i, FrameRecord(scene.name, t, source > 0, source), scored, outputs)
                del frame, outputs  # not alive while the next frame is predicted
            scorer.close()
    finally:
        scorer.close(raise_error=False)
        for name, model in models.items():
            model.train(modes[name])
    return finish.records


class _Finish:
    """The rest of a frame once the models have seen it, in frame order: the baselines, the regions, the
    scores (`_score`), `on_frame` and the progress report. It keeps the frames the baselines and regions
    look back at: the last four, trimmed to `KEPT_BUFFERS`, with the layers of the rendered ones."""

    def __init__(self, metrics: Sequence[str], use_flip: bool, regions: bool, on_frame: OnFrame | None,
                 progress: ProgressFn | None, scene: str, total: int):
        self.metrics, self.use_flip, self.regions = metrics, use_flip, regions
        self.on_frame, self.progress, self.scene, self.total = on_frame, progress, scene, total
        self.records: list[FrameRecord] = []
        self.recent: list[dict[str, torch.Tensor]] = []  # [frame t, t−1, t−2, t−3] as read from the store
        self.shown: list[NetOutputs | None] = []  # their `rendered_layers` (rendered frames only, once scored)
        self.threshold: float | None = None  # the scene's shading-change threshold, with `regions`

    def __call__(self, i: int, record: FrameRecord, frame: dict[str, torch.Tensor],
                 outputs: dict[str, NetOutputs]) -> None:
        with torch.no_grad():  # grad mode is per thread
            layers = frame_layers(frame, str(record.frame))
            targets, source = targets_of(frame, layers), record.source
            kept = {name: frame[name] for name in KEPT_BUFFERS}
            frame.clear()  # the raw colours, now in `layers`: not kept alive while this frame is scored
            recent = self.recent = [kept, *self.recent[:HISTORY_SLOTS]]
            shown = self.shown = [layers, *self.shown[:HISTORY_SLOTS]]
            if source:
                outputs["warp"] = baselines.warp(recent, source, shown[source])
                outputs["repeat"] = baselines.repeat(recent, source, shown[source])
                if self.regions and self.threshold is None:  # t−1, t−2: the scene's first rendered frames
                    self.threshold = regions_.noise_threshold(recent[1], recent[2], shown[1], shown[2])
            _score(record, outputs, targets, recent, shown[source].color if source else None,
                   self.threshold, self.metrics, self.use_flip)
        self.records.append(record)
        if self.on_frame is not None:
            self.on_frame(record, outputs, targets)
        record.region_labels = None
        if source:  # only a rendered frame's layers are shown again (by the baselines)
            shown[0] = None
        report(self.progress, self.scene, i + 1, self.total)


class _Scorer:
    """Runs `_Finish` for each frame: inline, or (`overlap`, CPU) on one background thread, so that frame t
    is scored while the network predicts frame t+1. The CPU threads are split between the two (the
    caller's thread keeps the larger half): two stages of one thread each use two cores better than one
    stage of two threads, whose small kernels wait on each other (docs/performance.md)."""

    def __init__(self, overlap: bool):
        self.threads = torch.get_num_threads()
        self.worker = None
        if overlap and self.threads > 1:
            scoring = self.threads // 2
            torch.set_num_threads(self.threads - scoring)
            self.worker = BackgroundTasks(depth=1, name="lmv-score")
            self.worker.submit(lambda: torch.set_num_threads(scoring))  # the worker thread's own pool

    def run(self, finish: _Finish, i: int, record: FrameRecord, *args) -> None:
        """`finish(i, record, *args)` now, or on the worker: a predicted frame once every earlier one is
        scored (at most one predicted frame alive per stage: 1080p peak memory stays near 3 GB); a
        rendered one (light work there) right away, so the stages overlap across the R/P alternation."""
        if self.worker is None:
            finish(i, record, *args)
        else:
            if record.predicted:
                self.worker.wait()
            self.worker.submit(lambda: finish(i, record, *args))

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for the frames still being scored (raising the first error unless told not to) and give
        the caller's thread its CPU threads back."""
        if self.worker is not None:
            try:
                self.worker.close(raise_error=raise_error)
            finally:
                torch.set_num_threads(self.threads)


def _check_names(models: Mapping[str, object], references: Mapping[str, object]) -> None:
    """Refuse (`InputError`) method names that would overwrite another method's figures."""
    clash = [name for name in models if name in BASELINES]
    if clash:
        raise InputError(f"model name(s) {', '.join(clash)} clash with the baselines {', '.join(BASELINES)}")
    clash = [name for name in references if name in BASELINES or name in models]
    if clash:
        raise InputError(f"reference name(s) {', '.join(clash)} clash with a model or a baseline")


def _step(t: int, frame: dict[str, torch.Tensor], source: int, rollouts: Mapping[str, Rollout],
          references: Mapping[str, Reference]) -> dict[str, NetOutputs]:
    """Advance every rollout by frame t; when `source` > 0, every model's and reference's prediction of it
    (the baselines are added by `_Finish`)."""
    if source == 0:
        for rollout in rollouts.values():
            rollout.history.advance_rendered(frame)
        return {}
    outputs: dict[str, NetOutputs] = {}
    for name, rollout in rollouts.items():
        outputs[name] = rollout.predict(frame)
        rollout.history.advance_predicted(frame, outputs[name])
    outputs.update({name: reference(t) for name, reference in references.items()})
    return outputs


def _score(record: FrameRecord, outputs: Mapping[str, NetOutputs], targets: Targets,
           recent: list[dict[str, torch.Tensor]], last_color: torch.Tensor | None, threshold: float | None,
           metrics: Sequence[str], use_flip: bool) -> FrameRecord:
    """Fill `record` with every method's metrics (one vectorised pass, `metrics.score_methods`) and, when
    `threshold` is set (regions on), the frame's regions and per-region sums (`last_color`: the final
    colour of the last rendered frame); unchanged when not predicted."""
    if not outputs:
        return record
    names = list(outputs)
    masks = None
    if threshold is not None:
        record.region_labels = regions_.region_labels(recent, record.source, targets.scene_color, threshold,
                                                     last_color)
        masks = regions_.region_masks(record.region_labels[0])
    scores = score_methods([outputs[m] for m in names], targets, masks, metrics)
    values = {k: v.tolist() for k, v in scores.values.items()}
    record.metrics = {m: {k: values[k][i] for k in metrics} for i, m in enumerate(names)}
    record.pixels = targets.scene_color.shape[-2] * targets.scene_color.shape[-1]
    if use_flip:
        for m in names:
            record.metrics[m]["flip_hdr"] = float(flip(outputs[m].color, targets.scene_color, "HDR")[0])
            record.metrics[m]["flip_ldr"] = float(flip(outputs[m].color, targets.scene_color, "LDR")[0])
    if masks is not None:
        record.noise_threshold = threshold
        record.regions = _region_stats(names, scores)
    return record


def _region_stats(names: Sequence[str], scores) -> dict[str, RegionStats]:
    """Per-region sums of one frame as `RegionStats`, regions absent from the frame left out."""
    sq, ss = scores.region_sq_error.tolist(), scores.region_ssim.tolist()
    pixels, inner = scores.region_pixels.tolist(), scores.region_ssim_pixels.tolist()
    return {region: RegionStats(int(pixels[r]), int(inner[r]), 1, {m: sq[i][r] for i, m in enumerate(names)},
                                {m: ss[i][r] for i, m in enumerate(names)})
            for r, region in enumerate(regions_.REGIONS) if pixels[r] > 0}


def score(outputs: NetOutputs, targets: Targets, use_flip: bool = False) -> dict[str, float]:
    """The metrics of one prediction of a single frame (batch 1) as plain floats (`METRICS`, `FLIP_METRICS`)."""
    values = {name: float(v[0]) for name, v in frame_metrics(outputs, targets).items()}
    if use_flip:
        values["flip_hdr"] = float(flip(outputs.color, targets.scene_color, "HDR")[0])
        values["flip_ldr"] = float(flip(outputs.color, targets.scene_color, "LDR")[0])
    return values


def read_frame(scene, t: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Frame t of a store `Scene` as the frame dict of the rollout: buffer → float32 (1, C, H, W)."""
    arrays = scene.frame(t, FRAME_BUFFERS)
    return {name: torch.as_tensor(a).to(device=device, dtype=torch.float32).unsqueeze(0) for name, a in arrays.items()}


def frame_range(scene, n: int, start: int, end: int | None) -> tuple[int, int]:
    """Check N and the frame range `start` … `end`−1 (None: to the last frame) against a scene; the range
    must hold at least one predicted frame. Returns (start, stop); `InputError` otherwise."""
    if not 1 <= n <= HISTORY_SLOTS:
        raise InputError(f"frames predicted per rendered frame must be 1..{HISTORY_SLOTS}, got {n}")
    stop = scene.frames if end is None else end
    if start < 0 or stop > scene.frames or stop <= start:
        raise InputError(f"scene {scene.name}: frame range {start}..{stop - 1} is outside its frames "
                         f"0..{scene.frames - 1}")
    if stop - start <= HISTORY_SLOTS:
        raise InputError(
            f"scene {scene.name}: frames {start}..{stop - 1} are {stop - start}, need at least {HISTORY_SLOTS + 1} "
            f"({HISTORY_SLOTS} rendered history frames before the first prediction)"
        )
    return start, stop


def summarize(records: Sequence[FrameRecord]) -> dict[str, Summary]:
    """Means of every metric over the predicted frames, per scene (in order of appearance) and over all
    scenes (`OVERALL`, the mean over every scored frame). A PSNR of +inf (identical images) keeps the
    mean at +inf: the figure is honest that some frame was exact. Region statistics are pooled (summed
    over pixels and frames, `RegionStats.merged`), so a region's PSNR is that of its pooled MSE."""
    groups: dict[str, list[FrameRecord]] = {}
    for record in records:
        if record.predicted:
            groups.setdefault(record.scene, []).append(record)
    scored = [r for rs in groups.values() for r in rs]
    summaries = {scene: _summary(scene, rs) for scene, rs in groups.items()}
    summaries[OVERALL] = _summary(OVERALL, scored)
    return summaries


def _summary(scene: str, records: Sequence[FrameRecord]) -> Summary:
    methods: dict[str, dict[str, float]] = {}
    for method in (records[0].metrics if records else {}):
        names = records[0].metrics[method]
        methods[method] = {m: _mean([r.metrics[method][m] for r in records]) for m in names}
    pooled: dict[str, RegionStats] = {}
    for record in records:
        for region, stats in record.regions.items():
            pooled[region] = pooled[region].merged(stats) if region in pooled else stats
    ordered = {region: pooled[region] for region in regions_.REGIONS if region in pooled}
    thresholds = {r.scene: r.noise_threshold for r in records if r.noise_threshold is not None}
    return Summary(scene, len(records), methods, ordered, sum(r.pixels for r in records), thresholds)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")

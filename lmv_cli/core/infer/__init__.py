"""Inference jobs on a store (docs/evaluation.md): `lmv test` (models vs the baselines, tables and a plot) and
`lmv extrapolate` (predicted frames written as EXR, PNG, contact sheet, metrics and video).

Both drive `core.evaluate.evaluate_scene`, which drives the one `Rollout`; this package adds model
loading and checking (`models`), image writing (`images`, `plot`, `video`) and per-frame reports
(`reports`).
"""

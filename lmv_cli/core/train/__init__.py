"""Training (docs/training.md): run directories, checkpoints, the loop, validation, logs, distributed set-up.

`run.train(cfg, ...)` starts a run, `run.resume(path, ...)` continues one; both return a `TrainResult`.
The CLI (`lmv train`, `lmv resume`) only parses arguments and renders the events the loop reports.
"""

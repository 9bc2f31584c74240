"""The product: everything `lmv` does, without any command-line or terminal code (no typer, no rich).

Every import stands at the top of its module, so the import graph (tests/test_architecture.py, `farm-studio
look`) sees every edge. The only imports inside functions are the ones in `LAZY_IMPORTS`: optional extras
that may be missing, and zarr in the one module that pack's worker processes share with the writer.
"""

LAZY_IMPORTS = {
    "onnx": "extra [onnx]: `lmv export-onnx` checks the written graph (onnx_export.py)",
    "onnxruntime": "extra [onnx]: ONNX Runtime backend and export validation (onnx_export.py, via importlib)",
    "openvino": "optional: the OpenVINO backend of `lmv test`/`extrapolate` (infer/backends.py)",
    "av": "extra [video]: video.mp4 of `lmv extrapolate` (infer/video.py)",
    "flip_evaluator": "extra [metrics]: the FLIP metric, opt-in (metrics.py)",
    "torch.utils.tensorboard": "optional: TensorBoard logs when tensorboard is installed (train/logs.py)",
    "zarr": "store/layout.py: pack's worker processes import layout and must not load zarr (its event-loop thread)",
}
"""Module → why it is imported inside a function (tests/test_architecture.py fails on any other)."""

"""Make the model shipped inside the package (`lmv_cli/assets/bundled_model.pt`, MODEL `bundled`).

    python -m lmv_cli.core.model.bundle RUN_DIR|MODEL_FILE [--out PATH]

Takes a run's best model (or any lmv model file), stores its weights in float16 (half the size; loaded
back as float32) and keeps its configuration and its record of the training data and validation, so
`lmv extrapolate` without `--model` checks stores against it like any other model. docs/model-card.md
says which run the shipped file came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lmv_cli.core.model.files import BUNDLED_PATH, load_model, resolve_model, save_model


def bundle(source: str | Path, out: Path = BUNDLED_PATH) -> Path:
    """Write `source` (a run directory, job directory or model file) as the bundled fp16 model file."""
    path = resolve_model(source)
    model, cfg, meta = load_model(path)
    meta = {**meta, "bundled_from": str(path), "stored_as": "float16"}
    return save_model(out, model, cfg, meta, half=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="run directory, job directory or lmv model file")
    parser.add_argument("--out", type=Path, default=BUNDLED_PATH, help=f"default: {BUNDLED_PATH}")
    args = parser.parse_args(argv)
    written = bundle(args.source, args.out)
    print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

"""Session-wide fixtures: small synthetic UE4 exports written once by `lmv synth` (tests never read
../shared).

- `synth_scene`: one scene folder (`occlusion`, 96x64, 8 frames, seed 0): sky, moving and spinning
  objects, a translucent pane, a scrolling screen, a pulsing lamp. About half a second to make.
- `synth_factory(scene=..., frames=..., size=(w, h), seed=...)`: any other one, cached per arguments
  for the session; returns the scene folder `<tmp>/<scene>`.
- `eval_store`, `tiny_model`: a packed two-scene store and a briefly trained model on it.

All of them are made once per test run, however many pytest-xdist workers share it (`_once`), and are
read-only: a test that changes one copies it first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

SynthFactory = Callable[..., Path]


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: under `pytest -n 2` on a 2-core machine, two workers each
    running two threads fight over the cores and torch-heavy tests get ~10x slower."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `mutmut run` (docs/testing.md, "Mutation testing"), run a mutant's tests fastest first: mutmut stops
    at the first failure (`-x`), so a mutant that a quick test kills no longer waits for slow pack or
    training tests. Durations come from mutmut's own stats run (`mutants/mutmut-stats.json`)."""
    import json
    import os

    stats = Path("mutmut-stats.json")  # mutmut runs the tests from inside mutants/
    if not os.environ.get("MUTANT_UNDER_TEST") or not stats.is_file():
        return
    try:
        duration = json.loads(stats.read_text())["duration_by_test"]
    except (ValueError, KeyError):
        return
    items.sort(key=lambda item: duration.get(item.nodeid, 0.0))


def _once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """`build(folder)`'s result, built once per test run: under pytest-xdist the workers share the base
    temporary folder's parent, the first to take the lock builds and the others reuse it (the pattern of
    pytest-xdist's documentation); without xdist, once per session."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / f"shared_{name}", root / f"shared_{name}.done"
    with FileLock(f"{folder}.lock"):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            done.write_text(str(build(folder)))
    return Path(done.read_text())


@pytest.fixture(scope="session")
def synth_factory(tmp_path_factory: pytest.TempPathFactory) -> SynthFactory:
    from lmv_cli.core.synth import write_capture

    def make(scene: str = "occlusion", frames: int = 8, size: tuple[int, int] = (96, 64), seed: int = 0) -> Path:
        def build(out: Path) -> Path:
            (folder,) = write_capture(out, [scene], frames=frames, size=tuple(size), seed=seed, workers=1)
            return folder

        return _once(tmp_path_factory, f"synth_{scene}_{size[0]}x{size[1]}_{frames}f_s{seed}", build)

    return make


@pytest.fixture(scope="session")
def synth_scene(synth_factory: SynthFactory) -> Path:
    """A small synthetic scene folder in the UE4 export layout (occlusion, 96x64, 8 frames, seed 0)."""
    return synth_factory()


@pytest.fixture(scope="session")
def eval_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A packed store of two synth scenes (occlusion, translucency; 48x32, 12 frames) for evaluation."""
    from helpers_evaluate import make_store

    return _once(tmp_path_factory, "eval_store", make_store)


@pytest.fixture(scope="session")
def tiny_model(eval_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An `fsnet_small` model file after a few real optimizer steps on `eval_store`."""
    from helpers_evaluate import train_tiny_model

    return _once(tmp_path_factory, "tiny_model", lambda folder: train_tiny_model(eval_store, folder / "tiny.pt"))

"""Whether a model can run on a store: what training records of its store (`data_signature`, kept in a
model file's `meta["data"]`) and the check that refuses a model before any work (`check_model_store`).

Training writes the record, `lmv test`/`extrapolate`/`noise-floor` check it; neither imports the other
for it (docs/evaluation.md#rendered-and-predicted-frames).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lmv_cli.core.errors import CheckpointError
from lmv_cli.core.inputs import CHANNELS, CURRENT_BUFFERS, TARGET_BUFFERS
from lmv_cli.core.rollout import RENDERED_BUFFERS

FRAME_BUFFERS = tuple(dict.fromkeys(CURRENT_BUFFERS + RENDERED_BUFFERS + TARGET_BUFFERS))
"""Store buffers read per frame: G-buffer, rendered history layers and ground truth."""
GBUFFER_BUFFERS = ("world_normal", "depth", "roughness", "metallic")
"""Buffers of the network's G-buffer input (`inputs.gbuffer_input`)."""
DATA_META_KEY = "data"
"""Key of a model file's `meta` under which training records `data_signature` of its store."""


def data_signature(store) -> dict:
    """What a network trained on `store` depends on (plain data, for a model file's `meta["data"]`):
    the store format version, the channels of every buffer the network reads, and the conversions
    (BRDF floor, depth normalisation, LUT hash, …) that derived its inputs."""
    buffers = store.attrs.get("layout", {}).get("buffers", {})
    return {
        "format_version": store.attrs.get("format_version"),
        "channels": {name: buffers.get(name, {}).get("channels") for name in FRAME_BUFFERS},
        "conversions": store.attrs.get("conversions", {}),
    }


def check_model_store(model: torch.nn.Module, meta: Mapping, store, model_path) -> None:
    """Refuse (`CheckpointError` naming the model file) a model that cannot run on `store`, before any
    work: buffer channels that differ from what the network reads, a G-buffer width the network was not
    built for, or (when the model records its training data) another format version or other conversions."""
    found = data_signature(store)
    for name, channels in found["channels"].items():
        if channels != CHANNELS[name]:
            raise CheckpointError(f"store {store.path} has {channels} channel(s) of '{name}', the network reads "
                                  f"{CHANNELS[name]}", path=model_path)
    gbuffer = sum(CHANNELS[name] for name in GBUFFER_BUFFERS)
    if getattr(model, "gbuffer_channels", gbuffer) != gbuffer:
        raise CheckpointError(f"network takes {model.gbuffer_channels} G-buffer channels, store {store.path} "
                              f"provides {gbuffer}", path=model_path)
    trained = meta.get(DATA_META_KEY)
    if not isinstance(trained, Mapping):
        return
    if "format_version" in trained and trained["format_version"] != found["format_version"]:
        raise CheckpointError(f"trained on store format version {trained['format_version']}, store {store.path} "
                              f"has {found['format_version']}; repack it or use a matching model", path=model_path)
    conversions = trained.get("conversions", found["conversions"])
    differ = [k for k in sorted(set(conversions) | set(found["conversions"]))
              if conversions.get(k) != found["conversions"].get(k)]
    if differ:
        key = differ[0]
        raise CheckpointError(f"trained on store conversions with {key} = {conversions.get(key)!r}, store "
                              f"{store.path} has {found['conversions'].get(key)!r}; repack it or use a matching "
                              "model", path=model_path)

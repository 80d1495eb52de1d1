"""Deterministic ids: the same inputs give the same id on any machine (SPEC 1.3)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the byte form that ids are hashed over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def short_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()[:8]


def stage_inputs(config: dict[str, Any], upstream: dict[str, str]) -> dict[str, Any]:
    """What a stage id is computed over: its own config plus the ids of the stages it is gated on."""
    return {"config": config, "upstream": dict(sorted(upstream.items()))}


def stage_id(stage: str, config: dict[str, Any], upstream: dict[str, str]) -> str:
    return f"{stage}_{short_hash(stage_inputs(config, upstream))}"


def dataset_id(export_inputs: dict[str, Any]) -> str:
    return f"ds_{short_hash(export_inputs)}"


def profile_id(profile: dict[str, Any]) -> str:
    return f"prof_{short_hash(profile)}"

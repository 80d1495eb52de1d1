"""Format adapters: one interface for every file format, one registry that picks the adapter."""

from dat_pipeline.adapters.base import (
    Adapter,
    AdapterError,
    ColumnInfo,
    MissingTableError,
    ProbeResult,
)
from dat_pipeline.adapters.registry import (
    Detection,
    adapter_for,
    detect,
    get_adapter,
    probe_table,
    registered_adapters,
)

__all__ = [
    "Adapter",
    "AdapterError",
    "ColumnInfo",
    "Detection",
    "MissingTableError",
    "ProbeResult",
    "adapter_for",
    "detect",
    "get_adapter",
    "probe_table",
    "registered_adapters",
]

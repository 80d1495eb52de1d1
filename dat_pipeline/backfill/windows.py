"""Time windows of a backfill, keyed exactly like Dagster's time-window partitions (UTC):
hourly `%Y-%m-%d-%H:%M`, daily, weekly (starting Sunday) and monthly `%Y-%m-%d`.

Domain code computes windows itself (no Dagster import); a test checks the keys agree with
Dagster's partitions definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from dat_pipeline.errors import DatError

Granularity = Literal["hourly", "daily", "weekly", "monthly"]
GRANULARITIES: tuple[str, ...] = ("hourly", "daily", "weekly", "monthly")
KEY_FORMATS = {
    "hourly": "%Y-%m-%d-%H:%M",
    "daily": "%Y-%m-%d",
    "weekly": "%Y-%m-%d",
    "monthly": "%Y-%m-%d",
}


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC, with the partition key that names it."""

    key: str
    start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        return {"window": self.key, "start": self.start.isoformat(), "end": self.end.isoformat()}


def as_utc(value: datetime | date | str) -> datetime:
    """A datetime in UTC: naive values are taken as UTC; dates are midnight UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise DatError(
                f"{value!r} is not a date or time: use e.g. 2024-01-31 or 2024-01-31T12:00"
            ) from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def floor_to(granularity: str, moment: datetime) -> datetime:
    """The start of the window that holds `moment`."""
    moment = as_utc(moment)
    if granularity == "hourly":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "daily":
        return day
    if granularity == "weekly":
        return day - timedelta(days=(day.weekday() + 1) % 7)
    if granularity == "monthly":
        return day.replace(day=1)
    raise DatError(f"granularity {granularity!r} is not one of {', '.join(GRANULARITIES)}")


def next_start(granularity: str, start: datetime) -> datetime:
    if granularity == "hourly":
        return start + timedelta(hours=1)
    if granularity == "daily":
        return start + timedelta(days=1)
    if granularity == "weekly":
        return start + timedelta(days=7)
    if granularity == "monthly":
        return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    raise DatError(f"granularity {granularity!r} is not one of {', '.join(GRANULARITIES)}")


def window_at(granularity: str, start: datetime) -> Window:
    return Window(start.strftime(KEY_FORMATS[granularity]), start, next_start(granularity, start))


def window_for_key(granularity: str, key: str) -> Window:
    """The window a partition key names (a clear error for a key of another granularity)."""
    try:
        start = datetime.strptime(key, KEY_FORMATS[granularity]).replace(tzinfo=UTC)
    except (KeyError, ValueError):
        raise DatError(
            f"window {key!r} is not a {granularity} window key (format "
            f"{KEY_FORMATS.get(granularity, '?')})"
        ) from None
    if floor_to(granularity, start) != start:
        raise DatError(f"window {key!r} does not start a {granularity} window")
    return window_at(granularity, start)


def windows_between(
    granularity: str, start: datetime | date | str, end: datetime | date | str
) -> list[Window]:
    """Complete windows inside [start, end): the first starts at the first boundary at or after
    `start` (as Dagster aligns partitions), the last ends at or before `end`."""
    lower, upper = as_utc(start), as_utc(end)
    if upper <= lower:
        raise DatError(f"the end {upper.isoformat()} is not after the start {lower.isoformat()}")
    current = floor_to(granularity, lower)
    if current < lower:
        current = next_start(granularity, current)
    windows = []
    while (following := next_start(granularity, current)) <= upper:
        windows.append(Window(current.strftime(KEY_FORMATS[granularity]), current, following))
        current = following
    return windows


def latest_complete(granularity: str, now: datetime | None = None) -> Window:
    """The newest window that has fully ended by `now`."""
    current = floor_to(granularity, now or datetime.now(UTC))
    previous = floor_to(granularity, current - timedelta(microseconds=1))
    return window_at(granularity, previous)

"""Business hours of an inbox: a timezone, weekly opening intervals and closed dates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from raccordo.domain.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    weekly: dict[str, list[tuple[time, time]]] = field(default_factory=dict)
    closed_dates: frozenset[date] = frozenset()

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.closed_dates:
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.weekly.get(DAYS[local.weekday()], []))

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "weekly": {day: [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in spans] for day, spans in self.weekly.items()},
            "closed_dates": sorted(d.isoformat() for d in self.closed_dates),
        }


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("hours.time_invalid", field=where, value=str(value)) from None


def parse_business_hours(data: dict[str, Any]) -> BusinessHours:
    """Read ``{"timezone": "Europe/Rome", "weekly": {"mon": [["09:00", "18:00"]]}, "closed_dates": ["2026-12-25"]}``."""
    tz = str(data.get("timezone", "Europe/Rome"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("hours.timezone_unknown", field="business_hours.timezone", value=tz) from None
    weekly: dict[str, list[tuple[time, time]]] = {}
    for day, spans in (data.get("weekly") or {}).items():
        if day not in DAYS:
            raise InvalidInput("hours.day_unknown", field=f"business_hours.weekly.{day}", value=day)
        parsed = []
        for index, span in enumerate(spans or []):
            where = f"business_hours.weekly.{day}.{index}"
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise InvalidInput("hours.span_invalid", field=where)
            start, end = _time(span[0], where), _time(span[1], where)
            if end <= start:
                raise InvalidInput("hours.span_invalid", field=where)
            parsed.append((start, end))
        weekly[day] = sorted(parsed)
    closed = set()
    for index, value in enumerate(data.get("closed_dates") or []):
        try:
            closed.add(date.fromisoformat(str(value)))
        except ValueError:
            raise InvalidInput("hours.date_invalid", field=f"business_hours.closed_dates.{index}", value=str(value)) from None
    return BusinessHours(tz, weekly, frozenset(closed))

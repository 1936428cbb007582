"""Business hours of an inbox: a timezone, weekly opening intervals and closed dates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from raccordo.platform.errors import InvalidInput

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
            "weekly": {
                day: [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in spans]
                for day, spans in self.weekly.items()
            },
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
            raise InvalidInput(
                "hours.date_invalid", field=f"business_hours.closed_dates.{index}", value=str(value)
            ) from None
    return BusinessHours(tz, weekly, frozenset(closed))


# --- business time arithmetic (SLA clocks counted in business hours) -------------------------

MAX_DAYS = 800  # a calendar with no opening for this long is treated as never open


def _open_spans(hours: BusinessHours, day: date) -> list[tuple[datetime, datetime]]:
    """The day's opening intervals as aware datetimes in the hours' timezone."""
    if day in hours.closed_dates:
        return []
    zone = ZoneInfo(hours.timezone)
    return [
        (datetime.combine(day, start, zone), datetime.combine(day, end, zone))
        for start, end in hours.weekly.get(DAYS[day.weekday()], [])
    ]


def add_business_seconds(hours: BusinessHours | None, start: datetime, seconds: float) -> datetime | None:
    """The moment ``seconds`` of open time after ``start`` (plain time when ``hours`` is None);
    None when the calendar never opens again."""
    from datetime import timedelta

    if hours is None:
        return start + timedelta(seconds=seconds)
    zone = ZoneInfo(hours.timezone)
    local = start.astimezone(zone)
    left = max(0.0, seconds)
    for offset in range(MAX_DAYS):
        day = local.date() + timedelta(days=offset)
        for open_at, close_at in _open_spans(hours, day):
            begin = max(open_at, local)
            if begin >= close_at:
                continue
            available = (close_at - begin).total_seconds()
            if left <= available and (left > 0 or begin < close_at):
                return (begin + timedelta(seconds=left)).astimezone(start.tzinfo)
            left -= available
    return None


def business_seconds_between(hours: BusinessHours | None, start: datetime, end: datetime) -> float:
    """Open time between two moments (plain elapsed time when ``hours`` is None)."""
    from datetime import timedelta

    if end <= start:
        return 0.0
    if hours is None:
        return (end - start).total_seconds()
    zone = ZoneInfo(hours.timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    total = 0.0
    day = local_start.date()
    for _ in range(MAX_DAYS):
        if day > local_end.date():
            break
        for open_at, close_at in _open_spans(hours, day):
            begin, finish = max(open_at, local_start), min(close_at, local_end)
            if finish > begin:
                total += (finish - begin).total_seconds()
        day += timedelta(days=1)
    return total


DEFAULT_TIMEZONE = "Europe/Rome"


def is_timezone(name: str) -> bool:
    """An IANA zone name the system knows (``Europe/Rome``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def tenant_zone(settings: dict[str, Any] | None) -> ZoneInfo:
    """The organization's timezone (``settings.timezone``, Europe/Rome when unset): the desktop shows
    times in it and agenda times are entered in it; users have no timezone of their own."""
    name = str((settings or {}).get("timezone") or DEFAULT_TIMEZONE)
    return ZoneInfo(name) if is_timezone(name) else ZoneInfo(DEFAULT_TIMEZONE)

"""The helpdesk's working hours in its time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.core.errors import ConfigError


class WorkingHours:
    """Daily staffed hours in a time zone; ``00:00-24:00`` means always staffed.

    A range whose end is before its start spans midnight (``22:00-06:00``).
    """

    def __init__(self, spec: str, timezone: str) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"helpdesk timezone {timezone!r} is unknown; use an IANA name such as Asia/Shanghai") from e
        start, end = spec.split("-")
        self.spec = spec
        self.start = _minutes(start)
        self.end = _minutes(end)

    @property
    def always(self) -> bool:
        """Whether somebody is on duty around the clock."""
        return self.start == self.end or (self.start == 0 and self.end == 24 * 60)

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (aware) falls inside the working hours."""
        if self.always:
            return True
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def local_date(self, at: datetime) -> date:
        """The calendar day of ``at`` in the helpdesk's time zone."""
        return at.astimezone(self.tz).date()


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)

"""Five-field cron expressions in an IANA time zone: parsed with messages for a person, and their next run.

Cron speaks local wall-clock time, so the next run is found on the calendar of the schedule's zone and then
turned into an instant: a daily 02:00 fires once per local day across both daylight-saving changes. A time
that a change skips (the spring gap) fires at the same instant as the hour before the change would say, i.e.
just after the jump; a time that repeats (the autumn fold) fires once, at its first occurrence.
"""

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
NAMES = {
    "month": {n: i for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)},
    "day of week": {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())},
}
EXAMPLE = "e.g. '0 2 * * *' for 02:00 every day"
# How far ahead a next run is looked for: an expression with none in 8 years (30 February) never fires.
SEARCH_DAYS = 366 * 8


class CronError(ValueError):
    """A cron expression or time zone that cannot be used; the message says what to write instead."""


@dataclasses.dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field, and whether the day fields were restricted."""

    minutes: tuple
    hours: tuple
    days: frozenset
    months: frozenset
    weekdays: frozenset  # 0 is Sunday (7 is folded into it)
    any_day: bool  # the field starts with "*" (as Vixie cron reads it: "*/2" too), so the other one decides
    any_weekday: bool

    def day_matches(self, day):
        """Cron's rule: when both day fields are restricted, either one matching is enough."""
        weekday = (day.weekday() + 1) % 7
        if self.any_day or self.any_weekday:
            return day.day in self.days and weekday in self.weekdays
        return day.day in self.days or weekday in self.weekdays


def _number(text, name, low, high):
    value = NAMES.get(name, {}).get(text.lower())
    if value is None:
        if not text.isdigit():
            raise CronError(f"The {name} field has {text!r}, which is not a number from {low} to {high}.")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"The {name} field has {value}, outside {low}-{high}.")
    return value


def _field(text, name, low, high):
    """The values one field allows: lists of *, numbers, ranges a-b, each with an optional /step."""
    values = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise CronError(f"The {name} field has the step {step!r}; a step is a whole number of at least 1.")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (_number(part, name, low, high) for part in base.split("-", 1))
            if first > last:
                raise CronError(f"The {name} field has the range {base}, which runs backwards.")
        else:
            first = _number(base, name, low, high)
            last = high if step else first
        values.update(range(first, last + 1, int(step or 1)))
    return values


def parse(expression):
    """Parse five fields (minute hour day-of-month month day-of-week); CronError says what is wrong."""
    parts = str(expression).split()
    if len(parts) != 5:
        raise CronError(f"A schedule has 5 fields (minute hour day-of-month month day-of-week), {EXAMPLE}; "
                        f"this one has {len(parts)}.")  # fmt: skip
    minutes, hours, days, months, weekdays = (_field(p, *f) for p, f in zip(parts, FIELDS, strict=True))
    weekdays = {0 if d == 7 else d for d in weekdays}
    return Cron(tuple(sorted(minutes)), tuple(sorted(hours)), frozenset(days), frozenset(months),
                frozenset(weekdays), parts[2].startswith("*"), parts[4].startswith("*"))  # fmt: skip


def zone(name):
    """The IANA time zone of that name; CronError names a valid one otherwise."""
    if not name or name not in _zone_names():
        raise CronError(f"Unknown time zone {name!r}; use an IANA name such as Europe/Tallinn or UTC.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"Unknown time zone {name!r}; use an IANA name such as Europe/Tallinn or UTC.") from None


def _zone_names():
    if not hasattr(_zone_names, "cache"):
        _zone_names.cache = available_timezones() | {"UTC"}
    return _zone_names.cache


def next_run(cron, tz, after):
    """The first instant strictly after `after` (aware) at which `cron` fires in zone `tz`, in UTC."""
    local = after.astimezone(tz)
    day = local.date()
    for _ in range(SEARCH_DAYS):
        if day.month in cron.months and cron.day_matches(day):
            for hour in cron.hours:
                for minute in cron.minutes:
                    # fold=0: a repeated time is its first occurrence; a skipped one lands just after the jump.
                    at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)
                    if at > after:
                        return at
        day += timedelta(days=1)
    raise CronError("The schedule never fires (no date matches it in 8 years), e.g. the 30th of February.")


def runs_per_hour(cron):
    """How many times an hour it can fire at most: schedules more frequent than hourly are refused."""
    return len(cron.minutes)

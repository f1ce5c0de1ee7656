"""A working calendar: the clock grid-event time limits are counted on (工作时/工作日).

Time limits of the matter list are given in working hours or working days (see DOMAIN.md), so a
deadline depends on the weekends, the public holidays of the year and the make-up working days
(调休) the State Council announces, and on the office hours. All of these are data: a
:class:`WorkCalendar` is built from a mapping (``WORK_CALENDAR`` file) or the defaults below.

Conventions
-----------
* Working time runs only inside the working periods (default 09:00-12:00 and 13:30-17:30, 7 hours)
  of working days (default Monday-Friday, minus holidays, plus make-up working days).
* A clock started outside working time starts at the next working moment.
* A deadline that falls exactly on the end of a period is that end (12:00, not 13:30).
* ``N working days`` is ``N`` times the length of a working day of working time: dispatched on Friday
  at 10:00 with one working day, the deadline is Monday 10:00. With the same periods every day this is
  "the same time of day on the N-th working day after", the usual reading of the rule.
* Datetimes may be naive (taken as local calendar time, answered naive) or aware (converted to the
  calendar's time zone, answered aware in that zone).

Where the holidays come from (:func:`calendar_from_config`, the app's calendar)
--------------------------------------------------------------------------------
1. The State Council's schedule as the maintained ``chinese-calendar`` package carries it: holidays
   and make-up working days (调休) of every year it covers (an *official* year).
2. A local JSON file on top (``WORK_CALENDAR``): a county's own days off, or a year's schedule loaded
   before the package has it (list that year in ``official_years``). The file wins where they disagree.
3. A year that neither covers (deadlines run into next year before its schedule is published in
   November): the statutory holidays computed by the ``holidays`` package (New Year, Spring Festival,
   Qingming, Labour Day, Dragon Boat, Mid-Autumn, National Day; lunar dates converted), without
   make-up working days, which cannot be guessed. :meth:`WorkCalendar.estimated_years` names those
   years so that the admin is warned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from gis.errors import InputError

UNITS = ("working_hours", "working_days")
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))
DEFAULT_WEEKDAYS = frozenset(range(5))  # Monday = 0 … Friday = 4
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: A calendar with no working day in this many days is refused (it would never reach a deadline).
MAX_SEARCH_DAYS = 3660
#: Keys of a calendar file / mapping.
CALENDAR_KEYS = ("holidays", "workdays", "hours", "weekdays", "timezone", "official_years", "national_schedule",
                 "note")


@lru_cache(maxsize=1)
def national_schedule() -> tuple[frozenset[date], frozenset[date], frozenset[int]]:
    """The State Council's holidays, make-up working days and the years they cover (``chinese-calendar``)."""
    from chinese_calendar import constants

    holidays = frozenset(constants.holidays)
    workdays = frozenset(constants.workdays)
    return holidays, workdays, frozenset(d.year for d in holidays)


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> frozenset[date]:
    """The statutory public holidays (法定节假日) of ``year``, computed (``holidays``' China calendar).

    Only the days the law names (lunar ones converted); no bridging days and no make-up working days:
    those come with each year's schedule and cannot be computed.
    """
    import holidays

    return frozenset(holidays.China(years=year, observed=False))


def _parse_time(value: object, what: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{value!r} is not a time of day HH:MM", field=what) from None


def _parse_dates(values: Iterable[object], what: str) -> frozenset[date]:
    """Dates from ``YYYY-MM-DD`` strings, ``YYYY-MM-DD..YYYY-MM-DD`` ranges (inclusive) or date objects."""
    out: set[date] = set()
    for value in values or ():
        if isinstance(value, date):
            out.add(value)
            continue
        text = str(value).strip()
        first, sep, last = text.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if sep else start
        except ValueError:
            raise InputError(f"{value!r} is not a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD",
                             field=what) from None
        if end < start:
            raise InputError(f"the range {value!r} ends before it starts", field=what)
        out.update(start + timedelta(days=k) for k in range((end - start).days + 1))
    return frozenset(out)


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and hours.

    Parameters
    ----------
    holidays
        Dates that are not working days even on a working weekday (法定节假日).
    workdays
        Make-up working days (调休上班), working even on a weekend.
    periods
        Working periods of a day, ordered and not overlapping.
    weekdays
        Working weekdays (Monday = 0).
    timezone
        The zone the calendar's days and hours are in.
    official_years
        Years whose official schedule ``holidays``/``workdays`` hold (package or file).
    estimate_other_years
        For any other year, take the computed statutory holidays (:func:`statutory_holidays`) as well.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    weekdays: frozenset[int] = DEFAULT_WEEKDAYS
    timezone: str = DEFAULT_TIMEZONE
    official_years: frozenset[int] = frozenset()
    estimate_other_years: bool = False
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.periods:
            raise InputError("a working calendar needs at least one working period", field="hours")
        previous = None
        for start, end in self.periods:
            if not start < end:
                raise InputError(f"working period {start:%H:%M}-{end:%H:%M} ends before it starts", field="hours")
            if previous is not None and start < previous:
                raise InputError(f"working period {start:%H:%M}-{end:%H:%M} overlaps or precedes the one before",
                                 field="hours")
            previous = end
        if not set(self.weekdays) <= set(range(7)):
            raise InputError(f"weekdays must be 0 (Monday) to 6 (Sunday); got {sorted(self.weekdays)}",
                             field="weekdays")
        if self.holidays & self.workdays:
            clash = min(self.holidays & self.workdays)
            raise InputError(f"{clash} is both a holiday and a make-up working day", field="workdays")
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        except (KeyError, ValueError):
            raise InputError(f"unknown time zone {self.timezone!r}", field="timezone") from None

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping) -> WorkCalendar:
        """A calendar from ``{"holidays": [...], "workdays": [...], "hours": [["09:00", "12:00"], ...],
        "weekdays": [0, 1, 2, 3, 4], "timezone": "Asia/Shanghai"}``; every key is optional.

        Raises
        ------
        InputError
            Naming the key whose value is wrong.
        """
        unknown = set(data) - set(CALENDAR_KEYS)
        if unknown:
            raise InputError(f"unknown working calendar keys {sorted(unknown)}; known: {', '.join(CALENDAR_KEYS)}",
                             field=sorted(unknown)[0])
        kwargs: dict = {"holidays": _parse_dates(data.get("holidays", ()), "holidays"),
                        "workdays": _parse_dates(data.get("workdays", ()), "workdays")}
        if "hours" in data:
            try:
                kwargs["periods"] = tuple((_parse_time(a, "hours"), _parse_time(b, "hours")) for a, b in data["hours"])
            except (TypeError, ValueError):
                raise InputError(f"hours must be a list of [start, end] pairs; got {data['hours']!r}",
                                 field="hours") from None
        if "weekdays" in data:
            kwargs["weekdays"] = frozenset(int(d) for d in data["weekdays"])
        if "timezone" in data:
            kwargs["timezone"] = str(data["timezone"])
        if "official_years" in data:
            try:
                kwargs["official_years"] = frozenset(int(y) for y in data["official_years"])
            except (TypeError, ValueError):
                raise InputError(f"official_years must be a list of years; got {data['official_years']!r}",
                                 field="official_years") from None
        return cls(**kwargs)

    @classmethod
    def china(cls, local: Mapping | None = None) -> WorkCalendar:
        """The national schedule (``chinese-calendar``) with the ``local`` mapping on top (it wins).

        Years neither covers get the computed statutory holidays (see the module docstring).
        ``{"national_schedule": false}`` in ``local`` leaves the package out: the mapping alone counts.
        """
        own = cls.from_mapping(local or {})
        if local is not None and local.get("national_schedule", True) is False:
            return own
        holidays, workdays, years = national_schedule()
        holidays = (holidays - own.workdays) | own.holidays
        workdays = (workdays - own.holidays) | own.workdays
        return cls(holidays=holidays, workdays=workdays, periods=own.periods, weekdays=own.weekdays,
                   timezone=own.timezone, official_years=years | own.official_years, estimate_other_years=True)

    @classmethod
    def load(cls, path: str | Path | None) -> WorkCalendar:
        """The calendar in a JSON file (see :meth:`from_mapping`), or the defaults when ``path`` is empty."""
        if not path:
            return cls()
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read the working calendar: {exc.strerror}", source=str(path)) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc}", source=str(path)) from None
        if not isinstance(data, dict):
            raise InputError("a working calendar file holds one JSON object", source=str(path))
        try:
            return cls.from_mapping(data)
        except InputError as exc:
            raise InputError(exc.message, source=str(path), field=exc.field) from None

    # -- days -----------------------------------------------------------------------------------------
    @property
    def day_length(self) -> timedelta:
        """Working time of one working day."""
        return sum((datetime.combine(date.min, b) - datetime.combine(date.min, a) for a, b in self.periods),
                   timedelta())

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (make-up days work, holidays do not)."""
        if day in self.workdays:
            return True
        if day.weekday() not in self.weekdays or day in self.holidays:
            return False
        if self.estimate_other_years and day.year not in self.official_years:
            return day not in statutory_holidays(day.year)
        return True

    def estimated_years(self, start: date, end: date) -> list[int]:
        """Years from ``start`` to ``end`` whose holidays are computed, not official (no 调休 known)."""
        if not self.estimate_other_years:
            return []
        return [y for y in range(start.year, end.year + 1) if y not in self.official_years]

    def amount_to_timedelta(self, amount: float, unit: str) -> timedelta:
        """A time limit as working time; ``unit`` is ``working_hours`` or ``working_days``.

        Raises
        ------
        InputError
            A negative or non-finite amount, or an unknown unit (field ``time_limit``/``time_unit``).
        """
        if unit not in UNITS:
            raise InputError(f"time unit must be one of {', '.join(UNITS)}; got {unit!r}", field="time_unit")
        try:
            amount = float(amount)
        except (TypeError, ValueError):
            raise InputError(f"time limit must be a number; got {amount!r}", field="time_limit") from None
        if not amount >= 0 or amount == float("inf"):
            raise InputError(f"time limit must be a non-negative number; got {amount!r}", field="time_limit")
        return timedelta(hours=amount) if unit == "working_hours" else self.day_length * amount

    # -- internals ------------------------------------------------------------------------------------
    def _local(self, moment: datetime) -> tuple[datetime, bool]:
        """Naive local time of ``moment`` and whether it was aware."""
        if moment.tzinfo is None:
            return moment, False
        return moment.astimezone(self._zone).replace(tzinfo=None), True

    def _out(self, local: datetime, aware: bool) -> datetime:
        return local.replace(tzinfo=self._zone) if aware else local

    def _intervals(self, start_day: date, step: int = 1):
        """Working intervals (naive local datetimes) from ``start_day`` forwards (step 1) or backwards (-1)."""
        day = start_day
        for _ in range(MAX_SEARCH_DAYS):
            if self.is_working_day(day):
                spans = [(datetime.combine(day, a), datetime.combine(day, b)) for a, b in self.periods]
                yield from (spans if step > 0 else reversed(spans))
            day += timedelta(days=step)
        raise InputError(f"the working calendar has no working day within {MAX_SEARCH_DAYS} days of {start_day}",
                         field="weekdays")

    # -- arithmetic -------------------------------------------------------------------------------------
    def add_working_time(self, start: datetime, amount: float | timedelta, unit: str = "working_hours") -> datetime:
        """The moment ``amount`` of working time after ``start``: a deadline.

        Parameters
        ----------
        start
            When the clock starts (dispatch); outside working time it starts at the next working moment.
        amount
            A number in ``unit``, or a ``timedelta`` of working time (``unit`` is then ignored).
        unit
            ``working_hours`` or ``working_days`` (see the module docstring).
        """
        left = amount if isinstance(amount, timedelta) else self.amount_to_timedelta(amount, unit)
        local, aware = self._local(start)
        if left <= timedelta():
            return start
        for a, b in self._intervals(local.date()):
            if b <= local:
                continue
            begin = max(a, local)
            span = b - begin
            if left <= span:
                return self._out(begin + left, aware)
            left -= span
        raise AssertionError("unreachable: _intervals raises when it runs out")  # pragma: no cover

    def subtract_working_time(self, end: datetime, amount: float | timedelta,
                              unit: str = "working_hours") -> datetime:
        """The latest moment ``amount`` of working time before ``end`` (the inverse of :meth:`add_working_time`)."""
        left = amount if isinstance(amount, timedelta) else self.amount_to_timedelta(amount, unit)
        local, aware = self._local(end)
        if left <= timedelta():
            return end
        for a, b in self._intervals(local.date(), step=-1):
            if a >= local:
                continue
            finish = min(b, local)
            span = finish - a
            if left <= span:
                return self._out(finish - left, aware)
            left -= span
        raise AssertionError("unreachable: _intervals raises when it runs out")  # pragma: no cover

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        if b < a:
            return -self.working_time_between(b, a)
        la, _ = self._local(a)
        lb, _ = self._local(b)
        total = timedelta()
        day = la.date()
        while day <= lb.date():
            if self.is_working_day(day):
                for p, q in self.periods:
                    start, end = max(datetime.combine(day, p), la), min(datetime.combine(day, q), lb)
                    if end > start:
                        total += end - start
            day += timedelta(days=1)
        return total

    def remaining_share(self, now: datetime, start: datetime, deadline: datetime) -> float:
        """Share of the working time from ``start`` to ``deadline`` still left at ``now``, in [0, 1].

        1 before the clock starts, 0 at and after the deadline (the warning threshold is compared to it).
        """
        if now >= deadline:
            return 0.0
        total = self.working_time_between(start, deadline)
        if total <= timedelta():
            return 0.0
        left = self.working_time_between(max(now, start), deadline)
        return max(0.0, min(1.0, left / total))


def calendar_from_config(value: object) -> WorkCalendar:
    """The app's calendar: the national schedule with a local override on top (:meth:`WorkCalendar.china`).

    ``value`` is a path to a JSON file (see :meth:`WorkCalendar.from_mapping`), a mapping, a ready
    calendar, or empty for the national schedule alone.
    """
    if isinstance(value, WorkCalendar):
        return value
    if isinstance(value, Mapping):
        return WorkCalendar.china(value)
    if not value:
        return WorkCalendar.china()
    path = Path(str(value))
    WorkCalendar.load(path)  # the file's errors, named with its path
    return WorkCalendar.china(json.loads(path.read_text(encoding="utf-8")))

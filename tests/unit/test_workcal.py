"""The working calendar: deadlines with exact expected datetimes (2026-11-30 is a Monday)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest

from gis.errors import InputError
from gis.workcal import WorkCalendar, calendar_from_config

CAL = WorkCalendar()
# National Day 2026 with two make-up working days (a Sunday before, a Saturday after).
HOLIDAY_CAL = WorkCalendar.from_mapping({"holidays": ["2026-10-01..2026-10-07"],
                                         "workdays": ["2026-09-20", "2026-10-10"]})


def dt(day: str, hm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}")


@pytest.mark.parametrize(("start", "amount", "unit", "expected"), [
    (dt("2026-11-30", "10:00"), 4, "working_hours", dt("2026-11-30", "15:30")),  # across lunch
    (dt("2026-11-30", "09:00"), 3, "working_hours", dt("2026-11-30", "12:00")),  # ends at a period's end
    (dt("2026-11-30", "12:30"), 1, "working_hours", dt("2026-11-30", "14:30")),  # starts in the lunch break
    (dt("2026-11-30", "07:00"), 1, "working_hours", dt("2026-11-30", "10:00")),  # starts before hours
    (dt("2026-11-30", "18:00"), 1, "working_hours", dt("2026-12-01", "10:00")),  # starts after hours
    (dt("2026-12-04", "16:00"), 4, "working_hours", dt("2026-12-07", "11:30")),  # Friday → Monday
    (dt("2026-12-05", "10:00"), 1, "working_hours", dt("2026-12-07", "10:00")),  # starts on a Saturday
    (dt("2026-12-04", "10:00"), 1, "working_days", dt("2026-12-07", "10:00")),  # a day over the weekend
    (dt("2026-12-02", "10:00"), 3, "working_days", dt("2026-12-07", "10:00")),  # Wed + 3 days → Mon
    (dt("2026-11-30", "09:00"), 0.5, "working_hours", dt("2026-11-30", "09:30")),
    (dt("2026-11-30", "10:00"), 0, "working_hours", dt("2026-11-30", "10:00")),
])
def test_add_working_time(start, amount, unit, expected):
    assert CAL.add_working_time(start, amount, unit) == expected


def test_holidays_and_make_up_working_days():
    # Wed 30 Sep 16:30 + 1 working day: 1 h that day, Oct 1-7 off, 6 h on Thu 8 Oct.
    assert HOLIDAY_CAL.add_working_time(dt("2026-09-30", "16:30"), 1, "working_days") == dt("2026-10-08", "16:30")
    # Fri 9 Oct 15:00 + 4 h: 2.5 h that day, then the make-up Saturday 10 Oct.
    assert HOLIDAY_CAL.add_working_time(dt("2026-10-09", "15:00"), 4, "working_hours") == dt("2026-10-10", "10:30")
    # Sat 19 Sep is off; the make-up Sunday 20 Sep works.
    assert HOLIDAY_CAL.add_working_time(dt("2026-09-19", "10:00"), 1, "working_hours") == dt("2026-09-20", "10:00")
    assert not HOLIDAY_CAL.is_working_day(dt("2026-10-05", "00:00").date())
    assert HOLIDAY_CAL.is_working_day(dt("2026-10-10", "00:00").date())
    assert not CAL.is_working_day(dt("2026-10-10", "00:00").date())


def test_configurable_hours_and_weekdays():
    cal = WorkCalendar.from_mapping({"hours": [["08:30", "12:00"], ["14:00", "18:00"]], "weekdays": [0, 1, 2, 3, 4, 5]})
    assert cal.day_length == timedelta(hours=7.5)
    assert cal.periods[0] == (time(8, 30), time(12, 0))
    # Saturday works in this calendar: Fri 17:00 + 2 h → Sat 9:30 (1 h Fri, 1 h Sat).
    assert cal.add_working_time(dt("2026-12-04", "17:00"), 2) == dt("2026-12-05", "09:30")


def test_working_time_between():
    assert CAL.working_time_between(dt("2026-12-04", "16:00"), dt("2026-12-07", "11:30")) == timedelta(hours=4)
    assert CAL.working_time_between(dt("2026-12-07", "11:30"), dt("2026-12-04", "16:00")) == -timedelta(hours=4)
    assert CAL.working_time_between(dt("2026-12-05", "08:00"), dt("2026-12-06", "20:00")) == timedelta()
    assert CAL.working_time_between(dt("2026-11-30", "00:00"), dt("2026-12-01", "00:00")) == timedelta(hours=7)
    assert HOLIDAY_CAL.working_time_between(dt("2026-09-30", "00:00"), dt("2026-10-09", "00:00")) == \
        timedelta(hours=14)


def test_remaining_share():
    start = dt("2026-11-30", "09:00")
    deadline = CAL.add_working_time(start, 10, "working_hours")
    assert deadline == dt("2026-12-01", "12:00")
    assert CAL.remaining_share(dt("2026-11-30", "08:00"), start, deadline) == 1.0
    assert CAL.remaining_share(dt("2026-11-30", "17:30"), start, deadline) == pytest.approx(0.3)
    assert CAL.remaining_share(dt("2026-11-30", "23:00"), start, deadline) == pytest.approx(0.3)  # night: no time
    assert CAL.remaining_share(dt("2026-12-01", "10:00"), start, deadline) == pytest.approx(0.2)
    assert CAL.remaining_share(deadline, start, deadline) == 0.0
    assert CAL.remaining_share(dt("2026-12-02", "10:00"), start, deadline) == 0.0


def test_aware_datetimes_use_the_calendar_zone():
    start = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)  # 16:00 in Beijing, a Friday
    deadline = CAL.add_working_time(start, 4, "working_hours")
    assert deadline == datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # Monday 11:30 in Beijing
    assert deadline.utcoffset() == timedelta(hours=8)
    assert CAL.working_time_between(start, deadline) == timedelta(hours=4)


@pytest.mark.parametrize(("mapping", "field"), [
    ({"holidays": ["2026-13-01"]}, "holidays"),
    ({"workdays": ["2026-10-05..2026-10-01"]}, "workdays"),
    ({"hours": [["12:00", "09:00"]]}, "hours"),
    ({"hours": [["09:00", "12:00"], ["11:00", "13:00"]]}, "hours"),
    ({"hours": [["9h", "12:00"]]}, "hours"),
    ({"weekdays": [7]}, "weekdays"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"holiday": []}, "holiday"),
    ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "workdays"),
])
def test_bad_calendars_name_the_key(mapping, field):
    with pytest.raises(InputError) as err:
        WorkCalendar.from_mapping(mapping)
    assert err.value.field == field


def test_bad_limits_and_a_calendar_without_working_days():
    with pytest.raises(InputError, match="time unit") as err:
        CAL.add_working_time(dt("2026-11-30", "09:00"), 1, "hours")
    assert err.value.field == "time_unit"
    with pytest.raises(InputError, match="non-negative"):
        CAL.add_working_time(dt("2026-11-30", "09:00"), -1, "working_hours")
    with pytest.raises(InputError, match="no working day"):
        WorkCalendar(weekdays=frozenset()).add_working_time(dt("2026-11-30", "09:00"), 1)


def test_load_from_file(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"note": "test", "holidays": ["2026-12-07"]}), encoding="utf-8")
    cal = calendar_from_config(str(path))
    assert cal.add_working_time(dt("2026-12-04", "16:00"), 4) == dt("2026-12-08", "11:30")
    assert calendar_from_config(None) == WorkCalendar.china()
    path.write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="not JSON") as err:
        WorkCalendar.load(path)
    assert err.value.source == str(path)
    with pytest.raises(InputError, match="cannot read"):
        WorkCalendar.load(tmp_path / "missing.json")


@pytest.mark.parametrize(("end", "amount", "expected"), [
    (dt("2026-12-07", "11:30"), 4, dt("2026-12-04", "16:00")),  # Monday back over the weekend to Friday
    (dt("2026-11-30", "14:30"), 1, dt("2026-11-30", "13:30")),  # the latest such moment, not 12:00
    (dt("2026-11-30", "20:00"), 1, dt("2026-11-30", "16:30")),
])
def test_subtract_working_time(end, amount, expected):
    assert CAL.subtract_working_time(end, amount) == expected
    assert CAL.working_time_between(expected, end) == timedelta(hours=amount)


# -- the national schedule (defect 2 of issue 12) ------------------------------------------------------

APP_CAL = calendar_from_config(None)


@pytest.mark.parametrize(("start", "amount", "unit", "expected"), [
    # National Day 2026: Oct 1-7 off, Sat 10 Oct a make-up working day (the reproducer).
    (dt("2026-09-30", "10:00"), 3, "working_days", dt("2026-10-10", "10:00")),
    # Spring Festival 2026: Feb 15-23 off; Sat 14 Feb and Sat 28 Feb are make-up working days.
    (dt("2026-02-13", "10:00"), 1, "working_days", dt("2026-02-14", "10:00")),  # Fri → the 调休 Saturday
    (dt("2026-02-14", "16:30"), 2, "working_hours", dt("2026-02-24", "10:00")),  # over the whole festival
    # A 调休 Sunday: Sun 4 Jan 2026 works after the New Year break.
    (dt("2026-01-03", "10:00"), 1, "working_hours", dt("2026-01-04", "10:00")),
    # Into 2027, a year with no official schedule yet: New Year's Day is computed as a holiday.
    (dt("2026-12-30", "10:00"), 3, "working_days", dt("2027-01-05", "10:00")),
    # Spring Festival 2027 computed from the lunar calendar: Feb 5 (eve) to Feb 8 off.
    (dt("2027-02-04", "16:30"), 2, "working_hours", dt("2027-02-09", "10:00")),
])
def test_national_schedule_with_no_calendar_file(start, amount, unit, expected):
    assert APP_CAL.add_working_time(start, amount, unit) == expected


def test_a_make_up_saturday_works_and_a_holiday_weekday_does_not():
    assert APP_CAL.is_working_day(dt("2026-10-10", "00:00").date())  # Saturday, 调休
    assert APP_CAL.is_working_day(dt("2026-02-28", "00:00").date())  # Saturday, 调休
    assert not APP_CAL.is_working_day(dt("2026-10-05", "00:00").date())  # Monday, National Day
    assert not APP_CAL.is_working_day(dt("2026-02-17", "00:00").date())  # Tuesday, Spring Festival


def test_years_without_an_official_schedule_are_named():
    assert APP_CAL.estimated_years(dt("2026-12-07", "00:00").date(), dt("2027-03-01", "00:00").date()) == [2027]
    assert APP_CAL.estimated_years(dt("2026-01-01", "00:00").date(), dt("2026-12-31", "00:00").date()) == []
    assert CAL.estimated_years(dt("2027-01-01", "00:00").date(), dt("2027-12-31", "00:00").date()) == []


def test_computed_statutory_holidays_agree_with_the_official_schedules():
    # Every day the holidays package computes as statutory is off in the State Council's schedule, in
    # every year both cover (a weekend statutory day is off either way).
    import chinese_calendar

    from gis.workcal import national_schedule, statutory_holidays

    _, _, years = national_schedule()
    assert len(years) >= 20
    for year in sorted(years):
        days = statutory_holidays(year)
        assert len(days) >= 10, year
        wrong = sorted(d for d in days if not chinese_calendar.is_holiday(d))
        assert not wrong, f"{year}: computed holidays that are working days officially: {wrong}"


def test_a_local_file_overrides_the_national_schedule(tmp_path):
    path = tmp_path / "county.json"
    # A county's own day off, a 2027 schedule loaded before the package has it, and a make-up day.
    path.write_text(json.dumps({"holidays": ["2026-12-07", "2027-01-01..2027-01-03"], "workdays": ["2027-01-09"],
                                "official_years": [2027]}), encoding="utf-8")
    cal = calendar_from_config(str(path))
    assert not cal.is_working_day(dt("2026-12-07", "00:00").date())
    assert cal.is_working_day(dt("2027-01-09", "00:00").date())  # Saturday, from the file
    assert not cal.is_working_day(dt("2026-10-05", "00:00").date())  # the package still counts
    assert cal.estimated_years(dt("2027-01-01", "00:00").date(), dt("2027-06-01", "00:00").date()) == []
    # 2027-02-08 is a computed Spring Festival day; with 2027 declared official by the file it works.
    assert cal.is_working_day(dt("2027-02-08", "00:00").date())
    plain = calendar_from_config({"national_schedule": False, "holidays": ["2026-12-07"]})
    assert plain.is_working_day(dt("2026-10-05", "00:00").date())

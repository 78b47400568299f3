"""Zeitplan → next run times, in Europe/Vienna across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from webapp.errors import InputError
from webapp.jobs.schedule import Schedule, next_run, upcoming, validate
from webapp.models import ScheduleKind as K

VIENNA = ZoneInfo("Europe/Vienna")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VIENNA)


def in_vienna(times: list[datetime]) -> list[str]:
    return [t.astimezone(VIENNA).strftime("%a %d.%m. %H:%M") for t in times]


def test_every_15_minutes_is_anchored_to_the_clock():
    times = upcoming(Schedule(K.MINUTES, interval_minutes=15), local(2026, 11, 25, 14, 7), count=3)
    assert in_vienna(times) == ["Wed 25.11. 14:15", "Wed 25.11. 14:30", "Wed 25.11. 14:45"]


def test_next_run_is_strictly_after():
    at = local(2026, 11, 25, 14, 15)
    assert next_run(Schedule(K.MINUTES, interval_minutes=15), at) == local(2026, 11, 25, 14, 30)


def test_hourly():
    times = upcoming(Schedule(K.HOURLY, minute_of_hour=5), local(2026, 11, 25, 14, 7), count=2)
    assert in_vienna(times) == ["Wed 25.11. 15:05", "Wed 25.11. 16:05"]


def test_daily_keeps_local_time_across_dst():
    times = upcoming(Schedule(K.DAILY, time_of_day="08:00"), local(2026, 3, 28, 9, 0), count=2)
    assert in_vienna(times) == ["Sun 29.03. 08:00", "Mon 30.03. 08:00"]
    assert times[0].hour == 6 and times[1].hour == 6  # UTC+2 after the switch
    autumn = upcoming(Schedule(K.DAILY, time_of_day="08:00"), local(2026, 10, 24, 9, 0), count=2)
    assert [t.hour for t in autumn] == [7, 7]  # back to UTC+1


def test_daily_at_a_time_that_does_not_exist_on_the_switch_day():
    times = upcoming(Schedule(K.DAILY, time_of_day="02:30"), local(2026, 3, 28, 12, 0), count=2)
    assert len(times) == 2 and times[0] < times[1]
    assert in_vienna(times)[1] == "Mon 30.03. 02:30"


def test_weekly_on_chosen_weekdays():
    schedule = Schedule(K.WEEKLY, weekdays=(0, 4), time_of_day="07:30")  # Monday, Friday
    times = upcoming(schedule, local(2026, 11, 25, 12, 0), count=3)
    assert in_vienna(times) == ["Fri 27.11. 07:30", "Mon 30.11. 07:30", "Fri 04.12. 07:30"]


def test_monthly_on_the_31st_uses_the_last_day_of_short_months():
    times = upcoming(
        Schedule(K.MONTHLY, day_of_month=31, time_of_day="06:00"), local(2027, 1, 31, 7, 0), count=3
    )
    assert in_vienna(times) == ["Sun 28.02. 06:00", "Wed 31.03. 06:00", "Fri 30.04. 06:00"]


def test_cron_in_local_time():
    times = upcoming(
        Schedule(K.CRON, cron_expression="*/20 7-8 * * 1-5"), local(2026, 11, 27, 8, 30), count=3
    )
    assert in_vienna(times) == ["Fri 27.11. 08:40", "Mon 30.11. 07:00", "Mon 30.11. 07:20"]


def test_once_runs_once():
    when = local(2026, 12, 1, 9, 0).astimezone(UTC)
    schedule = Schedule(K.ONCE, run_once_at=when)
    assert upcoming(schedule, local(2026, 11, 25, 9, 0)) == [when]
    assert next_run(schedule, when) is None


@pytest.mark.parametrize(
    ("schedule", "field", "text"),
    [
        (Schedule(K.ONCE), "run_once_at", "Datum und Uhrzeit"),
        (Schedule(K.MINUTES, interval_minutes=0), "interval_minutes", "zwischen 1 und"),
        (Schedule(K.HOURLY, minute_of_hour=60), "minute_of_hour", "0 und 59"),
        (Schedule(K.DAILY, time_of_day="25:00"), "time_of_day", "08:30"),
        (Schedule(K.DAILY, time_of_day="8 Uhr"), "time_of_day", "08:30"),
        (Schedule(K.WEEKLY, weekdays=()), "weekdays", "Wochentag"),
        (Schedule(K.MONTHLY, day_of_month=32), "day_of_month", "1 und 31"),
        (Schedule(K.CRON, cron_expression="jeden Montag"), "cron_expression", "Cron-Ausdruck"),
        (Schedule(K.CRON, cron_expression="61 * * * *"), "cron_expression", "Cron-Ausdruck"),
    ],
)
def test_invalid_schedules_are_refused_with_the_field(schedule, field, text):
    with pytest.raises(InputError) as refused:
        validate(schedule)
    assert refused.value.field == field and text in refused.value.message

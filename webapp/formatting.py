"""Dates, times and numbers as the user's language writes them, times in TIMEZONE.

The one home for showing values (UI.md "Everywhere"): Flask-Babel formats with the UI locale
(`_select_locale`: the session's language, German outside requests) and the installation's
TIMEZONE (its timezone selector). German keeps the numeric form the users know
(25.11.2026 14:05, 1.234); English reads "Nov 25, 2026, 2:05 PM", "1,234".

`locale` fixes the language where the reader is not the user at the screen: the text of an
SMS (German like its templates), the German half of a bilingual API message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import flask_babel
from babel import Locale
from flask import current_app

# How a date and a time are joined, where the language's CLDR default is not what its users
# know: German without the comma of CLDR ("25.11.2026, 14:05").
DATETIME_JOIN = {"de": "{1} {0}"}
# Whole numbers, or up to two decimals (0,4 · 1.234,5).
NUMBER_PATTERN = "#,##0.##"


def to_local(value: datetime) -> datetime:
    """A stored (aware) time in the installation's time zone."""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


@contextmanager
def _language(locale: str | None) -> Iterator[None]:
    if locale is None:
        yield
    else:
        with flask_babel.force_locale(locale):
            yield


def _datetime_pattern(seconds: bool) -> str:
    """The locale's medium date with its short time (medium with seconds), e.g.
    "dd.MM.y HH:mm" in German, "MMM d, y, h:mm a" in English."""
    locale: Locale = flask_babel.get_locale() or Locale.parse("de")
    join = DATETIME_JOIN.get(locale.language, str(locale.datetime_formats["medium"]))
    day = locale.date_formats["medium"].pattern
    time = locale.time_formats["medium" if seconds else "short"].pattern
    return join.replace("{1}", day).replace("{0}", time)


def format_datetime(
    value: datetime | None, seconds: bool = False, *, locale: str | None = None
) -> str:
    """25.11.2026 14:05 · Nov 25, 2026, 2:05 PM — in TIMEZONE (empty for None)."""
    if value is None:
        return ""
    with _language(locale):
        return flask_babel.format_datetime(value, _datetime_pattern(seconds))


def format_date(value: date | None, *, locale: str | None = None) -> str:
    """25.11.2026 · Nov 25, 2026 (empty for None); a stored time gives its day in TIMEZONE."""
    if value is None:
        return ""
    day = to_local(value).date() if isinstance(value, datetime) else value
    with _language(locale):
        return flask_babel.format_date(day, "medium")


def format_number(value: int | float | None, *, locale: str | None = None) -> str:
    """1.234 · 0,5 in German, 1,234 · 0.5 in English (empty for None)."""
    if value is None:
        return ""
    with _language(locale):
        return flask_babel.format_decimal(value, NUMBER_PATTERN)


def format_duration(milliseconds: int | None, *, locale: str | None = None) -> str:
    """0,4 s · 12 s · 3 min 5 s · 1 h 2 min (empty for None); 0.4 s in English."""
    if milliseconds is None:
        return ""
    if milliseconds < 10_000:
        with _language(locale):
            return f"{flask_babel.format_decimal(milliseconds / 1000, '0.0')} s"
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"

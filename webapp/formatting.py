"""Dates and numbers in Austrian German format, times in TIMEZONE (UI.md "Everywhere")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app


def to_local(value: datetime) -> datetime:
    """A stored (aware) time in the installation's time zone."""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))


def format_datetime(value: datetime | None, seconds: bool = False) -> str:
    """25.11.2026 14:05 (empty for None)."""
    if value is None:
        return ""
    return to_local(value).strftime("%d.%m.%Y %H:%M:%S" if seconds else "%d.%m.%Y %H:%M")


def format_number(value: int | float | None) -> str:
    """1.234 (thousands with a dot, as in Austria)."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return f"{int(value):,}".replace(",", ".")


def format_duration(milliseconds: int | None) -> str:
    """0,4 s · 12 s · 3 min 5 s · 1 h 2 min (empty for None)."""
    if milliseconds is None:
        return ""
    if milliseconds < 10_000:
        return f"{milliseconds / 1000:.1f} s".replace(".", ",")
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"

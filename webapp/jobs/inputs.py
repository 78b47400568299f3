"""Input rules shared by the tabs of the job dialog (Job, Zeitplan, Einstellungen).

Each save validates everything first and raises one `InputError` with all problems, each
with its field (`webapp.errors.ErrorCollector` collects them), before it changes anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from webapp.errors import InputError
from webapp.formatting import format_date


def bounded_int(raw: str | int | None, field_name: str, low: int, high: int, message: str) -> int:
    """A whole number from `low` to `high`; InputError with `message` for anything else."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise InputError(message, field_name) from None
    if not low <= value <= high:
        raise InputError(message, field_name)
    return value


def parse_local_datetime(raw: str | None, timezone: str, field_name: str) -> datetime | None:
    """A date and time typed in local time ("2026-11-25T14:05", "25.11.2026 14:05") in UTC.

    Empty input is None. A time that does not exist (the hour skipped when summer time
    starts) is refused with a message that says so.
    """
    text = (raw or "").strip()
    if not text:
        return None
    local = None
    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M"):
        try:
            local = datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    if local is None:
        raise InputError(_("Bitte Datum und Uhrzeit eingeben, z. B. 25.11.2026 14:05."), field_name)
    zone = ZoneInfo(timezone)
    aware = local.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise InputError(
            _(
                "Diese Uhrzeit gibt es am %(day)s wegen der Umstellung auf Sommerzeit nicht. "
                "Bitte eine andere Uhrzeit wählen.",
                day=format_date(local.date()),
            ),
            field_name,
        )
    return aware.astimezone(UTC)


def local_input_value(value: datetime | None, timezone: str) -> str:
    """A stored time as the value of an <input type="datetime-local">."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")

"""Actionservice dialog rules: Job Liste, the tabs Job / Einstellungen / Zeitplan / Errorlog.

Everything here works on a session and plain input dataclasses (strings as typed), so the
blueprint, the CLI and tests share one set of rules. Each save validates everything first and
raises `InputErrors` (all problems, each with its field) before it changes anything.

Einstellungen are stored as JSON (`job.settings`):

    {"variant": 1 | 2,
     "modem":  {"url", "baudrate", "cmgs_timeout", "receive"},
     "websms": {"base_url", "auth" ("token" | "password"), "username", "sender_address",
                "sender_address_type", "signature", "test_mode", "max_sms_per_message",
                "notification_callback_url", "inbound_email"},
     "stored_secrets": [names of the secrets that are set]}

and the secrets (SECRET_NAMES, plus the generated WEBHOOK_SECRET of the websms webhooks) as one
Fernet token in `job.secrets` (webapp.jobs.secrets). `job_settings()` turns both into the
transport's settings object.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.jobs import schedule as zeitplan
from webapp.jobs.secrets import SecretsUnreadable, decrypt_secrets, encrypt_secrets
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    LogLevel,
    Mandant,
    Priority,
    RunStatus,
    ScheduleKind,
)
from webapp.models.base import utcnow
from webapp.sms.paging import PAGE_SIZE, KeysetPage, keyset_page, walk
from webapp.sms.search import escape_like, local_midnight_utc
from webapp.sms.transports.websms import SENDER_ADDRESS_TYPES, InvalidSender, normalise_sender
from webapp.validation import clean_email

# --- shared --------------------------------------------------------------------------------------

MAX_NAME = 120
MAX_TEXT = 4000


class InputErrors(InputError):
    """Several problems of one form at once; `errors` holds each with its field."""

    def __init__(self, errors: list[InputError]) -> None:
        super().__init__(errors[0].message, errors[0].field)
        self.errors = errors


class _Problems:
    """Collects the InputErrors of one form; `check()` raises them all together."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []

    def add(self, message: str, field_name: str) -> None:
        self.errors.append(InputError(message, field_name))

    def run(self, check: Any, *args: Any, **kwargs: Any) -> Any:
        """`check(*args)`, or None with its InputError collected."""
        try:
            return check(*args, **kwargs)
        except InputErrors as error:
            self.errors.extend(error.errors)
        except InputError as error:
            self.errors.append(error)
        return None

    def check(self) -> None:
        if self.errors:
            raise InputErrors(self.errors)


def _text(raw: str | None, field_name: str, limit: int, required_message: str = "") -> str:
    text = (raw or "").strip()
    if required_message and not text:
        raise InputError(required_message, field_name)
    if len(text) > limit:
        raise InputError(_("Bitte höchstens %(n)d Zeichen eingeben.", n=limit), field_name)
    return text


def _int(raw: str | int | None, field_name: str, low: int, high: int, message: str) -> int:
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
                day=local.strftime("%d.%m.%Y"),
            ),
            field_name,
        )
    return aware.astimezone(UTC)


def local_input_value(value: datetime | None, timezone: str) -> str:
    """A stored time as the value of an <input type="datetime-local">."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


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


def job_type_label(key: str) -> str:
    """Job Art as shown: the registry's label, else the stored key."""
    from webapp.jobs.registry import JOB_TYPES

    entry = JOB_TYPES.get(key)
    return entry.label if entry is not None else key


def log_level_labels() -> dict[LogLevel, str]:
    return {
        LogLevel.NONE: _("Keine"),
        LogLevel.ERRORS: _("Nur Fehler"),
        LogLevel.WARNINGS: _("Fehler und Warnungen"),
        LogLevel.ALL: _("Alles"),
    }


def entry_level_labels() -> dict[str, str]:
    return {"error": _("Fehler"), "warning": _("Warnung"), "info": _("Info")}


def priority_labels() -> dict[Priority, str]:
    return {Priority.NORMAL: _("Normal"), Priority.HIGH: _("Hoch")}


def schedule_kind_labels() -> dict[ScheduleKind, str]:
    return {
        ScheduleKind.ONCE: _("einmalig"),
        ScheduleKind.MINUTES: _("alle N Minuten"),
        ScheduleKind.HOURLY: _("stündlich"),
        ScheduleKind.DAILY: _("täglich"),
        ScheduleKind.WEEKLY: _("wöchentlich"),
        ScheduleKind.MONTHLY: _("monatlich"),
        ScheduleKind.CRON: _("Cron-Ausdruck (für Fachleute)"),
    }


def weekday_labels() -> list[str]:
    return [
        _("Montag"),
        _("Dienstag"),
        _("Mittwoch"),
        _("Donnerstag"),
        _("Freitag"),
        _("Samstag"),
        _("Sonntag"),
    ]


def weekday_short_labels() -> list[str]:
    return [_("Mo"), _("Di"), _("Mi"), _("Do"), _("Fr"), _("Sa"), _("So")]


# --- Job Liste -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobQuery:
    """Suchkriterien of the Job Liste; empty fields do not filter."""

    name: str = ""
    job_type: str = ""
    active: bool | None = None


def list_jobs(session: Session, query: JobQuery) -> list[Job]:
    """The jobs matching `query`, by name (there are few: no pagination)."""
    stmt = select(Job).order_by(func.lower(Job.name), Job.id)
    name = query.name.strip()
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Job.name.ilike(f"%{escaped}%", escape="\\"))
    if query.job_type:
        stmt = stmt.where(Job.job_type == query.job_type)
    if query.active is not None:
        stmt = stmt.where(Job.active.is_(query.active))
    return list(session.scalars(stmt))


def job_types_in_use(session: Session) -> list[str]:
    return list(session.scalars(select(Job.job_type).distinct().order_by(Job.job_type)))


def delete_job(session: Session, job: Job) -> None:
    """Delete a job; a system job (and a running one) is refused with the reason."""
    if job.system:
        raise InputError(
            _(
                "Der Job „%(name)s“ ist ein System-Job und kann nicht gelöscht werden.",
                name=job.name,
            )
        )
    run = latest_run(session, job)
    if run is not None and run.status == RunStatus.RUNNING:
        raise InputError(
            _("Der Job „%(name)s“ läuft gerade. Bitte nach dem Lauf löschen.", name=job.name)
        )
    session.delete(job)


# --- Register Job --------------------------------------------------------------------------------


@dataclass
class JobTabInput:
    """What the tab "Job" submits; times as typed in local time (`timezone`)."""

    name: str
    active: bool = False
    log_level: str = LogLevel.ERRORS.value
    description: str = ""
    note: str = ""
    valid_from: str = ""
    valid_until: str = ""
    failure_email: str = ""
    mandant_ids: Iterable[int | None] = ()
    timezone: str = "Europe/Vienna"


def _log_level(raw: str) -> LogLevel:
    try:
        return LogLevel(raw)
    except ValueError:
        raise InputError(_("Bitte eine Protokollart aus der Liste wählen."), "log_level") from None


def _mandanten(session: Session, ids: Iterable[int | None]) -> list[Mandant]:
    wanted = {int(i) for i in ids if i is not None}
    if not wanted:
        return []
    found = list(session.scalars(select(Mandant).where(Mandant.id.in_(wanted))))
    if len(found) != len(wanted):
        raise InputError(_("Die Auswahl enthält Mandanten, die es nicht mehr gibt."), "mandanten")
    return sorted(found, key=lambda m: m.name.lower())


def save_job_tab(session: Session, job: Job, data: JobTabInput, changed_by: str) -> Job:
    """Store the tab "Job"; InputErrors (nothing changed) when any field is wrong."""
    problems = _Problems()
    name = problems.run(
        _text, data.name, "name", MAX_NAME, _("Bitte einen Namen für den Job eingeben.")
    )
    log_level = problems.run(_log_level, data.log_level)
    description = problems.run(_text, data.description, "description", MAX_TEXT)
    note = problems.run(_text, data.note, "note", MAX_TEXT)
    valid_from = problems.run(parse_local_datetime, data.valid_from, data.timezone, "valid_from")
    valid_until = problems.run(parse_local_datetime, data.valid_until, data.timezone, "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        problems.add(_("„Gültig bis“ muss nach „Gültig von“ liegen."), "valid_until")
    email = problems.run(clean_email, data.failure_email, "failure_email")
    mandanten = problems.run(_mandanten, session, data.mandant_ids)
    problems.check()

    job.name = name
    job.active = bool(data.active)
    job.log_level = log_level
    job.description = description
    job.note = note
    job.valid_from = valid_from
    job.valid_until = valid_until
    job.failure_email = email
    job.mandanten = mandanten or []
    job.updated_by = changed_by
    session.flush()
    return job


# --- Register Zeitplan ---------------------------------------------------------------------------


@dataclass
class ScheduleInput:
    """What the tab "Zeitplan" submits, as typed. Only the chosen kind's details count."""

    kind: str
    interval_minutes: str = ""
    run_once_at: str = ""
    time_of_day: str = ""
    minute_of_hour: str = ""
    weekdays: Iterable[int | str | None] = ()
    day_of_month: str = ""
    cron_expression: str = ""
    priority: str = Priority.NORMAL.value


def _kind(raw: str) -> ScheduleKind:
    try:
        return ScheduleKind(raw)
    except ValueError:
        raise InputError(_("Bitte wählen, wann der Job ausgeführt wird."), "kind") from None


def _priority(raw: str) -> Priority:
    try:
        return Priority(raw)
    except ValueError:
        raise InputError(_("Bitte Normal oder Hoch wählen."), "priority") from None


def _weekdays(raw: Iterable[int | str | None]) -> tuple[int, ...]:
    days = set()
    for value in raw:
        text = str(value).strip() if value is not None else ""
        if len(text) != 1 or text not in "0123456":
            raise InputError(_("Bitte mindestens einen Wochentag wählen."), "weekdays")
        days.add(int(text))
    return tuple(sorted(days))


def _schedule(data: ScheduleInput, base: zeitplan.Schedule, timezone: str) -> zeitplan.Schedule:
    """The schedule the input describes: the chosen kind's details replace those of `base`."""
    kind = _kind(data.kind)
    details: dict[str, Any] = {"kind": kind}
    if kind is ScheduleKind.ONCE:
        details["run_once_at"] = parse_local_datetime(data.run_once_at, timezone, "run_once_at")
    elif kind is ScheduleKind.MINUTES:
        details["interval_minutes"] = _int(
            data.interval_minutes,
            "interval_minutes",
            1,
            zeitplan.MAX_INTERVAL_MINUTES,
            _(
                "Bitte eine Anzahl Minuten zwischen 1 und %(n)d eingeben.",
                n=zeitplan.MAX_INTERVAL_MINUTES,
            ),
        )
    elif kind is ScheduleKind.HOURLY:
        details["minute_of_hour"] = _int(
            data.minute_of_hour,
            "minute_of_hour",
            0,
            59,
            _("Bitte eine Minute zwischen 0 und 59 eingeben."),
        )
    elif kind is ScheduleKind.CRON:
        expression = " ".join((data.cron_expression or "").split())
        if len(expression.split(" ")) != 5:
            expression = "!"  # seconds or years fields: refused with the five-field message
        details["cron_expression"] = expression
    if kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.MONTHLY):
        # Some browsers send seconds ("07:30:00"); the Zeitplan keeps minutes.
        details["time_of_day"] = re.sub(
            r"^(\d{1,2}:\d\d):\d\d$", r"\1", (data.time_of_day or "").strip()
        )
    if kind is ScheduleKind.WEEKLY:
        details["weekdays"] = _weekdays(data.weekdays)
    if kind is ScheduleKind.MONTHLY:
        details["day_of_month"] = _int(
            data.day_of_month,
            "day_of_month",
            1,
            31,
            _("Bitte einen Tag zwischen 1 und 31 eingeben."),
        )
    chosen = dataclasses.replace(base, **details)
    zeitplan.validate(chosen)
    if kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.MONTHLY):
        hour, minute = chosen.time_of_day.split(":")  # "8:30" is stored as "08:30"
        chosen = dataclasses.replace(chosen, time_of_day=f"{int(hour):02d}:{minute}")
    return chosen


def schedule_preview(
    job: Job,
    data: ScheduleInput,
    timezone: str,
    now: datetime | None = None,
    count: int = 5,
) -> list[datetime]:
    """The next `count` run times of the schedule being edited (InputError when invalid)."""
    chosen = _schedule(data, zeitplan.Schedule.of(job), timezone)
    return zeitplan.upcoming(chosen, now or utcnow(), timezone, count)


def save_schedule(
    session: Session,
    job: Job,
    data: ScheduleInput,
    changed_by: str,
    timezone: str,
    now: datetime | None = None,
) -> Job:
    """Store the Zeitplan and the next run time computed from now."""
    now = now or utcnow()
    problems = _Problems()
    chosen = problems.run(_schedule, data, zeitplan.Schedule.of(job), timezone)
    priority = problems.run(_priority, data.priority)
    following = None
    if chosen is not None:
        following = zeitplan.next_run(chosen, now, timezone)
        if following is None:
            problems.add(
                _("Dieser Zeitpunkt liegt in der Vergangenheit. Bitte einen späteren wählen."),
                "run_once_at",
            )
    problems.check()

    job.schedule_kind = chosen.kind
    job.interval_minutes = chosen.interval_minutes
    job.run_once_at = chosen.run_once_at
    job.time_of_day = chosen.time_of_day
    job.minute_of_hour = chosen.minute_of_hour
    job.weekdays = ",".join(str(d) for d in chosen.weekdays)
    job.day_of_month = chosen.day_of_month
    job.cron_expression = chosen.cron_expression
    job.priority = priority
    job.next_run_at = following
    job.updated_by = changed_by
    session.flush()
    return job


def describe_schedule(job: Job) -> str:
    """The Zeitplan in one German line ("wöchentlich Mo, Mi um 08:00")."""
    kind = ScheduleKind(job.schedule_kind)
    short = weekday_short_labels()
    if kind is ScheduleKind.ONCE:
        return _("einmalig")
    if kind is ScheduleKind.MINUTES:
        return _("alle %(n)d Minuten", n=job.interval_minutes)
    if kind is ScheduleKind.HOURLY:
        return _("stündlich zur Minute %(m)d", m=job.minute_of_hour)
    if kind is ScheduleKind.DAILY:
        return _("täglich um %(t)s", t=job.time_of_day)
    if kind is ScheduleKind.WEEKLY:
        days = ", ".join(short[d] for d in zeitplan.parse_weekdays(job.weekdays) if d < 7)
        return _("wöchentlich %(days)s um %(t)s", days=days, t=job.time_of_day)
    if kind is ScheduleKind.MONTHLY:
        return _("monatlich am %(d)d. um %(t)s", d=job.day_of_month, t=job.time_of_day)
    return _("Cron-Ausdruck „%(e)s“", e=job.cron_expression)


# --- Register Einstellungen ----------------------------------------------------------------------

VARIANT_MODEM = 1
VARIANT_WEBSMS = 2
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
AUTH_TOKEN = "token"
AUTH_PASSWORD = "password"
SECRET_NAMES = ("modem_pin", "websms_password", "websms_access_token")
# The secret of the websms webhooks (webapp.blueprints.webhooks), kept encrypted with the secrets
# above but never entered: generated with the first Einstellungen, replaced by "neu erzeugen".
WEBHOOK_SECRET = "webhook_secret"
# The delivery-report URL is stored with this in place of the webhook secret and filled in when
# it is used: the secret is never stored in plain text, and a new one applies at once.
SECRET_IN_URL = "{webhook_secret}"
DEFAULT_WEBSMS_URL = "https://api.websms.com"
MAX_SIGNATURE = 100
# The connection test sends to a number of the range Ofcom reserves for drama (never assigned),
# with websms's test flag: websms checks the login and the request but sends nothing.
TEST_RECIPIENT = "+447700900000"

MODEM_DEFAULTS: dict[str, Any] = {
    "url": "",
    "baudrate": 115200,
    "cmgs_timeout": 60,
    "receive": False,
}
WEBSMS_DEFAULTS: dict[str, Any] = {
    "base_url": DEFAULT_WEBSMS_URL,
    "auth": AUTH_TOKEN,
    "username": "",
    "sender_address": "",
    "sender_address_type": "",
    "signature": "",
    "test_mode": False,
    "max_sms_per_message": 10,
    "notification_callback_url": "",
    "inbound_email": "",
}


def stored_settings(job: Job) -> dict[str, Any]:
    """The job's Einstellungen with defaults for everything not stored yet."""
    raw = job.settings if isinstance(job.settings, dict) else {}
    variant = raw.get("variant")
    return {
        "variant": variant if variant in (VARIANT_MODEM, VARIANT_WEBSMS) else VARIANT_WEBSMS,
        "modem": {**MODEM_DEFAULTS, **(raw.get("modem") or {})},
        "websms": {**WEBSMS_DEFAULTS, **(raw.get("websms") or {})},
        "stored_secrets": [n for n in raw.get("stored_secrets") or [] if n in SECRET_NAMES],
    }


@dataclass
class SettingsInput:
    """What the tab "Einstellungen" submits. Secrets: empty keeps the stored one, `*_clear`
    removes it."""

    variant: str
    modem_url: str = ""
    modem_baudrate: str = str(MODEM_DEFAULTS["baudrate"])
    modem_pin: str = ""
    modem_pin_clear: bool = False
    modem_cmgs_timeout: str = str(MODEM_DEFAULTS["cmgs_timeout"])
    modem_receive: bool = False
    websms_base_url: str = DEFAULT_WEBSMS_URL
    websms_auth: str = AUTH_TOKEN
    websms_username: str = ""
    websms_password: str = ""
    websms_password_clear: bool = False
    websms_access_token: str = ""
    websms_access_token_clear: bool = False
    websms_sender_address: str = ""
    websms_sender_address_type: str = ""
    websms_signature: str = ""
    websms_test_mode: bool = False
    websms_max_sms_per_message: str = "10"
    websms_callback_url: str = ""
    websms_inbound_email: str = ""

    def secret(self, name: str) -> str:
        return str(getattr(self, name) or "")

    def clears(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_clear", False))


MODEM_URL_HELP_EXAMPLE = "socket://192.168.1.50:4001"


def _modem_url(raw: str, required: bool) -> str:
    text = (raw or "").strip()
    message = _(
        "Bitte die Adresse des Modems eingeben: socket://host:port oder rfc2217://host:port "
        "(Moxa NPort) oder eine serielle Schnittstelle wie /dev/ttyUSB0 bzw. COM3."
    )
    if not text:
        if required:
            raise InputError(message, "modem_url")
        return ""
    if len(text) > 200:
        raise InputError(message, "modem_url")
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("socket", "rfc2217") or not parts.hostname or not port:
            raise InputError(message, "modem_url")
        return text
    if re.fullmatch(r"/dev/[\w./-]+", text) or re.fullmatch(r"(?i)com\d{1,3}", text):
        return text
    raise InputError(message, "modem_url")


def _http_url(raw: str, field_name: str, required: bool, example: str) -> str:
    text = (raw or "").strip()
    message = _("Bitte eine http(s)-Adresse eingeben, z. B. %(example)s.", example=example)
    if not text:
        if required:
            raise InputError(message, field_name)
        return ""
    parts = urlsplit(text)
    if len(text) > 500 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(message, field_name)
    return text


def _sender(address: str, kind: str) -> tuple[str, str]:
    """Sender and its type as websms takes them (the transport's rule, normalised)."""
    address = (address or "").strip()
    kind = (kind or "").strip()
    if kind and kind not in SENDER_ADDRESS_TYPES:
        raise InputError(
            _("Bitte einen Absendertyp aus der Liste wählen."), "websms_sender_address_type"
        )
    if not address:
        return "", kind
    try:
        return normalise_sender(address, kind), kind
    except InvalidSender as error:
        raise InputError(error.reason, "websms_sender_address") from None


def _pin(raw: str) -> str:
    text = (raw or "").strip()
    if text and not re.fullmatch(r"\d{4,8}", text):
        raise InputError(_("Die SIM-PIN besteht aus 4 bis 8 Ziffern."), "modem_pin")
    return text


def _secret_text(raw: str, field_name: str) -> str:
    text = (raw or "").strip()
    if len(text) > 500:
        raise InputError(_("Bitte höchstens %(n)d Zeichen eingeben.", n=500), field_name)
    return text


def save_settings(
    session: Session, job: Job, data: SettingsInput, changed_by: str, secret_key: str
) -> Job:
    """Store the Einstellungen; secrets encrypted, the others as JSON. InputErrors on bad input.

    Both sections (COM Einstellungen, WEB SMS) are checked and kept; what the chosen Variante
    needs to send must be complete.
    """
    problems = _Problems()
    variant = problems.run(
        _int,
        data.variant,
        "variant",
        VARIANT_MODEM,
        VARIANT_WEBSMS,
        _("Bitte eine Variante wählen: 1 (GSM-Modem) oder 2 (SMS-Web)."),
    )
    old = stored_settings(job)

    # Secrets: the new values, the stored ones kept, cleared ones removed.
    entered = {
        "modem_pin": problems.run(_pin, data.modem_pin) or "",
        "websms_password": problems.run(_secret_text, data.websms_password, "websms_password")
        or "",
        "websms_access_token": problems.run(
            _secret_text, data.websms_access_token, "websms_access_token"
        )
        or "",
    }
    changed = any(entered.values()) or any(data.clears(n) for n in SECRET_NAMES)
    present = {
        n for n in SECRET_NAMES if entered[n] or (n in old["stored_secrets"] and not data.clears(n))
    }

    modem = {
        "url": problems.run(_modem_url, data.modem_url, variant == VARIANT_MODEM) or "",
        "baudrate": problems.run(
            _int,
            data.modem_baudrate,
            "modem_baudrate",
            min(BAUD_RATES),
            max(BAUD_RATES),
            _("Bitte eine Baudrate aus der Liste wählen."),
        ),
        "cmgs_timeout": problems.run(
            _int,
            data.modem_cmgs_timeout,
            "modem_cmgs_timeout",
            5,
            600,
            _("Bitte eine Zeit zwischen 5 und 600 Sekunden eingeben."),
        ),
        "receive": bool(data.modem_receive),
    }
    if modem["baudrate"] is not None and modem["baudrate"] not in BAUD_RATES:
        problems.add(_("Bitte eine Baudrate aus der Liste wählen."), "modem_baudrate")

    auth = data.websms_auth if data.websms_auth in (AUTH_TOKEN, AUTH_PASSWORD) else None
    if auth is None:
        problems.add(_("Bitte die Art der Anmeldung wählen."), "websms_auth")
    sender = problems.run(_sender, data.websms_sender_address, data.websms_sender_address_type)
    max_sms = (data.websms_max_sms_per_message or "").strip() or "0"
    websms = {
        "base_url": problems.run(
            _http_url,
            data.websms_base_url,
            "websms_base_url",
            variant == VARIANT_WEBSMS,
            DEFAULT_WEBSMS_URL,
        )
        or "",
        "auth": auth or AUTH_TOKEN,
        "username": problems.run(_text, data.websms_username, "websms_username", 254) or "",
        "sender_address": sender[0] if sender else "",
        "sender_address_type": sender[1] if sender else "",
        "signature": problems.run(_text, data.websms_signature, "websms_signature", MAX_SIGNATURE)
        or "",
        "test_mode": bool(data.websms_test_mode),
        "max_sms_per_message": problems.run(
            _int,
            max_sms,
            "websms_max_sms_per_message",
            0,
            255,
            _("Bitte eine Zahl zwischen 0 (keine Grenze) und 255 eingeben."),
        ),
        "notification_callback_url": problems.run(
            _http_url,
            data.websms_callback_url,
            "websms_callback_url",
            False,
            "https://websms:…@sms.firma.at/webhooks/websms",
        )
        or "",
        "inbound_email": problems.run(
            clean_email, data.websms_inbound_email, "websms_inbound_email"
        )
        or "",
    }
    if variant == VARIANT_WEBSMS and auth == AUTH_TOKEN and "websms_access_token" not in present:
        problems.add(
            _("Bitte das Zugangstoken eingeben (im websms-Kundenportal unter API erstellt)."),
            "websms_access_token",
        )
    if variant == VARIANT_WEBSMS and auth == AUTH_PASSWORD:
        if not websms["username"]:
            problems.add(_("Bitte den API-Benutzer eingeben."), "websms_username")
        if "websms_password" not in present:
            problems.add(_("Bitte das API-Passwort eingeben."), "websms_password")
    problems.check()

    try:
        current, readable = decrypt_secrets(job.secrets, secret_key), True
    except SecretsUnreadable:
        current, readable = {}, False  # unreadable with this key: what is entered replaces them
    hook = current.get(WEBHOOK_SECRET, "")
    if changed or (readable and not hook):
        hook = hook or _new_webhook_secret()  # generated with the first Einstellungen
        values = {
            n: entered[n] or ("" if data.clears(n) else current.get(n, "")) for n in SECRET_NAMES
        }
        job.secrets = encrypt_secrets({**values, WEBHOOK_SECRET: hook}, secret_key)
        present = {n for n, v in values.items() if v}
        if entered["modem_pin"] or data.clears("modem_pin"):
            _forget_rejected_pin(modem["url"])
    if hook:
        websms["notification_callback_url"] = websms["notification_callback_url"].replace(
            hook, SECRET_IN_URL
        )
    pin_changed = bool(entered["modem_pin"]) or data.clears("modem_pin")
    if stored_settings(job)["modem"].get("pin_rejected") and not pin_changed:
        modem["pin_rejected"] = True  # only a new PIN may be tried again
    job.settings = {
        "variant": variant,
        "modem": modem,
        "websms": websms,
        "stored_secrets": sorted(present),
    }
    job.updated_by = changed_by
    session.flush()
    return job


def _forget_rejected_pin(url: str) -> None:
    """A new PIN may be tried again (the modem transport never repeats a refused one)."""
    try:
        from webapp.sms.transports.modem import forget_rejected_pin
    except ImportError:
        return
    forget_rejected_pin(url)


def _build(cls: type, values: dict[str, Any]) -> Any:
    """`cls(**values)` with the values the dataclass knows (others are left at its defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def job_settings(job: Job, secret_key: str) -> Any:
    """The transport settings of the job: WebsmsSettings (Variante 2) or ModemSettings (1).

    Raises TransportUnavailable (German reason) when the stored secrets cannot be decrypted
    or Variante 1 has no modem address.
    """
    from webapp.sms.transports.base import TransportUnavailable

    stored = stored_settings(job)
    callback_url = stored["websms"]["notification_callback_url"]
    try:
        needed = stored["stored_secrets"] or SECRET_IN_URL in callback_url
        secrets = decrypt_secrets(job.secrets, secret_key) if needed else {}
    except SecretsUnreadable as error:
        raise TransportUnavailable(error.reason) from None
    if stored["variant"] == VARIANT_MODEM:
        from webapp.sms.transports.modem import ModemSettings

        modem = stored["modem"]
        if not modem["url"]:
            raise TransportUnavailable(
                _(
                    "Modem: Keine Modem-Adresse eingestellt. Bitte in den Job-Einstellungen "
                    "unter „COM Einstellungen“ eintragen."
                )
            )
        return _build(
            ModemSettings,
            {
                "url": modem["url"],
                "baudrate": int(modem["baudrate"]),
                "pin": secrets.get("modem_pin") or None,
                "cmgs_timeout": float(modem["cmgs_timeout"]),
            },
        )
    from webapp.sms.transports.websms import WebsmsSettings

    websms = stored["websms"]
    token_auth = websms["auth"] == AUTH_TOKEN
    return _build(
        WebsmsSettings,
        {
            "base_url": websms["base_url"] or DEFAULT_WEBSMS_URL,
            "access_token": (secrets.get("websms_access_token") or None) if token_auth else None,
            "username": None if token_auth else (websms["username"] or None),
            "password": None if token_auth else (secrets.get("websms_password") or None),
            "sender_address": websms["sender_address"] or None,
            "sender_address_type": websms["sender_address_type"] or None,
            "test_mode": bool(websms["test_mode"]),
            "max_sms_per_message": int(websms["max_sms_per_message"] or 0),
            "notification_callback_url": _with_webhook_secret(
                callback_url, secrets.get(WEBHOOK_SECRET, "")
            )
            or None,
            "signature": websms["signature"] or "",
        },
    )


# --- the secret of the websms webhooks ------------------------------------------------------------


def _new_webhook_secret() -> str:
    return token_urlsafe(24)


def webhook_secret(job: Job, secret_key: str) -> str:
    """The job's webhook secret, decrypted ('' when none is set or SMS_SECRET_KEY does not fit)."""
    try:
        return decrypt_secrets(job.secrets, secret_key).get(WEBHOOK_SECRET, "")
    except SecretsUnreadable:
        return ""


def set_webhook_secret(job: Job, secret_key: str, secret: str | None = None) -> str:
    """Store a new webhook secret (generated unless given) with the job's other secrets and
    return it; the old one stops working. InputError when the stored secrets cannot be
    decrypted (they would be lost)."""
    try:
        current = decrypt_secrets(job.secrets, secret_key)
    except SecretsUnreadable as error:
        raise InputError(error.reason) from None
    secret = secret or _new_webhook_secret()
    job.secrets = encrypt_secrets({**current, WEBHOOK_SECRET: secret}, secret_key)
    return secret


def job_for_webhook_secret(session: Session, received: str, secret_key: str) -> Job | None:
    """The Service SMS job whose webhook secret is `received` (compared in constant time with
    each decrypted one); None when none matches."""
    if not received:
        return None
    found = None
    for job in session.scalars(select(Job).where(Job.job_type == "service_sms")):
        stored = webhook_secret(job, secret_key)
        if stored and hmac.compare_digest(stored.encode(), received.encode()):
            found = job
    return found


def _with_webhook_secret(url: str, secret: str) -> str:
    """A stored delivery-report URL with the webhook secret filled in (kept as is without)."""
    return url.replace(SECRET_IN_URL, secret) if secret else url


def callback_url(job: Job, secret_key: str) -> str:
    """The delivery-report URL as entered (with the webhook secret), for the Einstellungen."""
    url = stored_settings(job)["websms"]["notification_callback_url"]
    return _with_webhook_secret(url, webhook_secret(job, secret_key)) if url else ""


def signature(job: Job) -> str:
    """The signature that Variante 2 appends to every SMS ('' for Variante 1)."""
    stored = stored_settings(job)
    return stored["websms"]["signature"] if stored["variant"] == VARIANT_WEBSMS else ""


def service_signature(session: Session) -> str:
    """The signature of the system job "Service SMS" (Variante 2), '' when none is set."""
    job = session.scalar(select(Job).where(Job.job_type == "service_sms").order_by(Job.id))
    return signature(job).strip() if job is not None else ""


def inbound_email(job: Job) -> str:
    """Where received SMS (Variante 2) are forwarded to."""
    return stored_settings(job)["websms"]["inbound_email"]


def test_connection(job: Job, secret_key: str) -> tuple[bool, str]:
    """Check the stored Einstellungen live; (worked, German answer to show).

    Modem: open the port, AT, SIM, signal, registration (`ModemTransport.status()`).
    websms: one authenticated request with websms's test flag: nothing is sent.
    """
    from webapp.sms.transports.base import TransportUnavailable

    try:
        settings = job_settings(job, secret_key)
    except TransportUnavailable as error:
        return False, error.reason
    except ImportError:
        return False, _("Diese Variante ist in dieser Installation noch nicht verfügbar.")
    if type(settings).__name__ == "ModemSettings":
        return _test_modem(settings)
    return _test_websms(settings)


def _test_websms(settings: Any) -> tuple[bool, str]:
    from webapp.sms.transports.base import OutgoingSms, TransportUnavailable
    from webapp.sms.transports.websms import WebsmsTransport

    problem = settings.problem()
    if problem:
        return False, problem
    settings = dataclasses.replace(
        settings,
        test_mode=True,
        concurrency=1,
        read_timeout=min(float(settings.read_timeout), 15.0),
        connect_timeout=min(float(settings.connect_timeout), 5.0),
    )
    transport = WebsmsTransport(settings)
    try:
        outcome = transport.send(
            OutgoingSms(message_id=0, recipient=TEST_RECIPIENT, text="Verbindungstest SMS-Modul")
        )
    except TransportUnavailable as error:
        return False, error.reason
    finally:
        transport.close()
    if outcome.ok:
        return True, _(
            "Verbindung in Ordnung: websms hat die Anmeldung und eine Test-Anfrage angenommen "
            "(%(code)s). Im Testmodus wurde keine SMS versendet.",
            code=outcome.code or "",
        )
    detail = f" ({outcome.code})" if outcome.code else ""
    return False, f"{outcome.reason or _('websms hat die Anfrage abgelehnt.')}{detail}"


def _test_modem(settings: Any) -> tuple[bool, str]:
    from webapp.sms.transports.base import TransportUnavailable
    from webapp.sms.transports.modem import ModemTransport

    transport = None
    try:
        transport = ModemTransport(settings)
        status = transport.status()
    except TransportUnavailable as error:
        return False, error.reason
    except Exception as error:  # serial/socket errors the transport did not translate
        return False, _("Das Modem antwortet nicht: %(error)s", error=str(error) or repr(error))
    finally:
        if transport is not None:
            transport.close()
    return _modem_answer(status)


def _modem_answer(status: Any) -> tuple[bool, str]:
    """The answer to show for a ModemStatus: fine when the modem is registered in a network."""
    dbm = f" ({status.dbm} dBm)" if status.dbm is not None else ""
    if status.registered:
        return True, _(
            "Verbindung in Ordnung: Das Modem antwortet, die SIM-Karte ist bereit, Signal "
            "%(signal)s%(dbm)s, %(network)s.",
            signal=status.signal,
            dbm=dbm,
            network=status.registration_text,
        )
    return False, _(
        "Das Modem antwortet und die SIM-Karte ist bereit, aber es ist nicht im Netz: "
        "%(network)s (Signal %(signal)s%(dbm)s). Bitte Antenne und SIM-Karte prüfen.",
        network=status.registration_text,
        signal=status.signal,
        dbm=dbm,
    )


# --- runs and Errorlog ---------------------------------------------------------------------------


def latest_run(session: Session, job: Job) -> JobRun | None:
    return session.scalar(
        select(JobRun).where(JobRun.job_id == job.id).order_by(JobRun.id.desc()).limit(1)
    )


def run_remaining(run: JobRun) -> int:
    return max(run.total - run.sent - run.failed - run.retried, 0)


def runs_ended_by(session: Session, run: JobRun) -> list[JobRun]:
    """The runs of the same job found dead and ended when `run` started (their error says
    what became of their SMS)."""
    return list(
        session.scalars(
            select(JobRun)
            .where(
                JobRun.job_id == run.job_id,
                JobRun.id < run.id,
                JobRun.status == RunStatus.FAILED,
                JobRun.error.like("Lauf abgebrochen%"),
                JobRun.finished_at >= run.started_at - timedelta(seconds=30),
                JobRun.finished_at <= run.started_at,
            )
            .order_by(JobRun.id)
        )
    )


def run_is_stale(run: JobRun, dead_after: timedelta) -> bool:
    """A run still marked running whose process is gone or that stopped beating (it does every
    few seconds): shown as "reagiert nicht mehr"; it does not keep "Jetzt ausführen" back."""
    from webapp.jobs.runner import run_is_dead

    return run.status == RunStatus.RUNNING and run_is_dead(run, dead_after)


@dataclass(frozen=True)
class LogFilter:
    """Suchkriterien of the Errorlog; empty fields do not filter."""

    date_from: date | None = None
    date_to: date | None = None
    level: str = ""
    run_id: int | None = None
    text: str = ""
    timezone: str = "Europe/Vienna"

    @property
    def params(self) -> dict[str, str]:
        """The filter as URL parameters (empty ones left out)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "level": self.level,
            "run": str(self.run_id) if self.run_id is not None else "",
            "text": self.text,
        }
        return {k: v for k, v in values.items() if v}


LogPage = KeysetPage


def search_log(
    session: Session,
    job: Job,
    flt: LogFilter,
    before_id: int | None = None,
    page_size: int = PAGE_SIZE,
) -> LogPage:
    """One page of the job's Errorlog, newest first (keyset on the id), with a capped total."""
    stmt = select(JobLogEntry).where(JobLogEntry.job_id == job.id)
    if flt.level:
        stmt = stmt.where(JobLogEntry.level == flt.level)
    if flt.run_id is not None:
        stmt = stmt.where(JobLogEntry.run_id == flt.run_id)
    term = flt.text.strip()
    if term:
        stmt = stmt.where(JobLogEntry.message.ilike(f"%{escape_like(term)}%", escape="\\"))
    if flt.date_from:
        start = local_midnight_utc(flt.date_from, flt.timezone)
        stmt = stmt.where(JobLogEntry.created_at >= start)
    if flt.date_to:
        end = local_midnight_utc(flt.date_to + timedelta(days=1), flt.timezone)
        stmt = stmt.where(JobLogEntry.created_at < end)
    rows = walk(session, stmt, JobLogEntry.id, before=before_id, after=None, page_size=page_size)
    return keyset_page(
        session, rows, stmt, JobLogEntry.id, before=before_id, after=None, page_size=page_size
    )

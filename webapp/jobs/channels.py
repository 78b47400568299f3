"""Einstellungen – Kanäle: the rules of a job's channel list (README "Kanäle").

A channel is a Variante 1 GSM modem or a Variante 2 websms account (webapp.models.channels).
The list is ordered (`position`); a channel is either a stage of its own (used when all before
it failed) or "parallel zum vorigen Kanal" (equal `rank`: pooled, both send at once). Its
settings are saved through `settings_tab.save_settings(channel=…)` (the same rules as the
main form, whose Variante section is channel 1); here: adding, ordering, switching on and off,
the name, the parallel flag and the routing rules, and the state the runs write
(`ChannelState`, `channel_states` for the Job tab and the Übersicht).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector, InputError
from webapp.jobs.settings import Variant, add_channel, channel_settings, variant_of
from webapp.models import Attempt, Channel, Job
from webapp.models.base import utcnow
from webapp.validation import text_field

MAX_ROUTES = 40
# A channel that failed as a whole is skipped this long, doubling with each failure in a row.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


def channel_or_none(job: Job, channel_id: int) -> Channel | None:
    """The job's channel with this id (None: not one of the job's)."""
    return next((c for c in job.channels if c.id == channel_id), None)


def new_channel(session: Session, job: Job, variant: str, changed_by: str) -> Channel:
    """Kanal hinzufügen: a channel of the chosen Variante at the end of the list, switched off
    until its settings are entered and it is switched on."""
    if variant not in (str(Variant.MODEM.value), str(Variant.WEBSMS.value)):
        raise InputError(
            _("Bitte eine Variante wählen: 1 (GSM-Modem) oder 2 (SMS-Web)."), "variant"
        )
    channel = add_channel(job, Variant(int(variant)))
    channel.enabled = False
    job.updated_by = changed_by
    session.flush()
    return channel


def _parallel_flags(job: Job) -> dict[int, bool]:
    """For each channel: whether it sends in parallel with the one before it (equal rank)."""
    flags: dict[int, bool] = {}
    previous: Channel | None = None
    for channel in job.channels:
        flags[id(channel)] = previous is not None and channel.rank == previous.rank
        previous = channel
    return flags


def _renumber(job: Job, parallel: dict[int, bool]) -> None:
    """Positions 1…n in list order; ranks from the parallel flags."""
    rank = 0
    for position, channel in enumerate(job.channels, start=1):
        channel.position = position
        if position == 1 or not parallel.get(id(channel), False):
            rank += 1
        channel.rank = rank


def move_channel(session: Session, job: Job, channel: Channel, up: bool, changed_by: str) -> None:
    """ "nach oben" / "nach unten": swap with the neighbour. The stages stay where they are
    (two parallel channels stay parallel; a channel moved above a stage boundary joins the
    stage before)."""
    channels = list(job.channels)
    index = channels.index(channel)
    other = index - 1 if up else index + 1
    if 0 <= other < len(channels):
        neighbour = channels[other]
        channel.position, neighbour.position = neighbour.position, channel.position
        channel.rank, neighbour.rank = neighbour.rank, channel.rank
        channels[index], channels[other] = neighbour, channel
        job.channels[:] = channels
        job.updated_by = changed_by
    session.flush()


def set_enabled(
    session: Session, job: Job, channel: Channel, enabled: bool, changed_by: str
) -> None:
    """ "aktivieren" / "deaktivieren". Switching on needs complete settings (German error);
    a channel switched on again starts without its back-off."""
    if enabled:
        problem = incomplete(job, channel)
        if problem:
            raise InputError(problem)
        channel.backoff_until = None
    channel.enabled = enabled
    job.updated_by = changed_by
    session.flush()


def incomplete(job: Job, channel: Channel) -> str:
    """Why the channel cannot send as stored ('' when it can)."""
    stored = channel_settings(job, channel)
    if stored.variant is Variant.MODEM and not stored.modem.url:
        return _("Kanal %(n)d: Bitte zuerst die Adresse des Modems eintragen.", n=channel.position)
    if stored.variant is Variant.WEBSMS:
        if stored.websms.auth == "token" and "websms_access_token" not in stored.stored_secrets:
            return _("Kanal %(n)d: Bitte zuerst das Zugangstoken eintragen.", n=channel.position)
        if stored.websms.auth == "password" and "websms_password" not in stored.stored_secrets:
            return _("Kanal %(n)d: Bitte zuerst das API-Passwort eintragen.", n=channel.position)
    return ""


@dataclass
class ChannelInput:
    """The channel's own fields of its form (its transport settings: SettingsInput)."""

    name: str = ""
    parallel: bool = False  # parallel zum vorigen Kanal
    routes: str = ""


def parse_routes(raw: str) -> str:
    """Routing rules as stored: prefixes of E.164 numbers ("43", "+49", "!4366"), comma
    separated, normalised to digits ('' = every number). InputError (German) otherwise."""
    parts = [p.strip() for p in re.split(r"[,;\s]+", raw or "") if p.strip()]
    message = _(
        "Bitte Vorwahlen mit Ländervorwahl angeben, durch Kommas getrennt, z. B. „+43“ oder "
        "„!+43“ für alle Nummern außer österreichischen."
    )
    cleaned: list[str] = []
    for part in parts:
        excluded = part.startswith("!")
        digits = part.removeprefix("!").strip().removeprefix("+").removeprefix("00")
        if not re.fullmatch(r"[1-9]\d{0,7}", digits):
            raise InputError(message, "routes")
        cleaned.append(("!" if excluded else "") + digits)
    if len(cleaned) > MAX_ROUTES:
        raise InputError(_("Bitte höchstens %(n)d Vorwahlen angeben.", n=MAX_ROUTES), "routes")
    return ",".join(cleaned)


def serves(routes: str, number: str | None) -> bool:
    """Whether a channel with these routing rules sends to `number` (E.164 with +).

    No rules: every number. Otherwise the number must start with one of the prefixes given
    without "!" (when there are any) and with none of those given with "!".
    """
    if not routes:
        return True
    digits = (number or "").removeprefix("+")
    rules = routes.split(",")
    allowed = [r for r in rules if not r.startswith("!")]
    denied = [r[1:] for r in rules if r.startswith("!")]
    if any(digits.startswith(prefix) for prefix in denied):
        return False
    return not allowed or any(digits.startswith(prefix) for prefix in allowed)


def save_channel_fields(
    session: Session, job: Job, channel: Channel, data: ChannelInput, changed_by: str
) -> None:
    """Name, parallel flag and routing rules of a channel (its settings: save_settings)."""
    problems = ErrorCollector()
    name = problems.run(text_field, data.name, "name", 80, single_line=True) or ""
    routes = problems.run(parse_routes, data.routes) or ""
    problems.raise_if_any()
    parallel = _parallel_flags(job)
    parallel[id(channel)] = bool(data.parallel)
    channel.name = name
    channel.routes = routes
    _renumber(job, parallel)
    job.updated_by = changed_by
    session.flush()


# --- state -------------------------------------------------------------------------------------


def run_channels(job: Job, now: datetime) -> list[Channel]:
    """The channels a run may send through, in the order it tries them: those switched on and
    not in their back-off; when every one switched on is in its back-off, all of them (one
    channel = as before channels: each run tries it)."""
    enabled = [c for c in job.channels if c.enabled]
    ready = [c for c in enabled if c.backoff_until is None or c.backoff_until <= now]
    return ready or enabled


def mark_failed(channel: Channel, reason: str, now: datetime) -> None:
    """The channel failed as a whole (nothing handed to it): failed since (kept when set),
    failures in a row, back-off until, last error. The caller commits."""
    channel.failures = (channel.failures or 0) + 1
    channel.failed_since = channel.failed_since or now
    channel.backoff_until = now + min(BACKOFF_FIRST * 2 ** (channel.failures - 1), BACKOFF_MAX)
    channel.last_error = reason


def mark_ok(channel: Channel, now: datetime) -> None:
    """The channel answered: in Ordnung again. The caller commits."""
    channel.failures = 0
    channel.failed_since = None
    channel.backoff_until = None
    channel.last_ok_at = now


@dataclass(frozen=True)
class ChannelState:
    """A channel as the Job tab and the Übersicht show it."""

    id: int
    position: int
    rank: int
    name: str
    variant: Variant
    address: str  # the modem's URL or websms's base URL
    enabled: bool
    ok: bool  # not failed (or failed, but its back-off is over: it is tried again)
    failed_since: datetime | None
    backoff_until: datetime | None
    last_error: str
    last_ok_at: datetime | None
    routes: str

    @property
    def label(self) -> str:
        """ "Kanal 2 – GSM-Modem" (with its name when it has one)."""
        text = _("Kanal %(n)d", n=self.position)
        return f"{text} – {self.name}" if self.name else f"{text} – {self.variant.label}"

    @property
    def status(self) -> str:
        """In one word: aus, in Ordnung, gestört."""
        if not self.enabled:
            return _("ausgeschaltet")
        return _("in Ordnung") if self.failed_since is None else _("gestört")


def channel_state(job: Job, channel: Channel, now: datetime | None = None) -> ChannelState:
    """One channel's state."""
    stored = channel_settings(job, channel)
    variant = variant_of(channel)
    address = stored.modem.url if variant is Variant.MODEM else stored.websms.base_url
    now = now or utcnow()
    waiting = channel.backoff_until is not None and channel.backoff_until > now
    return ChannelState(
        id=channel.id,
        position=channel.position,
        rank=channel.rank,
        name=channel.name,
        variant=variant,
        address=address,
        enabled=channel.enabled,
        ok=channel.failed_since is None or not waiting,
        failed_since=channel.failed_since,
        backoff_until=channel.backoff_until,
        last_error=channel.last_error,
        last_ok_at=channel.last_ok_at,
        routes=channel.routes,
    )


def channel_states(job: Job) -> list[ChannelState]:
    """Each channel's state, in the list's order (the Job tab; the Übersicht)."""
    now = utcnow()
    return [channel_state(job, c, now) for c in job.channels]


def channel_labels(session: Session) -> dict[int, str]:
    """Every channel's label by id (the SMS detail names the channel of an attempt)."""
    channels = session.scalars(select(Channel)).all()
    return {c.id: channel_state(c.job, c).label for c in channels} if channels else {}


def attempts_of(session: Session, message_id: int) -> list[Attempt]:
    """The recorded attempts of one SMS, oldest first."""
    return list(
        session.scalars(
            select(Attempt).where(Attempt.message_id == message_id).order_by(Attempt.id)
        )
    )


def attempt_label(outcome: str) -> str:
    """What came of an attempt, as the SMS detail says it."""
    labels = {
        "accepted": _("angenommen"),
        "transient": _("vorübergehender Fehler"),
        "permanent": _("Fehler"),
        "unknown": _("Ergebnis unklar"),
        "untried": _("nicht versucht"),
    }
    return labels.get(outcome, outcome)

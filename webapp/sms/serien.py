"""Serien-SMS (issue 17): one text to many recipients, reviewed before anything is queued.

The steps, each a plain function on a session (the views in `blueprints/serien.py` only
parse the request and render):

1. `review`: the recipients from Personen/Firmen by filters (`ContactFilter`) and/or a list
   (`recipient_lists.read_list`), each number checked by the one parser with table 93001
   (`numbers.check_number`), the same E.164 number kept once, the text filled per recipient
   by the one placeholder filler (`placeholders.render`, with `{spalte.<name>}` of the list)
   and finished like every SMS (`outbox.finished_text`: signature, fixed text of 1402,
   segments). Nothing is written.
2. `save_review` stores the review as a draft Serie (its SMS as JSON, nothing queued) with a
   token; `confirm` ("Senden") queues exactly those SMS in one transaction, one bulk INSERT
   (`outbox.queue_many`), each with Herkunft "Serien-SMS" (bulk in the fair claim,
   `models.sms.BULK_SOURCES`) and `source_ref` = the Serie's id. The draft → queued
   compare-and-set makes a second submit of the token queue nothing.
3. `counts` (read from the SMS, so they follow runs and delivery reports live) and
   `cancel_rest` ("Rest abbrechen": the SMS no run has claimed end as Abgebrochen,
   `planning.cancel_unclaimed`'s compare-and-set against the claim). A Serie may be planned
   (Versand am, `SeriesInput.send_at`): its SMS wait as Geplant until then.
"""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.jobs.registry import SERVICE_SMS
from webapp.models import (
    Company,
    Job,
    JobRun,
    Mandant,
    Message,
    MessageSource,
    MessageStatus,
    Person,
    Series,
    SeriesState,
    Ticket,
    User,
    WorkOrder,
)
from webapp.models.base import utcnow
from webapp.sms.encoding import SegmentInfo
from webapp.sms.notifications import CREDITOR, INSPECTOR, RESIDENT, role_label
from webapp.sms.numbers import ParsedNumber, check_number
from webapp.sms.outbox import (
    DEFAULT_MAX_SEGMENTS,
    QueueItem,
    finished_text,
    queue_many,
    text_endings,
)
from webapp.sms.paging import KeysetPage, SortKey, paginate
from webapp.sms.placeholders import (
    PLACEHOLDERS,
    PlaceholderSyntaxError,
    column_placeholder,
    find_placeholders,
    render,
    tokens_of,
)
from webapp.sms.planning import cancel_unclaimed, check_send_at
from webapp.sms.prefixes import active_prefixes
from webapp.sms.recipient_lists import RecipientList
from webapp.sms.scope import scoped
from webapp.sms.settings import require_sms_service

SHOWN_TEXTS = 5  # the review shows the final text of the first few recipients
RATE_RUNS = 20  # the job's recent rate: its last runs that sent something …
RATE_DAYS = 7  # … within this many days


class ContactKinds(enum.StrEnum):
    """Which records the filters choose from."""

    NONE = ""
    PERSONS = "personen"
    COMPANIES = "firmen"
    BOTH = "beide"


ROLES = (RESIDENT, INSPECTOR, CREDITOR)


@dataclass(frozen=True)
class ContactFilter:
    """Personen/Firmen of the Serie's Mandant: name and address contain, role in Aufträge and
    Tickets (Bestandsnehmer, Kontrolleur: Personen; Kreditor: Firmen), only those with a
    mobile number entered."""

    kinds: ContactKinds = ContactKinds.NONE
    name: str = ""
    address: str = ""
    role: str = ""
    with_mobile: bool = True


@dataclass(frozen=True)
class SeriesInput:
    """What the form sent: the Mandant, the text, the filters and/or the list."""

    mandant_id: int
    text: str
    contacts: ContactFilter = ContactFilter()
    listing: RecipientList | None = None
    send_at: datetime | None = None  # Versand am (aware, UTC): planned, else at once


@dataclass(frozen=True)
class _Candidate:
    where: str  # "Person Maria Muster", "Zeile 5"
    number: str  # as entered
    values: dict[str, str]


@dataclass(frozen=True)
class ReviewedSms:
    """One SMS the Serie will queue: for whom, to which number, which text."""

    where: str
    parsed: ParsedNumber
    text: str  # the text filled in for this recipient (without signature and fixed text)
    final_text: str
    info: SegmentInfo

    @property
    def display(self) -> str:
        return self.parsed.display or self.parsed.raw


@dataclass(frozen=True)
class RefusedRecipient:
    """A recipient left out, with the reason (number refused, text not fillable)."""

    where: str
    number: str
    reason: str


@dataclass(frozen=True)
class DuplicateRecipient:
    """A recipient whose number an earlier one has already: it gets no second SMS."""

    where: str
    display: str
    kept: str  # the `where` of the one that gets the SMS


@dataclass
class Review:
    """What the Serie would send; nothing of it is stored."""

    recipients: list[ReviewedSms] = field(default_factory=list)
    duplicates: list[DuplicateRecipient] = field(default_factory=list)
    refused: list[RefusedRecipient] = field(default_factory=list)
    rate: float | None = None  # SMS per second of the job's recent runs

    @property
    def parts_total(self) -> int:
        return sum(r.info.segments for r in self.recipients)

    @property
    def parts_range(self) -> tuple[int, int]:
        """The fewest and most parts of one SMS ((0, 0) without recipients)."""
        parts = [r.info.segments for r in self.recipients]
        return (min(parts), max(parts)) if parts else (0, 0)

    @property
    def shown(self) -> list[ReviewedSms]:
        return self.recipients[:SHOWN_TEXTS]

    @property
    def estimated(self) -> timedelta | None:
        """About how long sending takes at the recent rate; None when no run sent yet."""
        if not self.rate or not self.recipients:
            return None
        return timedelta(seconds=len(self.recipients) / self.rate)


def allowed_placeholders(series_input: SeriesInput) -> list[str]:
    """The placeholders a Serie's text may use with these recipients."""
    keys = ["mandant.name"]
    kinds = series_input.contacts.kinds
    if kinds in (ContactKinds.PERSONS, ContactKinds.BOTH):
        keys.append("person.name")
    if kinds in (ContactKinds.COMPANIES, ContactKinds.BOTH):
        keys.append("firma.name")
    if series_input.listing is not None:
        keys += [column_placeholder(key) for key in series_input.listing.keys]
    return keys


def _check_text(series_input: SeriesInput) -> None:
    text = series_input.text or ""
    if not text.strip():
        raise InputError(_("Bitte einen SMS-Text eingeben."), "text")
    try:
        used = find_placeholders(text)
    except PlaceholderSyntaxError as error:
        raise InputError(error.message, "text") from None
    allowed = allowed_placeholders(series_input)
    unknown = [key for key in used if key not in allowed]
    if unknown:
        raise InputError(
            ngettext(
                "Der Platzhalter %(keys)s kann hier nicht ausgefüllt werden. Möglich sind: "
                "%(allowed)s.",
                "Die Platzhalter %(keys)s können hier nicht ausgefüllt werden. Möglich sind: "
                "%(allowed)s.",
                len(unknown),
                keys=tokens_of(unknown),
                allowed=tokens_of(allowed),
            ),
            "text",
        )


def require_mandant(session: Session, mandant_id: int | None, mandant_ids: set[int] | None) -> int:
    """The Serie's Mandant if it is active and one of `mandant_ids` (None: all), else
    InputError: a Serie never reaches another Mandant's records."""
    mandant = session.get(Mandant, mandant_id) if mandant_id is not None else None
    if (
        mandant is None
        or not mandant.active
        or (mandant_ids is not None and mandant.id not in mandant_ids)
    ):
        raise InputError(_("Bitte einen Ihrer Mandanten auswählen."), "mandant")
    return mandant.id


def _role_condition(model: type[Person] | type[Company], role: str) -> ColumnElement[bool]:
    if role == RESIDENT:
        return or_(
            model.id.in_(select(WorkOrder.resident_id)),
            model.id.in_(select(Ticket.resident_id)),
        )
    if role == INSPECTOR:
        return model.id.in_(select(WorkOrder.inspector_id))
    return model.id.in_(select(WorkOrder.creditor_id))


def _contact_candidates(
    session: Session, mandant: Mandant, flt: ContactFilter
) -> Iterator[_Candidate]:
    models: list[type[Person] | type[Company]] = []
    if flt.kinds in (ContactKinds.PERSONS, ContactKinds.BOTH) and flt.role != CREDITOR:
        models.append(Person)
    if flt.kinds in (ContactKinds.COMPANIES, ContactKinds.BOTH) and flt.role in ("", CREDITOR):
        models.append(Company)
    for model in models:
        columns = (model.id, model.name, model.mobile)
        stmt = select(*columns).where(model.mandant_id == mandant.id)
        if flt.name.strip():
            stmt = stmt.where(model.name.icontains(flt.name.strip(), autoescape=True))
        if flt.address.strip():
            term = flt.address.strip()
            stmt = stmt.where(
                or_(
                    model.street.icontains(term, autoescape=True),
                    model.city.icontains(term, autoescape=True),
                    model.postal_code.icontains(term, autoescape=True),
                )
            )
        if flt.role in ROLES:
            stmt = stmt.where(_role_condition(model, flt.role))
        if flt.with_mobile:
            stmt = stmt.where(func.trim(model.mobile) != "")
        label = _("Person") if model is Person else _("Firma")
        key = "person.name" if model is Person else "firma.name"
        for row in session.execute(stmt.order_by(func.lower(model.name), model.id)):
            yield _Candidate(
                f"{label} {row.name}",
                row.mobile or "",
                {key: row.name, "mandant.name": mandant.name},
            )


def _list_candidates(listing: RecipientList, mandant: Mandant) -> Iterator[_Candidate]:
    # Translated once, filled per row: gettext per row was a tenth of a 10.000-row review.
    line_label = _("Zeile %(n)d")
    for row in listing.rows:
        values = {column_placeholder(k): v for k, v in row.values.items()}
        values["mandant.name"] = mandant.name
        yield _Candidate(line_label % {"n": row.line}, row.number, values)


def review(
    session: Session,
    series_input: SeriesInput,
    *,
    mandant_ids: set[int] | None,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
    default_region: str = "AT",
    signature: str | None = None,
) -> Review:
    """What the Serie would send (see the module). InputError for what the form must fix:
    Mandant, text (empty, a brace, a placeholder these recipients cannot fill), no
    recipients chosen. A recipient whose number or text is refused is listed with the reason."""
    mandant_id = require_mandant(session, series_input.mandant_id, mandant_ids)
    mandant = session.get_one(Mandant, mandant_id)
    if series_input.contacts.kinds is ContactKinds.NONE and series_input.listing is None:
        raise InputError(
            _("Bitte Empfänger wählen: Personen/Firmen nach Filter und/oder eine Liste."),
            "kinds",
        )
    _check_text(series_input)
    candidates: list[_Candidate] = []
    if series_input.contacts.kinds is not ContactKinds.NONE:
        candidates += _contact_candidates(session, mandant, series_input.contacts)
    if series_input.listing is not None:
        candidates += _list_candidates(series_input.listing, mandant)
    result = Review(rate=recent_rate(session))
    endings = text_endings(session, signature)
    prefixes = active_prefixes(session)
    kept: dict[str, str] = {}  # E.164 → where of the recipient that gets it
    for candidate in candidates:
        if not candidate.number.strip():
            result.refused.append(
                RefusedRecipient(candidate.where, "", _("Keine Handynummer eingetragen."))
            )
            continue
        parsed = check_number(session, candidate.number, default_region, prefixes)
        if not parsed.ok or parsed.e164 is None:
            result.refused.append(
                RefusedRecipient(candidate.where, candidate.number, parsed.reason or "")
            )
            continue
        first = kept.get(parsed.e164)
        if first is not None:
            result.duplicates.append(
                DuplicateRecipient(candidate.where, parsed.display or parsed.e164, first)
            )
            continue
        try:
            text = render(series_input.text, candidate.values, missing="error")
            final, info = finished_text(text, endings, max_segments)
        except InputError as error:  # a value missing (MissingPlaceholderError), too long, …
            result.refused.append(
                RefusedRecipient(candidate.where, candidate.number, error.message)
            )
            continue
        kept[parsed.e164] = candidate.where
        result.recipients.append(ReviewedSms(candidate.where, parsed, text, final, info))
    return result


def recent_rate(session: Session) -> float | None:
    """SMS per second of the last runs of "Service SMS" that sent something (within a week);
    None when there were none."""
    since = utcnow() - timedelta(days=RATE_DAYS)
    runs = session.execute(
        select(JobRun.sent, JobRun.started_at, JobRun.finished_at)
        .join(Job, Job.id == JobRun.job_id)
        .where(
            Job.job_type == SERVICE_SMS,
            JobRun.sent > 0,
            JobRun.finished_at.is_not(None),
            JobRun.started_at >= since,
        )
        .order_by(JobRun.id.desc())
        .limit(RATE_RUNS)
    ).all()
    sent = sum(int(run.sent) for run in runs)
    seconds: float = sum(
        max((run.finished_at - run.started_at).total_seconds(), 0.0)
        for run in runs
        if run.finished_at is not None
    )
    if not sent:
        return None
    return sent / max(seconds, 1.0)


@dataclass(frozen=True)
class Queued:
    """What `confirm` did: the Serie, and whether this call queued it (False: the same
    review was confirmed before, nothing was queued again)."""

    series: Series
    created: bool


DRAFT_HOURS = 24  # a review not confirmed within a day is deleted with the next one


def save_review(
    session: Session,
    result: Review,
    series_input: SeriesInput,
    *,
    created_by: User,
    mandant_ids: set[int] | None,
) -> Series:
    """Store the review as a draft Serie (nothing queued) and return it; its `token` is what
    "Senden" confirms. Drafts older than a day are deleted. The caller commits."""
    mandant_id = require_mandant(session, series_input.mandant_id, mandant_ids)
    session.execute(
        delete(Series).where(
            Series.state == SeriesState.DRAFT,
            Series.created_at < utcnow() - timedelta(hours=DRAFT_HOURS),
        )
    )
    draft = {
        "send_at": series_input.send_at.isoformat() if series_input.send_at else None,
        "rows": [
            [r.parsed.raw, r.parsed.e164, r.parsed.display, r.text] for r in result.recipients
        ],
    }
    series = Series(
        mandant_id=mandant_id,
        created_by_id=created_by.id,
        created_by_name=created_by.display_name or created_by.username,
        text=series_input.text,
        planned=len(result.recipients),
        refused=len(result.refused),
        duplicates=len(result.duplicates),
        token=secrets.token_urlsafe(24),
        state=SeriesState.DRAFT,
        draft=json.dumps(draft, ensure_ascii=False, separators=(",", ":")),
        cancelled=0,
    )
    session.add(series)
    session.flush()
    return series


def confirm(
    session: Session,
    token: str,
    *,
    user: User,
    mandant_ids: set[int] | None,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
    default_region: str = "AT",
) -> Queued:
    """ "Senden" of a review: queue its SMS, all or nothing, in one bulk INSERT (the caller
    commits). The draft becomes queued by a compare-and-set on its state, so a second
    submit of the same token (or two at once) queues nothing and returns the Serie.

    InputError when the review is unknown, not the user's or expired (review again);
    ServiceOff while global 1400 is off.
    """
    series = session.scalar(
        scoped(select(Series), Series.mandant_id, mandant_ids).where(
            Series.token == token, Series.created_by_id == user.id
        )
    )
    if series is None:
        raise InputError(_("Diese Prüfung gibt es nicht mehr. Bitte die Empfänger erneut prüfen."))
    if series.state is SeriesState.QUEUED:
        return Queued(series, False)
    require_mandant(session, series.mandant_id, mandant_ids)
    require_sms_service(session)
    draft = json.loads(series.draft or "{}")
    rows = draft.get("rows") or []
    # The planned time may have passed since the review: check_send_at says so (review again).
    send_at = check_send_at(
        datetime.fromisoformat(draft["send_at"]) if draft.get("send_at") else None, utcnow()
    )
    taken = session.execute(
        update(Series)
        .where(Series.id == series.id, Series.state == SeriesState.DRAFT)
        .values(state=SeriesState.QUEUED, draft=None, created_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):
        session.refresh(series)
        return Queued(series, False)
    session.refresh(series)
    if not rows:
        raise InputError(_("Die Serie hat keinen Empfänger, an den gesendet werden kann."))
    ref = str(series.id)
    queue_many(
        session,
        (
            QueueItem(raw, text, ref, ParsedNumber(raw, e164, display, None, None))
            for raw, e164, display, text in rows
        ),
        mandant_id=series.mandant_id,
        source=MessageSource.SERIES,
        created_by=user,
        max_segments=max_segments,
        default_region=default_region,
        returning=False,
        send_at=send_at,
    )
    return Queued(series, True)


# --- a Serie's state ----------------------------------------------------------------------------


def series_messages(series_id: int) -> ColumnElement[bool]:
    """The SMS of a Serie (index ix_sms_message_source_ref_id)."""
    return (Message.source == MessageSource.SERIES) & (Message.source_ref == str(series_id))


@dataclass(frozen=True)
class SeriesCounts:
    """Where a Serie stands: its SMS by status as users know them."""

    total: int = 0  # all SMS of the Serie
    planned: int = 0  # geplant: waiting for their time (Versand am)
    waiting: int = 0  # wartet: queued or being sent
    sent: int = 0  # versendet (no report yet)
    delivered: int = 0  # zugestellt
    failed: int = 0  # Fehler, Nicht zugestellt, Abgelaufen
    unclear: int = 0  # Unklar – bitte prüfen
    cancelled: int = 0  # abgebrochen ("Rest abbrechen")

    @property
    def open(self) -> int:
        """SMS that may still be sent (and may still be cancelled, unless being sent)."""
        return self.planned + self.waiting


_FAILED = (MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.EXPIRED)


def counts(session: Session, series_id: int) -> SeriesCounts:
    """The Serie's SMS counted by status (one GROUP BY)."""
    return counts_of(session, [series_id]).get(series_id, SeriesCounts())


def counts_of(session: Session, series_ids: list[int]) -> dict[int, SeriesCounts]:
    """`counts` of several Serien in one query (the list)."""
    if not series_ids:
        return {}
    refs = [str(i) for i in series_ids]
    rows = session.execute(
        select(Message.source_ref, Message.status, func.count())
        .where(Message.source == MessageSource.SERIES, Message.source_ref.in_(refs))
        .group_by(Message.source_ref, Message.status)
    ).all()
    tallies: dict[int, dict[str, int]] = {}
    for ref, status, n in rows:
        tally = tallies.setdefault(int(ref or 0), dict.fromkeys(_COUNT_FIELDS, 0))
        tally["total"] += n
        tally[_count_field(MessageStatus(status))] += n
    return {series_id: SeriesCounts(**tally) for series_id, tally in tallies.items()}


_COUNT_FIELDS = tuple(f.name for f in fields(SeriesCounts))


def _count_field(status: MessageStatus) -> str:
    if status is MessageStatus.CANCELLED:
        return "cancelled"
    if status is MessageStatus.PLANNED:
        return "planned"
    if status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        return "waiting"
    if status is MessageStatus.SENT:
        return "sent"
    if status is MessageStatus.DELIVERED:
        return "delivered"
    if status in _FAILED:
        return "failed"
    return "unclear"


def planned_time(session: Session, series_id: int) -> datetime | None:
    """The Versand am of a Serie (its SMS share it), None when it was sent at once."""
    return session.scalar(select(func.min(Message.send_at)).where(series_messages(series_id)))


def cancel_rest(session: Session, series: Series, by: User) -> int:
    """Rest abbrechen: every SMS of the Serie that no run has claimed yet (planned or
    waiting) ends as Abgebrochen with the reason, by `planning.cancel_unclaimed`'s
    compare-and-set against the claim (an SMS is either claimed or cancelled, never both).
    Returns how many; the caller commits."""
    name = by.display_name or by.username
    now = utcnow()
    reason = _(
        "Abgebrochen: der Rest der Serie %(id)d wurde von %(name)s abgebrochen.",
        id=series.id,
        name=name,
    )
    cancelled = len(
        cancel_unclaimed(
            session, series_messages(series.id), now, planned_only=False, reason=reason
        )
    )
    series.cancelled = (series.cancelled or 0) + cancelled
    series.cancelled_at = now
    series.cancelled_by = name
    session.flush()
    return cancelled


def series_list(
    session: Session,
    mandant_ids: set[int] | None,
    *,
    before: int | None = None,
    after: int | None = None,
) -> KeysetPage:
    """The Serien within `mandant_ids` (None: all), newest first."""
    stmt = scoped(select(Series), Series.mandant_id, mandant_ids).where(
        Series.state == SeriesState.QUEUED
    )
    return paginate(session, stmt, SortKey((Series.id,)), before=before, after=after)


def known_placeholders() -> dict[str, str]:
    """key → description of the record placeholders a Serie may use (the form's help)."""
    return {
        key: str(PLACEHOLDERS[key].description)
        for key in ("person.name", "firma.name", "mandant.name")
    }


def role_choices() -> list[tuple[str, str]]:
    """The roles in Aufträge/Tickets the filter offers ("" = any)."""
    return [("", _("alle")), *((role, role_label(role)) for role in ROLES)]

"""What the modem's status reports mean for an SMS (Variante 1; issue 15 points 3 and 5).

Every part of an SMS sent through the modem has its own message reference (TP-MR, the
`+CMGS: <mr>` of the part; the SMS keeps them in `provider_ref`, "12,13,14" in part order) and
gets its own status report. The first report of an SMS writes one row per part
(`MessagePart`); each report sets its part, and the SMS is the fold of its parts:

- **Nicht zugestellt** as soon as one part failed finally (TP-Status 0x40-0x7F, e.g. 0x45, and
  whatever final status is not "delivered"), whatever the others say or say later;
- **Zugestellt** only when every part is delivered (0x00-0x02);
- otherwise it stays as it is (Versendet): parts without a report, or pending ones (0x20-0x3F,
  the centre is still trying).

A part's first final report stands: a later report with its reference (TP-MR wraps at 256) does
not change it, so a "delivered" never overrides a failure, and reading a stored report twice
changes nothing.

A report is matched by its reference to the most recent SMS to that recipient within
`inbound.MATCH_WINDOW` that carries it. A report whose reference no SMS carries may belong to
an SMS left Unklar because its `+CMGS` came too late (it has no reference for that part): such
an SMS (Unklar, or confirmed as sent by a user) to the same recipient whose attempt began
within `UNCLEAR_BEFORE` before the report's SC time stamp (`CLOCK_SKEW` after it) takes the
report — only when exactly one SMS qualifies. Its part records `matched_by_time`; the SMS
leaves Unklar by the fold (a pending report on every part proves it was sent: Versendet), and
the detail view says "durch Zustellbericht geklärt".

websms reports per message, not per part: its reports stay with `inbound.record_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from webapp.jobs.runlog import RunLog
from webapp.models import (
    Channel,
    Job,
    Message,
    MessagePart,
    MessageStatus,
    PartStatus,
    UnclearDecision,
)
from webapp.models.base import utcnow
from webapp.models.channels import WEBSMS
from webapp.sms.inbound import MATCH_WINDOW, REPORTABLE, log_unknown_report
from webapp.sms.numbers import parse_number
from webapp.sms.transports.classify import status_report_text
from webapp.sms.transports.modem import StatusReport, join_references, split_references

# An Unklar SMS takes a report whose reference is unknown when its attempt began at most this
# long before the centre's time stamp of the report (a +CMGS waits a minute or two at most) …
UNCLEAR_BEFORE = timedelta(minutes=30)
# … or at most this long after it: the centre's clock and ours differ a little.
CLOCK_SKEW = timedelta(minutes=5)


def part_status(report: StatusReport) -> PartStatus:
    """What the report says of its part."""
    if report.delivered:
        return PartStatus.DELIVERED
    return PartStatus.FAILED if report.final else PartStatus.PENDING


def apply_status_reports(
    session: Session,
    job: Job,
    reports: Iterable[StatusReport],
    log: RunLog,
    default_region: str = "AT",
) -> int:
    """Apply the modem's status reports to the parts of their SMS and fold each SMS; reports
    that belong to no SMS are logged. Returns how many were applied (also those that changed
    nothing: the modem may delete them); commits."""
    now = utcnow()
    applied = 0
    # The centre's order: parts matched by time take the free places in this order.
    ordered = sorted(
        reports,
        key=lambda r: (r.sc_timestamp is None, r.sc_timestamp or now, r.message_reference),
    )
    for report in ordered:
        e164 = parse_number(report.recipient, default_region).e164 or report.recipient
        message = _by_reference(session, e164, report.message_reference, now)
        by_time = False
        note = ""
        if message is None or _settled_long_before(session, message, report):
            # TP-MR wraps at 256: a settled SMS sent long before the report may only share
            # the reference of an Unklar one
            unclear, note = _unclear_for(session, e164, report)
            if unclear is not None:
                message, by_time = unclear, True
        if message is None:
            log_unknown_report(
                session,
                job,
                getattr(log, "run", None),
                f"Statusbericht des Modems für eine unbekannte SMS (Referenz "
                f"{report.message_reference}, Empfänger {report.recipient}){note}.",
            )
            continue
        session.flush()
        # Row-locked (PostgreSQL): a user deciding about it at this moment waits for us.
        session.scalars(
            select(Message)
            .where(Message.id == message.id)
            .with_for_update(of=Message)
            .execution_options(populate_existing=True)
        ).one()
        parts = parts_of(session, message)
        part = _part_for(message, parts, report.message_reference, by_time)
        if part is not None:
            _record(part, report, now)
        fold(message, parts, now)
        applied += 1
    session.commit()
    return applied


def _by_reference(session: Session, e164: str, reference: int, now: datetime) -> Message | None:
    """The most recent SMS to `e164` within MATCH_WINDOW that carries `reference`."""
    sent = func.coalesce(Message.sent_at, Message.attempt_started_at)
    candidates = session.scalars(
        select(Message)
        .where(Message.recipient == e164, sent.is_not(None), sent >= now - MATCH_WINDOW)
        .order_by(sent.desc(), Message.id.desc())
        .limit(50)
    )
    return next((m for m in candidates if reference in split_references(m.provider_ref)), None)


def _settled_long_before(session: Session, message: Message, report: StatusReport) -> bool:
    """Whether the part of `message` with the report's reference has its final report already
    and was sent more than UNCLEAR_BEFORE before the centre got the reported part."""
    sent = message.sent_at or message.attempt_started_at
    if report.sc_timestamp is None or sent is None:
        return False
    if sent >= report.sc_timestamp - UNCLEAR_BEFORE:
        return False
    final = session.scalar(
        select(func.count())
        .select_from(MessagePart)
        .where(
            MessagePart.message_id == message.id,
            MessagePart.message_reference == report.message_reference,
            MessagePart.status.in_([PartStatus.DELIVERED, PartStatus.FAILED]),
        )
    )
    return bool(final)


def _unclear_for(session: Session, e164: str, report: StatusReport) -> tuple[Message | None, str]:
    """The one SMS left without the reference of a part (Unklar after a late +CMGS, or
    confirmed as sent since) that the report may belong to by recipient and time; else None
    and what the log should add."""
    moment = report.sc_timestamp
    if moment is None:
        return None, ""
    websms = select(Channel.id).where(Channel.kind == WEBSMS)
    candidates = session.scalars(
        select(Message)
        .where(
            Message.recipient == e164,
            Message.attempt_started_at >= moment - UNCLEAR_BEFORE,
            Message.attempt_started_at <= moment + CLOCK_SKEW,
            or_(
                Message.status == MessageStatus.UNKNOWN,
                and_(
                    Message.status == MessageStatus.SENT,
                    Message.decision == UnclearDecision.CONFIRMED_SENT,
                ),
            ),
            or_(Message.channel_id.is_(None), Message.channel_id.not_in(websms)),
        )
        .order_by(Message.id)
        .limit(10)
    )
    open_ones = [m for m in candidates if _has_free_part(m)]
    if len(open_ones) == 1:
        return open_ones[0], ""
    if len(open_ones) > 1:
        return None, f"; {len(open_ones)} unklare SMS an diesen Empfänger kommen in Frage"
    return None, ""


def _has_free_part(message: Message) -> bool:
    known = [r for r in split_references(message.provider_ref) if r is not None]
    return len(known) < max(message.segments, 1)


def parts_of(session: Session, message: Message) -> list[MessagePart]:
    """The parts of `message`, in order; written from its references when it has none yet."""
    parts = list(
        session.scalars(
            select(MessagePart)
            .where(MessagePart.message_id == message.id)
            .order_by(MessagePart.part)
        )
    )
    if parts:
        return parts
    references = split_references(message.provider_ref)
    count = max(message.segments, len(references), 1)
    references += [None] * (count - len(references))
    parts = [
        MessagePart(message_id=message.id, part=n, message_reference=ref, matched_by_time=False)
        for n, ref in enumerate(references, start=1)
    ]
    session.add_all(parts)
    return parts


def _part_for(
    message: Message, parts: list[MessagePart], reference: int, by_time: bool
) -> MessagePart | None:
    """The part the report is about: the one with its reference; matched by time, the first
    part without one, which takes the reference (also into the SMS's `provider_ref`)."""
    if not by_time:
        return next((p for p in parts if p.message_reference == reference), None)
    free = next((p for p in parts if p.message_reference is None), None)
    if free is not None:
        free.message_reference = reference
        free.matched_by_time = True
        message.provider_ref = join_references([p.message_reference for p in parts])
    return free


def _record(part: MessagePart, report: StatusReport, now: datetime) -> None:
    """Set the part from the report; its first final report stands."""
    if part.status in (PartStatus.DELIVERED, PartStatus.FAILED):
        return
    part.status = part_status(report)
    part.tp_status = report.status
    part.status_at = report.discharge_time
    part.reported_at = now


def fold(message: Message, parts: Sequence[MessagePart], now: datetime) -> None:
    """The SMS's status from its parts (the module's rules); only from a status a report may
    change (`inbound.REPORTABLE`)."""
    failed = next((p for p in parts if p.status is PartStatus.FAILED), None)
    delivered = all(p.status is PartStatus.DELIVERED for p in parts)
    all_reported = all(p.status is not None for p in parts)
    message.reported_at = now
    if failed is not None:
        message.report_status = "undelivered"
    elif delivered:
        message.report_status = "delivered"
    else:
        message.report_status = "pending"
    if message.status not in REPORTABLE:
        return
    was_unclear = message.status is MessageStatus.UNKNOWN
    if failed is not None:
        message.status = MessageStatus.UNDELIVERED
        message.reason = _failure_reason(failed, len(parts))
        message.error_code = f"TP-ST 0x{failed.tp_status or 0:02X}"
        message.delivered_at = None
    elif delivered:
        message.status = MessageStatus.DELIVERED
        message.delivered_at = max((p.status_at or now for p in parts), default=now)
        message.reason = None
        if was_unclear:
            message.error_code = None
    elif all_reported and was_unclear:
        message.status = MessageStatus.SENT  # every part reached the centre
        message.reason = None
        message.error_code = None
    if message.sent_at is None and message.status is not MessageStatus.UNKNOWN:
        message.sent_at = message.attempt_started_at or now


def _failure_reason(part: MessagePart, total: int) -> str:
    what = status_report_text(part.tp_status or 0)
    if total > 1:
        return str(
            _l(
                "Laut Zustellbericht nicht zugestellt (Teil %(n)d von %(t)d): %(what)s.",
                n=part.part,
                t=total,
                what=what,
            )
        )
    return str(_l("Laut Zustellbericht nicht zugestellt: %(what)s.", what=what))


def report_parts(session: Session, message_ids: Iterable[int]) -> dict[int, list[MessagePart]]:
    """The parts of these SMS as their details show them, by SMS (one query for a page; an SMS
    before its first modem report has none)."""
    found: dict[int, list[MessagePart]] = {i: [] for i in message_ids}
    if not found:
        return found
    for part in session.scalars(
        select(MessagePart)
        .where(MessagePart.message_id.in_(list(found)))
        .order_by(MessagePart.message_id, MessagePart.part)
    ):
        found[part.message_id].append(part)
    return found


def part_label(part: MessagePart) -> str:
    """A part's state in the SMS detail: "zugestellt", "noch kein Zustellbericht", …"""
    if part.status is None:
        return str(_l("noch kein Zustellbericht"))
    what = status_report_text(part.tp_status or 0)
    if part.status is PartStatus.DELIVERED:
        return str(_l("Zugestellt"))
    if part.status is PartStatus.PENDING:
        return str(_l("ausstehend: %(what)s", what=what))
    return str(_l("Nicht zugestellt: %(what)s", what=what))

"""Received SMS and delivery reports (SPEC R2.2, E2, E5; reference/websms-api.md §5, §8).

- websms posts notifications to `/webhooks/websms/<secret>` (webapp.blueprints.webhooks):
  `text` / `binary` (an SMS to our number) and `deliveryReport` (what became of a sent SMS).
  `handle_notification` validates the whole body before it stores anything, and stores each
  `notificationId` once (a repeat is acknowledged, not applied twice).
- The modem (Variante 1) hands received SMS and status reports to each run of Service SMS.
- A received SMS is matched to the last SMS sent to its sender and to the Person/Firma with
  that mobile number, and forwarded by e-mail to the job's "Empfangene SMS weiterleiten an";
  a failed forward is retried by the next run of Service SMS, never dropped.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.jobs.mail import send_mail
from webapp.jobs.registry import service_jobs
from webapp.jobs.runlog import RunLog
from webapp.jobs.settings import inbound_email
from webapp.models import (
    Company,
    Job,
    JobLogEntry,
    JobRun,
    Message,
    MessageStatus,
    Person,
    ReceivedMessage,
    WebhookNotification,
)
from webapp.models.base import utcnow
from webapp.sms.contacts import stored_digits
from webapp.sms.numbers import format_display, parse_number
from webapp.sms.transports.modem import ReceivedSms
from webapp.technical import with_details
from webapp.validation import one_line, optional_id

logger = logging.getLogger(__name__)

# Delivery reports and replies belong to an SMS sent at most this long before.
MATCH_WINDOW = timedelta(days=7)
# A received SMS whose forwarding failed this often (because of the SMS itself, or SMTP
# refusing it) is not tried again; it stays under Empfangene SMS.
FORWARD_MAX_ATTEMPTS = 10
MESSAGE_TYPES = ("text", "binary", "deliveryReport")
REPORT_STATES = ("delivered", "undelivered", "expired", "deleted", "accepted", "rejected")
NOT_DELIVERED = {"undelivered", "expired", "deleted", "rejected"}
# States a delivery report may change (a report proves an `unknown` one left the building).
REPORTABLE = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.UNKNOWN,
)
REPORT_REASONS = {
    "undelivered": "Laut Zustellbericht nicht zugestellt.",
    "expired": "Laut Zustellbericht nicht zugestellt: Gültigkeitsdauer abgelaufen.",
    "deleted": "Laut Zustellbericht nicht zugestellt: vom Anbieter gelöscht.",
    "rejected": "Laut Zustellbericht nicht zugestellt: vom Netzbetreiber abgelehnt.",
}
INBOX_PATH = "/admin/sms/inbox"


class BadNotification(ValueError):
    """The body is not a notification we understand (HTTP 400, statusCode 4000)."""


# --- parsing a notification --------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    kind: str  # text | binary | deliveryReport
    notification_id: str
    sender: str
    recipient: str | None
    text: str = ""
    parts: int = 1
    transfer_id: str | None = None
    client_message_id: str | None = None
    report_status: str | None = None
    delivered_on: datetime | None = None


def _string(body: dict[str, Any], key: str, required: bool = False, limit: int = 64) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadNotification(f"{key} fehlt")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > limit:
        raise BadNotification(f"{key} ist ungültig")
    return value


def _timestamp(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _decode_binary(body: dict[str, Any]) -> tuple[str, int]:
    segments = body.get("binaryMessageContent")
    if not isinstance(segments, list) or not segments:
        raise BadNotification("binaryMessageContent fehlt")
    udh = bool(body.get("userDataHeaderPresent"))
    data = b""
    for segment in segments:
        if not isinstance(segment, str):
            raise BadNotification("binaryMessageContent ist ungültig")
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except (binascii.Error, ValueError):
            try:
                raw = base64.b64decode(segment + "=" * (-len(segment) % 4))
            except (binascii.Error, ValueError) as error:
                raise BadNotification("binaryMessageContent ist kein Base64") from error
        if udh and raw:
            raw = raw[raw[0] + 1 :]
        data += raw
    for encoding in ("utf-8", "utf-16-be"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text.isprintable() or all(c.isprintable() or c in "\r\n\t" for c in text):
            return text, len(segments)
    return "[binär] " + data.hex(" "), len(segments)


def parse_notification(body: Any) -> Notification:
    """The notification in `body` (decoded JSON); BadNotification when anything is wrong."""
    if not isinstance(body, dict):
        raise BadNotification("kein JSON-Objekt")
    kind = _string(body, "messageType", required=True)
    if kind not in MESSAGE_TYPES:
        raise BadNotification(f"messageType {kind!r} wird nicht unterstützt")
    notification_id = _string(body, "notificationId", required=True)
    if kind == "deliveryReport":
        status = _string(body, "deliveryReportMessageStatus", required=True)
        if status not in REPORT_STATES:
            raise BadNotification(f"deliveryReportMessageStatus {status!r} ist unbekannt")
        transfer_id = _string(body, "transferId")
        client_id = _string(body, "clientMessageId", limit=200)
        if not transfer_id and not client_id:
            raise BadNotification("transferId fehlt")
        return Notification(
            kind,
            notification_id or "",
            one_line(_string(body, "senderAddress", limit=32)),
            one_line(_string(body, "recipientAddress", limit=32)) or None,
            transfer_id=transfer_id,
            client_message_id=client_id,
            report_status=status,
            delivered_on=_timestamp(_string(body, "deliveredOn")),
        )
    # One line of printable text: a sender is shown, mailed and put into a mail's subject.
    sender = one_line(_string(body, "senderAddress", required=True, limit=32))
    if not sender:
        raise BadNotification("senderAddress ist ungültig")
    recipient = one_line(_string(body, "recipientAddress", limit=32)) or None
    if kind == "text":
        text = body.get("textMessageContent")
        if not isinstance(text, str):
            raise BadNotification("textMessageContent fehlt")
        parts = 1
    else:
        text, parts = _decode_binary(body)
    if sender.isdigit() and body.get("senderAddressType", "international") == "international":
        sender = "+" + sender
    if recipient and recipient.isdigit() and body.get("recipientAddressType") == "international":
        recipient = "+" + recipient
    return Notification(kind, notification_id or "", sender, recipient, text=text, parts=parts)


# --- applying it -------------------------------------------------------------------------------


@dataclass
class Handled:
    duplicate: bool = False
    received: ReceivedMessage | None = None
    message: Message | None = None


def handle_notification(
    app: Flask, session: Session, job: Job, body: Any, default_region: str = "AT"
) -> Handled:
    """Apply one websms notification and commit; a repeated notificationId changes nothing.

    BadNotification (nothing stored) when the body is malformed. A received SMS is forwarded
    after the commit; a failed forward stays pending for the next run of Service SMS.
    """
    note = parse_notification(body)
    session.add(WebhookNotification(notification_id=note.notification_id, message_type=note.kind))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return Handled(duplicate=True)
    handled = Handled()
    try:
        if note.kind == "deliveryReport":
            handled.message = apply_delivery_report(session, job, note)
        else:
            handled.received = store_received(
                session,
                transport="websms",
                sender=note.sender,
                recipient=note.recipient,
                text=note.text,
                parts=note.parts,
                provider_ref=note.notification_id,
                default_region=default_region,
            )
        session.commit()
    except IntegrityError:  # a concurrent repeat of the same notification won
        session.rollback()
        return Handled(duplicate=True)
    if handled.received is not None:
        forward_now(app, session, job, handled.received)
    return handled


def _find_reported(session: Session, note: Notification) -> Message | None:
    """The reported SMS, row-locked (PostgreSQL): a run committing its outcome at the same
    moment either comes first (we see `sent`) or after us (it settles our report)."""
    if note.transfer_id:
        found = session.scalar(
            select(Message)
            .where(Message.provider_ref == note.transfer_id)
            .order_by(Message.id.desc())
            .limit(1)
            .with_for_update(of=Message)
        )
        if found is not None:
            return found
    client_message_id = optional_id(note.client_message_id)
    if client_message_id is not None:
        found = session.scalar(
            select(Message).where(Message.id == client_message_id).with_for_update(of=Message)
        )
        if found is not None and (
            not note.transfer_id or not found.provider_ref or found.provider_ref == note.transfer_id
        ):
            return found
    return None


def apply_delivery_report(session: Session, job: Job, note: Notification) -> Message | None:
    """delivered → Zugestellt; undelivered/expired/deleted/rejected → Nicht zugestellt;
    accepted is only recorded. An unknown message goes to the Errorlog of Service SMS."""
    message = _find_reported(session, note)
    status = note.report_status or ""
    if message is None:
        log_unknown_report(
            session,
            job,
            None,
            f"Zustellbericht „{status}“ für eine unbekannte SMS (transferId "
            f"{note.transfer_id or '–'}, clientMessageId {note.client_message_id or '–'}, "
            f"Empfänger {note.sender or '–'}).",
        )
        return None
    record_report(message, status, note.delivered_on)
    return message


def log_unknown_report(session: Session, job: Job, run: JobRun | None, text: str) -> None:
    """A report for no known SMS: always an Errorlog entry (warning), whatever the Protokollart."""
    logging.getLogger("webapp.jobs").warning("%s: %s", job.name, text)
    session.add(
        JobLogEntry(
            job_id=job.id,
            run_id=run.id if run is not None else None,
            level="warning",
            message=text,
        )
    )


# A webhook call with a missing or wrong secret is refused (HTTP 401) — after "neu erzeugen"
# every call with the old URL. Each Service SMS job's Errorlog says so, at most once per
# REFUSED_LOG_MINUTES (whatever the Protokollart), however often websms or anybody calls.
REFUSED_LOG_MINUTES = 15
REFUSED_PREFIX = "Webhook-Aufruf abgelehnt"
_REFUSED_LOOKBACK = 1000  # entries of the job looked at for the last such entry: bounded work


def log_refused_webhook(session: Session, detail: str, now: datetime | None = None) -> int:
    """Record a refused webhook call in the Errorlog of each Service SMS job unless one was
    recorded there within REFUSED_LOG_MINUTES; `detail` says how it was refused (no secret in
    it). Returns how many entries were written; commits."""
    now = now or utcnow()
    since = now - timedelta(minutes=REFUSED_LOG_MINUTES)
    text = with_details(
        f"{REFUSED_PREFIX}: Der websms-Webhook wurde mit einem falschen oder veralteten "
        "Geheimnis aufgerufen (HTTP 401). Zustellberichte und empfangene SMS gehen so "
        "verloren; versendete SMS bleiben auf „Versendet“. Wurde die Webhook-URL neu erzeugt, "
        "bitte die neue URL aus den Einstellungen im websms-Kundenportal eintragen (Weiterleitung "
        "für empfangene SMS und URL für Zustellberichte). Weitere abgelehnte Aufrufe werden "
        f"höchstens alle {REFUSED_LOG_MINUTES} Minuten gemeldet.",
        detail,
    )
    written = 0
    for job in service_jobs(session):
        latest = (
            select(JobLogEntry.created_at, JobLogEntry.message)
            .where(JobLogEntry.job_id == job.id)
            .order_by(JobLogEntry.id.desc())
            .limit(_REFUSED_LOOKBACK)
            .subquery()
        )
        recent = session.scalar(
            select(func.count())
            .select_from(latest)
            .where(latest.c.created_at >= since, latest.c.message.startswith(REFUSED_PREFIX))
        )
        if recent:
            continue
        logging.getLogger("webapp.jobs").error("%s: %s", job.name, text)
        session.add(JobLogEntry(job_id=job.id, run_id=None, level="error", message=text))
        written += 1
    session.commit()
    return written


def record_report(message: Message, status: str, moment: datetime | None = None) -> None:
    """Apply a delivery report (websms states; the modem path uses the same words)."""
    now = utcnow()
    message.report_status = status
    message.reported_at = now
    if message.status not in REPORTABLE:
        return
    if status == "delivered":
        message.status = MessageStatus.DELIVERED
        message.delivered_at = moment or now
        message.reason = None
    elif status in NOT_DELIVERED and message.status is not MessageStatus.DELIVERED:
        message.status = MessageStatus.UNDELIVERED
        message.reason = REPORT_REASONS[status]
        message.error_code = f"DLR {status}"


def settle_early_reports(session: Session, message_ids: Iterable[int]) -> int:
    """Apply reports that arrived while their SMS was still `sending` (the webhook was faster
    than the run's commit of the outcome); commits."""
    settled = apply_early_reports(session, message_ids)
    session.commit()
    return settled


def apply_early_reports(session: Session, message_ids: Iterable[int]) -> int:
    """`settle_early_reports` in the caller's transaction: of `message_ids`, those now `sent`
    whose delivery report came while they were not (being sent, or Unklar until confirmed as
    sent) get it applied now."""
    ids = list(message_ids)
    if not ids:
        return 0
    early = list(
        session.scalars(
            select(Message).where(
                Message.id.in_(ids),
                Message.status == MessageStatus.SENT,
                Message.report_status.in_(["delivered", *NOT_DELIVERED]),
            )
        )
    )
    for message in early:
        record_report(message, message.report_status or "", message.reported_at)
    return len(early)


# --- received SMS ------------------------------------------------------------------------------


def _e164(raw: str, default_region: str) -> str | None:
    parsed = parse_number(raw, default_region)
    return parsed.e164


Contact = TypeVar("Contact", Person, Company)


def _with_mobile(session: Session, model: type[Contact], e164: str) -> list[Contact]:
    """The `model` rows (of the newest 200 with the same last digits) whose mobile is `e164`."""
    candidates = session.scalars(
        select(model)
        .where(stored_digits(model.mobile).contains(e164[-7:], autoescape=True))
        .order_by(model.id.desc())
        .limit(200)
    )
    return [c for c in candidates if _e164(c.mobile, "AT") == e164]


def match_contact(
    session: Session, e164: str, mandant_id: int | None = None
) -> Person | Company | None:
    """The Person (else Firma) whose mobile number is `e164`, the reply's Mandant first."""
    found: list[Person | Company] = [
        *_with_mobile(session, Person, e164),
        *_with_mobile(session, Company, e164),
    ]
    if not found:
        return None
    if mandant_id is not None:
        for contact in found:
            if contact.mandant_id == mandant_id:
                return contact
    return found[0]


def last_sent_to(session: Session, e164: str, before: datetime) -> Message | None:
    return session.scalar(
        select(Message)
        .where(
            Message.recipient == e164,
            Message.sent_at.is_not(None),
            Message.sent_at >= before - MATCH_WINDOW,
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    )


def store_received(
    session: Session,
    *,
    transport: str,
    sender: str,
    text: str,
    recipient: str | None = None,
    parts: int = 1,
    complete: bool = True,
    provider_ref: str | None = None,
    sent_at: datetime | None = None,
    default_region: str = "AT",
) -> ReceivedMessage:
    """Add a received SMS, matched to the last SMS sent to its sender and to a Person/Firma."""
    now = utcnow()
    sender = one_line(sender, 32)  # an alphanumeric sender from the modem may hold CR/LF too
    received = ReceivedMessage(
        transport=transport,
        sender=sender,
        recipient=one_line(recipient, 32) or None,
        text=text,
        parts=parts,
        complete=complete,
        provider_ref=provider_ref,
        sent_at=sent_at,
        received_at=now,
        forward_attempts=0,
    )
    e164 = _e164(sender, default_region)
    if e164:
        received.sender = e164
        reply_to = last_sent_to(session, e164, now)
        if reply_to is not None:
            received.reply_to_message_id = reply_to.id
            received.mandant_id = reply_to.mandant_id
        contact = match_contact(session, e164, received.mandant_id)
        if contact is not None:
            received.contact_name = contact.name[:160]
            received.mandant_id = received.mandant_id or contact.mandant_id
            if isinstance(contact, Person):
                received.person_id = contact.id
            else:
                received.company_id = contact.id
    session.add(received)
    session.flush()
    return received


def store_from_modem(
    session: Session, received: ReceivedSms, default_region: str = "AT"
) -> ReceivedMessage:
    """Store an SMS read from the modem and commit, so it may be deleted from the SIM."""
    message = store_received(
        session,
        transport="modem",
        sender=received.sender,
        text=received.text,
        parts=received.parts,
        complete=received.complete,
        sent_at=received.sent_at,
        default_region=default_region,
    )
    session.commit()
    return message


# --- forwarding by e-mail ----------------------------------------------------------------------


def forward(app: Flask, session: Session, job: Job | None, received: ReceivedMessage) -> bool:
    """E-mail the SMS to the job's inbound address; records the attempt (caller commits).

    Its link to Empfangene SMS is built from PUBLIC_URL only (never from a request's Host
    header, which anybody can set); without PUBLIC_URL the mail names the path."""
    if received.forwarded_at is not None:
        return True
    address = inbound_email(job)
    if not address:
        return False  # nothing configured: not an error, nothing to retry
    who = format_display(received.sender)
    name = received.contact_name
    subject = f"SMS von {who}" + (f" ({name})" if name else "")
    link = (app.config.get("PUBLIC_URL") or "").rstrip("/") + f"{INBOX_PATH}?id={received.id}"
    lines = [
        f"Von: {who}" + (f" – {name}" if name else ""),
        f"An: {received.recipient or '–'}",
        f"Empfangen: {received.received_at:%d.%m.%Y %H:%M} UTC",
    ]
    if received.reply_to is not None:
        lines.append(f"Antwort auf SMS {received.reply_to.id}: {received.reply_to.text[:160]}")
    body = "\n".join(lines) + f"\n\n{received.text}\n\nEmpfangene SMS: {link}\n"
    received.forward_attempts = (received.forward_attempts or 0) + 1
    if send_mail(app, address, subject, body):
        received.forwarded_at = utcnow()
        received.forward_error = None
        return True
    received.forward_error = f"E-Mail an {address} konnte nicht gesendet werden (SMTP)."
    return False


def forward_pending(app: Flask, session: Session, job: Job, log: RunLog) -> int:
    """Forward what is not forwarded yet (a failed attempt of an earlier run); commits.

    One SMS that cannot be forwarded fails alone (Errorlog; given up after
    FORWARD_MAX_ATTEMPTS tries), never the others nor the run; an SMTP server that is down
    ends this round (the next run tries again)."""
    if not inbound_email(job):
        return 0
    pending = list(
        session.scalars(
            select(ReceivedMessage)
            .where(
                ReceivedMessage.forwarded_at.is_(None),
                ReceivedMessage.forward_attempts < FORWARD_MAX_ATTEMPTS,
            )
            .order_by(ReceivedMessage.id)
            .limit(200)
        )
    )
    done = 0
    for received in pending:
        received_id = received.id
        try:
            ok = forward(app, session, job, received)
        except Exception as error:  # this SMS's data: it fails alone
            session.rollback()
            logger.exception("forwarding received SMS %s failed", received_id)
            _forward_failed(session, log, received_id, f"{type(error).__name__}: {error}")
            continue
        if ok:
            done += 1
            session.commit()
            continue
        log.warning(
            f"Empfangene SMS {received_id} konnte nicht weitergeleitet werden: "
            f"{received.forward_error}"
        )
        if received.forward_attempts >= FORWARD_MAX_ATTEMPTS:
            log.error(_given_up(received_id))
        session.commit()
        break  # SMTP is down: the next run tries again
    return done


def forward_now(app: Flask, session: Session, job: Job | None, received: ReceivedMessage) -> None:
    """Forward a just received SMS (the webhook); a failure stays pending for the next run."""
    received_id = received.id
    try:
        forward(app, session, job, received)
        session.commit()
    except Exception as error:  # never the webhook's answer: websms would send it again
        session.rollback()
        logger.exception("forwarding received SMS %s failed", received_id)
        if job is not None:
            _forward_failed(
                session, RunLog(session, job, None), received_id, f"{type(error).__name__}"
            )


def _given_up(received_id: int) -> str:
    return (
        f"Empfangene SMS {received_id}: Weiterleitung nach {FORWARD_MAX_ATTEMPTS} Versuchen "
        "aufgegeben. Die SMS steht unter „Empfangene SMS“."
    )


def _forward_failed(session: Session, log: RunLog, received_id: int, detail: str) -> None:
    """Record a forwarding attempt that failed because of this SMS (commits)."""
    received = session.get(ReceivedMessage, received_id)
    if received is None:
        return
    received.forward_attempts = (received.forward_attempts or 0) + 1
    problem = "ein Programmfehler; er steht im Protokoll"
    received.forward_error = with_details(f"Weiterleitung fehlgeschlagen: {problem}.", detail)
    log.error(
        with_details(
            f"Empfangene SMS {received_id} konnte nicht weitergeleitet werden: {problem}.", detail
        )
    )
    if received.forward_attempts >= FORWARD_MAX_ATTEMPTS:
        log.error(_given_up(received_id))
    session.commit()

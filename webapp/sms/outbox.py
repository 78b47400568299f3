"""The outbox: every SMS is stored here first and sent by the next run of the job (SPEC R3).

`queue_sms` stores one message (`queue_many` a batch), sent at once or planned for a later time
(`send_at`, Versand am: `webapp/sms/planning.py`); `resend` copies finished ones into new
queued messages (R13), each made by `copy_of` (which the Unklar worklist,
`webapp/sms/unclear.py`, uses too). A number that fails the check is stored too, as `failed`
with its reason, and flagged for the error e-mail to global 1401 (R5): nothing is silently
dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.jobs.settings import service_signature
from webapp.models import RESENDABLE, Mandant, Message, MessageSource, MessageStatus, User
from webapp.models.base import utcnow
from webapp.models.sms import priority_of
from webapp.sms.encoding import SegmentInfo, analyze
from webapp.sms.numbers import ParsedNumber, check_number
from webapp.sms.placeholders import check_filled
from webapp.sms.planning import check_send_at
from webapp.sms.prefixes import active_prefixes
from webapp.sms.search import bulk_text_index
from webapp.sms.settings import GlobalNumber, get_global, require_sms_service

DEFAULT_MAX_SEGMENTS = 10
# The fixed text of global 1402 starts on a line of its own, like a signature.
FIXED_TEXT_SEPARATOR = "\n"


def fixed_text(session: Session) -> str:
    """The text of global 1402 GLOBAL_SMS_FIXTEXT_AM_ENDE ('' when unset)."""
    return get_global(session, GlobalNumber.SMS_FIXED_TEXT).strip()


def _signature(session: Session, signature: str | None) -> str:
    return signature if signature is not None else service_signature(session)


def compose_text(session: Session, text: str, signature: str | None = None) -> str:
    """The final text of an SMS: the user's text, the signature of Variante 2 (websms, when
    one is configured; None: the one of the job "Service SMS"), then the fixed text of
    global 1402, each on a line of its own."""
    return _compose(text, _endings(session, signature))


def _endings(session: Session, signature: str | None) -> list[str]:
    """The signature and the fixed text of global 1402 that every text gets (two queries)."""
    signature = _signature(session, signature)
    return [part for part in ((signature or "").strip(), fixed_text(session)) if part]


def _compose(text: str, endings: list[str]) -> str:
    body = (text or "").replace("\r\n", "\n").strip()
    return FIXED_TEXT_SEPARATOR.join([body, *endings]) if body else "\n".join(endings)


def preview(session: Session, text: str, signature: str | None = None) -> SegmentInfo:
    """Length and segments of the final text (what the live counter shows)."""
    return analyze(compose_text(session, text, signature))


def checked_text(
    session: Session,
    text: str,
    *,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
    signature: str | None = None,
) -> str:
    """The final text `queue_sms` would store for `text` (what a preview shows); InputError
    when it would refuse it (empty, placeholders left, too long)."""
    final_text = compose_text(session, text, signature)
    _check_text(text, final_text, max_segments)
    return final_text


def _check_text(text: str, final_text: str, max_segments: int) -> SegmentInfo:
    if not (text or "").strip():
        raise InputError(_("Bitte einen SMS-Text eingeben."), "text")
    # Nothing fills a placeholder after this point: `{auftrag.nummer}` would reach the phone.
    check_filled(text)
    info = analyze(final_text)
    if info.segments > max_segments:
        raise InputError(
            _(
                "Der Text ist mit %(n)d SMS-Teilen zu lang: höchstens %(max)d Teile "
                "(%(chars)d Zeichen %(enc)s) sind erlaubt. Bitte kürzen.",
                n=info.segments,
                max=max_segments,
                chars=info.per_segment * max_segments,
                enc=info.encoding,
            ),
            "text",
        )
    return info


def _number_columns(parsed: ParsedNumber, planned: bool = False) -> dict[str, Any]:
    """The columns of an SMS that its checked number decides (queued — planned when it has a
    `send_at` —, or failed with the reason and flagged for the error e-mail)."""
    if parsed.ok:
        return {
            "recipient": parsed.e164,
            # Versand am: a planned SMS waits as Geplant until its time (sms/planning.py).
            "status": MessageStatus.PLANNED if planned else MessageStatus.QUEUED,
            "reason": None,
            "error_code": None,
            "error_notification_due": False,
        }
    return {
        "recipient": parsed.e164,
        "status": MessageStatus.FAILED,
        "reason": parsed.reason,
        "error_code": str(parsed.problem),
        "error_notification_due": True,
    }


def _apply_number(message: Message, parsed: ParsedNumber, planned: bool = False) -> None:
    columns = _number_columns(parsed, planned)
    if parsed.ok:
        # An SMS being built keeps its flag for the error e-mail as it was.
        del columns["error_notification_due"]
    for name, value in columns.items():
        setattr(message, name, value)


def queue_sms(
    session: Session,
    *,
    recipient: str,
    text: str,
    mandant_id: int,
    source: MessageSource,
    source_ref: str | None = None,
    created_by: User | None = None,
    created_by_module: str | None = None,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
    default_region: str = "AT",
    signature: str | None = None,
    send_at: datetime | None = None,
) -> Message:
    """Store one SMS for the next job run and return it.

    `send_at` (aware; Versand am): the SMS waits as `planned` and is sent from that time on,
    valid for a week from it; None sends with the next run.

    Raises InputError for what the user must fix (empty or too long text, placeholders left
    in the text, unknown Mandant, a `send_at` in the past or more than a year ahead: field
    "send_at"),
    ServiceOff while global 1400 is off. A number that fails the check does not raise: the
    message is stored as `failed` with the reason and flagged for the error e-mail.
    """
    require_sms_service(session)
    if session.get(Mandant, mandant_id) is None:
        raise InputError(_("Bitte einen Mandanten auswählen."), "mandant")
    if not (recipient or "").strip():
        raise InputError(_("Bitte eine Mobilfunknummer eingeben."), "recipient")
    final_text = compose_text(session, text, signature)
    info = _check_text(text, final_text, max_segments)
    send_at = check_send_at(send_at, utcnow())
    message = Message(
        mandant_id=mandant_id,
        recipient_raw=recipient.strip()[:64],
        text=final_text,
        encoding=info.encoding,
        segments=info.segments,
        source=source,
        source_ref=source_ref,
        created_by=created_by,
        created_by_module=created_by_module,
        attempts=0,
        send_at=send_at,
    )
    _apply_number(message, check_number(session, recipient, default_region), send_at is not None)
    session.add(message)
    session.flush()
    return message


@dataclass(frozen=True)
class QueueItem:
    """One SMS of a batch for `queue_many`."""

    recipient: str
    text: str
    source_ref: str | None = None
    # The number as `check_number` judged it already (a Serien-SMS's review), not checked again.
    parsed: ParsedNumber | None = None
    # Versand am of this SMS (the API's send_at per message); None: the batch's `send_at`.
    send_at: datetime | None = None


def queue_many(
    session: Session,
    items: Iterable[QueueItem],
    *,
    mandant_id: int,
    source: MessageSource,
    created_by: User | None = None,
    created_by_module: str | None = None,
    max_segments: int = DEFAULT_MAX_SEGMENTS,
    default_region: str = "AT",
    signature: str | None = None,
    returning: bool = True,
    send_at: datetime | None = None,
) -> list[Message]:
    """`queue_sms` for many messages of one Mandant: the Mandant, the signature, the fixed
    text and the prefixes of table 93001 are loaded once, and the rows are flushed together.
    `send_at` plans all of them for that time (as `queue_sms`); an item's own `send_at`
    plans that one.
    With `returning=False` the rows are only inserted and [] is returned (a Serien-SMS of
    thousands does not need them back as objects).

    All or nothing: an InputError for any item (field "<index>.<field>") stores none.
    Numbers that fail the check are stored as `failed`, as `queue_sms` does. ServiceOff while
    global 1400 is off.
    """
    require_sms_service(session)
    if session.get(Mandant, mandant_id) is None:
        raise InputError(_("Bitte einen Mandanten auswählen."), "mandant")
    now = utcnow()
    send_at = check_send_at(send_at, now)
    endings = _endings(session, signature)
    prefixes = active_prefixes(session)
    checked: dict[str, ParsedNumber] = {}  # a batch often repeats numbers
    analyzed: dict[str, SegmentInfo] = {}  # … and texts (a final text passed its check)
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not (item.recipient or "").strip():
            raise InputError(_("Bitte eine Mobilfunknummer eingeben."), f"{index}.recipient")
        final_text = _compose(item.text, endings)
        try:
            info = analyzed.get(final_text) or _check_text(item.text, final_text, max_segments)
        except InputError as error:
            raise InputError(error.message, f"{index}.{error.field}") from None
        analyzed[final_text] = info
        planned_at = send_at
        if item.send_at is not None:
            try:
                planned_at = check_send_at(item.send_at, now)
            except InputError as error:
                raise InputError(error.message, f"{index}.{error.field}") from None
        parsed = item.parsed or checked.get(item.recipient)
        if parsed is None:
            parsed = checked[item.recipient] = check_number(
                session, item.recipient, default_region, prefixes
            )
        row = {
            "mandant_id": mandant_id,
            "recipient_raw": item.recipient.strip()[:64],
            "text": final_text,
            "encoding": info.encoding,
            "segments": info.segments,
            "source": source,
            "source_ref": item.source_ref,
            "created_by_id": created_by.id if created_by is not None else None,
            "created_by_module": created_by_module,
            "attempts": 0,
            "send_at": planned_at,
        }
        row.update(_number_columns(parsed, planned_at is not None))
        rows.append(row)
    if not rows:
        return []
    if not returning:
        _insert_rows(session, rows)
        return []
    # One INSERT … RETURNING for the batch (executemany "insertmanyvalues"), in item order.
    stmt = insert(Message).returning(Message, sort_by_parameter_order=True)
    return list(session.scalars(stmt, rows))


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many SMS rows at once, nothing read back: on PostgreSQL by COPY (9.700 rows:
    1,6 s where an executemany took 4,4 s on a busy server), elsewhere one executemany with
    the text index filled in one statement (`search.bulk_text_index`). Same transaction as
    the session's; the column defaults the ORM would add (priority from the Herkunft, the
    times, the passing errors) are filled in here."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or driver is None:
        with bulk_text_index(session):
            session.execute(insert(Message), rows)
        return
    now = utcnow()
    defaults = {"created_at": now, "updated_at": now, "channel_transients": 0}
    columns = [*rows[0], *defaults, "priority"]
    copy_sql = f"COPY sms_message ({', '.join(columns)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            values = [*row.values(), *defaults.values(), priority_of(row["source"])]
            copy.write_row([v.value if isinstance(v, enum.Enum) else v for v in values])


def text_endings(session: Session, signature: str | None = None) -> list[str]:
    """The signature and the fixed text of global 1402 that every text gets, for
    `finished_text` over many texts (loaded once)."""
    return _endings(session, signature)


def finished_text(
    text: str, endings: list[str], max_segments: int = DEFAULT_MAX_SEGMENTS
) -> tuple[str, SegmentInfo]:
    """The final text of `text` with `endings` and its segments, as `queue_many` would store
    it; InputError when it would refuse it (empty, placeholders left, too long)."""
    final_text = _compose(text, endings)
    return final_text, _check_text(text, final_text, max_segments)


@dataclass
class ResendResult:
    """What "Erneut versenden" did: the new copies and the refused ids with their reason."""

    copies: list[Message] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def resend(
    session: Session,
    ids: Iterable[int],
    *,
    created_by: User | None,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
) -> ResendResult:
    """Copy each selected finished message into a new queued one that points to its original.

    `mandant_ids` limits which messages may be touched (None: all). The originals stay as
    they are. The number is checked again, so a copy of a message to a number that is still
    not allowed ends `failed` with its reason, as any new SMS would. ServiceOff while global
    1400 is off.
    """
    wanted = sorted({int(i) for i in ids})
    result = ResendResult()
    if not wanted:
        return result
    require_sms_service(session)
    found = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(wanted)))}
    for message_id in wanted:
        original = found.get(message_id)
        if original is None or (mandant_ids is not None and original.mandant_id not in mandant_ids):
            result.refused.append((message_id, _("Die SMS gibt es nicht (mehr).")))
            continue
        if original.status not in RESENDABLE:
            result.refused.append(
                (
                    message_id,
                    _(
                        "Nur SMS mit Fehler oder bereits versendete SMS können erneut "
                        "versendet werden; diese hat den Status „%(status)s“.",
                        status=status_label(original.status),
                    ),
                )
            )
            continue
        result.copies.append(copy_of(session, original, created_by, default_region))
    session.flush()
    return result


def copy_of(
    session: Session, original: Message, created_by: User | None, default_region: str = "AT"
) -> Message:
    """A new queued SMS with the text of `original` that points to it ("Erneut versenden",
    also of the Unklar worklist). The number is checked again: a copy to a number no longer
    allowed ends `failed` with its reason, as any new SMS would. Added, not flushed; the
    caller checks `require_sms_service` first."""
    copy = Message(
        mandant_id=original.mandant_id,
        recipient_raw=original.recipient_raw,
        text=original.text,
        encoding=original.encoding,
        segments=original.segments,
        source=MessageSource.RESEND,
        source_ref=str(original.id),
        resent_from_id=original.id,
        created_by=created_by,
        attempts=0,
    )
    _apply_number(copy, check_number(session, original.recipient_raw, default_region))
    session.add(copy)
    return copy


def status_label(status: MessageStatus | str) -> str:
    """The German label users know (UI.md "Status display of an SMS")."""
    labels = {
        MessageStatus.PLANNED: _("Geplant"),
        MessageStatus.QUEUED: _("Wartet auf Versand"),
        MessageStatus.SENDING: _("Wird versendet"),
        MessageStatus.SENT: _("Versendet"),
        MessageStatus.DELIVERED: _("Zugestellt"),
        MessageStatus.UNDELIVERED: _("Nicht zugestellt"),
        MessageStatus.FAILED: _("Fehler"),
        MessageStatus.EXPIRED: _("Abgelaufen"),
        MessageStatus.UNKNOWN: _("Unklar – bitte prüfen"),
        MessageStatus.CANCELLED: _("Abgebrochen"),
    }
    return labels[MessageStatus(status)]

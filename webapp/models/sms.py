"""The SMS message (outbox and history) with its lifecycle (DESIGN.md "Message lifecycle")."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    and_,
)
from sqlalchemy import text as sql_text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import UTCDateTime, str_enum, utcnow
from webapp.models.mandanten import Mandant
from webapp.models.users import User

# BIGINT on PostgreSQL (a busy installation passes 2^31 some day); SQLite needs INTEGER for
# its rowid autoincrement.
BigId = BigInteger().with_variant(Integer, "sqlite")


# Text-search structures created by migration 0003 per dialect, outside the models: the FTS5
# table with its shadow tables on SQLite, the trigram index on PostgreSQL.
SEARCH_INDEX_OBJECTS = frozenset({"sms_message_fts", "ix_sms_message_text_trgm"})


def is_search_index_object(name: str | None) -> bool:
    """Whether `name` belongs to the text-search structures (ignored by autogenerate)."""
    return name is not None and any(name.startswith(prefix) for prefix in SEARCH_INDEX_OBJECTS)


class MessageStatus(enum.StrEnum):
    # Versand am (issue 17): waits for its `send_at`, then becomes `queued` (leases.claim).
    PLANNED = "planned"  # Geplant
    QUEUED = "queued"  # Wartet auf Versand
    SENDING = "sending"  # Wird versendet
    SENT = "sent"  # Versendet
    DELIVERED = "delivered"  # Zugestellt
    UNDELIVERED = "undelivered"  # Nicht zugestellt
    FAILED = "failed"  # Fehler
    EXPIRED = "expired"  # Abgelaufen
    UNKNOWN = "unknown"  # Unklar – bitte prüfen
    CANCELLED = "cancelled"  # Abgebrochen: cancelled before a run claimed it (never sent)


# A copy may be queued again from these (R13: in error or already sent, or never sent).
RESENDABLE = frozenset(
    {
        MessageStatus.FAILED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.EXPIRED,
        MessageStatus.CANCELLED,  # a planned SMS cancelled by mistake is sent after all
    }
)


class UnclearDecision(enum.StrEnum):
    """What a user decided about an SMS in Unklar – bitte prüfen (the worklist,
    `webapp/sms/unclear.py`)."""

    CONFIRMED_SENT = "confirmed_sent"  # als versendet bestätigt: status → Versendet
    RESENT = "resent"  # erneut versendet: a copy queued, the original stays Unklar


class MessageSource(enum.StrEnum):
    MANUAL = "manual"  # SMS Nachrichten – Neu
    QUICK = "quick"  # SMS senden in the navigation
    PERSON = "person"  # a Person record (Bestandsnehmer, Kontrolleur, …)
    COMPANY = "company"  # a Firma record (Kreditor)
    WORK_ORDER = "work_order"  # Auftrag module
    TICKET = "ticket"  # Ticketing module
    API = "api"
    RESEND = "resend"  # Erneut versenden
    SERIES = "series"  # Serien-SMS (source_ref: the Serie's id, webapp/models/series.py)


# The order in which a run's claim serves the SMS of one Mandant (issue 14, fair share): SMS a
# user queued in a dialog (Neu, SMS senden, Auftrag, Ticket, Erneut versenden) before the bulk
# of the API and of a Serien-SMS. Stored with the SMS (`priority`), so the claim walks one
# index range per Mandant.
PRIORITY_DIALOG = 0
PRIORITY_BULK = 1
BULK_SOURCES = frozenset({MessageSource.API, MessageSource.SERIES})


def priority_of(source: MessageSource | str) -> int:
    """The claim priority of an SMS of `source` (lower goes first)."""
    return PRIORITY_BULK if MessageSource(source) in BULK_SOURCES else PRIORITY_DIALOG


def _default_priority(context: DefaultExecutionContext) -> int:
    """The column default of `priority`: from the row's source, however it is inserted."""
    return priority_of(context.get_current_parameters()["source"])


# The claim's rows: only queued SMS are in the index, so it stays small and cheap to keep.
QUEUED_ONLY = sql_text("status = 'queued'")
# The planned SMS by their time (leases.release_planned takes those whose time has come).
PLANNED_ONLY = sql_text("status = 'planned'")


class Message(Model):
    __tablename__ = "sms_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id"))
    # The number as entered, and normalised (None when it could not be parsed).
    recipient_raw: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(20))
    # The final text as sent: the user's text plus the fixed text of global 1402.
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(Integer)
    status: Mapped[MessageStatus] = mapped_column(
        str_enum(MessageStatus, "sms_message_status"), default=MessageStatus.QUEUED
    )
    reason: Mapped[str | None] = mapped_column(Text)  # German, shown to users
    error_code: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Versand am: not sent before this time; the week of validity (leases.MAX_AGE) counts from
    # it (None: from created_at). Set only when the SMS was planned.
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    # The lease of the run that claimed it (DESIGN.md "Exactly once, nothing lost"): set with
    # `sending`; `attempt_started_at` is committed before the transport is called.
    run_key: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The channel of the current or last attempt (webapp.models.channels; set with the attempt
    # start) and the passing errors in a row there: after SMS_CHANNEL_TRANSIENTS of them the
    # SMS goes to the next channel. No foreign key: channels are never deleted.
    channel_id: Mapped[int | None] = mapped_column(Integer)
    channel_transients: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    source: Mapped[MessageSource] = mapped_column(str_enum(MessageSource, "sms_message_source"))
    source_ref: Mapped[str | None] = mapped_column(String(64))  # id of the record it came from
    # PRIORITY_DIALOG or PRIORITY_BULK, from the source (priority_of).
    priority: Mapped[int] = mapped_column(
        SmallInteger, default=_default_priority, server_default="0"
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_by_module: Mapped[str | None] = mapped_column(String(40))
    resent_from_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sms_message.id", ondelete="SET NULL")
    )
    # Global 1401 gets an e-mail about a refused number; the job sends it and stamps the time.
    error_notification_due: Mapped[bool] = mapped_column(default=False)
    error_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last delivery report (websms deliveryReportMessageStatus, modem "delivered"/"failed"/
    # "pending") and when it came; `accepted` is recorded here without a status change.
    report_status: Mapped[str | None] = mapped_column(String(16))
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The decision about an Unklar SMS (webapp/sms/unclear.py): set once, never changed.
    # Who decided is kept as their name, as the other audit fields are (Smstexte's
    # `updated_by`): the record outlives the user. `resent_as_id` is the copy of a decision
    # RESENT; no foreign key, as SQLite adds none to an existing table that its reflection
    # could compare, and SMS are never deleted.
    decision: Mapped[UnclearDecision | None] = mapped_column(
        str_enum(UnclearDecision, "sms_message_decision")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    resent_as_id: Mapped[int | None] = mapped_column(BigId)

    mandant: Mapped[Mandant] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(lazy="joined")
    resent_from: Mapped[Message | None] = relationship(remote_side=[id])

    __table_args__ = (
        # The list is newest first (id order) per Mandant, optionally by status or number:
        # each filter walks one index backwards and stops after a page.
        Index("ix_sms_message_mandant_id_id", "mandant_id", "id"),
        Index("ix_sms_message_status_id", "status", "id"),
        Index("ix_sms_message_mandant_status_id", "mandant_id", "status", "id"),
        Index("ix_sms_message_recipient_id", "recipient", "id"),
        # Sorted by Versendet / Zugestellt (`?sort=versendet`): the SMS with a sending time
        # along this index, those without (sent_at IS NULL) by id.
        Index("ix_sms_message_sent_at_id", "sent_at", "id"),
        Index("ix_sms_message_created_at", "created_at"),
        Index("ix_sms_message_provider_ref", "provider_ref"),
        Index("ix_sms_message_resent_from_id", "resent_from_id"),
        # The SMS history of a record (Person, Firma, Auftrag, Ticket).
        Index("ix_sms_message_source_ref_id", "source", "source_ref", "id"),
        # Meine SMS: one user's messages, newest first (and the user's deletion, SET NULL).
        # Partial: SMS of the API and of modules have no author, and left out of the index
        # they do not make SQLite's statistics think an author has half the table.
        Index(
            "ix_sms_message_created_by_id_id",
            "created_by_id",
            "id",
            sqlite_where=sql_text("created_by_id IS NOT NULL"),
            postgresql_where=sql_text("created_by_id IS NOT NULL"),
        ),
        # The limits of a Mandant: how many of its SMS runs took since an hour or day began.
        Index("ix_sms_message_mandant_claimed_at", "mandant_id", "claimed_at"),
        # The claim of a run (leases.claim): per Mandant, dialog before bulk, oldest first.
        Index(
            "ix_sms_message_claim",
            "mandant_id",
            "priority",
            "id",
            sqlite_where=QUEUED_ONLY,
            postgresql_where=QUEUED_ONLY,
        ),
        # Versand am: the planned SMS whose time has come (leases.release_planned). The
        # status leads, though the index holds only planned SMS: so SQLite's planner prefers
        # it (equality and range) to ix_sms_message_status_id (equality only).
        Index(
            "ix_sms_message_planned",
            "status",
            "send_at",
            sqlite_where=PLANNED_ONLY,
            postgresql_where=PLANNED_ONLY,
        ),
    )

    def __repr__(self) -> str:
        return f"<Message {self.id} {self.status} {self.recipient or self.recipient_raw}>"


# An SMS in Unklar – bitte prüfen that still needs a decision (the worklist,
# webapp/sms/unclear.py): an original that was resent stays `unknown` — its fate is still not
# known — but nobody has to look at it again.
NEEDS_DECISION = and_(Message.status == MessageStatus.UNKNOWN, Message.decision.is_(None))


class PartStatus(enum.StrEnum):
    """What the modem's status reports say of one part of a sent SMS (TP-Status)."""

    PENDING = "pending"  # 0x20-0x3F: the SMS centre is still trying
    DELIVERED = "delivered"  # 0x00-0x02
    FAILED = "failed"  # any other final status (0x45 no interworking, 0x46 expired, …)


class MessagePart(Model):
    """One part of an SMS sent through the modem and what its status reports said (issue 15
    point 3; `webapp/sms/modem_reports.py`). Each part has its own message reference (TP-MR,
    `+CMGS: <mr>`); the rows are written with the SMS's first report, one per part."""

    __tablename__ = "sms_message_part"

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sms_message.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 1, 2, …
    message_reference: Mapped[int | None] = mapped_column(Integer)  # None: not known
    status: Mapped[PartStatus | None] = mapped_column(
        str_enum(PartStatus, "sms_message_part_status")
    )  # None: no report yet
    tp_status: Mapped[int | None] = mapped_column(SmallInteger)  # TP-ST of the last report
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its discharge time
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it reached us
    # The reference was unknown (an SMS left Unklar by a late +CMGS): the report was matched
    # to it by recipient and time (issue 15 point 5).
    matched_by_time: Mapped[bool] = mapped_column(default=False, server_default="0")

    def __repr__(self) -> str:
        return f"<MessagePart {self.message_id}/{self.part} {self.message_reference} {self.status}>"


class SmsText(Model):
    """An SMS text template ("Smstexte", permission 150037) with {placeholders}."""

    __tablename__ = "sms_text"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # What the template is used for (auftrag_kreditor, ticket_bn_erstellt, …) or "" when free.
    usage_key: Mapped[str] = mapped_column(String(40), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(80))


class ReceivedMessage(Model):
    """A received SMS (Empfangene SMS): from the modem (Variante 1) or websms (Variante 2)."""

    __tablename__ = "sms_received"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transport: Mapped[str] = mapped_column(String(16))  # "modem" | "websms"
    sender: Mapped[str] = mapped_column(String(32))  # as the network gave it (E.164 or name)
    recipient: Mapped[str | None] = mapped_column(String(32))  # our number, when known
    text: Mapped[str] = mapped_column(Text)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    complete: Mapped[bool] = mapped_column(default=True)  # False: parts never arrived
    # The provider's id (websms notificationId); duplicates of a webhook are stored once.
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    mandant_id: Mapped[int | None] = mapped_column(ForeignKey("mandant.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # network stamp
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # E-mail forwarding (R2.2): retried by each run of Service SMS until it succeeds.
    forward_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    forward_error: Mapped[str | None] = mapped_column(Text)
    # The last SMS sent to the sender before this one arrived, and the record with that number.
    reply_to_message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sms_message.id", ondelete="SET NULL")
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id", ondelete="SET NULL"))
    contact_name: Mapped[str | None] = mapped_column(String(160))

    reply_to: Mapped[Message | None] = relationship()
    mandant: Mapped[Mandant | None] = relationship()

    __table_args__ = (
        Index("ix_sms_received_received_at", "received_at"),
        Index("uq_sms_received_transport_ref", "transport", "provider_ref", unique=True),
        Index("ix_sms_received_reply_to_message_id", "reply_to_message_id"),
        Index("ix_sms_received_sender_id", "sender", "id"),
    )


class WebhookNotification(Model):
    """A websms notification already handled: a repeat (same notificationId) is only answered."""

    __tablename__ = "sms_webhook_notification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(64), unique=True)
    message_type: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

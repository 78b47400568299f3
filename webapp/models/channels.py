"""Channels of the job "Service SMS": the ordered ways it sends (README "Kanäle").

A channel is a Variante 1 GSM modem or a Variante 2 websms account with its own settings and
secrets (encrypted, write-only). Channels are tried in `position` order; channels of equal
`rank` send side by side (pooled modems). `state` columns are written by the runs: a channel
that failed as a whole is skipped until `backoff_until`, then tried again. The typed reading
and writing of a channel's settings lives in webapp.jobs.settings; the run uses them in
webapp.sms.dispatch.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, UTCDateTime, utcnow
from webapp.models.sms import BigId

if TYPE_CHECKING:
    from webapp.models.jobs import Job

MODEM = "modem"
WEBSMS = "websms"


class Channel(TimestampMixin, Model):
    """One way a job sends: a modem or a websms account (Einstellungen – Kanäle)."""

    __tablename__ = "sms_channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=1)  # order in the list, from 1
    # Channels of equal rank send in parallel; a higher rank is used when the lower ones fail.
    rank: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))  # MODEM | WEBSMS
    name: Mapped[str] = mapped_column(String(80), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # The section of its kind as JSON (webapp.jobs.settings: ModemSection / WebsmsSection
    # without the job-wide fields) and the names of the secrets that are set.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")  # one Fernet token
    # Routing: number prefixes (E.164 digits, e.g. "43" or "4366") this channel serves, comma
    # separated; "!" before a prefix excludes it. Empty: every number.
    routes: Mapped[str] = mapped_column(String(500), default="")
    # State, written by the runs.
    failed_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failures in a row
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[Job] = relationship(back_populates="channels")

    __table_args__ = (Index("ix_sms_channel_job_id_position", "job_id", "position"),)

    def __repr__(self) -> str:
        return f"<Channel {self.id} {self.kind} #{self.position}>"


class Attempt(Model):
    """One attempt to send an SMS: on which channel, and what came of it (the SMS detail)."""

    __tablename__ = "sms_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("sms_message.id", ondelete="CASCADE"),
    )
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_channel.id", ondelete="SET NULL")
    )
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # an OutcomeKind value, or "untried"
    code: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_sms_attempt_message_id_id", "message_id", "id"),)

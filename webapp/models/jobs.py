"""Actionservice: jobs (e.g. the system job "Service SMS"), their runs and their Errorlog."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model, db
from webapp.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from webapp.models.mandanten import Mandant

if TYPE_CHECKING:
    from webapp.models.channels import Channel


class LogLevel(enum.StrEnum):
    """Protokollart: what a run writes to the Errorlog."""

    NONE = "none"
    ERRORS = "errors"
    WARNINGS = "warnings"
    ALL = "all"

    @property
    def label(self) -> str:
        """As shown in the dialog (German, translated)."""
        return {
            LogLevel.NONE: _("Keine"),
            LogLevel.ERRORS: _("Nur Fehler"),
            LogLevel.WARNINGS: _("Fehler und Warnungen"),
            LogLevel.ALL: _("Alles"),
        }[self]


class EntryLevel(enum.StrEnum):
    """The level of one Errorlog entry (stored as its value in JobLogEntry.level)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def label(self) -> str:
        """As shown in the dialog (German, translated)."""
        return {
            EntryLevel.ERROR: _("Fehler"),
            EntryLevel.WARNING: _("Warnung"),
            EntryLevel.INFO: _("Info"),
        }[self]


class ScheduleKind(enum.StrEnum):
    """Job ausführen."""

    ONCE = "once"
    MINUTES = "minutes"
    HOURLY = "hourly"  # at minute M
    DAILY = "daily"  # at HH:MM
    WEEKLY = "weekly"  # on weekdays, at HH:MM
    MONTHLY = "monthly"  # on day D, at HH:MM
    CRON = "cron"

    @property
    def label(self) -> str:
        """As shown in the dialog (German, translated)."""
        return {
            ScheduleKind.ONCE: _("einmalig"),
            ScheduleKind.MINUTES: _("alle N Minuten"),
            ScheduleKind.HOURLY: _("stündlich"),
            ScheduleKind.DAILY: _("täglich"),
            ScheduleKind.WEEKLY: _("wöchentlich"),
            ScheduleKind.MONTHLY: _("monatlich"),
            ScheduleKind.CRON: _("Cron-Ausdruck (für Fachleute)"),
        }[self]


class Priority(enum.StrEnum):
    NORMAL = "normal"
    HIGH = "high"  # queued before other jobs

    @property
    def label(self) -> str:
        """As shown in the dialog (German, translated)."""
        return {Priority.NORMAL: _("Normal"), Priority.HIGH: _("Hoch")}[self]


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"  # ended early on request (SIGTERM of a deploy): nothing left unclear


job_mandant = Table(
    "job_mandant",
    db.metadata,
    Column("job_id", Integer, ForeignKey("job.id", ondelete="CASCADE"), primary_key=True),
    Column("mandant_id", Integer, ForeignKey("mandant.id", ondelete="CASCADE"), primary_key=True),
)


class Job(TimestampMixin, Model):
    """A job of the Actionservice; `job_type` names its implementation in the registry."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_type: Mapped[str] = mapped_column(String(40))  # Job Art, fixed
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=False)
    system: Mapped[bool] = mapped_column(default=False)  # cannot be deleted
    log_level: Mapped[LogLevel] = mapped_column(
        str_enum(LogLevel, "job_log_level"), default=LogLevel.ERRORS
    )
    dialog_name: Mapped[str] = mapped_column(String(120), default="")  # not used by Service SMS
    user_name: Mapped[str] = mapped_column(String(80), default="")  # not used by Service SMS
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_email: Mapped[str] = mapped_column(String(254), default="")  # Email an bei Fehler
    created_by: Mapped[str | None] = mapped_column(String(80))
    updated_by: Mapped[str | None] = mapped_column(String(80))

    # Zeitplan
    schedule_kind: Mapped[ScheduleKind] = mapped_column(
        str_enum(ScheduleKind, "job_schedule_kind"), default=ScheduleKind.MINUTES
    )
    interval_minutes: Mapped[int] = mapped_column(Integer, default=5)
    run_once_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_of_day: Mapped[str] = mapped_column(String(5), default="08:00")  # HH:MM local time
    minute_of_hour: Mapped[int] = mapped_column(Integer, default=0)
    weekdays: Mapped[str] = mapped_column(String(20), default="0,1,2,3,4")  # 0 = Monday
    day_of_month: Mapped[int] = mapped_column(Integer, default=1)
    cron_expression: Mapped[str] = mapped_column(String(120), default="")
    priority: Mapped[Priority] = mapped_column(
        str_enum(Priority, "job_priority"), default=Priority.NORMAL
    )

    # Einstellungen: plain settings as JSON, secrets encrypted (Fernet) as one token
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")

    # Statistics (read-only in the dialog)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_run_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")

    mandanten: Mapped[list[Mandant]] = relationship(secondary=job_mandant, lazy="selectin")
    # Einstellungen – Kanäle (webapp.models.channels), in their order.
    channels: Mapped[list[Channel]] = relationship(
        order_by="Channel.position, Channel.id",
        cascade="all, delete-orphan",
        back_populates="job",
    )

    __table_args__ = (Index("ix_job_next_run_at", "active", "next_run_at"),)


class JobRun(Model):
    """One run of a job, with its live progress (the dialog polls it)."""

    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    run_key: Mapped[str] = mapped_column(String(64), unique=True)  # also the lease owner id
    status: Mapped[RunStatus] = mapped_column(
        str_enum(RunStatus, "job_run_status"), default=RunStatus.RUNNING
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The process that runs it: a run whose process is gone on this host is dead at once.
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    retried: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    # Variante 1: the modem's signal (AT+CSQ, 0–31; None: unknown) and network registration
    # (ModemStatus.registration: home, roaming, searching, …) as read by this run.
    signal_rssi: Mapped[int | None] = mapped_column(Integer)
    registration: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_job_run_job_id_id", "job_id", "id"),
        # The Übersicht's signal per day reads one day of runs.
        Index("ix_job_run_started_at", "started_at"),
    )


class JobLogEntry(Model):
    """Errorlog: what a run logged (filtered by the job's Protokollart when written)."""

    __tablename__ = "job_log_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("job_run.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(10))  # an EntryLevel value
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_job_log_entry_job_id_id", "job_id", "id"),
        # Deleting a run (housekeeping) unlinks its entries: without it, a scan of the whole
        # Errorlog per deleted run (also by the foreign key's ON DELETE SET NULL itself).
        Index("ix_job_log_entry_run_id", "run_id"),
    )

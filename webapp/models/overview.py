"""The daily roll-up behind the Übersicht (issue 13): SMS per day, Mandant, status and failure
reason with their delivery times as a histogram, and the modem's signal per day. Derived data:
`webapp.sms.overview` recomputes it from sms_message and job_run (`refresh_days`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Model
from webapp.models.base import UTCDateTime, utcnow


class DailyCount(Model):
    """How many SMS created on `day` (in TIMEZONE) of a Mandant are in `status` now; for the
    failures their reason (the sentence, else ""); for Zugestellt how long from being queued
    to the delivery report, counted in buckets (`overview.DELIVERY_BUCKETS`)."""

    __tablename__ = "sms_daily_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # a MessageStatus value
    reason: Mapped[str] = mapped_column(String(200), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)
    within_1m: Mapped[int] = mapped_column(Integer, default=0)
    within_5m: Mapped[int] = mapped_column(Integer, default=0)
    within_15m: Mapped[int] = mapped_column(Integer, default=0)
    within_1h: Mapped[int] = mapped_column(Integer, default=0)
    within_6h: Mapped[int] = mapped_column(Integer, default=0)
    within_24h: Mapped[int] = mapped_column(Integer, default=0)
    later: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index(
            "uq_sms_daily_count_day_mandant_status_reason",
            "day",
            "mandant_id",
            "status",
            "reason",
            unique=True,
        ),
    )


class DailySignal(Model):
    """The modem's signal (AT+CSQ) as read by the runs of `day` (in TIMEZONE)."""

    __tablename__ = "sms_daily_signal"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    readings: Mapped[int] = mapped_column(Integer, default=0)  # runs that read the modem
    registered: Mapped[int] = mapped_column(Integer, default=0)  # of these, in a network
    rssi_readings: Mapped[int] = mapped_column(Integer, default=0)  # with a known signal
    rssi_min: Mapped[int | None] = mapped_column(Integer)
    rssi_max: Mapped[int | None] = mapped_column(Integer)
    rssi_sum: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

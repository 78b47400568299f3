"""Mandant: a client company inside one installation; every SMS belongs to one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, UTCDateTime


class Mandant(TimestampMixin, Model):
    __tablename__ = "mandant"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Optional limits (webapp/sms/mandant_limits.py): SMS sent per clock hour and per
    # calendar day; None: no limit. While one holds its SMS back, `held_until` says until
    # when (set and cleared by the claim of a run).
    sms_per_hour: Mapped[int | None]
    sms_per_day: Mapped[int | None]
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<Mandant {self.id} {self.name!r}>"

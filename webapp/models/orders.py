"""Aufträge (work orders) and Tickets: the minimal records that send SMS (SPEC R40–R44)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, UTCDateTime
from webapp.models.contacts import Company, Person
from webapp.models.mandanten import Mandant


class WorkOrder(TimestampMixin, Model):
    """An Auftrag: sent to a Kreditor (a Firma); Kontrolleur and Bestandsnehmer are Personen."""

    __tablename__ = "work_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # A-2026-0001
    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id"))
    address: Mapped[str] = mapped_column(String(200), default="")  # the Objekt
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    appointment: Mapped[datetime | None] = mapped_column(UTCDateTime)
    creditor_id: Mapped[int | None] = mapped_column(ForeignKey("company.id", ondelete="SET NULL"))
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    mandant: Mapped[Mandant] = relationship(lazy="joined")
    creditor: Mapped[Company | None] = relationship(foreign_keys=[creditor_id])
    inspector: Mapped[Person | None] = relationship(foreign_keys=[inspector_id])
    resident: Mapped[Person | None] = relationship(foreign_keys=[resident_id])

    __table_args__ = (Index("ix_work_order_mandant_id_id", "mandant_id", "id"),)


class Ticket(TimestampMixin, Model):
    """A Ticket (service request), usually from a Bestandsnehmer."""

    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # T-2026-0001
    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    # Why the SMS to the Bestandsnehmer after creation (global 2890) was not queued, if so.
    sms_note: Mapped[str | None] = mapped_column(Text)

    mandant: Mapped[Mandant] = relationship(lazy="joined")
    resident: Mapped[Person | None] = relationship(foreign_keys=[resident_id])

    __table_args__ = (Index("ix_ticket_mandant_id_id", "mandant_id", "id"),)

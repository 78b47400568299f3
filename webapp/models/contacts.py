"""Personen and Firmen: the records that carry a mobile number (SPEC R1), kept minimal."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import TimestampMixin
from webapp.models.mandanten import Mandant


class ContactMixin(TimestampMixin):
    """What Person and Company share: Mandant, mobile number, e-mail, address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    mobile: Mapped[str] = mapped_column(String(64), default="")  # as entered
    email: Mapped[str] = mapped_column(String(254), default="")
    street: Mapped[str] = mapped_column(String(160), default="")
    postal_code: Mapped[str] = mapped_column(String(12), default="")
    city: Mapped[str] = mapped_column(String(80), default="")


class Person(ContactMixin, Model):
    """A person: Bestandsnehmer, Kontrolleur or any other contact."""

    __tablename__ = "person"

    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id"))
    mandant: Mapped[Mandant] = relationship(lazy="joined")

    __table_args__ = (Index("ix_person_mandant_id_name", "mandant_id", "name"),)


class Company(ContactMixin, Model):
    """A Firma, e.g. a Kreditor that receives work orders."""

    __tablename__ = "company"

    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id"))
    mandant: Mapped[Mandant] = relationship(lazy="joined")

    __table_args__ = (Index("ix_company_mandant_id_name", "mandant_id", "name"),)

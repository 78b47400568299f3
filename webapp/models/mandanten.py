"""Mandant: a client company inside one installation; every SMS belongs to one."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Model
from webapp.models.base import TimestampMixin


class Mandant(TimestampMixin, Model):
    __tablename__ = "mandant"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<Mandant {self.id} {self.name!r}>"

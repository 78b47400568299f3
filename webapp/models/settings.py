"""Installation-wide settings: global variables and configuration table 93001."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import Model
from webapp.models.base import TimestampMixin, UTCDateTime


class GlobalVariableType(enum.StrEnum):
    FLAG = "flag"  # 0 or 1
    EMAIL = "email"  # one e-mail address (or empty)
    TEXT = "text"  # free text


class GlobalVariable(Model):
    """A numbered global variable ("Globale Variable"), seeded by the migrations."""

    __tablename__ = "global_variable"

    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    value_type: Mapped[GlobalVariableType] = mapped_column(
        Enum(
            GlobalVariableType,
            name="global_variable_type",
            native_enum=False,
            create_constraint=True,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    value: Mapped[str] = mapped_column(Text, default="")
    default_value: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(80))


class MobilePrefix(TimestampMixin, Model):
    """Konfigurationstabelle 93001 SMS_HANDYVORWAHLEN: one valid mobile prefix.

    `prefix` holds the country code and the mobile prefix as digits (43664 = +43 664); a number
    is sendable when its E.164 digits start with an active prefix.
    """

    __tablename__ = "mobile_prefix"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(15), unique=True)
    description: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(default=True)

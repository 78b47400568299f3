"""Column helpers shared by the models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: every stored time is UTC, shown in TIMEZONE."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored time as aware UTC (SQLite gives naive datetimes back)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TimestampMixin:
    """Audit times: angelegt am / geändert am."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """A Python enum stored as its string values, checked by a named CHECK constraint."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )

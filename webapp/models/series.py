"""A Serien-SMS ("Serie"): one text sent to many recipients at once (issue 17).

Its SMS are ordinary rows of `sms_message` with Herkunft `series` and `source_ref` = the
Serie's id; their counts per status are read from there (`webapp/sms/serien.py`), never kept
here, so nothing has to follow a run or a delivery report.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import Model
from webapp.models.base import UTCDateTime, str_enum, utcnow
from webapp.models.mandanten import Mandant
from webapp.models.users import User


class SeriesState(enum.StrEnum):
    DRAFT = "draft"  # reviewed, waiting for "Senden" (its SMS in `draft`, none queued)
    QUEUED = "queued"  # confirmed: its SMS are in sms_message


class Series(Model):
    """Who sent which text to how many, and whether the rest was cancelled.

    A review is stored as a draft (`state` draft, the reviewed SMS as JSON in `draft`), so
    "Senden" queues exactly what was shown, without checking 10,000 numbers again, and only
    once: the confirmation changes the state from draft to queued (compare-and-set).
    """

    __tablename__ = "sms_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    mandant_id: Mapped[int] = mapped_column(ForeignKey("mandant.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The author's name as it was: the record outlives the user (like `decided_by`).
    created_by_name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The text as typed, with its placeholders; each SMS holds its own final text.
    text: Mapped[str] = mapped_column(Text)
    # What the review found: SMS queued, numbers refused, duplicates left out.
    planned: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    # The review's token: a second "Senden" of the same review finds this Serie and queues
    # nothing (unique, so two concurrent submits cannot both insert).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[SeriesState] = mapped_column(
        str_enum(SeriesState, "sms_series_state"), default=SeriesState.QUEUED
    )
    draft: Mapped[str | None] = mapped_column(Text)
    # "Rest abbrechen": when and by whom, and how many waiting SMS it cancelled.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(80))
    cancelled: Mapped[int] = mapped_column(Integer, default=0)

    mandant: Mapped[Mandant] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_sms_series_mandant_id_id", "mandant_id", "state", "id"),)

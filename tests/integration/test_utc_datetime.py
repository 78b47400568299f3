"""UTCDateTime: every stored time comes back aware in UTC, on SQLite as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from webapp.models import Mandant


def _reloaded(db, mandant: Mandant) -> Mandant:
    db.commit()
    db.expire_all()
    return db.get(Mandant, mandant.id)


def test_a_time_in_another_zone_comes_back_in_utc(db):
    vienna = datetime(2026, 7, 1, 14, 5, 30, 123456, tzinfo=ZoneInfo("Europe/Vienna"))
    mandant = Mandant(name="Sommerzeit", created_at=vienna)
    db.add(mandant)
    stored = _reloaded(db, mandant).created_at
    assert stored.tzinfo is UTC
    assert stored == vienna and stored.hour == 12


def test_a_naive_time_counts_as_utc(db):
    mandant = Mandant(name="Ohne Zone", created_at=datetime(2026, 1, 2, 3, 4, 5))
    db.add(mandant)
    assert _reloaded(db, mandant).created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_queries_compare_in_utc(db):
    db.add(Mandant(name="Mittag", created_at=datetime(2026, 1, 2, 12, 0, tzinfo=UTC)))
    db.commit()
    vienna = ZoneInfo("Europe/Vienna")  # 12:00 UTC is 13:00 in Vienna in winter
    before = datetime(2026, 1, 2, 12, 59, tzinfo=vienna)
    after = datetime(2026, 1, 2, 13, 1, tzinfo=vienna)
    found = db.scalars(
        select(Mandant.name).where(Mandant.created_at > before, Mandant.created_at < after)
    )
    assert list(found) == ["Mittag"]
    newest = db.scalar(select(Mandant.created_at).order_by(Mandant.created_at.desc()).limit(1))
    assert newest is not None and newest.tzinfo is UTC

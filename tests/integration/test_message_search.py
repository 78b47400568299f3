"""search_messages directly: every path (window, index, scan) gives the same pages."""

from __future__ import annotations

import pytest

from webapp import accounts
from webapp.models import MessageSource, MessageStatus
from webapp.sms.outbox import queue_sms
from webapp.sms.search import MessageFilter, number_prefix, search_messages


@pytest.fixture
def messages(db):
    mandant = accounts.save_mandant(db, "HV Wien")
    made = []
    for i in range(40):
        text = "Heizung kaputt" if i % 4 == 0 else f"Termin {i}"
        message = queue_sms(
            db,
            recipient="0664 1234567",
            text=text,
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        )
        if i % 10 == 0:
            message.status = MessageStatus.FAILED
        made.append(message)
    db.commit()
    return made


@pytest.mark.parametrize("probe_window", [3, 12, 5000])
@pytest.mark.parametrize("page_size", [2, 4, 50])
def test_pages_are_the_same_whatever_the_path(db, messages, probe_window, page_size):
    expected = [m.id for m in reversed(messages) if m.text == "Heizung kaputt"]
    flt = MessageFilter(text="heizung")
    seen, before = [], None
    while True:
        page = search_messages(
            db, flt, mandant_ids=None, before=before, page_size=page_size, probe_window=probe_window
        )
        assert page.total == 10 and not page.total_capped
        seen += [m.id for m in page.rows]
        if page.older is None:
            break
        before = page.older
    assert seen == expected
    # And back again with `after`.
    page = search_messages(
        db,
        flt,
        mandant_ids=None,
        after=expected[-1] - 1,
        page_size=page_size,
        probe_window=probe_window,
    )
    assert [m.id for m in page.rows] == expected[-page_size:]


def test_filters_combine(db, messages):
    page = search_messages(
        db,
        MessageFilter(text="Heizung", status=MessageStatus.FAILED),
        mandant_ids=None,
        probe_window=3,
    )
    assert [m.id for m in page.rows] == [messages[i].id for i in (20, 0)]
    assert search_messages(db, MessageFilter(), mandant_ids=set()).rows == []


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ("0664 12", "+4366412"),
        ("+49 151", "+49151"),
        ("0043 664", "+43664"),
        ("664", "+664"),
        ("abc", None),
        ("", None),
    ],
)
def test_number_prefix(raw, prefix):
    assert number_prefix(raw) == prefix

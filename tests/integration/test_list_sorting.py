"""Sortable columns of SMS Nachrichten, Meine SMS and Empfangene SMS (issue 13 point 6): every
sort in both directions, paged forwards and back, shows every row once and in order (ties by
id, rows without a value last), within the user's Mandanten; the sort stays in the URL, the
links and the export; an unknown sort is the default order."""

from __future__ import annotations

import csv
import html
import io
import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import login_as
from webapp import accounts
from webapp.models import Message, MessageSource, MessageStatus, ReceivedMessage
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms import paging
from webapp.sms.outbox import queue_sms
from webapp.sms.search import STATUS_ORDER

HX = {"HX-Request": "true"}
# More rows than two pages of 50 in the user's Mandanten, so every walk crosses pages.
VISIBLE = 126
HIDDEN = 24


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    # The export reads a few rows per query, so it crosses chunk boundaries inside each part.
    monkeypatch.setattr(paging, "CHUNK_SIZE", 7)


@pytest.fixture
def mandanten(db):
    """Two Mandanten of the clerk (an umlaut and a lower-case name: the order of names is a
    user's, not the bytes') and one the clerk does not see."""
    made = {name: accounts.save_mandant(db, name) for name in ("Zentrale", "hv Graz", "Ärzte")}
    db.commit()
    return made


@pytest.fixture
def clerk_user(make_user, mandanten):
    return make_user(
        "clerk", Permission.SMS_MESSAGES, mandanten=[mandanten["Ärzte"], mandanten["hv Graz"]]
    )


@pytest.fixture
def clerk(client, clerk_user):
    return login_as(client, clerk_user)


@pytest.fixture
def messages(db, mandanten, clerk_user):
    """SMS with many ties (four numbers, five sending times, every status), some without a
    number (not parsed) or a sending time; the last HIDDEN of another Mandant."""
    numbers = ["0664 1234567", "0676 7654321", "0664 1299999", "+49 151 12345678"]
    statuses = list(MessageStatus)
    base = utcnow() - timedelta(days=1)
    visible = [mandanten["Ärzte"], mandanten["hv Graz"]]
    created = []
    for i in range(VISIBLE + HIDDEN):
        mandant = visible[i % 2] if i < VISIBLE else mandanten["Zentrale"]
        message = queue_sms(
            db,
            recipient=numbers[i % 4],
            text=f"Heizung Nr. {i}" if i % 3 else f"Lift Nr. {i}",
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
            created_by=clerk_user if i % 2 else None,
        )
        message.status = statuses[(i * 7) % len(statuses)]  # 7: coprime to the count
        if i % 11 == 0:
            message.recipient = None  # a number that did not parse: shown as entered
            message.recipient_raw = "Hausmeister"
        message.sent_at = None if i % 4 == 0 else base + timedelta(minutes=i % 5)
        created.append(message)
    db.commit()
    return created


@pytest.fixture
def received(db, mandanten):
    """Received SMS with ties (three senders, three forwarding times), not yet forwarded ones
    and ones matched to no Mandant; the last HIDDEN of the Mandant the clerk does not see."""
    base = utcnow() - timedelta(hours=5)
    rows = []
    for i in range(VISIBLE + HIDDEN):
        if i >= VISIBLE:
            mandant_id: int | None = mandanten["Zentrale"].id
        else:
            mandant_id = [mandanten["Ärzte"].id, mandanten["hv Graz"].id, None][i % 3]
        rows.append(
            ReceivedMessage(
                transport="websms",
                sender=["+436641234567", "+436767654321", "Hausverw"][i % 3 if i % 7 else 1],
                text=f"Antwort {i}",
                provider_ref=f"ref-{i}",
                mandant_id=mandant_id,
                received_at=base + timedelta(seconds=i),
                forwarded_at=None if i % 5 == 0 else base + timedelta(minutes=i % 3),
            )
        )
    db.add_all(rows)
    db.commit()
    return rows


# --- walking the pages ------------------------------------------------------------------------


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', page)]


def _link(page: str, pattern: str) -> str | None:
    pager = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    found = re.search(pattern, pager.group(0)) if pager else None
    return html.unescape(found.group(1)) if found else None


def _walk(client, url: str, target: str) -> tuple[list[int], list[list[int]]]:
    """Every row of the list along its next-page links, then back along its previous-page
    links from the last page: (forwards, the pages as walked back, last first)."""
    headers = {**HX, "HX-Target": target}
    forwards: list[int] = []
    page = client.get(url, headers=headers)
    assert page.status_code == 200
    text = page.text
    forwards += _ids(text)
    while nxt := _link(text, r'<a href="([^"]+)"[^>]*id="older-page"'):
        assert "before=" in nxt
        text = client.get(nxt, headers=headers).text
        forwards += _ids(text)
    backwards: list[list[int]] = []
    while prev := _link(text, r'<a href="([^"]*after=[^"]*)"'):
        text = client.get(prev, headers=headers).text
        backwards.append(_ids(text))
    return forwards, backwards


def _expected(rows: list[Any], value: Callable[[Any], Any], descending: bool) -> list[int]:
    """The ids in the order the list promises: by `value` then id, both in the direction
    asked for; rows without a value last, by id, in either direction."""
    having = [r for r in rows if value(r) is not None]
    without = [r for r in rows if value(r) is None]
    having.sort(key=lambda r: (value(r), r.id), reverse=descending)
    without.sort(key=lambda r: r.id, reverse=descending)
    return [r.id for r in having + without]


def _name_order(db, mandant_id: int | None) -> Any:
    from webapp.models import Mandant

    if mandant_id is None:
        return None
    name = db.get(Mandant, mandant_id).name
    return unicodedata.normalize("NFKD", name.casefold())


def _assert_walks(client, url: str, target: str, expected: list[int]) -> None:
    forwards, backwards = _walk(client, url, target)
    assert forwards == expected  # every row once, in order
    assert len(forwards) > 2 * paging.PAGE_SIZE  # three pages at least
    # Back from the last page: the pages before it, each in the list's order, to the first.
    pages = [expected[i : i + paging.PAGE_SIZE] for i in range(0, len(expected), paging.PAGE_SIZE)]
    assert backwards == pages[:-1][::-1]


MESSAGE_SORTS: dict[str, Callable[[Any, Message], Any]] = {
    "erstellt": lambda db, m: m.id,
    "empfaenger": lambda db, m: m.recipient,
    "status": lambda db, m: STATUS_ORDER.index(m.status),
    "versendet": lambda db, m: m.sent_at,
    "mandant": lambda db, m: _name_order(db, m.mandant_id),
}


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("key", list(MESSAGE_SORTS))
def test_sms_nachrichten_every_sort_pages_every_row_once(clerk, db, messages, key, descending):
    shown = messages[:VISIBLE]  # the clerk's Mandanten
    expected = _expected(shown, lambda m: MESSAGE_SORTS[key](db, m), descending)
    sort = f"-{key}" if descending else key
    _assert_walks(clerk, f"/admin/sms/?sort={sort}", "message-results", expected)


def test_the_first_page_is_the_start_of_the_order(clerk, db, messages):
    # Versendet ascending: the earliest sending time first, SMS never sent at the very end.
    page = clerk.get("/admin/sms/?sort=versendet", headers=HX).text
    first = db.get(Message, _ids(page)[0])
    assert first.sent_at == min(m.sent_at for m in messages[:VISIBLE] if m.sent_at)


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("status=failed", lambda m: m.status is MessageStatus.FAILED),
        ("text=Heizung", lambda m: "Heizung" in m.text),  # SQLite: through the FTS index
        ("text=Nr.+1", lambda m: "Nr. 1" in m.text),
        ("number=0664", lambda m: (m.recipient or "").startswith("+43664")),
    ],
)
@pytest.mark.parametrize("sort", ["mandant", "-versendet", "empfaenger", "-status", "erstellt"])
def test_sort_with_a_filter(clerk, db, messages, query, keep, sort):
    key = sort.lstrip("-")
    shown = [m for m in messages[:VISIBLE] if keep(m)]
    expected = _expected(shown, lambda m: MESSAGE_SORTS[key](db, m), sort.startswith("-"))
    forwards, backwards = _walk(clerk, f"/admin/sms/?{query}&sort={sort}", "message-results")
    assert forwards == expected
    pages = [expected[i : i + paging.PAGE_SIZE] for i in range(0, len(expected), paging.PAGE_SIZE)]
    assert backwards == pages[:-1][::-1]


@pytest.mark.parametrize("sort", ["-mandant", "versendet", "empfaenger"])
def test_sort_with_a_common_search_term(clerk, db, messages, monkeypatch, sort):
    # More matches than the list counts: compared along the sorted order, not looked up.
    monkeypatch.setattr(paging, "COUNT_CAP", 5)
    key = sort.lstrip("-")
    shown = [m for m in messages[:VISIBLE] if "heizung" in m.text.lower()]
    expected = _expected(shown, lambda m: MESSAGE_SORTS[key](db, m), sort.startswith("-"))
    for term in ("Heizung", "HEIZUNG"):  # the case of the term does not matter
        forwards, backwards = _walk(
            clerk, f"/admin/sms/?text={term}&sort={sort}", "message-results"
        )
        assert forwards == expected
        pages = [
            expected[i : i + paging.PAGE_SIZE] for i in range(0, len(expected), paging.PAGE_SIZE)
        ]
        assert backwards == pages[:-1][::-1]
    page = clerk.get(f"/admin/sms/?text=Heizung&sort={sort}").text
    url = html.unescape(re.search(r'href="([^"]*/admin/sms/export\.csv[^"]*)"', page).group(1))
    assert _csv_ids(clerk.get(url)) == expected


def test_meine_sms_sorts_the_users_own_sms(clerk, db, messages, clerk_user):
    own = [m for m in messages[:VISIBLE] if m.created_by_id == clerk_user.id]
    for sort in ("empfaenger", "-mandant"):
        value = MESSAGE_SORTS[sort.lstrip("-")]
        expected = _expected(own, lambda m, value=value: value(db, m), sort.startswith("-"))
        forwards, _back = _walk(clerk, f"/sms/meine/?sort={sort}", "message-results")
        assert forwards == expected


RECEIVED_SORTS: dict[str, Callable[[Any, ReceivedMessage], Any]] = {
    "empfangen": lambda db, r: r.id,
    "absender": lambda db, r: r.sender,
    "weitergeleitet": lambda db, r: r.forwarded_at,
    "mandant": lambda db, r: _name_order(db, r.mandant_id),
}


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("key", list(RECEIVED_SORTS))
def test_empfangene_sms_every_sort_pages_every_row_once(
    admin_client, db, received, key, descending
):
    # An administrator sees every Mandant and the SMS matched to none (last by Mandant).
    expected = _expected(received, lambda r: RECEIVED_SORTS[key](db, r), descending)
    sort = f"-{key}" if descending else key
    _assert_walks(admin_client, f"/admin/sms/inbox?sort={sort}", "inbox-results", expected)


@pytest.mark.parametrize("sort", ["mandant", "-mandant", "absender"])
def test_empfangene_sms_sorted_within_the_mandanten(clerk, db, received, mandanten, sort):
    shown = [
        r for r in received if r.mandant_id in {mandanten["Ärzte"].id, mandanten["hv Graz"].id}
    ]
    key = sort.lstrip("-")
    expected = _expected(shown, lambda r: RECEIVED_SORTS[key](db, r), sort.startswith("-"))
    forwards, _back = _walk(clerk, f"/admin/sms/inbox?sort={sort}", "inbox-results")
    assert forwards == expected


# --- scope, bad values, the links ----------------------------------------------------------------


def test_sorted_by_mandant_only_the_users_mandanten(clerk, db, messages, mandanten):
    forwards, _back = _walk(clerk, "/admin/sms/?sort=mandant", "message-results")
    hidden = {m.id for m in messages[VISIBLE:]}
    assert not hidden & set(forwards)
    # "Ärzte" before "hv Graz": umlaut and case as a user reads them.
    first = db.get(Message, forwards[0])
    assert first.mandant_id == mandanten["Ärzte"].id
    # The other Mandant asked for by hand: nothing, whatever the sort.
    other = mandanten["Zentrale"].id
    for sort in ("mandant", "-status", "versendet"):
        assert _walk(clerk, f"/admin/sms/?mandant={other}&sort={sort}", "message-results")[0] == []


def test_a_cursor_of_another_mandant_is_ignored(clerk, messages):
    hidden = messages[-1].id
    default = _ids(clerk.get("/admin/sms/?sort=empfaenger", headers=HX).text)
    for cursor in (f"before={hidden}", f"after={hidden}"):
        page = clerk.get(f"/admin/sms/?sort=empfaenger&{cursor}", headers=HX)
        assert page.status_code == 200
        assert _ids(page.text) == default  # the first page, not a probe of the other list


@pytest.mark.parametrize(
    "value", ["nonsense", "-", "--status", "Status", "mandant,id", "erstellt;drop", "x" * 300]
)
def test_an_unknown_sort_is_the_default_order(clerk, messages, value):
    default = clerk.get("/admin/sms/", headers=HX).text
    response = clerk.get("/admin/sms/", query_string={"sort": value}, headers=HX)
    assert response.status_code == 200
    assert _ids(response.text) == _ids(default)
    # Not carried on: no hidden input, the pager's and the export's links without it.
    assert 'name="sort"' not in response.text
    for link in re.findall(r'href="([^"]*(?:before=|export\.)[^"]*)"', response.text):
        assert "sort=" not in link
    assert clerk.get("/admin/sms/inbox", query_string={"sort": value}).status_code == 200
    assert clerk.get("/admin/sms/export.csv", query_string={"sort": value}).status_code == 200


def test_the_headers_links_and_aria_sort(clerk, messages):
    page = clerk.get("/admin/sms/").text
    # The default: Erstellt, newest first.
    assert re.search(
        r'<th aria-sort="descending"><a class="sort-link" href="[^"]*sort=erstellt"', page
    )
    assert page.count("aria-sort=") == 1
    sorted_page = clerk.get("/admin/sms/?sort=empfaenger&status=failed").text
    th = re.search(r'<th aria-sort="ascending">(.*?)</th>', sorted_page, re.S)
    assert th and "Empfänger" in th.group(1) and "▲" in th.group(1)
    assert "aufsteigend sortiert" in th.group(1)
    # A second click sorts the other way; the filter stays, the page starts again.
    link = html.unescape(re.search(r'href="([^"]*)"', th.group(1)).group(1))
    assert "sort=-empfaenger" in link and "status=failed" in link and "before=" not in link
    # Another column: ascending first.
    assert re.search(r'href="[^"]*sort=status[&"]', html.unescape(sorted_page))
    # The search form keeps the sort; so do the bulk form, the pager and the export links.
    assert re.search(
        r'<input type="hidden" name="sort" form="message-search" value="empfaenger">', sorted_page
    )
    assert '<input type="hidden" name="sort" value="empfaenger">' in sorted_page
    older = _link(sorted_page, r'<a href="([^"]+)"[^>]*id="older-page"')
    assert older is None or "sort=empfaenger" in older
    assert "sort=empfaenger" in html.unescape(
        re.search(r'href="([^"]*export\.csv[^"]*)"', sorted_page).group(1)
    )
    # A sorted list pages "Weitere", not "Ältere".
    assert "Ältere" not in sorted_page and "Neueste" not in sorted_page


def test_the_live_poll_keeps_the_sort(clerk, db, messages):
    page = clerk.get("/admin/sms/?sort=status").text
    poll = re.search(r'hx-get="([^"]*/admin/sms/live[^"]*)"', page)
    assert poll, "a page with waiting SMS polls"
    assert "sort=status" in html.unescape(poll.group(1))
    # The poll's answer polls on with the sort.
    queued = next(m for m in messages[:VISIBLE] if m.status is MessageStatus.QUEUED)
    queued.status = MessageStatus.SENT
    db.commit()
    answer = clerk.get(html.unescape(poll.group(1)), headers=HX).text
    assert "sort=status" in html.unescape(answer)


def test_the_inbox_headers_and_export_link(clerk, received):
    page = clerk.get("/admin/sms/inbox?sort=-weitergeleitet").text
    assert re.search(r'<th aria-sort="descending"><a class="sort-link"[^>]*>Weitergeleitet', page)
    assert '<input type="hidden" name="sort" form="inbox-search" value="-weitergeleitet">' in page
    export = html.unescape(re.search(r'href="([^"]*inbox/export\.csv[^"]*)"', page).group(1))
    assert "sort=-weitergeleitet" in export


# --- the export follows the sort ---------------------------------------------------------------


def _csv_ids(response) -> list[int]:
    assert response.status_code == 200
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    return [int(row[0]) for row in rows[1:]]


@pytest.mark.parametrize(
    "query",
    [
        "sort=mandant",
        "sort=-versendet",
        "sort=empfaenger&status=delivered",
        "sort=-status&text=Lift",
    ],
)
def test_the_export_is_the_list_in_its_order(clerk, messages, query):
    forwards, _back = _walk(clerk, f"/admin/sms/?{query}", "message-results")
    page = clerk.get(f"/admin/sms/?{query}").text
    url = html.unescape(re.search(r'href="([^"]*/admin/sms/export\.csv[^"]*)"', page).group(1))
    assert _csv_ids(clerk.get(url)) == forwards


@pytest.mark.parametrize("sort", ["-mandant", "weitergeleitet", "absender"])
def test_the_received_export_is_the_list_in_its_order(admin_client, received, sort):
    forwards, _back = _walk(admin_client, f"/admin/sms/inbox?sort={sort}", "inbox-results")
    assert _csv_ids(admin_client.get(f"/admin/sms/inbox/export.csv?sort={sort}")) == forwards


def test_meine_sms_export_follows_the_sort(clerk, messages):
    forwards, _back = _walk(clerk, "/sms/meine/?sort=-versendet", "message-results")
    assert _csv_ids(clerk.get("/sms/meine/export.csv?sort=-versendet")) == forwards


def test_sqlite_counts_a_search_from_the_trigram_index(db, clerk_user, messages):
    # The count of a text search must read the index's matches and join the SMS by id; driven
    # from the SMS table by Mandant, each row asked the index (12 s at 100.000 SMS).
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("the trigram index of SQLite")
    from sqlalchemy import func, select, text

    from webapp.sms.search import MessageFilter, filtered

    stmt = filtered(MessageFilter(text="Heizung"), {1, 2}).stmt
    counted = select(func.count()).select_from(
        stmt.with_only_columns(Message.id).limit(10_001).subquery()
    )
    compiled = counted.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
    plan = [row[3] for row in db.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    fts = next(i for i, step in enumerate(plan) if "sms_message_fts" in step)
    sms = next(i for i, step in enumerate(plan) if "SEARCH sms_message " in step)
    assert fts < sms and "PRIMARY KEY" in plan[sms], plan

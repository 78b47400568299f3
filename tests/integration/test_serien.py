"""Serien-SMS (issue 17): recipient lists, review, queueing once, counts, Rest abbrechen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from webapp.errors import InputError, ServiceOff
from webapp.models import (
    Company,
    Message,
    MessageSource,
    MessageStatus,
    Person,
    Series,
    SeriesState,
    Ticket,
    User,
    WorkOrder,
)
from webapp.models.base import utcnow
from webapp.models.sms import PRIORITY_BULK, PRIORITY_DIALOG
from webapp.sms.leases import claim
from webapp.sms.recipient_lists import read_list
from webapp.sms.search import MessageFilter, count_messages
from webapp.sms.serien import (
    ContactFilter,
    ContactKinds,
    SeriesInput,
    cancel_rest,
    confirm,
    counts,
    review,
    save_review,
)
from webapp.sms.settings import set_global

# --- the list ------------------------------------------------------------------------------------


def test_a_list_with_bom_semicolons_quotes_and_empty_lines():
    data = (
        '\ufeffName;Handynummer;Wohnung\r\n"Huber; Maria";0664 1234567;"Top 3"\r\n\r\n'
        'Berger;+43 676 7654321;"Top ""5"""\r\n   \r\n'
    ).encode()
    listing = read_list(data)
    assert listing.encoding == "UTF-8 mit BOM" and listing.delimiter == ";"
    assert listing.keys == ("name", "handynummer", "wohnung")
    assert listing.number_key == "handynummer"
    assert [(r.line, r.number, r.values["name"], r.values["wohnung"]) for r in listing.rows] == [
        (2, "0664 1234567", "Huber; Maria", "Top 3"),
        (4, "+43 676 7654321", "Berger", 'Top "5"'),
    ]


def test_a_list_in_windows_1252_with_commas():
    data = "Straße,Mobil\nGasse 1 Müller,0664 1111111\n".encode("cp1252")
    listing = read_list(data)
    assert listing.encoding == "Windows-1252" and listing.delimiter == ","
    assert listing.keys == ("strasse", "mobil")
    assert listing.rows[0].values["strasse"] == "Gasse 1 Müller"


def test_a_list_without_heading_takes_the_column_that_looks_like_numbers():
    listing = read_list("Maria;0664 1234567\nJosef;0664 7654321\n")
    assert listing.keys == ("spalte1", "spalte2") and listing.number_key == "spalte2"
    assert [r.number for r in listing.rows] == ["0664 1234567", "0664 7654321"]


def test_a_column_named_like_a_placeholder_is_a_column_of_its_own():
    listing = read_list("person.name;{auftrag.nummer};Nummer\nMaria;A-1;0664 1234567\n")
    assert listing.keys == ("person_name", "auftrag_nummer", "nummer")


def test_lists_that_cannot_be_read_say_why():
    for content, message in (
        ("", "leer"),
        ("\n \n", "leer"),
        ("Name;Nummer\n", "Überschriftenzeile"),
        ("Name;Ort\nMaria;Wien\n", "keine Spalte mit Handynummern"),
    ):
        with pytest.raises(InputError) as error:
            read_list(content)
        assert message in error.value.message


# --- review --------------------------------------------------------------------------------------


def _people(db, mandant, *entries):
    people = [Person(mandant_id=mandant.id, name=name, mobile=mobile) for name, mobile in entries]
    db.add_all(people)
    db.commit()
    return people


def test_review_dedups_refuses_and_fills_the_text(db, wien):
    set_global(db, 1402, "HV Wien", "test")
    _people(
        db,
        wien,
        ("Anna", "0664 1234567"),
        ("Bernd", "+43 664 123 45 67"),  # the same number as Anna's
        ("Carla", "01 5551234"),  # landline
        ("Dora", "0664 CALL ME"),  # letters
        ("Emil", ""),
    )
    listing = read_list("Nummer;Wohnung\n0676 7654321;Top 3\n0664/1234567;Top 9\n")
    result = review(
        db,
        SeriesInput(
            wien.id,
            "Wasser morgen 8-12 Uhr aus. {mandant.name}",
            ContactFilter(ContactKinds.PERSONS, with_mobile=False),
            listing,
        ),
        mandant_ids={wien.id},
    )
    assert [r.where for r in result.recipients] == ["Person Anna", "Zeile 2"]
    assert result.recipients[0].final_text == "Wasser morgen 8-12 Uhr aus. HV Wien\nHV Wien"
    assert [(d.where, d.kept) for d in result.duplicates] == [
        ("Person Bernd", "Person Anna"),
        ("Zeile 3", "Person Anna"),
    ]
    reasons = {r.where: r.reason for r in result.refused}
    assert set(reasons) == {"Person Carla", "Person Dora", "Person Emil"}
    assert "Festnetznummer" in reasons["Person Carla"]
    assert "ungültige Zeichen" in reasons["Person Dora"]
    assert reasons["Person Emil"] == "Keine Handynummer eingetragen."


def test_a_recipient_without_a_value_for_a_placeholder_is_refused(db, wien):
    _people(db, wien, ("Anna", "0664 1234567"))
    listing = read_list("Nummer;Wohnung\n0676 7654321;Top 3\n0664/1234567;Top 9\n")
    result = review(
        db,
        SeriesInput(
            wien.id, "Wohnung {spalte.wohnung}", ContactFilter(ContactKinds.PERSONS), listing
        ),
        mandant_ids=None,
    )
    # Anna has no list columns: refused, so her number is free for line 3 of the list.
    assert [r.text for r in result.recipients] == ["Wohnung Top 3", "Wohnung Top 9"]
    assert [r.where for r in result.refused] == ["Person Anna"]
    assert "{spalte.wohnung}" in result.refused[0].reason


def test_review_with_one_kind_of_placeholder_per_source(db, wien):
    _people(db, wien, ("Anna", "0664 1234567"), ("Bernd", "+43 664 123 45 67"))
    listing = read_list("Nummer;Wohnung\n0676 7654321;Top 3\n0664/1234567;Top 9\n")
    contacts = review(
        db,
        SeriesInput(
            wien.id, "Hallo {person.name}, {mandant.name}", ContactFilter(ContactKinds.PERSONS)
        ),
        mandant_ids=None,
    )
    assert [r.text for r in contacts.recipients] == ["Hallo Anna, HV Wien"]
    assert [(d.where, d.kept) for d in contacts.duplicates] == [("Person Bernd", "Person Anna")]
    listed = review(
        db, SeriesInput(wien.id, "Wohnung {spalte.wohnung}", listing=listing), mandant_ids=None
    )
    assert [r.text for r in listed.recipients] == ["Wohnung Top 3", "Wohnung Top 9"]
    assert listed.parts_total == 2 and listed.parts_range == (1, 1)


def test_review_refuses_a_placeholder_nobody_fills_and_a_stray_brace(db, wien):
    listing = read_list("Nummer\n0664 1234567\n")
    for body, message in (
        ("Hallo {auftrag.nummer}", "{auftrag.nummer}"),
        ("Hallo {spalte.wohnung}", "{spalte.nummer}"),  # names what is possible
        ("Hallo {", "Klammer"),
        ("  ", "SMS-Text"),
    ):
        with pytest.raises(InputError) as error:
            review(db, SeriesInput(wien.id, body, listing=listing), mandant_ids=None)
        assert message in error.value.message
        assert error.value.field == "text"


def test_a_number_whose_prefix_is_not_in_table_93001_is_refused(db, wien):
    listing = read_list("Nummer\n+1 201 555 0123\n0664 1234567\n")
    result = review(db, SeriesInput(wien.id, "Hallo", listing=listing), mandant_ids=None)
    assert len(result.recipients) == 1
    assert any("93001" in r.reason or "Handynummer" in r.reason for r in result.refused)


def test_filters_by_role_address_and_name_stay_within_the_mandant(db, wien, graz):
    anna, bernd, _carla = _people(
        db, wien, ("Anna", "0664 1111111"), ("Bernd", "0664 2222222"), ("Carla", "0664 3333333")
    )
    anna.street = "Hauptstraße 12/3"
    (other,) = _people(db, graz, ("Anna Graz", "0664 4444444"))
    firma = Company(mandant_id=wien.id, name="Installateur Huber", mobile="0676 5555555")
    db.add(firma)
    db.flush()
    db.add(WorkOrder(number="A-1", mandant_id=wien.id, title="x", creditor_id=firma.id))
    db.add(Ticket(number="T-1", mandant_id=wien.id, subject="x", resident_id=bernd.id))
    db.commit()

    def names(**kw):
        result = review(
            db, SeriesInput(wien.id, "Hallo", ContactFilter(**kw)), mandant_ids={wien.id}
        )
        return [r.where for r in result.recipients]

    assert names(kinds=ContactKinds.BOTH) == [
        "Person Anna",
        "Person Bernd",
        "Person Carla",
        "Firma Installateur Huber",
    ]
    assert names(kinds=ContactKinds.BOTH, role="bestandsnehmer") == ["Person Bernd"]
    assert names(kinds=ContactKinds.BOTH, role="kreditor") == ["Firma Installateur Huber"]
    assert names(kinds=ContactKinds.PERSONS, address="hauptstr") == ["Person Anna"]
    assert names(kinds=ContactKinds.PERSONS, name="ann") == ["Person Anna"]  # not Graz's
    with pytest.raises(InputError):  # a Mandant the user does not have
        review(
            db,
            SeriesInput(graz.id, "Hallo", ContactFilter(ContactKinds.PERSONS)),
            mandant_ids={wien.id},
        )
    assert other.mandant_id == graz.id


# --- queue, counts, cancel -----------------------------------------------------------------------


def _queue(db, mandant, numbers, user=None):
    user = user or _user(db)
    listing = read_list("Nummer\n" + "\n".join(numbers) + "\n")
    series_input = SeriesInput(mandant.id, "Wasser morgen aus", listing=listing)
    result = review(db, series_input, mandant_ids=None)
    draft = save_review(db, result, series_input, created_by=user, mandant_ids=None)
    db.commit()
    queued = confirm(db, draft.token, user=user, mandant_ids=None)
    db.commit()
    return queued


def _user(db):
    user = db.scalar(select(User).where(User.username == "serie"))
    if user is None:
        user = User(username="serie", display_name="Serie", password_hash="x")
        db.add(user)
        db.commit()
    return user


def test_queue_stores_the_serie_and_its_sms_once_per_token(db, wien, make_user):
    user = make_user("maria")
    numbers = [f"0664 {i:07d}" for i in range(1, 6)]
    first = _queue(db, wien, [*numbers, numbers[0]], user=user)
    assert first.created
    series = first.series
    assert (series.planned, series.duplicates, series.refused) == (5, 1, 0)
    assert series.created_by_name == "Maria"
    sms = db.scalars(select(Message).where(Message.source == MessageSource.SERIES)).all()
    assert len(sms) == 5
    assert {m.source_ref for m in sms} == {str(series.id)}
    assert {m.priority for m in sms} == {PRIORITY_BULK}
    assert all(m.created_at and m.updated_at and m.channel_transients == 0 for m in sms)
    assert {m.status for m in sms} == {MessageStatus.QUEUED}
    assert {m.created_by_id for m in sms} == {user.id}
    assert series.state is SeriesState.QUEUED and series.draft is None
    again = confirm(db, series.token, user=user, mandant_ids=None)
    assert not again.created and again.series.id == series.id
    assert db.scalar(select(func.count()).select_from(Message)) == 5
    assert db.scalar(select(func.count()).select_from(Series)) == 1
    other = make_user("josef")
    with pytest.raises(InputError):  # another user's review
        confirm(db, series.token, user=other, mandant_ids=None)
    flt = MessageFilter(series=series.id)
    assert count_messages(db, flt, mandant_ids=None)[0] == 5
    assert count_messages(db, MessageFilter(series=series.id + 1), mandant_ids=None)[0] == 0


def test_queue_needs_the_sms_service(db, wien):
    set_global(db, 1400, "0", "test")
    db.commit()
    with pytest.raises(ServiceOff):
        _queue(db, wien, ["0664 1234567"])


def test_a_serie_does_not_hold_back_another_mandants_single_sms(db, wien, graz):
    _queue(db, wien, [f"0664 {i:07d}" for i in range(1, 301)])
    from webapp.sms.outbox import queue_sms

    single = queue_sms(
        db,
        recipient="0676 1234567",
        text="Hallo",
        mandant_id=graz.id,
        source=MessageSource.MANUAL,
    )
    db.commit()
    assert single.priority == PRIORITY_DIALOG
    claimed = [c.id for c in claim(db, [], "run-a", utcnow(), 10)]
    assert single.id in claimed[:2]


def test_counts_follow_the_sms_and_rest_abbrechen_cancels_what_waits(db, wien, make_user):
    user = make_user("maria")
    series = _queue(db, wien, [f"0664 {i:07d}" for i in range(1, 11)]).series
    assert counts(db, series.id).total == 10 and counts(db, series.id).waiting == 10
    ids = db.scalars(select(Message.id).where(Message.source_ref == str(series.id))).all()
    claimed = [c.id for c in claim(db, [], "run-a", utcnow(), 3)]  # sending now
    db.execute(update(Message).where(Message.id == ids[5]).values(status=MessageStatus.SENT))
    db.execute(update(Message).where(Message.id == ids[6]).values(status=MessageStatus.DELIVERED))
    db.execute(update(Message).where(Message.id == ids[7]).values(status=MessageStatus.UNKNOWN))
    db.execute(update(Message).where(Message.id == ids[8]).values(status=MessageStatus.FAILED))
    db.commit()
    now = counts(db, series.id)
    assert (now.waiting, now.sent, now.delivered, now.unclear, now.failed) == (6, 1, 1, 1, 1)
    assert cancel_rest(db, series, user) == 3  # ids 3, 4, 9; the three claimed go on
    db.commit()
    after = counts(db, series.id)
    assert (after.waiting, after.cancelled, after.failed, after.total) == (3, 3, 1, 10)
    cancelled = db.get(Message, ids[9])
    assert cancelled.status is MessageStatus.CANCELLED
    assert "Maria" in cancelled.reason and not cancelled.error_notification_due
    assert {db.get(Message, i).status for i in claimed} == {MessageStatus.SENDING}
    assert series.cancelled == 3 and series.cancelled_by == "Maria"
    assert cancel_rest(db, series, user) == 0  # nothing left to cancel


def test_the_text_search_finds_the_sms_of_a_serie_and_of_later_sms(db, wien):
    from webapp.sms.outbox import queue_sms

    series = _queue(db, wien, [f"0664 {i:07d}" for i in range(1, 21)]).series
    later = queue_sms(
        db,
        recipient="0676 1234567",
        text="Heizung kalt",
        mandant_id=wien.id,
        source=MessageSource.MANUAL,
    )
    db.commit()
    assert count_messages(db, MessageFilter(text="Wasser morgen"), mandant_ids=None)[0] == 20
    assert count_messages(db, MessageFilter(text="Heizung"), mandant_ids=None)[0] == 1
    if db.get_bind().dialect.name == "sqlite":  # the index's trigger is back
        triggers = db.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        assert "sms_message_fts_insert" in set(triggers)
    assert series.id and later.id


def test_a_confirmation_refused_queues_nothing_and_keeps_the_draft(db, wien):
    user = _user(db)
    listing = read_list("Nummer\n0664 1234567\n")
    series_input = SeriesInput(wien.id, "Wasser", listing=listing)
    draft = save_review(
        db,
        review(db, series_input, mandant_ids=None),
        series_input,
        created_by=user,
        mandant_ids=None,
    )
    db.commit()
    set_global(db, 1400, "0", "test")
    db.commit()
    with pytest.raises(ServiceOff):
        confirm(db, draft.token, user=user, mandant_ids=None)
    db.rollback()
    assert db.get(Series, draft.id).state is SeriesState.DRAFT  # may be sent later
    assert db.scalar(select(func.count()).select_from(Message)) == 0


def test_a_planned_serie_waits_as_geplant_and_can_be_cancelled(db, wien):
    user = _user(db)
    listing = read_list("Nummer\n0664 1111111\n0664 2222222\n")
    when = utcnow() + timedelta(days=1)
    series_input = SeriesInput(wien.id, "Wasser morgen aus", listing=listing, send_at=when)
    draft = save_review(
        db,
        review(db, series_input, mandant_ids=None),
        series_input,
        created_by=user,
        mandant_ids=None,
    )
    db.commit()
    series = confirm(db, draft.token, user=user, mandant_ids=None).series
    db.commit()
    sms = db.scalars(select(Message).where(Message.source == MessageSource.SERIES)).all()
    assert {m.status for m in sms} == {MessageStatus.PLANNED}
    assert {m.send_at for m in sms} == {when}
    assert counts(db, series.id).planned == 2
    assert claim(db, [], "run-a", utcnow(), 10) == []  # not before its time
    assert cancel_rest(db, series, user) == 2
    db.commit()
    assert counts(db, series.id).cancelled == 2


def test_a_planned_time_that_passed_before_senden_is_refused(db, wien):
    user = _user(db)
    listing = read_list("Nummer\n0664 1111111\n")
    series_input = SeriesInput(
        wien.id, "Hallo", listing=listing, send_at=utcnow() + timedelta(seconds=1)
    )
    draft = save_review(
        db,
        review(db, series_input, mandant_ids=None),
        series_input,
        created_by=user,
        mandant_ids=None,
    )
    db.commit()
    db.execute(
        update(Series).values(
            draft=draft.draft.replace(
                series_input.send_at.isoformat(), (utcnow() - timedelta(minutes=1)).isoformat()
            )
        )
    )
    db.commit()
    with pytest.raises(InputError) as error:
        confirm(db, draft.token, user=user, mandant_ids=None)
    assert "Vergangenheit" in error.value.message


def test_two_concurrent_senden_of_one_review_queue_it_once(app, db, wien):
    import threading

    from sqlalchemy.orm import Session

    user = _user(db)
    listing = read_list("Nummer\n" + "\n".join(f"0664 {i:07d}" for i in range(1, 201)) + "\n")
    series_input = SeriesInput(wien.id, "Wasser morgen aus", listing=listing)
    draft = save_review(
        db,
        review(db, series_input, mandant_ids=None),
        series_input,
        created_by=user,
        mandant_ids=None,
    )
    db.commit()
    token, user_id = draft.token, user.id
    engine = db.get_bind()
    barrier = threading.Barrier(2)
    created: list[bool] = []

    def send() -> None:
        with app.app_context(), Session(engine) as session:
            me = session.get(User, user_id)
            barrier.wait()
            result = confirm(session, token, user=me, mandant_ids=None)
            session.commit()
            created.append(result.created)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(created) == [False, True]
    assert db.scalar(select(func.count()).select_from(Message)) == 200


def test_the_estimate_follows_the_recent_runs_of_service_sms(db, wien):
    from webapp.jobs.registry import service_job
    from webapp.models import JobRun, RunStatus

    listing = read_list("Nummer\n" + "\n".join(f"0664 {i:07d}" for i in range(1, 11)) + "\n")
    series_input = SeriesInput(wien.id, "Hallo", listing=listing)
    assert review(db, series_input, mandant_ids=None).estimated is None  # no runs yet
    job = service_job(db)
    end = utcnow() - timedelta(hours=1)
    for n, (sent, seconds) in enumerate(((100, 50), (20, 10), (0, 30))):
        db.add(
            JobRun(
                job_id=job.id,
                run_key=f"rate-{n}",
                status=RunStatus.SUCCEEDED,
                sent=sent,
                started_at=end - timedelta(seconds=seconds),
                finished_at=end,
            )
        )
    db.commit()
    result = review(db, series_input, mandant_ids=None)
    assert result.rate == pytest.approx(2.0)  # 120 SMS in 60 s; the run without SMS left out
    assert result.estimated == timedelta(seconds=5)

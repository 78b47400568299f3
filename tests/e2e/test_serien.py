"""Serien-SMS in the browser (issue 17): menu, form with filters and an uploaded CSV, the review
(nothing queued), Senden, the Serie's counts following its SMS live, Rest abbrechen, its SMS
in SMS Nachrichten."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import func, select, update

from tests.e2e.support import MANDANT, assert_not_reloaded, follow, mark_page
from webapp.extensions import db
from webapp.models import Mandant, Message, MessageSource, MessageStatus, Person, Series
from webapp.sms.serien import series_messages


def _seed_residents(live_app, street: str) -> None:
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        for i, name in enumerate(("Anna Huber", "Bernd Berger", "Carla Cerny")):
            db.session.add(
                Person(
                    mandant_id=mandant.id,
                    name=name,
                    mobile=f"0664 77{i}{i}{i}{i}{i}",
                    street=f"{street} 12/{i + 1}",
                )
            )
        db.session.commit()
        db.session.remove()


def _series_sms(live_app, series_id: int | None = None) -> list[Message]:
    with live_app.app_context():
        stmt = select(Message).where(
            Message.source == MessageSource.SERIES
            if series_id is None
            else series_messages(series_id)
        )
        found = list(db.session.scalars(stmt.order_by(Message.id)))
        db.session.remove()
        return found


def test_a_serie_from_review_to_rest_abbrechen(page: Page, login, live_app, tmp_path):
    street = f"Teststraße {uuid.uuid4().hex[:6]}"
    _seed_residents(live_app, street)
    before = len(_series_sms(live_app))
    csv = tmp_path / "liste.csv"
    # Windows-1252 with an umlaut, a duplicate of Anna's number and a landline.
    csv.write_bytes(
        "Handynummer;Name\n0664 7700000;Anna doppelt\n0676 5550001;Jörg Müller\n"
        "01 5551234;Festnetz\n".encode("cp1252")
    )
    login("sachbearbeiter")
    menu_entry = page.locator("nav a", has_text="Serien-SMS")
    expect(menu_entry).to_have_attribute("href", "/admin/sms/serien/")
    page.goto("/admin/sms/serien/")
    expect(page.locator("h1")).to_have_text("Serien-SMS")
    follow(page.get_by_role("button", name="Neue Serien-SMS"))
    page.get_by_label("Empfänger aus", exact=True).select_option("personen")
    page.get_by_label("Adresse enthält").fill(street)
    page.get_by_label("oder CSV- oder XLSX-Datei hochladen").set_input_files(str(csv))
    page.get_by_label("SMS-Text").fill("Wasserabsperrung morgen 8-12 Uhr, {mandant.name}")
    follow(page.get_by_role("button", name="Prüfen"))

    review = page.locator("#serie-review-result")
    expect(review.locator("[data-field=recipients]")).to_have_text("4")
    expect(review.locator("[data-field=duplicates]")).to_have_text("1")
    expect(review.locator("[data-field=refused]")).to_have_text("1")
    expect(review.locator("#serie-refused")).to_contain_text("Festnetznummer")
    expect(review.locator("#serie-preview")).to_contain_text(
        f"Wasserabsperrung morgen 8-12 Uhr, {MANDANT}"
    )
    # The uploaded list now stands in the field (a new review keeps it), umlauts intact.
    expect(page.get_by_label("Liste (CSV einfügen)")).to_have_value(
        "Handynummer;Name\n0664 7700000;Anna doppelt\n0676 5550001;Jörg Müller\n"
        "01 5551234;Festnetz\n"
    )
    assert len(_series_sms(live_app)) == before  # nothing queued by the review

    follow(page.get_by_role("button", name="4 SMS senden"))
    expect(page.locator("h1")).to_contain_text("Serien-SMS")
    series_id = int(page.locator("#serie").get_attribute("data-id") or 0)
    sms = _series_sms(live_app, series_id)
    assert len(sms) == 4
    counts = page.locator("#serie-counts")
    expect(counts.locator("[data-count=waiting]")).to_have_text("4")

    # A run delivers one: the counts follow without a reload.
    mark_page(page)
    with live_app.app_context():
        db.session.execute(
            update(Message).where(Message.id == sms[0].id).values(status=MessageStatus.DELIVERED)
        )
        db.session.commit()
        db.session.remove()
    expect(page.locator("#serie-counts [data-count=delivered]")).to_have_text("1")
    expect(page.locator("#serie-counts [data-count=waiting]")).to_have_text("3")
    assert_not_reloaded(page)

    page.once("dialog", lambda dialog: dialog.accept())
    follow(page.get_by_role("button", name="Rest abbrechen"))
    expect(page.locator("#serie-counts [data-count=cancelled]")).to_have_text("3")
    expect(page.locator("#serie-counts [data-count=waiting]")).to_have_text("0")
    with live_app.app_context():
        assert db.session.get(Series, series_id).cancelled == 3
        waiting = db.session.scalar(
            select(func.count()).where(
                series_messages(series_id), Message.status == MessageStatus.QUEUED
            )
        )
        db.session.remove()
    assert waiting == 0

    follow(page.get_by_role("button", name="SMS der Serie anzeigen"))
    expect(page.locator("#messages tbody tr")).to_have_count(4)

"""Actionservice: Job Liste, the job dialog's tabs (Job, Einstellungen, Zeitplan, Errorlog),
secrets at rest, Verbindung testen, Jetzt ausführen with its progress, delete (R30–R35)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import login_as
from webapp import accounts
from webapp.jobs import connection_test
from webapp.jobs.secrets import decrypt_secrets
from webapp.jobs.settings import inbound_email, job_settings, signature
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Job, JobLogEntry, JobRun, LogLevel, Priority, RunStatus, ScheduleKind
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms.transports.modem import ModemSettings
from webapp.sms.transports.websms import WebsmsSettings

HX = {"HX-Request": "true"}
TAB = {**HX, "HX-Target": "job-tab"}
SERVICE_SMS = 1  # the system job of migration 0005


@pytest.fixture
def service(db) -> Job:
    return db.get(Job, SERVICE_SMS)


@pytest.fixture
def secret_key(app) -> str:
    return app.config["SMS_SECRET_KEY"]


def _job_form(**values):
    data = {
        "name": "Service SMS",
        "active": "y",
        "log_level": "warnings",
        "description": "Versendet die SMS.",
        "note": "Betreut von der IT.",
        "valid_from": "",
        "valid_until": "",
        "failure_email": "it@example.at",
    }
    data.update(values)
    return data


def _websms_form(**values):
    data = {
        "variant": "2",
        "modem_url": "",
        "modem_baudrate": "115200",
        "modem_cmgs_timeout": "60",
        "websms_base_url": "https://api.websms.com",
        "websms_auth": "token",
        "websms_access_token": "geheimes-token-123",
        "websms_sender_address": "Hausverw",
        "websms_sender_address_type": "alphanumeric",
        "websms_signature": "Ihre Hausverwaltung",
        "websms_max_sms_per_message": "3",
        "websms_callback_url": "https://sms.example.at/webhooks/websms/abc",
        "websms_inbound_email": "eingang@example.at",
    }
    data.update(values)
    return data


def _schedule_form(**values):
    data = {"kind": "daily", "time_of_day": "07:30", "priority": "high"}
    data.update(values)
    return data


def _errors(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", e).strip()
        for e in re.findall(r'class="field-error"[^>]*>(.*?)</', html, re.S)
    ]


def _details(html: str) -> list[str]:
    """The technical details lines of a page (webapp.technical)."""
    return [
        re.sub(r"\s+", " ", d).strip()
        for d in re.findall(r'<small class="details">Details: (.*?)</small>', html, re.S)
    ]


# --- Job Liste -----------------------------------------------------------------------------------


def test_job_list_shows_the_system_job_and_searches(admin_client, db):
    page = admin_client.get("/admin/jobs/")
    assert page.status_code == 200
    assert "Job Liste" in page.text and "Suchkriterien" in page.text
    assert 'data-name="Service SMS"' in page.text
    assert 'data-open-url="/admin/jobs/1"' in page.text
    assert 'href="/admin/jobs/1" class="open-job"' in page.text

    found = admin_client.get("/admin/jobs/?name=servi", headers={**HX, "HX-Target": "job-results"})
    assert "<html" not in found.text and 'data-name="Service SMS"' in found.text
    assert 'data-name="Service SMS"' not in admin_client.get("/admin/jobs/?name=xyz").text
    assert "Keine Jobs gefunden." in admin_client.get("/admin/jobs/?active=1").text
    assert 'data-name="Service SMS"' in admin_client.get("/admin/jobs/?active=0").text
    assert 'data-name="Service SMS"' in admin_client.get("/admin/jobs/?type=service_sms").text
    assert "Keine Jobs" in admin_client.get("/admin/jobs/?type=other").text
    # A name with LIKE wildcards is taken literally.
    assert "Keine Jobs" in admin_client.get("/admin/jobs/?name=%25_").text


def test_job_pages_need_an_administrator(app, make_user):
    clerk = make_user("clerk", *[p for p in Permission if p is not Permission.ADMINISTRATOR])
    client = login_as(app.test_client(), clerk)
    for url in ("/admin/jobs/", "/admin/jobs/1", "/admin/jobs/1/settings", "/admin/jobs/1/log"):
        assert client.get(url).status_code == 403, url
    assert client.post("/admin/jobs/1/run").status_code == 403
    assert "Job Liste" not in client.get("/", follow_redirects=True).text


def test_unknown_job_is_404(admin_client):
    assert admin_client.get("/admin/jobs/999").status_code == 404
    assert admin_client.get("/admin/jobs/999/schedule/edit").status_code == 404


# --- the dialog: read-only first, tabs with their own URLs -------------------------------------


def test_dialog_opens_read_only_with_four_tabs(admin_client):
    page = admin_client.get("/admin/jobs/1")
    assert page.status_code == 200
    html = page.text
    assert "Job Service SMS" in html
    for url, label in (
        ("/admin/jobs/1", "Job"),
        ("/admin/jobs/1/settings", "Einstellungen"),
        ("/admin/jobs/1/schedule", "Zeitplan"),
        ("/admin/jobs/1/log", "Errorlog"),
    ):
        assert f'hx-get="{url}" hx-target="#job-tab"' in html
        assert f">{label}</a>" in html
    assert 'id="tab-job" aria-current="page"' in html
    assert "<input" not in html.split('id="job-tab-panel"')[1].split('class="button-bar')[0]
    assert ">Bearbeiten</a>" in html and 'href="/admin/jobs/1/edit"' in html
    assert "wird von diesem Job nicht verwendet" in html
    assert "Anzahl Durchführungen" in html and "Letzte Fehlermeldung" in html
    assert "alle Mandanten" in html
    # System job: delete is disabled and says why; inactive: Jetzt ausführen says why.
    assert re.search(r'id="delete-job"\s+disabled', html)
    assert "ist ein System-Job und kann nicht gelöscht werden." in html
    assert re.search(r'id="run-now"\s+disabled', html)
    assert "Der Job ist nicht aktiv." in html


def test_every_tab_loads_alone_for_htmx_and_as_a_page(admin_client):
    for url in (
        "/admin/jobs/1",
        "/admin/jobs/1/settings",
        "/admin/jobs/1/schedule",
        "/admin/jobs/1/log",
    ):
        partial = admin_client.get(url, headers=TAB)
        assert partial.status_code == 200
        assert partial.text.lstrip().startswith('<div id="job-tab"'), url
        assert "<html" not in partial.text
        full = admin_client.get(url)
        assert "<html" in full.text and 'id="job-run-status"' in full.text
    edit = admin_client.get("/admin/jobs/1/settings/edit", headers=TAB)
    assert 'data-mode="edit"' in edit.text and "<html" not in edit.text


# --- tab Job -------------------------------------------------------------------------------------


def test_job_tab_saves_everything_in_local_time(admin_client, db, service):
    wien = accounts.save_mandant(db, "HV Wien")
    graz = accounts.save_mandant(db, "HV Graz")
    db.commit()
    form = admin_client.get("/admin/jobs/1/edit")
    assert 'name="name"' in form.text and 'value="Service SMS"' in form.text
    assert re.search(r'id="dialog_name"[^>]*disabled', form.text)

    data = _job_form(valid_from="2026-01-10T08:00", valid_until="2026-07-01T18:30")
    data["mandanten"] = [str(wien.id), str(graz.id)]
    response = admin_client.post("/admin/jobs/1/edit", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/jobs/1"
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    assert job.active is True
    assert job.log_level == LogLevel.WARNINGS
    assert job.note == "Betreut von der IT."
    assert job.failure_email == "it@example.at"
    # Vienna: +01:00 in January, +02:00 in July.
    assert job.valid_from.replace(tzinfo=UTC) == datetime(2026, 1, 10, 7, 0, tzinfo=UTC)
    assert job.valid_until.replace(tzinfo=UTC) == datetime(2026, 7, 1, 16, 30, tzinfo=UTC)
    assert {m.name for m in job.mandanten} == {"HV Wien", "HV Graz"}
    assert job.updated_by == "admin"
    assert job.system is True and job.job_type == "service_sms"

    view = admin_client.get("/admin/jobs/1").text
    assert "10.01.2026 08:00" in view and "01.07.2026 18:30" in view
    assert "HV Graz, HV Wien" in view
    assert "Fehler und Warnungen" in view
    edit = admin_client.get("/admin/jobs/1/edit").text
    assert 'value="2026-07-01T18:30"' in edit


def test_job_tab_without_mandanten_means_all(admin_client, db, service):
    service.mandanten = [accounts.save_mandant(db, "HV Linz")]
    db.commit()
    assert admin_client.post("/admin/jobs/1/edit", data=_job_form()).status_code == 302
    db.expire_all()
    assert db.get(Job, SERVICE_SMS).mandanten == []


def test_job_tab_errors_stand_next_to_the_fields_and_nothing_is_saved(admin_client, db):
    data = _job_form(
        name="",
        failure_email="keine-adresse",
        valid_from="2026-05-01T10:00",
        valid_until="2026-04-01T10:00",
        note="Meine Notiz bleibt",
        log_level="laut",
    )
    data["mandanten"] = ["999", "kaputt"]
    response = admin_client.post("/admin/jobs/1/edit", data=data)
    assert response.status_code == 422
    errors = _errors(response.text)
    assert "Bitte einen Namen für den Job eingeben." in errors
    assert any("gültige E-Mail-Adresse" in e for e in errors)
    assert "„Gültig bis“ muss nach „Gültig von“ liegen." in errors
    assert "Bitte eine Protokollart aus der Liste wählen." in errors
    assert "Die Auswahl enthält Mandanten, die es nicht mehr gibt." in errors
    assert 'id="failure_email-error"' in response.text
    assert "Meine Notiz bleibt" in response.text  # the form keeps what was typed
    assert 'value="keine-adresse"' in response.text
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    assert job.name == "Service SMS" and job.note == "" and job.active is False


def test_a_time_skipped_by_summer_time_is_refused(admin_client):
    response = admin_client.post(
        "/admin/jobs/1/edit", data=_job_form(valid_from="2026-03-29T02:30")
    )
    assert response.status_code == 422
    assert any("Sommerzeit" in e for e in _errors(response.text))


def test_htmx_save_swaps_the_tab_back_to_read_only(admin_client):
    response = admin_client.post(
        "/admin/jobs/1/edit", data=_job_form(name="SMS-Versand"), headers=TAB
    )
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/admin/jobs/1"
    assert response.text.lstrip().startswith('<div id="job-tab"')
    assert 'data-mode="view"' in response.text
    assert 'id="job-title" hx-swap-oob="true"' in response.text  # the heading follows the name
    assert "Der Job „SMS-Versand“ wurde gespeichert." in response.text
    bad = admin_client.post("/admin/jobs/1/edit", data=_job_form(name=""), headers=TAB)
    assert bad.status_code == 422 and 'data-mode="edit"' in bad.text and "data-dirty" in bad.text


# --- tab Zeitplan --------------------------------------------------------------------------------


def test_schedule_is_saved_with_the_next_run_from_now(admin_client, db):
    response = admin_client.post(
        "/admin/jobs/1/schedule/edit",
        data=_schedule_form(kind="weekly", weekdays=["0", "2"], time_of_day="7:05"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/jobs/1/schedule"
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    assert job.schedule_kind == ScheduleKind.WEEKLY
    assert job.weekdays == "0,2" and job.time_of_day == "07:05"
    assert job.priority == Priority.HIGH
    following = job.next_run_at
    assert utcnow() < following <= utcnow() + timedelta(days=7)
    local = following.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Vienna"))
    assert local.weekday() in (0, 2) and (local.hour, local.minute) == (7, 5)
    view = admin_client.get("/admin/jobs/1/schedule").text
    assert "wöchentlich Mo, Mi um 07:05" in view
    assert len(re.findall(r"<li>(Mo|Mi) \d\d\.\d\d\.\d{4} 07:05</li>", view)) == 5


@pytest.mark.parametrize(("minutes", "said"), [("1", "jede Minute"), ("2", "alle 2 Minuten")])
def test_the_schedule_every_n_minutes_reads_in_good_german(admin_client, minutes, said):
    form = _schedule_form(kind="minutes", interval_minutes=minutes)
    assert admin_client.post("/admin/jobs/1/schedule/edit", data=form).status_code == 302
    view = admin_client.get("/admin/jobs/1/schedule").text
    shown = re.search(r'data-field="schedule">([^<]*)<', view).group(1).strip()
    assert shown == said


def test_schedule_errors_are_clear_and_change_nothing(admin_client, db):
    cases = [
        (_schedule_form(kind="weekly", weekdays=[]), "Bitte mindestens einen Wochentag wählen."),
        (
            _schedule_form(kind="minutes", interval_minutes="0"),
            "Bitte eine Anzahl Minuten zwischen 1 und 10080 eingeben.",
        ),
        (
            _schedule_form(kind="minutes", interval_minutes="zehn"),
            "Bitte eine Anzahl Minuten zwischen 1 und 10080 eingeben.",
        ),
        (
            _schedule_form(kind="daily", time_of_day="25:00"),
            "Bitte eine Uhrzeit wie 08:30 eingeben.",
        ),
        (
            _schedule_form(kind="monthly", day_of_month="32"),
            "Bitte einen Tag zwischen 1 und 31 eingeben.",
        ),
        (
            _schedule_form(kind="cron", cron_expression="jeden Tag"),
            "Der Cron-Ausdruck ist ungültig.",
        ),
        (
            _schedule_form(kind="cron", cron_expression="0 0 * * * *"),
            "Der Cron-Ausdruck ist ungültig.",
        ),
        (
            _schedule_form(kind="once", run_once_at="2020-01-01T10:00"),
            "Dieser Zeitpunkt liegt in der Vergangenheit.",
        ),
        (
            _schedule_form(kind="once", run_once_at=""),
            "Bitte Datum und Uhrzeit der einmaligen Ausführung angeben.",
        ),
        (_schedule_form(kind="sometimes"), "Bitte wählen, wann der Job ausgeführt wird."),
        (_schedule_form(priority="dringend"), "Bitte Normal oder Hoch wählen."),
    ]
    for data, message in cases:
        response = admin_client.post("/admin/jobs/1/schedule/edit", data=data)
        assert response.status_code == 422, data
        assert any(e.startswith(message) for e in _errors(response.text)), (
            data,
            _errors(response.text),
        )
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    assert job.schedule_kind == ScheduleKind.MINUTES and job.interval_minutes == 5
    assert job.next_run_at is None


def test_schedule_preview_follows_the_input(admin_client):
    url = "/admin/jobs/1/schedule/preview"
    daily = admin_client.get(
        url, query_string={"kind": "daily", "time_of_day": "06:45"}, headers=HX
    )
    assert daily.status_code == 200
    assert len(re.findall(r"<li>\w\w \d\d\.\d\d\.\d{4} 06:45</li>", daily.text)) == 5
    every = admin_client.get(url, query_string={"kind": "minutes", "interval_minutes": "15"})
    minutes = re.findall(r"\d\d:(\d\d)</li>", every.text)
    assert len(minutes) == 5 and set(minutes) <= {"00", "15", "30", "45"}
    cron = admin_client.get(url, query_string={"kind": "cron", "cron_expression": "0 12 * * 6"})
    assert len(re.findall(r"<li>Sa \d\d\.\d\d\.\d{4} 12:00</li>", cron.text)) == 5
    bad = admin_client.get(url, query_string={"kind": "weekly", "time_of_day": "08:00"})
    assert bad.status_code == 200 and "Bitte mindestens einen Wochentag wählen." in bad.text
    once = admin_client.get(url, query_string={"kind": "once", "run_once_at": "2020-01-01T10:00"})
    assert "Keine weitere Ausführung." in once.text


def test_schedule_edit_form_shows_the_preview_and_the_details(admin_client):
    page = admin_client.get("/admin/jobs/1/schedule/edit")
    assert page.status_code == 200
    assert 'hx-get="/admin/jobs/1/schedule/preview"' in page.text
    assert 'data-show-if="kind=weekly"' in page.text
    assert len(re.findall(r"<li>\w\w \d\d\.\d\d\.\d{4} \d\d:\d\d</li>", page.text)) == 5
    for label in (
        "einmalig",
        "alle N Minuten",
        "stündlich",
        "täglich",
        "wöchentlich",
        "monatlich",
        "Cron-Ausdruck",
    ):
        assert label in page.text


# --- tab Einstellungen ---------------------------------------------------------------------------


def test_websms_settings_store_secrets_encrypted_and_never_show_them(admin_client, db, secret_key):
    response = admin_client.post("/admin/jobs/1/settings/edit", data=_websms_form())
    assert response.status_code == 302, _errors(response.text)
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    channel = job.channels[0]  # the main form edits channel 1
    for stored_text in (str(job.settings), job.secrets, str(channel.settings), channel.secrets):
        assert "geheimes-token-123" not in stored_text
    stored = decrypt_secrets(job.secrets, secret_key)
    stored_hook = stored.pop("webhook_secret")  # generated with the first Einstellungen
    assert stored_hook and stored == {}
    assert decrypt_secrets(channel.secrets, secret_key) == {
        "websms_access_token": "geheimes-token-123"
    }
    assert job.settings["websms"]["signature"] == "Ihre Hausverwaltung"
    assert channel.settings["stored_secrets"] == ["websms_access_token"]

    view = admin_client.get("/admin/jobs/1/settings").text
    edit = admin_client.get("/admin/jobs/1/settings/edit").text
    for html in (view, edit):
        assert "geheimes-token-123" not in html
    assert "gespeichert" in view and "Ihre Hausverwaltung" in view
    assert 'placeholder="unverändert lassen"' in edit

    # Empty keeps the stored token; a new one replaces it; "entfernen" removes it.
    kept = admin_client.post(
        "/admin/jobs/1/settings/edit", data=_websms_form(websms_access_token="")
    )
    assert kept.status_code == 302
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    assert decrypt_secrets(job.channels[0].secrets, secret_key) == {
        "websms_access_token": "geheimes-token-123"
    }
    assert decrypt_secrets(job.secrets, secret_key) == {"webhook_secret": stored_hook}
    removed = admin_client.post(
        "/admin/jobs/1/settings/edit",
        data=_websms_form(websms_access_token="", websms_access_token_clear="y"),
    )
    assert removed.status_code == 422  # Variante 2 with token login needs one
    assert "Bitte das Zugangstoken eingeben" in removed.text


def test_job_settings_build_the_transport_settings(admin_client, db, secret_key):
    admin_client.post("/admin/jobs/1/settings/edit", data=_websms_form())
    db.expire_all()
    settings = job_settings(db.get(Job, SERVICE_SMS), secret_key)
    assert isinstance(settings, WebsmsSettings)
    assert settings.access_token == "geheimes-token-123"
    assert settings.username is None and settings.password is None
    assert settings.sender_address == "Hausverw"
    assert settings.sender_address_type == "alphanumeric"
    assert settings.max_sms_per_message == 3
    assert settings.signature == "Ihre Hausverwaltung"
    assert settings.notification_callback_url == "https://sms.example.at/webhooks/websms/abc"
    assert settings.test_mode is False
    assert signature(db.get(Job, SERVICE_SMS)) == "Ihre Hausverwaltung"
    assert inbound_email(db.get(Job, SERVICE_SMS)) == "eingang@example.at"

    password_login = _websms_form(
        websms_auth="password",
        websms_username="api@example.at",
        websms_password="pw-42",
        websms_access_token="",
        websms_test_mode="y",
    )
    assert admin_client.post("/admin/jobs/1/settings/edit", data=password_login).status_code == 302
    db.expire_all()
    settings = job_settings(db.get(Job, SERVICE_SMS), secret_key)
    assert (settings.username, settings.password, settings.access_token) == (
        "api@example.at",
        "pw-42",
        None,
    )
    assert settings.test_mode is True


def test_modem_settings_need_an_address_and_build_modem_settings(admin_client, db, secret_key):
    pytest.importorskip("webapp.sms.transports.modem")
    data = _websms_form(variant="1", websms_access_token="", modem_url="")
    missing = admin_client.post("/admin/jobs/1/settings/edit", data=data)
    assert missing.status_code == 422
    assert any("Bitte die Adresse des Modems eingeben" in e for e in _errors(missing.text))
    for bad in ("http://nport:4001", "socket://nport", "irgendwas", "socket://:4001"):
        response = admin_client.post("/admin/jobs/1/settings/edit", data={**data, "modem_url": bad})
        assert response.status_code == 422, bad
    wrong_pin = admin_client.post(
        "/admin/jobs/1/settings/edit",
        data={**data, "modem_url": "socket://nport:4001", "modem_pin": "12"},
    )
    assert "Die SIM-PIN besteht aus 4 bis 8 Ziffern." in _errors(wrong_pin.text)
    good = {
        **data,
        "modem_url": "rfc2217://nport:4001",
        "modem_pin": "4711",
        "modem_baudrate": "9600",
        "modem_cmgs_timeout": "90",
        "modem_receive": "y",
    }
    assert admin_client.post("/admin/jobs/1/settings/edit", data=good).status_code == 302
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    settings = job_settings(job, secret_key)
    assert isinstance(settings, ModemSettings)
    assert (settings.url, settings.baudrate, settings.pin, settings.cmgs_timeout) == (
        "rfc2217://nport:4001",
        9600,
        "4711",
        90.0,
    )
    assert job.channels[0].settings["modem"]["receive"] is True
    assert signature(job) == ""
    view = admin_client.get("/admin/jobs/1/settings").text
    assert "4711" not in view and "1 – GSM-Modem" in view


def test_settings_errors_are_next_to_the_fields_and_keep_the_input(admin_client, db):
    data = _websms_form(
        websms_base_url="ftp://x",
        websms_sender_address="Viel zu langer Absender",
        websms_max_sms_per_message="300",
        websms_inbound_email="nein",
        websms_callback_url="kein url",
        variant="3",
    )
    response = admin_client.post("/admin/jobs/1/settings/edit", data=data)
    assert response.status_code == 422
    errors = _errors(response.text)
    assert any("Variante wählen" in e for e in errors)
    assert any("Absendername hat höchstens 11 Zeichen" in e for e in errors)
    assert "Bitte eine Zahl zwischen 0 (keine Grenze) und 255 eingeben." in errors
    assert any("gültige E-Mail-Adresse" in e for e in errors)
    assert 'value="Viel zu langer Absender"' in response.text
    assert "geheimes-token-123" not in response.text  # a secret is never sent back
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    assert job.secrets == "" and job.settings == {"websms": {}}
    assert job.channels[0].secrets == ""


def _field_error(html: str, name: str) -> str | None:
    found = re.search(rf'id="{name}-error"[^>]*>(.*?)</', html, re.S)
    return re.sub(r"\s+", " ", found.group(1)).strip() if found else None


@pytest.mark.parametrize(
    ("address", "kind", "stored"),
    [
        ("+43 664 123 45 67", "international", "436641234567"),
        ("0043 664 1234567", "international", "436641234567"),
        ("436641234567", "international", "436641234567"),
        ("0664 123 45 67", "national", "06641234567"),
        ("0664/1234567", "", "06641234567"),
        ("+43 664 1234567", "", "436641234567"),
        ("Hausverw ä", "alphanumeric", "Hausverw ä"),
        ("HV-Wien", "", "HV-Wien"),
        ("12345", "shortcode", "12345"),
    ],
)
def test_the_sender_is_stored_as_websms_expects_it(admin_client, db, address, kind, stored):
    data = _websms_form(websms_sender_address=address, websms_sender_address_type=kind)
    response = admin_client.post("/admin/jobs/1/settings/edit", data=data)
    assert response.status_code == 302, _errors(response.text)
    db.expire_all()
    assert db.get(Job, SERVICE_SMS).channels[0].settings["websms"]["sender_address"] == stored


@pytest.mark.parametrize(
    ("address", "kind", "words"),
    [
        ("0664 1234567", "international", "ohne 0 oder + davor"),
        ("+43 664 1234567", "national", "beginnt mit 0"),
        ("0664 12a4567", "national", "beginnt mit 0"),
        ("Hausverwaltung", "alphanumeric", "höchstens 11 Zeichen"),
        ("HV 😀", "alphanumeric", "GSM"),
        ("12", "shortcode", "3 bis 8 Ziffern"),
        ("0664 1234567 1234567", "", "3 bis 15 Ziffern"),
    ],
)
def test_a_sender_websms_would_refuse_is_refused_next_to_the_field(
    admin_client, db, address, kind, words
):
    data = _websms_form(websms_sender_address=address, websms_sender_address_type=kind)
    response = admin_client.post("/admin/jobs/1/settings/edit", data=data)
    assert response.status_code == 422
    message = _field_error(response.text, "websms_sender_address")
    assert message is not None and words in message, message
    db.expire_all()
    assert db.get(Job, SERVICE_SMS).settings == {"websms": {}}


def test_a_sender_stored_before_the_check_is_reported_before_anything_is_sent(db, secret_key):
    # An installation whose Einstellungen took "0664 1234567" as an international sender:
    # Verbindung testen and each run say so instead of getting 4003 from websms.
    job = db.get(Job, SERVICE_SMS)
    save_settings(db, job, SettingsInput(variant="2", websms_access_token="tok"), "t", secret_key)
    channel = job.channels[0]
    settings = dict(channel.settings)
    settings["websms"] = {
        **settings["websms"],
        "sender_address": "06641234567",
        "sender_address_type": "international",
    }
    channel.settings = settings
    db.commit()
    ok, answer = connection_test.test_connection(job, secret_key)
    assert not ok
    assert "Absender" in answer and "ohne 0 oder + davor" in answer


def test_unreadable_secrets_fail_the_transport_with_a_reason(admin_client, db):
    from webapp.sms.transports.base import TransportUnavailable

    admin_client.post("/admin/jobs/1/settings/edit", data=_websms_form())
    db.expire_all()
    job = db.get(Job, SERVICE_SMS)
    with pytest.raises(TransportUnavailable) as problem:
        job_settings(job, "ein ganz anderer Schlüssel")
    assert "SMS_SECRET_KEY" in problem.value.reason
    assert connection_test.test_connection(job, "ein ganz anderer Schlüssel")[0] is False


# --- Verbindung testen ---------------------------------------------------------------------------


def test_connection_test_without_credentials_says_what_is_missing(admin_client):
    response = admin_client.post("/admin/jobs/1/settings/test", headers=HX)
    assert response.status_code == 200
    assert 'data-ok="false"' in response.text
    assert "Weder ein Zugangstoken noch API-Benutzer und Passwort" in response.text


def test_connection_test_against_websms_uses_the_test_flag(admin_client, db):
    sandbox_module = pytest.importorskip("webapp.simulators.websms")
    with sandbox_module.WebsmsSandbox(token="richtiges-token") as sandbox:
        form = _websms_form(
            websms_base_url=sandbox.url,
            websms_access_token="richtiges-token",
            websms_sender_address="",
            websms_sender_address_type="",
        )
        assert admin_client.post("/admin/jobs/1/settings/edit", data=form).status_code == 302
        ok = admin_client.post("/admin/jobs/1/settings/test", headers=HX)
        assert 'data-ok="true"' in ok.text, ok.text
        assert "Im Testmodus wurde keine SMS versendet." in ok.text
        assert ok.text.count("Verbindung in Ordnung") == 1  # the heading, not again in the text
        assert [a.test for a in sandbox.accepted] == [True]

        wrong = _websms_form(websms_base_url=sandbox.url, websms_access_token="falsches-token")
        admin_client.post("/admin/jobs/1/settings/edit", data=wrong)
        refused = admin_client.post("/admin/jobs/1/settings/test", headers=HX)
        assert 'data-ok="false"' in refused.text and "401" in refused.text
        assert "websms lehnt die Anmeldung ab" in refused.text

    # Without htmx the answer comes as a flash message on the Einstellungen tab.
    plain = admin_client.post("/admin/jobs/1/settings/test")
    assert plain.status_code == 302 and plain.headers["Location"] == "/admin/jobs/1/settings"


def test_connection_test_against_the_modem(admin_client, db):
    simulator_module = pytest.importorskip("webapp.simulators.modem")
    with simulator_module.ModemSimulator() as modem:
        form = _websms_form(variant="1", modem_url=modem.url, websms_access_token="")
        assert admin_client.post("/admin/jobs/1/settings/edit", data=form).status_code == 302
        ok = admin_client.post("/admin/jobs/1/settings/test", headers=HX)
        assert 'data-ok="true"' in ok.text, ok.text
        assert "im Heimnetz angemeldet" in ok.text and "dBm" in ok.text
        assert ok.text.count("Verbindung in Ordnung") == 1
        modem.registration = 3
        denied = admin_client.post("/admin/jobs/1/settings/test", headers=HX)
        assert 'data-ok="false"' in denied.text and "abgelehnt" in denied.text
        url = modem.url
    gone = admin_client.post("/admin/jobs/1/settings/test", headers=HX)
    assert 'data-ok="false"' in gone.text and url in gone.text
    # A German sentence; what the operating system said only in the details line.
    sentence = gone.text.split('<small class="details">')[0]
    assert "Die Gegenstelle lehnt die Verbindung ab" in sentence and "Errno" not in sentence
    assert _details(gone.text) == ["[Errno 111] Connection refused"]
    plain = admin_client.post("/admin/jobs/1/settings/test", follow_redirects=True).text
    assert "Verbindung fehlgeschlagen: Modem nicht erreichbar" in plain
    assert _details(plain) == ["[Errno 111] Connection refused"]


def test_a_run_that_cannot_reach_the_modem_says_so_in_german(admin_client, app, db):
    """Issue 12 point 10: Errorlog, run result and Letzte Fehlermeldung say in German what is
    wrong; "[Errno 111] Connection refused" only in their details line."""
    from webapp.jobs.runner import execute_job
    from webapp.models import MessageSource
    from webapp.sms.outbox import queue_sms
    from webapp.sms.settings import set_global

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    form = _websms_form(variant="1", modem_url=f"socket://127.0.0.1:{port}")
    assert admin_client.post("/admin/jobs/1/settings/edit", data=form).status_code == 302
    set_global(db, 1400, "1", "test")
    mandant = accounts.save_mandant(db, "HV Wien")
    db.get(Job, SERVICE_SMS).active = True
    db.commit()
    queue_sms(
        db, recipient="0664 1234567", text="x", mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    assert execute_job(app, SERVICE_SMS).status is RunStatus.FAILED
    sentence = "Die Gegenstelle lehnt die Verbindung ab"
    pages = {
        "Errorlog": admin_client.get("/admin/jobs/1/log").text,
        "Lauf": admin_client.get("/admin/jobs/1/progress?since=0", headers=HX).text,
        "Letzte Fehlermeldung": admin_client.get("/admin/jobs/1").text,
        "SMS": admin_client.get("/admin/sms/").text,
    }
    for name, page in pages.items():
        assert sentence in page, name
        assert _details(page)[:1] in (
            ["[Errno 111] Connection refused"],
            ["[Errno 111] Connection refused · link"],
        ), name
        assert "Errno" not in re.sub(r'<small class="details">.*?</small>', "", page, flags=re.S)


# --- Jetzt ausführen and the progress ------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    calls: list[int] = []

    def request_run(job, app=None):
        calls.append(job.id)
        return True

    monkeypatch.setattr("webapp.jobs.runner.request_run", request_run)
    return calls


def _activate(db) -> Job:
    job = db.get(Job, SERVICE_SMS)
    job.active = True
    db.commit()
    return job


def test_run_now_refuses_an_inactive_job(admin_client, queued):
    response = admin_client.post("/admin/jobs/1/run", headers=HX)
    assert response.status_code == 200
    assert "Der Job ist nicht aktiv." in response.text
    assert queued == []


def test_run_now_queues_and_the_dialog_polls_until_the_run_is_done(admin_client, db, queued):
    _activate(db)
    response = admin_client.post("/admin/jobs/1/run", headers=HX)
    assert queued == [SERVICE_SMS]
    assert 'data-state="pending"' in response.text
    assert "Der Lauf wurde angefordert." in response.text
    poll_url = re.search(r'hx-get="([^"]+)" hx-trigger="every 2s"', response.text).group(1)
    poll_url = poll_url.replace("&amp;", "&")
    assert "<progress" in response.text

    run = JobRun(job_id=SERVICE_SMS, run_key="k1", total=40, sent=10, failed=2, retried=3)
    db.add(run)
    db.commit()
    running = admin_client.get(poll_url, headers=HX)
    assert 'data-state="running"' in running.text
    assert '<progress value="15" max="40"' in running.text
    assert 'data-count="remaining">25<' in running.text
    assert "every 2s" in running.text

    run.status, run.sent, run.finished_at = RunStatus.SUCCEEDED, 35, utcnow()
    db.commit()
    done = admin_client.get(poll_url, headers=HX)
    assert 'data-state="finished"' in done.text
    assert "every 2s" not in done.text  # polling stops
    assert "35 versendet, 2 Fehler, 3 später erneut." in done.text
    assert done.headers["HX-Trigger"] == "job-run-finished"


def test_a_running_run_shows_its_progress_when_the_dialog_opens(admin_client, db):
    db.add(JobRun(job_id=SERVICE_SMS, run_key="k2", total=0))
    db.commit()
    page = admin_client.get("/admin/jobs/1").text
    assert 'data-state="running"' in page and 'hx-trigger="every 2s"' in page
    assert "Der Job läuft gerade." in page


def test_a_run_nobody_picks_up_is_reported(admin_client, db):
    long_ago = (utcnow() - timedelta(minutes=10)).timestamp()
    response = admin_client.get(f"/admin/jobs/1/progress?since=0&requested={long_ago:.0f}")
    assert 'data-state="not_picked"' in response.text
    assert "kein Worker hat ihn übernommen" in response.text


def test_run_now_without_a_queue_says_so(admin_client, db, monkeypatch):
    _activate(db)

    def broken(job, app=None):
        raise ConnectionError("redis down")

    monkeypatch.setattr("webapp.jobs.runner.request_run", broken)
    response = admin_client.post("/admin/jobs/1/run", headers=HX)
    assert response.status_code == 200
    assert "Warteschlange (Redis) ist nicht erreichbar" in response.text


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_run_now_after_a_killed_run_starts_at_once_and_says_what_happened(admin_client, db, queued):
    _activate(db)
    killed = JobRun(
        job_id=SERVICE_SMS,
        run_key="killed",
        host=socket.gethostname(),
        pid=_dead_pid(),
        heartbeat_at=utcnow(),  # it beat a second ago, then its process was killed
    )
    db.add(killed)
    db.commit()
    page = admin_client.get("/admin/jobs/1").text
    assert 'data-state="stale"' in page and "läuft nicht mehr" in page
    assert "Der Job läuft gerade." not in page  # "Jetzt ausführen" is not refused
    response = admin_client.post("/admin/jobs/1/run", headers=HX)
    assert queued == [SERVICE_SMS]
    assert f"Der vorige Lauf {killed.id}" in response.text
    assert "nicht versuchte SMS gehen zurück in die Warteschlange" in response.text

    # The new run ends the dead one on its start and says what became of its SMS.
    killed.status, killed.finished_at = RunStatus.FAILED, utcnow()
    killed.error = (
        "Lauf abgebrochen: der Prozess wurde beendet (Absturz, Neustart oder Zeitlimit). "
        "3 nicht versuchte SMS gehen zurück in die Warteschlange, 1 SMS haben ein unklares "
        "Ergebnis."
    )
    db.add(JobRun(job_id=SERVICE_SMS, run_key="next", total=5, started_at=utcnow()))
    db.commit()
    running = admin_client.get(f"/admin/jobs/1/progress?since={killed.id}", headers=HX).text
    assert 'data-state="running"' in running
    assert f"Vorheriger Lauf {killed.id}:" in running and "1 SMS haben ein unklares" in running


def test_a_stopped_run_is_shown_as_stopped(admin_client, db):
    run = JobRun(
        job_id=SERVICE_SMS,
        run_key="stopped",
        status=RunStatus.STOPPED,
        sent=4,
        finished_at=utcnow(),
        error="Lauf angehalten (Stopp-Signal, z. B. Neustart des Workers).",
    )
    db.add(run)
    db.commit()
    finished = admin_client.get("/admin/jobs/1/progress?since=0", headers=HX).text
    assert f"Lauf {run.id} angehalten" in finished and "4 versendet" in finished
    assert "angehalten –" in admin_client.get("/admin/jobs/1").text


def test_the_job_statistics_follow_a_run(admin_client, db):
    job = db.get(Job, SERVICE_SMS)
    job.active = True
    db.commit()
    tab = admin_client.get("/admin/jobs/1").text
    assert re.search(
        r'<dl class="record-fields facts" id="job-statistics" hx-get="/admin/jobs/1/'
        r'statistics\?mode=view"\s+hx-trigger="job-run-progress from:body"',
        tab,
    )
    edit = admin_client.get("/admin/jobs/1/edit", headers={**HX, "HX-Target": "job-tab"}).text
    assert "job-run-progress from:body, job-run-finished from:body" in edit
    assert 'id="job-run-announce"' not in edit

    run = JobRun(job_id=SERVICE_SMS, run_key="live-1", total=500, sent=120, failed=3, retried=7)
    db.add(run)
    db.commit()
    running = admin_client.get("/admin/jobs/1/progress?since=0", headers=HX)
    assert running.headers["HX-Trigger"] == "job-run-progress"
    assert 'data-count="sent">120<' in running.text
    assert 'data-count="failed">3<' in running.text
    assert 'data-count="retried">7<' in running.text
    assert 'data-count="remaining">370<' in running.text and "von 500" in running.text
    run.sent = 300  # the send job updates its counters every second or so
    db.commit()
    assert (
        'data-count="sent">300<'
        in admin_client.get("/admin/jobs/1/progress?since=0", headers=HX).text
    )

    run.status, run.sent, run.finished_at = RunStatus.SUCCEEDED, 490, utcnow()
    job.run_count, job.last_run_at, job.last_error = job.run_count + 1, run.started_at, "Timeout"
    db.commit()
    done = admin_client.get("/admin/jobs/1/progress?since=0", headers=HX)
    assert done.headers["HX-Trigger"] == "job-run-finished"
    assert 'id="job-run-announce" hx-swap-oob="innerHTML"' in done.text
    assert f"Lauf {run.id} beendet: 490 versendet, 3 Fehler, 7 später erneut." in done.text

    stats = admin_client.get("/admin/jobs/1/statistics?mode=edit", headers=HX).text
    assert stats.lstrip().startswith('<dl class="record-fields facts" id="job-statistics"')
    assert f'data-field="run_count">{job.run_count}<' in stats and "Timeout" in stats
    assert "job-run-finished from:body" in stats  # stays in edit mode
    assert "<form" not in stats and "<input" not in stats


# --- Errorlog ------------------------------------------------------------------------------------


def test_errorlog_filters_and_pages(admin_client, db):
    run = JobRun(job_id=SERVICE_SMS, run_key="log-run", status=RunStatus.FAILED)
    db.add(run)
    db.flush()
    old = utcnow() - timedelta(days=3)
    db.add(
        JobLogEntry(
            job_id=SERVICE_SMS, level="error", message="Modem nicht erreichbar", created_at=old
        )
    )
    db.add(
        JobLogEntry(job_id=SERVICE_SMS, run_id=run.id, level="warning", message="SMS 7: Festnetz")
    )
    for n in range(55):
        db.add(JobLogEntry(job_id=SERVICE_SMS, run_id=run.id, level="info", message=f"Info {n}"))
    db.commit()

    page = admin_client.get("/admin/jobs/1/log")
    assert page.status_code == 200
    assert "57 Einträge" in page.text
    assert "Protokollart dieses Jobs: Nur Fehler" in page.text
    assert page.text.count("<tr data-id=") == 50
    older = re.search(r'href="(/admin/jobs/1/log\?before=\d+)"', page.text).group(1)
    assert admin_client.get(older).text.count("<tr data-id=") == 7

    def rows(**query):
        response = admin_client.get(
            "/admin/jobs/1/log", query_string=query, headers={**HX, "HX-Target": "job-log-results"}
        )
        assert "<html" not in response.text
        return re.findall(r"<td class=\"pre\">(.*?)</td>", response.text)

    assert rows(level="error") == ["Modem nicht erreichbar"]
    assert rows(level="warning", run=str(run.id)) == ["SMS 7: Festnetz"]
    assert rows(text="festnetz") == ["SMS 7: Festnetz"]
    assert rows(text="%") == []
    today = utcnow().date().isoformat()
    assert "Modem nicht erreichbar" not in rows(**{"from": today})
    assert rows(to=(utcnow() - timedelta(days=2)).date().isoformat()) == ["Modem nicht erreichbar"]
    bad = admin_client.get("/admin/jobs/1/log?from=gestern&run=abc")
    assert bad.status_code == 200 and "Bitte ein gültiges Datum eingeben" in bad.text


# --- delete --------------------------------------------------------------------------------------


def test_the_system_job_cannot_be_deleted(admin_client, db):
    response = admin_client.post("/admin/jobs/1/delete")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/jobs/1"
    page = admin_client.get("/admin/jobs/1").text
    assert "Der Job „Service SMS“ ist ein System-Job und kann nicht gelöscht werden." in page
    assert db.get(Job, SERVICE_SMS) is not None


def test_another_job_can_be_deleted(admin_client, db):
    job = Job(job_type="service_sms", name="Testjob", created_by="test")
    db.add(job)
    db.commit()
    page = admin_client.get(f"/admin/jobs/{job.id}").text
    assert not re.search(r'id="delete-job"\s+disabled', page)
    response = admin_client.post(f"/admin/jobs/{job.id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/jobs/"
    assert db.scalar(select(Job).where(Job.name == "Testjob")) is None
    assert "Der Job „Testjob“ wurde gelöscht." in admin_client.get("/admin/jobs/").text


def test_the_dialog_speaks_english_after_switching(admin_client):
    admin_client.post("/sprache/en")
    page = admin_client.get("/admin/jobs/1").text
    for text in ("Run now", "Edit", "Settings", "Schedule", "Error log", "Number of runs"):
        assert text in page, text
    schedule = admin_client.get("/admin/jobs/1/schedule/edit").text
    assert "every N minutes" in schedule and "Monday" in schedule

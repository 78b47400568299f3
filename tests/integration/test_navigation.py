"""The menu shows exactly the entries whose views the user may open."""

from __future__ import annotations

import re

from tests.conftest import login_as
from webapp.permissions import Permission
from webapp.sms.settings import set_global


def _menu(client) -> set[str]:
    page = client.get("/", follow_redirects=True).text
    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    return set(re.findall(r"<a href=\"[^\"]*\"[^>]*>([^<]+)</a>", header)) - {"SMS-Modul"}


# Personen, Firmen, Aufträge and Tickets are open to every user (within their Mandanten), and
# so is Meine SMS: every user may queue SMS (Auftrag versenden, a new Ticket) and sees their own.
EVERYONE = {"Meine SMS", "Personen", "Firmen", "Aufträge", "Tickets"}


def test_administrator_sees_all_built_dialogs(app, db, admin_client):
    set_global(db, 1400, "1", "test")
    db.commit()
    assert _menu(admin_client) == EVERYONE | {
        "SMS senden",
        "SMS Nachrichten",
        "Serien-SMS",
        "Empfangene SMS",
        "Smstexte",
        "Job Liste",
        "Globale Variablen",
        "Konfigurationstabellen",
        "Benutzer",
        "Rollen",
        "Mandanten",
        "API-Zugänge",
    }


def test_prefix_editor_sees_only_the_configuration_tables(app, client, make_user):
    login_as(client, make_user("vorwahlen", Permission.MOBILE_PREFIXES))
    assert _menu(client) == EVERYONE | {"Konfigurationstabellen"}


def test_sender_sees_sms_senden_only_while_the_service_is_on(app, db, client, make_user):
    login_as(client, make_user("sender", Permission.SMS_SEND))
    set_global(db, 1400, "0", "test")
    db.commit()
    assert _menu(client) == EVERYONE
    set_global(db, 1400, "1", "test")
    db.commit()
    assert _menu(client) == EVERYONE | {"SMS senden"}


def test_user_without_permissions_sees_only_the_records(app, client, make_user):
    login_as(client, make_user("neu"))
    assert _menu(client) == EVERYONE


def test_sms_nachrichten_and_smstexte_follow_their_permissions(app, client, make_user):
    login_as(client, make_user("texte", Permission.SMS_TEXTS, Permission.SMS_MESSAGES))
    assert _menu(client) == EVERYONE | {
        "SMS Nachrichten",
        "Serien-SMS",
        "Empfangene SMS",
        "Smstexte",
    }

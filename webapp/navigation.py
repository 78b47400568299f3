"""The navigation bar: entries filtered by the access rules of the views they link to."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import url_for
from flask_babel import lazy_gettext as _l

from webapp.permissions import may_access


@dataclass(frozen=True)
class MenuEntry:
    label: str
    endpoint: str | None = None
    children: tuple[MenuEntry, ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        return url_for(self.endpoint) if self.endpoint else "#"


# Endpoints of dialogs that later issues add are listed already: an entry shows up as soon as
# its view exists and the user may open it.
MENU: tuple[MenuEntry, ...] = (
    MenuEntry(_l("SMS senden"), "quicksend.send"),
    MenuEntry(_l("Meine SMS"), "my_messages.index"),
    MenuEntry(_l("Personen"), "contacts.persons"),
    MenuEntry(_l("Firmen"), "contacts.companies"),
    MenuEntry(_l("Aufträge"), "orders.index"),
    MenuEntry(_l("Tickets"), "tickets.index"),
    MenuEntry(
        _l("Administration"),
        children=(
            MenuEntry(_l("SMS Nachrichten"), "messages.index"),
            MenuEntry(_l("Serien-SMS"), "serien.index"),
            MenuEntry(_l("Empfangene SMS"), "inbox.index"),
            MenuEntry(_l("Smstexte"), "texts.index"),
            MenuEntry(_l("Job Liste"), "jobs.index"),
            MenuEntry(_l("Globale Variablen"), "globals.index"),
            MenuEntry(_l("Konfigurationstabellen"), "config_tables.index"),
            MenuEntry(_l("Benutzer"), "admin_users.users"),
            MenuEntry(_l("Rollen"), "admin_users.roles"),
            MenuEntry(_l("Mandanten"), "admin_users.mandanten"),
            MenuEntry(_l("API-Zugänge"), "admin_api_tokens.index"),
        ),
    ),
)


def service_notice() -> str | None:
    """Why the SMS service is off (global 1400 = 0), for the users whose dialogs send SMS
    (SMS Nachrichten, SMS senden) and administrators; None when it is on or not theirs."""
    from flask import g
    from flask_login import current_user

    from webapp.extensions import db
    from webapp.permissions import Permission, user_can
    from webapp.sms.settings import sms_service_refusal

    if not current_user.is_authenticated:
        return None
    if "sms_service_notice" not in g:
        concerned = any(
            user_can(current_user, p) for p in (Permission.SMS_MESSAGES, Permission.SMS_SEND)
        )
        g.sms_service_notice = sms_service_refusal(db.session()) if concerned else None
    return g.sms_service_notice


def build_menu() -> list[MenuEntry]:
    """The menu as the current user may see it (empty groups are dropped)."""
    visible: list[MenuEntry] = []
    for entry in MENU:
        if entry.children:
            children = tuple(c for c in entry.children if c.endpoint and may_access(c.endpoint))
            if children:
                visible.append(MenuEntry(entry.label, None, children))
        elif entry.endpoint and may_access(entry.endpoint):
            visible.append(entry)
    return visible


def local_url(target: str | None, default: str) -> str:
    """`target` if it is a path on this site, else `default`: never redirect or link elsewhere.

    Guards every URL taken from a request (`next` after login, `back` of the SMS dialog).
    """
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return default

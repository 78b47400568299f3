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
    MenuEntry(_l("Personen"), "contacts.persons"),
    MenuEntry(_l("Firmen"), "contacts.companies"),
    MenuEntry(_l("Aufträge"), "orders.index"),
    MenuEntry(_l("Tickets"), "tickets.index"),
    MenuEntry(
        _l("Administration"),
        children=(
            MenuEntry(_l("SMS Nachrichten"), "messages.index"),
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

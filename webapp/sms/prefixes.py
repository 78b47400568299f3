"""Konfigurationstabelle 93001 SMS_HANDYVORWAHLEN: the valid mobile prefixes (SPEC R5, R70).

A prefix is stored as digits: country calling code + mobile prefix without the trunk zero
(43664 = +43 664 = 0664 in Austria). A number is sendable when its E.164 digits start with an
active prefix.
"""

from __future__ import annotations

import re

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.models import MobilePrefix

TABLE_NUMBER = 93001
TABLE_NAME = "SMS_HANDYVORWAHLEN"
MAX_PREFIX_DIGITS = 12
MAX_DESCRIPTION = 120


def country_code_of(digits: str) -> int | None:
    """The calling code a digit string starts with (calling codes are prefix-free)."""
    for length in (1, 2, 3):
        code = int(digits[:length]) if len(digits) >= length else None
        if code is not None and code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return None


def clean_prefix(raw: str) -> str:
    """Normalise an entered prefix ("+43 664", "0043 664", "43664") to digits, or raise."""
    text = re.sub(r"[\s/\-().]", "", raw or "")
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if text == "":
        raise InputError(_("Bitte eine Vorwahl eingeben, z. B. 43664 für +43 664."), "prefix")
    if not re.fullmatch(r"[0-9]+", text):  # ASCII: str.isdigit() also takes "²"
        raise InputError(
            _(
                "Die Vorwahl darf nur Ziffern enthalten "
                "(Ländervorwahl + Handyvorwahl, z. B. 43664)."
            ),
            "prefix",
        )
    if text.startswith("0"):
        raise InputError(
            _(
                "Bitte die Vorwahl mit Ländervorwahl und ohne führende 0 eingeben: "
                "0664 in Österreich ist 43664."
            ),
            "prefix",
        )
    if len(text) > MAX_PREFIX_DIGITS:
        raise InputError(
            _("Die Vorwahl darf höchstens %(n)d Ziffern haben.", n=MAX_PREFIX_DIGITS), "prefix"
        )
    code = country_code_of(text)
    if code is None:
        raise InputError(
            _("%(p)s beginnt mit keiner gültigen Ländervorwahl (z. B. 43, 49).", p=text), "prefix"
        )
    if len(text) <= len(str(code)):
        raise InputError(
            _("Nach der Ländervorwahl +%(c)d fehlt die Handyvorwahl (z. B. %(c)d664).", c=code),
            "prefix",
        )
    return text


def format_prefix(digits: str) -> str:
    """43664 → "+43 664" for display."""
    code = country_code_of(digits)
    if code is None:
        return digits
    return f"+{code} {digits[len(str(code)) :]}"


def _clean_description(raw: str) -> str:
    description = (raw or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InputError(
            _("Die Beschreibung darf höchstens %(n)d Zeichen lang sein.", n=MAX_DESCRIPTION),
            "description",
        )
    return description


def _ensure_unique(session: Session, digits: str, own_id: int | None) -> None:
    existing = session.scalar(select(MobilePrefix).where(MobilePrefix.prefix == digits))
    if existing is not None and existing.id != own_id:
        raise InputError(
            _("Die Vorwahl %(p)s ist bereits eingetragen.", p=format_prefix(digits)), "prefix"
        )


def list_prefixes(session: Session) -> list[MobilePrefix]:
    return list(session.scalars(select(MobilePrefix).order_by(MobilePrefix.prefix)))


def add_prefix(session: Session, raw_prefix: str, description: str = "") -> MobilePrefix:
    """Add a prefix to table 93001; raises InputError with a German message when invalid."""
    digits = clean_prefix(raw_prefix)
    description = _clean_description(description)
    _ensure_unique(session, digits, None)
    entry = MobilePrefix(prefix=digits, description=description, active=True)
    session.add(entry)
    session.flush()
    return entry


def update_prefix(
    session: Session, entry: MobilePrefix, raw_prefix: str, description: str, active: bool
) -> MobilePrefix:
    """Change a prefix entry; on invalid input nothing of it changes."""
    digits = clean_prefix(raw_prefix)
    description = _clean_description(description)
    _ensure_unique(session, digits, entry.id)
    entry.prefix, entry.description, entry.active = digits, description, active
    session.flush()
    return entry


def delete_prefix(session: Session, entry: MobilePrefix) -> None:
    session.delete(entry)
    session.flush()


def active_prefixes(session: Session) -> list[str]:
    return list(session.scalars(select(MobilePrefix.prefix).where(MobilePrefix.active.is_(True))))


def is_allowed_prefix(session: Session, e164: str) -> bool:
    """Whether an E.164 number ("+43664…") starts with an active prefix of table 93001."""
    digits = e164.lstrip("+")
    return any(digits.startswith(prefix) for prefix in active_prefixes(session))

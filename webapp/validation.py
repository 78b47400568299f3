"""Field rules shared by every dialog (one e-mail check for users, globals, contacts …)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from webapp.errors import InputError

MAX_EMAIL = 254  # RFC 5321 path limit


def clean_email(raw: str | None, field: str = "email") -> str:
    """A normalised e-mail address, '' for empty input; InputError that says what to enter."""
    text = (raw or "").strip()
    if not text:
        return ""
    if len(text) > MAX_EMAIL:
        raise InputError(
            _("Die E-Mail-Adresse darf höchstens %(n)d Zeichen lang sein.", n=MAX_EMAIL), field
        )
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InputError(
            _("Bitte eine gültige E-Mail-Adresse eingeben (z. B. name@firma.at)."), field
        ) from None

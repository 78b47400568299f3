"""Field rules shared by every dialog (one e-mail check for users, globals, contacts …)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from webapp.errors import InputError

MAX_EMAIL = 254  # RFC 5321 path limit


def one_line(raw: str | None, limit: int | None = None) -> str:
    """`raw` as one line of printable text: control characters (CR, LF, NUL, …) become blanks,
    runs of blanks one; cut to `limit`. For every value that goes into a mail header or names a
    sender: a line break there would start a header of its own."""
    text = "".join(ch if ch.isprintable() else " " for ch in (raw or ""))
    text = " ".join(text.split())
    return text[:limit] if limit is not None else text


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

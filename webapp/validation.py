"""Field rules shared by every dialog (one e-mail check for users, globals, contacts …)."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from webapp.errors import InputError

MAX_EMAIL = 254  # RFC 5321 path limit
# Ids are 64-bit signed in both databases: a larger number would overflow the driver.
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() would also take "١٢"
# C0 control characters but tab, line feed and carriage return (PostgreSQL refuses NUL in text),
# and lone UTF-16 surrogates (a JSON "\ud800"), which no database can store as UTF-8.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def parse_id(raw: str | int | None, minimum: int = 1) -> int:
    """A record id from a request (1 … 2**63-1, ASCII digits); ValueError for anything else.
    Works as werkzeug's `type=` (`request.args.get("before", type=parse_id)` gives None then).
    `minimum=0` where 0 means "none yet" (the newest run id of a job without runs)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        text = (raw or "").strip() if isinstance(raw, str) else ""
        if not _ID.fullmatch(text):
            raise ValueError(f"not an id: {raw!r}")
        value = int(text)
    if not minimum <= value <= MAX_ID:
        raise ValueError(f"id out of range: {raw!r}")
    return value


def optional_id(raw: str | int | None) -> int | None:
    """`parse_id`, but None for an empty or bad value ("nothing chosen", never a crash)."""
    try:
        return parse_id(raw)
    except ValueError:
        return None


def clean_text(raw: str) -> str:
    """`raw` without control characters other than tab and line breaks (NUL, ESC, …) and without
    lone surrogates: what
    every request value goes through (webapp.request_input), so no form, filter or API field
    ever hands the database a NUL byte."""
    return _CONTROL.sub("", raw)


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


def text_field(
    raw: str | None,
    field: str,
    limit: int,
    *,
    label: str | None = None,
    single_line: bool = False,
    required_message: str = "",
) -> str:
    """A text a form sends, trimmed: required when `required_message` is given, at most `limit`
    characters, without line breaks and control characters when `single_line`. `label` names
    the field in the messages ("Der Name darf höchstens 160 Zeichen lang sein (jetzt 161).");
    without it the message is "Bitte höchstens 160 Zeichen eingeben." InputError at `field`."""
    text = (raw or "").strip()
    if required_message and not text:
        raise InputError(required_message, field)
    if single_line and any(unicodedata.category(c) == "Cc" for c in text):
        raise InputError(
            _("%(label)s darf keine Zeilenumbrüche oder Steuerzeichen enthalten.", label=label),
            field,
        )
    if len(text) > limit:
        if label is None:
            raise InputError(_("Bitte höchstens %(n)d Zeichen eingeben.", n=limit), field)
        raise InputError(
            _(
                "%(label)s darf höchstens %(n)d Zeichen lang sein (jetzt %(len)d).",
                label=label,
                n=limit,
                len=len(text),
            ),
            field,
        )
    return text

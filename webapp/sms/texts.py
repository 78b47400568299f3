"""Smstexte (permission 150037, SPEC R51): the SMS text templates with placeholders.

`save_text` validates and stores a template, `delete_text` removes one, `list_texts` searches
them and `preview_text` renders a body with the example values and counts it as SMS.
Callable with any SQLAlchemy session (no Flask request).
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.models import SmsText
from webapp.sms import placeholders
from webapp.sms.encoding import SegmentInfo, analyze
from webapp.sms.outbox import DEFAULT_MAX_SEGMENTS

NAME_MAX = 120


def _normalise_body(body: str | None) -> str:
    return (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _name_taken(session: Session, name: str, own_id: int | None) -> bool:
    # Compared in Python: casefold() knows umlauts, SQLite's lower() does not. The table holds
    # a few dozen templates.
    wanted = name.casefold()
    return any(
        other_id != own_id and other_name.casefold() == wanted
        for other_id, other_name in session.execute(select(SmsText.id, SmsText.name))
    )


def check_body(
    body: str, usage_key: str = "", max_segments: int = DEFAULT_MAX_SEGMENTS
) -> SegmentInfo:
    """Validate a template body for `usage_key`; the segments of its example rendering.

    Raises InputError (field "body") when the body is empty, has a stray brace, uses
    placeholders that do not exist or cannot be filled for the usage, or is longer than
    `max_segments` SMS with the example values.
    """
    body = _normalise_body(body)
    if not body:
        raise InputError(_("Bitte einen Text eingeben."), "body")
    try:
        unknown = placeholders.unknown_placeholders(body)
    except placeholders.PlaceholderSyntaxError as error:
        raise InputError(error.message, "body") from error
    usage = placeholders.usage(usage_key) or placeholders.USAGES[placeholders.FREE_USAGE]
    allowed = placeholders.tokens_of(usage.placeholder_keys)
    if unknown:
        raise InputError(
            _(
                "Unbekannte Platzhalter: %(unknown)s. Erlaubt sind: %(allowed)s.",
                unknown=placeholders.tokens_of(unknown),
                allowed=allowed,
            ),
            "body",
        )
    unsuitable = placeholders.unsuitable_placeholders(body, usage.key)
    if unsuitable:
        raise InputError(
            _(
                "Diese Platzhalter können bei der Verwendung „%(usage)s“ nicht gefüllt werden: "
                "%(unsuitable)s. Erlaubt sind: %(allowed)s.",
                usage=usage.label,
                unsuitable=placeholders.tokens_of(unsuitable),
                allowed=allowed,
            ),
            "body",
        )
    info = analyze(placeholders.render_example(body))
    if info.segments > max_segments:
        raise InputError(
            _(
                "Der Text ergibt mit den Beispielwerten %(n)d SMS-Teile; höchstens %(max)d "
                "Teile sind erlaubt. Bitte kürzen.",
                n=info.segments,
                max=max_segments,
            ),
            "body",
        )
    return info


def save_text(
    session: Session,
    *,
    name: str,
    usage_key: str,
    body: str,
    changed_by: str | None,
    text: SmsText | None = None,
) -> SmsText:
    """Create (text None) or change a template after validating every field.

    Raises InputError with the field ("name", "usage_key", "body") that needs fixing. The
    caller commits (and rolls back after an InputError).
    """
    name = " ".join((name or "").split())  # no line breaks or double blanks in a name
    usage_key = (usage_key or "").strip()
    body = _normalise_body(body)
    if not name:
        raise InputError(_("Bitte einen Namen eingeben."), "name")
    if len(name) > NAME_MAX:
        raise InputError(
            _(
                "Der Name darf höchstens %(max)d Zeichen lang sein (jetzt %(n)d).",
                max=NAME_MAX,
                n=len(name),
            ),
            "name",
        )
    if _name_taken(session, name, text.id if text is not None else None):
        raise InputError(
            _("Es gibt bereits einen SMS-Text mit dem Namen „%(name)s“.", name=name), "name"
        )
    if placeholders.usage(usage_key) is None:
        raise InputError(_("Bitte eine Verwendung aus der Liste wählen."), "usage_key")
    check_body(body, usage_key)

    if text is None:
        text = SmsText()
        session.add(text)
    text.name = name
    text.usage_key = usage_key
    text.body = body
    text.updated_by = (changed_by or "")[:80] or None
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent save took the name in between
        session.rollback()
        raise InputError(
            _("Es gibt bereits einen SMS-Text mit dem Namen „%(name)s“.", name=name), "name"
        ) from error
    return text


def delete_text(session: Session, text: SmsText) -> None:
    """Remove a template (the SMS already sent with it keep their text)."""
    session.delete(text)
    session.flush()


def list_texts(session: Session, query: str = "", usage_key: str | None = None) -> list[SmsText]:
    """Templates whose name or body contains `query` (case-insensitive), by name.

    `usage_key` None lists every usage, "" only the free ones.
    """
    stmt = select(SmsText)
    if usage_key is not None:
        stmt = stmt.where(SmsText.usage_key == usage_key)
    rows = list(session.scalars(stmt))
    wanted = (query or "").strip().casefold()
    if wanted:
        rows = [t for t in rows if wanted in t.name.casefold() or wanted in t.body.casefold()]
    return sorted(rows, key=lambda t: (t.name.casefold(), t.id))


def preview_text(body: str) -> tuple[str, SegmentInfo]:
    """`body` with the example values filled in, and what it costs as SMS.

    Unknown placeholders stay as written. Raises InputError (field "body") for a stray brace.
    """
    try:
        rendered = placeholders.render_example(_normalise_body(body))
    except placeholders.PlaceholderSyntaxError as error:
        raise InputError(error.message, "body") from error
    return rendered, analyze(rendered)

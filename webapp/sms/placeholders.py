"""Placeholders of the SMS texts (Smstexte, SPEC R44/R51): the registry, parsing and rendering.

One syntax: `{bereich.feld}`, e.g. `{auftrag.nummer}`. A brace meant as text is written twice,
`{{` and `}}` (as in Python's str.format). A single brace that does not belong to a
placeholder is an error with a German message that says where it is and how to fix it.

Pure Python (no Flask request, no database): the Smstexte dialog, the modules that send order
and ticket SMS and the tests all use the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_babel.speaklater import LazyString

from webapp.errors import InputError

Missing = Literal["keep", "example", "error"]

# A placeholder's name: two identifiers joined by a dot. Upper case is accepted by the syntax
# (so `{Auftrag.Nummer}` is reported as unknown, with the list of allowed ones, not as a
# syntax error); the registry itself is lower case.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Placeholder:
    """One allowed placeholder: `key` without braces, a German description, an example value."""

    key: str
    description: str | LazyString
    example: str

    @property
    def token(self) -> str:
        """How it is written in a text: `{auftrag.nummer}`."""
        return "{" + self.key + "}"


@dataclass(frozen=True)
class Usage:
    """What a text is used for, with the placeholders that can be filled there."""

    key: str
    label: str | LazyString
    placeholder_keys: tuple[str, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(PLACEHOLDERS[k] for k in self.placeholder_keys)


# The descriptions are lazy strings: they are shown in the language of the request.
PLACEHOLDERS: dict[str, Placeholder] = {
    p.key: p
    for p in (
        Placeholder("auftrag.nummer", _l("Nummer des Auftrags"), "A-2026-0815"),
        Placeholder(
            "auftrag.titel", _l("Titel (Kurzbeschreibung) des Auftrags"), "Wasserschaden Bad"
        ),
        Placeholder("auftrag.termin", _l("Vereinbarter Termin des Auftrags"), "25.11.2026 08:00"),
        Placeholder(
            "auftrag.kreditor",
            _l("Kreditor (Firma), an den der Auftrag geht"),
            "Installateur Huber GmbH",
        ),
        Placeholder("ticket.nummer", _l("Nummer des Tickets"), "T-2026-4711"),
        Placeholder("ticket.titel", _l("Titel (Betreff) des Tickets"), "Heizung ausgefallen"),
        Placeholder(
            "person.name",
            _l("Name der Person, die die SMS bekommt (Bestandsnehmer, Kontrolleur)"),
            "Maria Muster",
        ),
        Placeholder(
            "firma.name",
            _l("Name der Firma, die die SMS bekommt (Kreditor)"),
            "Installateur Huber GmbH",
        ),
        Placeholder(
            "objekt.adresse",
            _l("Adresse des Objekts (Liegenschaft, Einheit)"),
            "Hauptstraße 12/3, 1010 Wien",
        ),
        Placeholder("mandant.name", _l("Name des Mandanten"), "Hausverwaltung Wien"),
    )
}

_ORDER = ("auftrag.nummer", "auftrag.titel", "auftrag.termin", "auftrag.kreditor")

FREE_USAGE = ""

USAGES: dict[str, Usage] = {
    u.key: u
    for u in (
        Usage(FREE_USAGE, _l("Frei (ohne feste Verwendung)"), tuple(PLACEHOLDERS)),
        Usage(
            "auftrag_kreditor",
            _l("Auftrag an Kreditor"),
            (*_ORDER, "firma.name", "objekt.adresse", "mandant.name"),
        ),
        Usage(
            "auftrag_kontrolleur",
            _l("Auftrag – SMS an Kontrolleur"),
            (*_ORDER, "person.name", "objekt.adresse", "mandant.name"),
        ),
        Usage(
            "auftrag_bn",
            _l("Auftrag – Bestandsnehmer verständigen"),
            (*_ORDER, "person.name", "objekt.adresse", "mandant.name"),
        ),
        Usage(
            "ticket_bn_erstellt",
            _l("Ticket erstellt – SMS an Bestandsnehmer"),
            ("ticket.nummer", "ticket.titel", "person.name", "objekt.adresse", "mandant.name"),
        ),
    )
}


def usage(key: str) -> Usage | None:
    """The usage of `key` ('' is free), None when unknown."""
    return USAGES.get(key)


def usage_label(key: str) -> str:
    """The label of a usage key; the key itself when it is unknown (old data)."""
    found = USAGES.get(key)
    return str(found.label) if found is not None else key


def example_values() -> dict[str, str]:
    """key → example value of every placeholder (what the preview fills in)."""
    return {key: p.example for key, p in PLACEHOLDERS.items()}


# --- parsing -------------------------------------------------------------------------------------


class PlaceholderSyntaxError(InputError):
    """A brace that is neither part of a placeholder nor doubled. `position` is 1-based."""

    def __init__(self, message: str, position: int, field: str | None = None) -> None:
        super().__init__(message, field)
        self.position = position


_HINT = _l(
    "Platzhalter schreiben Sie als {bereich.feld}, z. B. {auftrag.nummer}; "
    "eine Klammer als Text schreiben Sie doppelt: {{ bzw. }}."
)


def _tokens(body: str) -> Iterator[tuple[str, str]]:
    """("text", literal) and ("placeholder", key) pieces of `body`, in order.

    Raises PlaceholderSyntaxError at the first brace that is neither doubled nor part of a
    well-formed placeholder.
    """
    i, n = 0, len(body)
    start = 0
    while i < n:
        ch = body[i]
        if ch not in "{}":
            i += 1
            continue
        if i > start:
            yield ("text", body[start:i])
        if body.startswith(ch * 2, i):  # {{ or }}: a brace as text
            yield ("text", ch)
            i += 2
            start = i
            continue
        if ch == "}":
            raise PlaceholderSyntaxError(
                _(
                    "Die Klammer „}“ an Stelle %(pos)d gehört zu keinem Platzhalter. %(hint)s",
                    pos=i + 1,
                    hint=_HINT,
                ),
                i + 1,
            )
        close = body.find("}", i + 1)
        reopen = body.find("{", i + 1)
        if close == -1:
            raise PlaceholderSyntaxError(
                _(
                    "Die Klammer „{“ an Stelle %(pos)d wird nicht geschlossen. %(hint)s",
                    pos=i + 1,
                    hint=_HINT,
                ),
                i + 1,
            )
        if reopen != -1 and reopen < close:
            raise PlaceholderSyntaxError(
                _(
                    "Die Klammer „{“ an Stelle %(pos)d wird nicht geschlossen, bevor die "
                    "nächste „{“ beginnt: Platzhalter können nicht verschachtelt werden. "
                    "%(hint)s",
                    pos=i + 1,
                    hint=_HINT,
                ),
                i + 1,
            )
        name = body[i + 1 : close]
        if not _NAME.fullmatch(name):
            raise PlaceholderSyntaxError(
                _(
                    "„%(token)s“ an Stelle %(pos)d ist kein gültiger Platzhalter. %(hint)s",
                    token=body[i : close + 1],
                    pos=i + 1,
                    hint=_HINT,
                ),
                i + 1,
            )
        yield ("placeholder", name)
        i = close + 1
        start = i
    if start < n:
        yield ("text", body[start:])


def check_syntax(body: str) -> None:
    """Raise PlaceholderSyntaxError when `body` has a stray or malformed brace."""
    for _piece in _tokens(body or ""):
        pass


def find_placeholders(body: str) -> list[str]:
    """The placeholder keys in `body` (without braces), each once, in order of appearance.

    Escaped braces (`{{auftrag.nummer}}`) are text, not placeholders. Raises
    PlaceholderSyntaxError for a stray brace.
    """
    found: dict[str, None] = {}
    for kind, value in _tokens(body or ""):
        if kind == "placeholder":
            found.setdefault(value, None)
    return list(found)


def unknown_placeholders(body: str) -> list[str]:
    """The placeholder keys in `body` that are not in the registry (without braces)."""
    return [key for key in find_placeholders(body) if key not in PLACEHOLDERS]


def unsuitable_placeholders(body: str, usage_key: str) -> list[str]:
    """Known placeholders in `body` that cannot be filled for `usage_key` (unknown usage: [])."""
    found = USAGES.get(usage_key)
    if found is None:
        return []
    return [
        key
        for key in find_placeholders(body)
        if key in PLACEHOLDERS and key not in found.placeholder_keys
    ]


def tokens_of(keys: list[str] | tuple[str, ...]) -> str:
    """ "{a.b}, {c.d}": keys as written in a text, for messages."""
    return ", ".join("{" + key + "}" for key in keys)


class MissingPlaceholderError(InputError):
    """`render(..., missing="error")` met placeholders without a value. `keys` lists them."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(
            _("Für diese Platzhalter fehlt ein Wert: %(keys)s.", keys=tokens_of(keys)), "body"
        )
        self.keys = keys


def render(body: str, values: Mapping[str, str | None], *, missing: Missing = "keep") -> str:
    """`body` with its placeholders replaced by `values` (keys without braces).

    A placeholder without a value (absent or None) is handled by `missing`:
    "keep" leaves `{a.b}` in the text, "example" uses the registry's example value (an
    unknown placeholder stays as it is), "error" raises MissingPlaceholderError naming all of
    them. Doubled braces become single ones. Raises PlaceholderSyntaxError for a stray brace.
    """
    if missing not in ("keep", "example", "error"):
        raise ValueError(f"missing must be 'keep', 'example' or 'error', not {missing!r}")
    out: list[str] = []
    absent: list[str] = []
    for kind, value in _tokens(body or ""):
        if kind == "text":
            out.append(value)
            continue
        filled = values.get(value)
        if filled is None:
            if missing == "example" and value in PLACEHOLDERS:
                filled = PLACEHOLDERS[value].example
            else:
                if value not in absent:
                    absent.append(value)
                filled = "{" + value + "}"
        out.append(str(filled))
    if absent and missing == "error":
        raise MissingPlaceholderError(absent)
    return "".join(out)


def render_example(body: str) -> str:
    """`body` filled with the example values (the preview of the Smstexte dialog)."""
    return render(body, {}, missing="example")


# --- texts that are sent as they are -------------------------------------------------------------

# A placeholder left in a final text: the same `{bereich.feld}` syntax, known or not.
_LEFT_OVER = re.compile(r"\{(" + _NAME.pattern + r")\}")


def unfilled_placeholders(text: str) -> list[str]:
    """The placeholders (keys without braces) left in a text that is sent as it is — an SMS
    typed in an editor or a Smstext loaded where no record fills it — each once, in order.

    Such a text is never sent: nothing fills them any more, the recipient would read
    `{auftrag.nummer}`. A single brace or `{x}` is text and not reported.
    """
    found: dict[str, None] = {}
    for match in _LEFT_OVER.finditer(text or ""):
        found.setdefault(match.group(1), None)
    return list(found)


def mark_unfilled(text: str) -> list[tuple[str, bool]]:
    """`text` in pieces, each with True when it is an unfilled placeholder (to mark them in a
    preview)."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _LEFT_OVER.finditer(text or ""):
        if match.start() > position:
            pieces.append((text[position : match.start()], False))
        pieces.append((match.group(0), True))
        position = match.end()
    if position < len(text or ""):
        pieces.append((text[position:], False))
    return pieces


class UnfilledPlaceholderError(InputError):
    """A text to be sent still holds placeholders; `keys` lists them (without braces)."""

    def __init__(self, keys: list[str], field: str | None = "text") -> None:
        super().__init__(unfilled_message(keys), field)
        self.keys = keys


def unfilled_message(keys: list[str]) -> str:
    """What the editor and a refused SMS say about placeholders nobody fills."""
    return ngettext(
        "Der Platzhalter %(keys)s wird hier nicht ausgefüllt: bitte durch den gewünschten "
        "Text ersetzen.",
        "Die Platzhalter %(keys)s werden hier nicht ausgefüllt: bitte durch den gewünschten "
        "Text ersetzen.",
        len(keys),
        keys=tokens_of(keys),
    )


def check_filled(text: str, field: str | None = "text") -> None:
    """Raise UnfilledPlaceholderError when `text` still holds placeholders."""
    keys = unfilled_placeholders(text)
    if keys:
        raise UnfilledPlaceholderError(keys, field)


# --- columns of a recipient list (Serien-SMS) ----------------------------------------------------

# `{spalte.<name>}`: a column of an uploaded or pasted recipient list. The name is the column's
# heading made a placeholder name: lower case, umlauts spelt out, anything else an underscore.
COLUMN_AREA = "spalte"
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def column_key(heading: str) -> str:
    """The placeholder name of a list column: "Wohnung Nr." → "wohnung_nr", "Straße" →
    "strasse", "2. Stiege" → "_2_stiege" (a name starts with a letter or "_"); "" for a
    heading without letters or digits."""
    name = _NOT_NAME.sub("_", (heading or "").strip().lower().translate(_UMLAUTS)).strip("_")
    if name and name[0].isdigit():
        name = "_" + name
    return name


def column_placeholder(key: str) -> str:
    """The placeholder key of a list column: `spalte.<key>`."""
    return f"{COLUMN_AREA}.{key}"

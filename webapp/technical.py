"""Messages a user sees: a German sentence about their situation, the technical part apart.

What the operating system or a library says ("[Errno 111] Connection refused", an error code
such as `prefix_not_allowed`) is for whoever looks into the matter, not the sentence a user
reads. A stored text (the reason of an SMS, an Errorlog entry, the error of a run, the answer
of "Verbindung testen") therefore carries the sentence first and the technical part after
`DETAILS`, on a line of its own: `with_details(sentence, detail)`. Pages show it with the
template filter `explained` (the sentence, then a small "Details: …" line) and titles with
`sentence_of`; e-mails and the API show it as it is. A text with details may end another
sentence ("Lauf fehlgeschlagen: …"), never stand in its middle: `map_sentence` rewords only
the sentence and keeps the details last.

`explain_error` is the one place that turns an exception of a connection (socket, serial
port, TLS, name lookup) into such a text.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Callable

from flask_babel import gettext as _
from markupsafe import Markup, escape

DETAILS = "\nDetails: "
_MAX_DETAIL = 300


def with_details(sentence: str, detail: str | None) -> str:
    """`sentence` with `detail` (made one line) after DETAILS; details `sentence` already
    carries come first. Without a detail, or one the sentence already says, just the sentence."""
    own, earlier = split_details(sentence)
    detail = " ".join((detail or "").split())[:_MAX_DETAIL]
    if not detail or detail in own or detail in earlier:
        return sentence
    joined = f"{earlier} · {detail}" if earlier else detail
    return f"{own}{DETAILS}{joined}"


def split_details(text: str | None) -> tuple[str, str]:
    """(the sentence, the technical details or "") of a stored text."""
    sentence, _mark, detail = (text or "").partition(DETAILS)
    return sentence, detail


def sentence_of(text: str | None) -> str:
    """Only the sentence of a stored text (for a title attribute or a short line)."""
    return split_details(text)[0]


def map_sentence(text: str, reword: Callable[[str], str]) -> str:
    """`text` with its sentence reworded by `reword` and its details kept after it."""
    sentence, detail = split_details(text)
    return with_details(reword(sentence), detail)


def explained(text: str | None, code: str | None = None) -> Markup:
    """Template filter: the sentence, then its details and `code` in a small details line."""
    sentence, detail = split_details(text)
    technical = " · ".join(part for part in (detail, code or "") if part)
    if not technical:
        return escape(sentence)
    return Markup('{}<small class="details">{} {}</small>').format(
        sentence, _("Details:"), technical
    )


# --- exceptions of a connection ------------------------------------------------------------------


def error_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps, outermost first: requests → urllib3 MaxRetryError → its reason
    → the OSError; pyserial's SerialException → the OSError it was raised in."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:  # breadth first: the further down the list, the deeper the cause
        current = todo.pop(0)
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        reason = getattr(current, "reason", None)
        todo += [reason if isinstance(reason, BaseException) else None]
        todo += [current.__cause__, current.__context__]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]
    return seen


def _errno_sentence(number: int | None) -> str | None:
    if number == errno.ECONNREFUSED:
        return _(
            "Die Gegenstelle lehnt die Verbindung ab; unter dieser Adresse und diesem Port "
            "nimmt kein Dienst Verbindungen an."
        )
    if number in (errno.ETIMEDOUT,):
        return _("Die Gegenstelle hat nicht rechtzeitig geantwortet.")
    if number in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN):
        return _("Die Gegenstelle ist über das Netzwerk nicht erreichbar.")
    if number in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
        return _("Die Gegenstelle hat die Verbindung abgebrochen.")
    if number == errno.ENOENT:
        return _("Diese Schnittstelle gibt es auf diesem Rechner nicht.")
    if number in (errno.EACCES, errno.EPERM):
        return _("Das SMS-Modul darf diese Schnittstelle nicht öffnen (keine Berechtigung).")
    if number == errno.EBUSY:
        return _("Die Schnittstelle ist von einem anderen Programm belegt.")
    return None


def _os_error_sentence(error: OSError) -> str | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        return _(
            "Die verschlüsselte Verbindung kam nicht zustande; das Zertifikat der Gegenstelle "
            "wurde nicht anerkannt."
        )
    if isinstance(error, ssl.SSLError):
        return _("Die verschlüsselte Verbindung (TLS) kam nicht zustande.")
    if isinstance(error, socket.gaierror):
        return _("Der Rechnername ist unbekannt (das DNS kennt ihn nicht).")
    if isinstance(error, TimeoutError) and error.errno is None:
        return _("Die Gegenstelle hat nicht rechtzeitig geantwortet.")
    return _errno_sentence(error.errno)


def explain_error(exc: BaseException, fallback: str | None = None) -> str:
    """A German sentence for what went wrong with a connection, the technical text of the
    innermost error as its details ("[Errno 111] Connection refused"; no URL, no headers:
    nothing secret). `fallback` is the sentence when no known cause is found."""
    chain = error_chain(exc)
    for candidate in reversed(chain):
        if isinstance(candidate, OSError):
            sentence = _os_error_sentence(candidate)
            if sentence is not None:
                return with_details(sentence, _technical(candidate))
    innermost = chain[-1]
    return with_details(fallback or _("Die Verbindung ist fehlgeschlagen."), _technical(innermost))


def _technical(error: BaseException) -> str:
    text = str(error).strip()
    return text if text else type(error).__name__

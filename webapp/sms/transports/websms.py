"""Variante 2: the websms.com REST API (SPEC R2.2, reference/websms-api.md).

One `POST {base_url}/rest/smsmessaging/text` per message, so each message gets its own
transferId and its own outcome; `clientMessageId` is our message id, so delivery reports map
back even without the transferId. Messages go out over one pooled `requests.Session`; the
window (`concurrency`, default 8) is how many requests the send run keeps in flight at once
(webapp.sms.transports.window).

What a status code or an HTTP status means is decided in classify.py; this module only tells
apart *when* something went wrong: before anything was sent (retry later) or after the request
may have reached websms (unknown: never resent automatically, SPEC E4).

An outcome says when every further message would fail the same way (`fails_run`: credentials,
account, sender) or when websms cannot be reached or does not answer (`halts`): the run then
sends nothing more, or only one message as a probe. The first message of a run goes out alone,
so wrong credentials or a dead endpoint cost one request, not `concurrency` of them.

Secrets (token, password) are never logged and never shown in a repr.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from flask_babel import gettext as _
from requests.adapters import HTTPAdapter

from webapp.sms.encoding import analyze, encode_gsm7, is_gsm7
from webapp.sms.transports import classify
from webapp.sms.transports.base import (
    Outcome,
    OutcomeKind,
    OutgoingSms,
    TransportUnavailable,
)
from webapp.technical import error_chain, explain_error, map_sentence

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.websms.com"
SEND_PATH = "/rest/smsmessaging/text"
SENDER_ADDRESS_TYPES = ("national", "international", "alphanumeric", "shortcode")
# What websms takes as a sender of each type (reference §3; anything else is 4003). One rule for
# the Einstellungen (which normalise what users type), `problem()` and the sandbox.
SENDER_NUMBER_FORMATS = {
    "international": re.compile(r"[1-9][0-9]{4,14}"),  # country code first, no 0 or + before
    "national": re.compile(r"0[0-9]{3,15}"),
    "shortcode": re.compile(r"[0-9]{3,8}"),
}
MAX_SENDER_NAME = 11  # GSM-7 septets of an alphanumeric sender


class InvalidSender(ValueError):
    """websms would refuse this sender (4003); `reason` says in German what it accepts."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _sender_fits_type(address: str, kind: str) -> bool:
    if kind == "alphanumeric":
        return (
            address == address.strip()
            and address.isprintable()
            and is_gsm7(address)
            and 1 <= len(encode_gsm7(address)) <= MAX_SENDER_NAME
        )
    return SENDER_NUMBER_FORMATS[kind].fullmatch(address) is not None


def sender_fits(address: str, kind: str | None) -> bool:
    """Whether websms takes `address` as a sender of `kind` (None or "": of any type)."""
    if kind and kind not in SENDER_ADDRESS_TYPES:
        return False
    return any(_sender_fits_type(address, k) for k in ([kind] if kind else SENDER_ADDRESS_TYPES))


def _sender_rule(kind: str | None, numeric: bool) -> str:
    """What websms accepts as a sender of `kind`, in German."""
    if kind == "international":
        return _(
            "Eine internationale Absendernummer beginnt mit der Ländervorwahl, ohne 0 oder + "
            "davor, und hat 5 bis 15 Ziffern, z. B. 436641234567."
        )
    if kind == "national":
        return _(
            "Eine nationale Absendernummer beginnt mit 0 und hat 4 bis 16 Ziffern, "
            "z. B. 06641234567."
        )
    if kind == "shortcode":
        return _("Eine Kurzwahl hat 3 bis 8 Ziffern.")
    if kind == "alphanumeric" or not numeric:
        return _(
            "Ein Absendername hat höchstens 11 Zeichen aus dem GSM-Zeichensatz (Buchstaben, "
            "Ziffern, Leerzeichen, Satzzeichen; keine Emojis)."
        )
    return _(
        "Eine Absendernummer hat 3 bis 15 Ziffern: international ohne 0 oder + davor "
        "(z. B. 436641234567), national mit 0 (z. B. 06641234567)."
    )


def normalise_sender(address: str, kind: str | None) -> str:
    """`address` as websms wants it as a sender of `kind` (None or "": of any type).

    Numbers lose spaces, "/" and "-" and a leading + or 00 (0664 123 45 67 → 06641234567,
    +43 664 … → 43664…); a name stays as typed. InvalidSender when websms would refuse it.
    """
    text = (address or "").strip()
    numeric = kind in SENDER_NUMBER_FORMATS or (
        not kind and re.fullmatch(r"\+?[0-9][0-9\s/-]*", text) is not None
    )
    if numeric:
        text = re.sub(r"[\s/-]", "", text)
        text = text[1:] if text.startswith("+") else text.removeprefix("00")
    if not sender_fits(text, kind):
        raise InvalidSender(_sender_rule(kind, numeric))
    return text


@dataclass(frozen=True)
class WebsmsSettings:
    """What the job settings ("WEB SMS") hold for Variante 2.

    Authentication is the access token (Bearer) when one is set, else API user and password
    (Basic). `signature` is appended by the outbox when a message is queued (it counts towards
    the segments the user sees); the transport never changes a text.
    """

    base_url: str = DEFAULT_BASE_URL
    access_token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender_address: str | None = None
    sender_address_type: str | None = None  # national | international | alphanumeric | shortcode
    test_mode: bool = False
    max_sms_per_message: int = 10  # 0: no limit (the field is then left out)
    notification_callback_url: str | None = None
    signature: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    concurrency: int = 8

    @property
    def endpoint(self) -> str:
        """The send URL; a base URL entered with `/rest` or a trailing slash works too."""
        base = (self.base_url or DEFAULT_BASE_URL).strip().rstrip("/")
        base = base.removesuffix("/rest")
        return base + SEND_PATH

    def problem(self) -> str | None:
        """Why nothing can be sent with these settings (German), or None."""
        parts = urlsplit((self.base_url or DEFAULT_BASE_URL).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return _(
                "websms: Die Basis-URL „%(url)s“ ist keine http(s)-Adresse. Bitte in den "
                "Job-Einstellungen prüfen.",
                url=self.base_url,
            )
        if not self.access_token and not (self.username and self.password):
            return _(
                "websms: Weder ein Zugangstoken noch API-Benutzer und Passwort sind "
                "eingestellt. Bitte in den Job-Einstellungen eintragen."
            )
        if self.sender_address_type and self.sender_address_type not in SENDER_ADDRESS_TYPES:
            return _(
                "websms: Der Absendertyp „%(type)s“ ist unbekannt (erlaubt: national, "
                "international, alphanumeric, shortcode).",
                type=self.sender_address_type,
            )
        if self.sender_address and not sender_fits(self.sender_address, self.sender_address_type):
            numeric = self.sender_address.isdigit()
            return _(
                "websms: Die Absenderadresse „%(address)s“ nimmt websms so nicht an. "
                "%(rule)s Bitte in den Job-Einstellungen korrigieren.",
                address=self.sender_address,
                rule=_sender_rule(self.sender_address_type, numeric),
            )
        return None

    def authorization(self) -> str:
        """The Authorization header value (a secret: never log it)."""
        if self.access_token:
            return f"Bearer {self.access_token}"
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


class _HeaderAuth(requests.auth.AuthBase):
    """Sets a fixed Authorization header. Being the session's `auth`, it also keeps requests
    from replacing it with credentials from a ~/.netrc."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "<websms auth>"


class WebsmsTransport:
    """Sends SMS through the websms REST API; see the module docstring."""

    name = "websms"

    def __init__(self, settings: WebsmsSettings) -> None:
        self.settings = settings
        self._endpoint = settings.endpoint
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self._host = urlsplit(self._endpoint).netloc
        self._workers = max(1, int(settings.concurrency))
        self._session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=self._workers, pool_block=True, max_retries=0
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Content-Type": "application/json;charset=UTF-8",
                "Accept": "application/json",
                "User-Agent": "sms-module websms transport",
            }
        )
        if settings.problem() is None:
            self._session.auth = _HeaderAuth(settings.authorization())
        self._closed = False

    def __repr__(self) -> str:
        return f"<WebsmsTransport {self._endpoint}>"

    def __enter__(self) -> WebsmsTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the contract ----------------------------------------------------------------------

    @property
    def window(self) -> int:
        """Requests in flight at once (the pool has as many connections)."""
        return self._workers

    def send(self, sms: OutgoingSms) -> Outcome:
        problem = self.settings.problem()
        if problem is not None:
            raise TransportUnavailable(problem, fails_run=True)
        if self._closed:
            raise TransportUnavailable(_("websms: Die Verbindung ist bereits geschlossen."))
        outcome, halts = self._send(sms)
        if halts:
            outcome = dataclasses.replace(outcome, halts=True)
        log.debug("websms: message %s -> %s %s", sms.message_id, outcome.kind.value, outcome.code)
        return outcome

    def close(self) -> None:
        self._closed = True
        self._session.close()

    def body(self, message: OutgoingSms) -> dict[str, Any]:
        """The JSON body for `message` (reference §3)."""
        s = self.settings
        body: dict[str, Any] = {
            "recipientAddressList": [message.recipient.strip().lstrip("+")],
            "messageContent": message.text,
            "clientMessageId": str(message.message_id),
            "test": bool(s.test_mode),
        }
        if s.sender_address:
            body["senderAddress"] = s.sender_address
            if s.sender_address_type:
                body["senderAddressType"] = s.sender_address_type
        if s.max_sms_per_message and s.max_sms_per_message > 0:
            body["maxSmsPerMessage"] = int(s.max_sms_per_message)
        if s.notification_callback_url:
            body["notificationCallbackUrl"] = s.notification_callback_url
        return body

    def _send(self, message: OutgoingSms) -> tuple[Outcome, bool]:
        """The outcome of one request, and whether the link looks broken (`halts`)."""
        mid = message.message_id
        data = json.dumps(self.body(message), ensure_ascii=False).encode("utf-8")
        try:
            response = self._session.post(
                self._endpoint, data=data, timeout=self._timeout, allow_redirects=False
            )
        except requests.exceptions.ConnectTimeout:
            detail = _(
                "keine Verbindung zu %(host)s innerhalb von %(s)s s",
                host=self._host,
                s=_seconds(self.settings.connect_timeout),
            )
            return classify.network_failure(detail).outcome(mid, "websms connect"), True
        except requests.exceptions.ReadTimeout:
            detail = _(
                "keine Antwort von %(host)s innerhalb von %(s)s s",
                host=self._host,
                s=_seconds(self.settings.read_timeout),
            )
            return classify.outcome_unknown(detail).outcome(mid, "websms timeout"), True
        except requests.exceptions.ConnectionError as exc:
            host = self._host
            if _nothing_sent(exc):
                detail = map_sentence(
                    explain_error(exc),
                    lambda e: _("%(host)s ist nicht erreichbar. %(error)s", host=host, error=e),
                )
                return classify.network_failure(detail).outcome(mid, "websms connect"), True
            detail = map_sentence(
                explain_error(exc),
                lambda e: _(
                    "Die Verbindung zu %(host)s brach während der Anfrage ab. %(error)s",
                    host=host,
                    error=e,
                ),
            )
            return classify.outcome_unknown(detail).outcome(mid, "websms connection"), True
        except requests.exceptions.RequestException as exc:  # body cut off, decoding, …
            detail = explain_error(exc, _("Die Antwort von websms kam unvollständig an."))
            return classify.outcome_unknown(detail).outcome(mid, "websms response"), True

        with response:
            if response.status_code != 200:
                verdict = classify.http_status(response.status_code)
                return verdict.outcome(mid, f"HTTP {response.status_code}"), False
            try:
                answer = response.json()
                code = int(answer["statusCode"])
            except (ValueError, TypeError, KeyError, requests.exceptions.RequestException):
                detail = _("Die Antwort von websms ist kein lesbares JSON mit statusCode.")
                return classify.outcome_unknown(detail).outcome(mid, "websms response"), True

        status_message = str(answer.get("statusMessage") or "")
        verdict = classify.websms_status(code, status_message)
        if verdict.kind is not OutcomeKind.ACCEPTED:
            return verdict.outcome(mid, f"websms {code}"), False
        sms_count = answer.get("smsCount")
        segments = (
            sms_count
            if isinstance(sms_count, int) and not isinstance(sms_count, bool) and sms_count > 0
            else analyze(message.text).segments
        )
        transfer_id = answer.get("transferId")
        return (
            Outcome(
                message_id=mid,
                kind=OutcomeKind.ACCEPTED,
                provider_ref=str(transfer_id) if transfer_id else None,
                segments=segments,
                code=f"websms {code}",
                reason=verdict.reason,
            ),
            False,
        )


def _seconds(value: float) -> str:
    return f"{value:g}"


def _nothing_sent(exc: BaseException) -> bool:
    """True if the connection failed before the request left (refused, DNS, TLS handshake,
    proxy): then websms cannot have it. A reset or close after that is not this case."""
    from urllib3.exceptions import NewConnectionError, ProxyError

    return any(
        isinstance(e, NewConnectionError | ProxyError | requests.exceptions.SSLError)
        for e in error_chain(exc)
    )

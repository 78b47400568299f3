"""The websms sandbox: a real HTTP server that speaks the websms REST API (reference/websms-api.md).

For the demo run, development, tests and benchmarks. It answers like the real API as far as the
reference knows it:

- `POST /rest/smsmessaging/text` (JSON), `GET`/`POST /rest/smsmessaging/simple` (query or form
  parameters, `messageContent` Latin-1 URL-encoded); the legacy `/json/smsmessaging/…` prefix
  works too.
- Authentication by `Authorization: Bearer <token>`, `Authorization: Basic …` or
  `?access_token=`; a wrong or missing one gets HTTP 401 (what the official SDKs expect, §2).
- API outcomes come back as HTTP 200 with `{statusCode, statusMessage, transferId,
  clientMessageId, smsCount}`; validation per §9: 4000 malformed JSON, 4019 missing parameter
  (named in statusMessage), 4025 more than 1000 recipients, 4002 bad MSISDN, 4003 bad sender,
  4040/4041/4004/4015/4008/4009/4016 bad optional fields, 4026 more segments than
  `maxSmsPerMessage` (counted by webapp.sms.encoding.analyze, like the rest of the project).
- Callbacks: delivery reports (`deliveryReport`) to the message's `notificationCallbackUrl`
  and inbound SMS (`text`) to a URL of the caller's choice, with the documented JSON (§5).

Tests drive it through `WebsmsSandbox`: `accepted` / `requests` records, `wait_for`, scripted
faults (`inject`), per-recipient rules (`add_rule`, `blacklist`), callbacks
(`send_delivery_report`, `send_inbound`), automatic delivery reports and per-request latency.

The server is werkzeug's threaded `make_server` with a lean request handler that keeps HTTP/1.1
connections alive (werkzeug's own handler closes every connection), so one pooled client
connection serves many requests, as with the real API.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import json
import logging
import re
import secrets
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import requests
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from webapp.sms.encoding import analyze
from webapp.sms.transports.websms import sender_fits

log = logging.getLogger(__name__)

SEND_PATHS = {
    "/rest/smsmessaging/text": "text",
    "/json/smsmessaging/text": "text",
    "/rest/smsmessaging/simple": "simple",
    "/json/smsmessaging/simple": "simple",
}
MAX_RECIPIENTS = 1000
MAX_BODY = 1_000_000
SENDER_TYPES = ("national", "international", "alphanumeric", "shortcode")
CONTENT_CATEGORIES = ("informational", "advertisement")
MESSAGE_TYPES = ("default", "voice")
REPORT_STATES = ("delivered", "undelivered", "expired", "deleted", "accepted", "rejected")
_MSISDN = re.compile(r"[1-9][0-9]{4,14}")
_STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


# --- what tests script and read ------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One scripted answer (see `WebsmsSandbox.inject` and `add_rule`).

    `delay` waits first; then exactly one of: `status_code` (HTTP 200 with that websms
    statusCode; 2000/2001/2002 accept the message normally), `http_status` (that HTTP status),
    `malformed` (HTTP 200 with a body that is not JSON), `drop` (close the connection without an
    answer), `hang` (no answer until the client gives up or the sandbox stops). A fault with
    only `delay` answers normally, late. With `accept=True` the message is accepted and
    recorded first (it "went out"), then the fault spoils the answer: the case where the client
    cannot know.
    """

    status_code: int | None = None
    http_status: int | None = None
    delay: float = 0.0
    drop: bool = False
    hang: bool = False
    malformed: bool = False
    accept: bool = False
    status_message: str | None = None

    @classmethod
    def status(cls, code: int, message: str | None = None) -> Fault:
        return cls(status_code=code, status_message=message)

    @classmethod
    def http(cls, status: int) -> Fault:
        return cls(http_status=status)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)


@dataclass(frozen=True)
class AcceptedSms:
    """One recipient of an accepted request (a request to n recipients gives n records)."""

    recipient: str
    text: str
    client_message_id: str | None
    transfer_id: str
    sms_count: int
    headers: dict[str, str]
    body: dict[str, Any]
    test: bool
    sender_address: str | None
    callback_url: str | None
    accepted_at: float


@dataclass(frozen=True)
class SandboxRequest:
    """Every request the sandbox saw, answered or not (`http_status` None: no answer)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    http_status: int | None
    response: dict[str, Any] | None


@dataclass(frozen=True)
class CallbackResult:
    """What a receiver answered to a callback the sandbox POSTed."""

    url: str
    payload: dict[str, Any]
    http_status: int | None
    answer: Any = None
    error: str | None = None


# --- the HTTP server -----------------------------------------------------------------------


class _Drop(Exception):
    """Raised by the app: close the connection without an answer."""


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive and little overhead: the app's answer goes out in one write
    with a Content-Length, and the connection stays open for the next request."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # the app reads by Content-Length only
        environ = self.make_environ()
        answer: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:  # WSGI wants a write() callable back; the sandbox's app never uses it
            answer[:] = [status, headers]
            return None

        try:
            body = b"".join(self.server.app(environ, start_response))
        except _Drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception:  # a bug in the sandbox: answer 500 like a real server would
            log.exception("websms sandbox: error on %s %s", self.command, self.path)
            self.close_connection = True
            body = b'{"statusMessage": "sandbox error"}'
            answer[:] = ["500 Internal Server Error", [("Content-Type", "application/json")]]
        status, headers = answer
        lines = [f"HTTP/1.1 {status}"]
        for name, value in headers:
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True
            else:
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request would drown the console and slow the benchmark


class _Server(ThreadedWSGIServer):
    """The threaded werkzeug server (what `make_server(threaded=True)` builds) plus a registry
    of the open connections, so that stopping also ends the kept-alive ones."""

    def __init__(self, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        self._open_connections: set[socket.socket] = set()
        self._open_connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=_KeepAliveHandler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._open_connections_lock:
            if is_open:
                self._open_connections.add(connection)
            else:
                self._open_connections.discard(connection)

    def close_connections(self) -> None:
        with self._open_connections_lock:
            open_now = list(self._open_connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


# --- the sandbox ---------------------------------------------------------------------------


class WebsmsSandbox:
    """The websms API on a local port. `start()` (port 0 picks a free one) → `.url`; `stop()`;
    or use it as a context manager.

    With neither `token` nor `username` set, every request is let in.
    """

    def __init__(
        self,
        *,
        token: str | None = "sandbox-token",
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        senders: Iterable[str] | None = None,
        auto_report: bool = False,
        report_delay: float = 0.0,
        report_status: str = "delivered",
        callback_url: str | None = None,
        own_number: str = "4367612345678",
    ) -> None:
        self.token = token
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.latency = latency
        self.senders = set(senders) if senders is not None else None
        self.auto_report = auto_report
        self.report_delay = report_delay
        self.report_status = report_status
        self.callback_url = callback_url  # delivery reports for messages without their own URL
        self.own_number = own_number  # the number inbound SMS are addressed to
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._accepted: list[AcceptedSms] = []
        self._requests: list[SandboxRequest] = []
        self._callbacks: list[CallbackResult] = []
        self._faults: deque[Fault] = deque()
        self._rules: dict[str, Fault] = {}
        self._report_rules: dict[str, str] = {}
        self._schedule: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._in_flight = self._peak = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._authorizations: set[str] = set()
        self._session: requests.Session | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to put into WebsmsSettings.base_url."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> WebsmsSandbox:
        if self._server is not None:
            return self
        self._authorizations = set()
        if self.token:
            self._authorizations.add(f"Bearer {self.token}")
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            self._authorizations.add("Basic " + base64.b64encode(pair).decode("ascii"))
        self._stopping.clear()
        self._server = _Server(self.host, self.port, self._app)
        self._session = requests.Session()
        server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how fast stop() returns
            name="websms-sandbox",
            daemon=True,
        )
        reporter = threading.Thread(target=self._report_loop, name="websms-reports", daemon=True)
        self._threads = [server_thread, reporter]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        server.shutdown()
        server.server_close()
        server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> WebsmsSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """Block until Ctrl-C (for the CLI)."""
        try:
            self._stopping.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # --- records -------------------------------------------------------------------------

    @property
    def accepted(self) -> list[AcceptedSms]:
        """Every accepted recipient so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._accepted)

    @property
    def requests(self) -> list[SandboxRequest]:
        """Every request to a send endpoint so far, answered or not (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def callbacks(self) -> list[CallbackResult]:
        """Every callback the sandbox POSTed (delivery reports, inbound SMS)."""
        with self._lock:
            return list(self._callbacks)

    @property
    def peak_concurrency(self) -> int:
        """The most send requests the sandbox was handling at the same time."""
        with self._lock:
            return self._peak

    def wait_for(self, count: int, timeout: float = 5.0) -> list[AcceptedSms]:
        """Wait until `count` recipients were accepted; TimeoutError after `timeout` s."""
        return self._wait(lambda: self._accepted, count, timeout, "accepted messages")

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[SandboxRequest]:
        return self._wait(lambda: self._requests, count, timeout, "requests")

    def wait_for_callbacks(self, count: int, timeout: float = 5.0) -> list[CallbackResult]:
        return self._wait(lambda: self._callbacks, count, timeout, "callbacks")

    def _wait(
        self, items: Callable[[], list[Any]], count: int, timeout: float, what: str
    ) -> list[Any]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(items()) >= count, timeout):
                raise TimeoutError(f"{len(items())} of {count} {what} after {timeout} s")
            return list(items())

    def reset(self) -> None:
        """Forget records, scripted faults and rules."""
        with self._lock:
            self._accepted.clear()
            self._requests.clear()
            self._callbacks.clear()
            self._faults.clear()
            self._rules.clear()
            self._report_rules.clear()
            self._schedule.clear()
            self._peak = self._in_flight

    def message(self, transfer_id: str) -> list[AcceptedSms]:
        with self._lock:
            return [m for m in self._accepted if m.transfer_id == transfer_id]

    # --- fault injection -----------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue scripted answers: each one is used up by the next send request."""
        with self._lock:
            self._faults.extend(faults)

    def add_rule(self, recipient: str, fault: Fault) -> None:
        """Answer every valid request to `recipient` (digits, no +) with `fault`."""
        with self._lock:
            self._rules[recipient.lstrip("+")] = fault

    def blacklist(self, recipient: str, code: int = 4031) -> None:
        self.add_rule(recipient, Fault.status(code, "All recipients blacklisted"))

    def report_as(self, recipient: str, status: str) -> None:
        """Automatic delivery reports for `recipient` say `status` (e.g. "undelivered")."""
        if status not in REPORT_STATES:
            raise ValueError(f"unknown delivery report status {status!r}")
        with self._lock:
            self._report_rules[recipient.lstrip("+")] = status

    # --- callbacks -----------------------------------------------------------------------

    def send_delivery_report(
        self,
        transfer_id: str,
        status: str = "delivered",
        *,
        url: str | None = None,
        delivered_as: str = "sms",
    ) -> list[CallbackResult]:
        """POST a deliveryReport for every recipient of `transfer_id` to `url`, else to the
        message's notificationCallbackUrl, else to the sandbox's `callback_url`."""
        if status not in REPORT_STATES:
            raise ValueError(f"unknown delivery report status {status!r}")
        messages = self.message(transfer_id)
        if not messages:
            raise LookupError(f"no accepted message with transferId {transfer_id}")
        results = []
        for sms in messages:
            target = url or sms.callback_url or self.callback_url
            if not target:
                raise LookupError(f"no callback URL for transferId {transfer_id}")
            results.append(self._post(target, delivery_report(sms, status, delivered_as)))
        return results

    def send_inbound(
        self,
        sender: str,
        text: str,
        to_url: str,
        *,
        recipient: str | None = None,
        recipient_type: str = "international",
        flash: bool = False,
    ) -> CallbackResult:
        """POST an inbound SMS (`messageType: text`) from `sender` to the receiver at `to_url`."""
        payload = {
            "messageType": "text",
            "notificationId": secrets.token_hex(10),
            "senderAddress": sender.lstrip("+"),
            "senderAddressType": "international",
            "recipientAddress": recipient or self.own_number,
            "recipientAddressType": recipient_type,
            "messageFlashSms": flash,
            "textMessageContent": text,
        }
        return self._post(to_url, payload)

    def _post(self, url: str, payload: dict[str, Any]) -> CallbackResult:
        session = self._session or requests.Session()
        try:
            response = session.post(
                url,
                data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json;charset=UTF-8"},
                timeout=(5, 10),
            )
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text
            result = CallbackResult(url, payload, response.status_code, answer)
        except requests.RequestException as exc:
            result = CallbackResult(url, payload, None, None, f"{type(exc).__name__}: {exc}")
        with self._changed:
            self._callbacks.append(result)
            self._changed.notify_all()
        return result

    def _report_loop(self) -> None:
        while True:
            with self._changed:
                while not self._stopping.is_set():
                    now = time.monotonic()
                    if self._schedule and self._schedule[0][0] <= now:
                        _, _, transfer_id = heapq.heappop(self._schedule)
                        break
                    wait = self._schedule[0][0] - now if self._schedule else None
                    self._changed.wait(wait)
                else:
                    return
            try:
                for sms in self.message(transfer_id):
                    target = sms.callback_url or self.callback_url
                    if target:
                        status = self._report_rules.get(sms.recipient, self.report_status)
                        self._post(target, delivery_report(sms, status, "sms"))
            except Exception:  # a broken receiver must not stop the reports
                log.exception("websms sandbox: delivery report for %s failed", transfer_id)

    # --- the API -------------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        kind = SEND_PATHS.get(path.rstrip("/"))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return _answer(start_response, 413, {"statusMessage": "request too large"}, close=True)
        if environ.get("wsgi.input_terminated"):  # chunked: read to the end
            raw = environ["wsgi.input"].read(MAX_BODY)
        else:
            raw = environ["wsgi.input"].read(length) if length else b""
        if kind is None:
            return _answer(start_response, 404, {"statusMessage": "not found"})
        if method != "POST" and not (kind == "simple" and method == "GET"):
            return _answer(start_response, 405, {"statusMessage": "method not allowed"})
        headers = _headers(environ)
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            http_status, response, extra = self._handle(kind, method, environ, headers, raw)
        except _Drop:
            self._record(method, path, headers, raw, None, None)
            raise
        finally:
            with self._lock:
                self._in_flight -= 1
        self._record(method, path, headers, raw, http_status, response)
        if extra == "malformed":
            start_response("200 OK", [("Content-Type", "application/json;charset=UTF-8")])
            return [b'{"statusCode": 2000, "statusMessage": "OK", "transf']
        return _answer(start_response, http_status, response)

    def _handle(
        self,
        kind: str,
        method: str,
        environ: dict[str, Any],
        headers: dict[str, str],
        raw: bytes,
    ) -> tuple[int, dict[str, Any], str | None]:
        if self.latency:
            self._stopping.wait(self.latency)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            self._stopping.wait(fault.delay)
        if fault is not None and not fault.accept and not _only_delay(fault):
            return self._spoil(fault, None, environ)

        if not self._authorized(headers, environ):
            return 401, _result(4001, "Invalid credentials. Inactive account or customer."), None

        body, error = _parse(kind, method, environ, raw)
        if error is None:
            assert body is not None
            error = validate(body, self.senders)
        if error is not None:
            cid = body.get("clientMessageId") if isinstance(body, dict) else None
            return 200, _result(*error, client_message_id=_cid(cid)), None
        assert body is not None

        recipients = [str(r) for r in body["recipientAddressList"]]
        with self._lock:
            rule = next((self._rules[r] for r in recipients if r in self._rules), None)
        if rule is not None and not rule.accept:
            if rule.delay:
                self._stopping.wait(rule.delay)
            if not _only_delay(rule):
                return self._spoil(rule, body, environ)
        code = 2000
        for scripted in (fault, rule):
            if scripted is not None and scripted.status_code in (2000, 2001, 2002):
                code = scripted.status_code
        response = self._accept(body, recipients, headers, code)
        spoiler = fault if fault is not None and fault.accept else rule
        if spoiler is not None and spoiler.accept:
            return self._spoil(spoiler, body, environ, response)
        return 200, response, None

    def _spoil(
        self,
        fault: Fault,
        body: dict[str, Any] | None,
        environ: dict[str, Any],
        accepted: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any], str | None]:
        if fault.hang:
            self._hang(environ.get("werkzeug.socket"))
            raise _Drop
        if fault.drop:
            raise _Drop
        if fault.malformed:
            return 200, {}, "malformed"
        if fault.http_status is not None:
            message = fault.status_message or _STATUS_TEXT.get(fault.http_status, "error")
            return fault.http_status, {"statusMessage": message}, None
        if fault.status_code is not None and fault.status_code not in (2000, 2001, 2002):
            cid = body.get("clientMessageId") if body else None
            message = fault.status_message or f"error {fault.status_code}"
            return 200, _result(fault.status_code, message, client_message_id=_cid(cid)), None
        if accepted is not None:
            return 200, accepted, None
        raise ValueError(f"a fault that does nothing: {fault}")

    def _hang(self, connection: socket.socket | None) -> None:
        """No answer until the client closes the connection or the sandbox stops (max 60 s)."""
        deadline = time.monotonic() + 60
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if connection is None:
                self._stopping.wait(0.1)
                continue
            try:
                readable, _, _ = select.select([connection], [], [], 0.1)
                if readable and not connection.recv(1, socket.MSG_PEEK):
                    return  # the client gave up and closed
            except (OSError, ValueError):
                return

    def _authorized(self, headers: dict[str, str], environ: dict[str, Any]) -> bool:
        if not self._authorizations:
            return True
        if headers.get("Authorization", "") in self._authorizations:
            return True
        query = environ.get("QUERY_STRING", "")
        if "access_token=" in query and self.token:
            return parse_qs(query).get("access_token", [""])[0] == self.token
        return False

    def _accept(
        self, body: dict[str, Any], recipients: list[str], headers: dict[str, str], code: int
    ) -> dict[str, Any]:
        text = body["messageContent"]
        segments = analyze(text).segments
        transfer_id = secrets.token_hex(10)
        test = body.get("test") in (True, "true")
        callback = body.get("notificationCallbackUrl") or None
        cid = _cid(body.get("clientMessageId"))
        now = time.monotonic()
        records = [
            AcceptedSms(
                recipient=recipient,
                text=text,
                client_message_id=cid,
                transfer_id=transfer_id,
                sms_count=segments,
                headers=headers,
                body=body,
                test=test,
                sender_address=body.get("senderAddress"),
                callback_url=callback,
                accepted_at=now,
            )
            for recipient in recipients
        ]
        with self._changed:
            self._accepted.extend(records)
            if self.auto_report and not test and (callback or self.callback_url):
                self._sequence += 1
                heapq.heappush(
                    self._schedule, (now + self.report_delay, self._sequence, transfer_id)
                )
            self._changed.notify_all()
        message = {2000: "OK", 2001: "OK, queued", 2002: "OK, test"}.get(code, "OK")
        return _result(
            code,
            message,
            transfer_id=transfer_id,
            client_message_id=cid,
            sms_count=segments * len(recipients),
        )

    def _record(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        http_status: int | None,
        response: dict[str, Any] | None,
    ) -> None:
        entry = SandboxRequest(method, path, headers, raw, http_status, response)
        with self._changed:
            self._requests.append(entry)
            self._changed.notify_all()


# --- request parsing and validation (pure functions) ---------------------------------------


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["Content-Length"] = environ["CONTENT_LENGTH"]
    return headers


def _parse(
    kind: str, method: str, environ: dict[str, Any], raw: bytes
) -> tuple[dict[str, Any] | None, tuple[int, str] | None]:
    if kind == "text":
        try:
            decoded = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, (4000, "malformed JSON")
        if not isinstance(decoded, dict):
            return None, (4000, "malformed JSON: an object is expected")
        return decoded, None
    # simple: query (GET) or form (POST) parameters, messageContent Latin-1 URL-encoded
    query = environ.get("QUERY_STRING", "") if method == "GET" else raw.decode("latin-1")
    params = parse_qs(query, keep_blank_values=True, encoding="latin-1")
    body: dict[str, Any] = {key: values[-1] for key, values in params.items()}
    body.pop("access_token", None)
    if "recipientAddressList" in params:
        body["recipientAddressList"] = [
            number.strip()
            for value in params["recipientAddressList"]
            for number in value.split(",")
            if number.strip()
        ]
    return body, None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def validate(body: dict[str, Any], senders: set[str] | None = None) -> tuple[int, str] | None:
    """The statusCode and message for an invalid send request, or None (reference §9)."""
    for name in ("recipientAddressList", "messageContent"):
        if body.get(name) in (None, "", []):
            return 4019, f"required parameter missing: {name}"
    recipients = body["recipientAddressList"]
    if not isinstance(recipients, list):
        return 4002, "recipientAddressList must be a list of MSISDNs"
    if len(recipients) > MAX_RECIPIENTS:
        return 4025, f"too many recipients: at most {MAX_RECIPIENTS}"
    for number in recipients:
        digits = str(number) if _as_int(number) is not None or isinstance(number, str) else ""
        if not _MSISDN.fullmatch(digits):
            return 4002, f"invalid recipient {number!r}: max. 15 digits full international MSISDN"
    if not isinstance(body["messageContent"], str):
        return 4009, "messageContent must be a string"
    error = _check_sender(body, senders)
    if error is not None:
        return error
    category = body.get("contentCategory")
    if category is not None and category not in CONTENT_CATEGORIES:
        return 4040, f"invalid contentCategory {category!r}"
    if "validityPeriode" in body:
        validity = _as_int(body["validityPeriode"])
        if validity is None or not 60 <= validity <= 259200:
            return 4041, "validityPeriode must be 60..259200 seconds"
    message_type = body.get("messageType")
    if message_type is not None and message_type not in MESSAGE_TYPES:
        return 4004, f"invalid messageType {message_type!r}"
    if body.get("priority") is not None:
        priority = _as_int(body["priority"])
        if priority is None or not 0 <= priority <= 9:
            return 4015, "invalid priority"
    cid = body.get("clientMessageId")
    if cid is not None and (not isinstance(cid, str) or len(cid) > 255):
        return 4008, "clientMessageId must be a string of at most 255 characters"
    callback = body.get("notificationCallbackUrl")
    if callback is not None:
        parts = urlsplit(str(callback))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return 4016, "invalid notificationCallbackUrl"
    if body.get("test") not in (None, True, False, "true", "false"):
        return 4000, "test must be true or false"
    if body.get("maxSmsPerMessage") is not None:
        limit = _as_int(body["maxSmsPerMessage"])
        if limit is None or limit < 0:
            return 4000, "maxSmsPerMessage must be a number"
        segments = analyze(body["messageContent"]).segments
        if limit and segments > limit:
            return 4026, f"message needs {segments} SMS, maxSmsPerMessage is {limit}"
    return None


def _check_sender(body: dict[str, Any], senders: set[str] | None) -> tuple[int, str] | None:
    address, kind = body.get("senderAddress"), body.get("senderAddressType")
    invalid = (4003, "sender address or type is invalid")
    if kind is not None and kind not in SENDER_TYPES:
        return invalid
    if address is None:
        return None if kind is None else invalid
    if not isinstance(address, str):
        return invalid
    if not sender_fits(address, kind):  # websms's formats, as the Einstellungen check them
        return invalid
    if senders is not None and address not in senders:
        return invalid
    return None


def _only_delay(fault: Fault) -> bool:
    return not (
        fault.drop
        or fault.hang
        or fault.malformed
        or fault.http_status is not None
        or (fault.status_code is not None and fault.status_code not in (2000, 2001, 2002))
    )


def _cid(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _result(
    code: int,
    message: str,
    *,
    transfer_id: str | None = None,
    client_message_id: str | None = None,
    sms_count: int = 0,
) -> dict[str, Any]:
    return {
        "statusCode": code,
        "statusMessage": message,
        "transferId": transfer_id,
        "clientMessageId": client_message_id,
        "smsCount": sms_count,
    }


def _answer(
    start_response: Callable[..., Any], status: int, payload: dict[str, Any], close: bool = False
) -> list[bytes]:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = [("Content-Type", "application/json;charset=UTF-8")]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Basic realm="websms", Bearer'))
    if close:
        headers.append(("Connection", "close"))
    start_response(f"{status} {_STATUS_TEXT.get(status, 'Error')}", headers)
    return [data]


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def delivery_report(sms: AcceptedSms, status: str, delivered_as: str = "sms") -> dict[str, Any]:
    """The deliveryReport notification for one recipient (reference §5). senderAddress is the
    handset the report is about, as in the WebSmsNet example."""
    payload: dict[str, Any] = {
        "messageType": "deliveryReport",
        "notificationId": secrets.token_hex(10),
        "transferId": sms.transfer_id,
        "senderAddress": sms.recipient,
        "deliveryReportMessageStatus": status,
        "sentOn": _now_iso(),
    }
    if sms.sender_address:
        payload["recipientAddress"] = sms.sender_address
    if status == "delivered":
        payload["deliveredOn"] = _now_iso()
        payload["deliveredAs"] = delivered_as
    if sms.client_message_id is not None:
        payload["clientMessageId"] = sms.client_message_id
    return payload


# --- CLI -----------------------------------------------------------------------------------


@click.command("websms")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--token", default="sandbox-token", show_default=True, help="Accepted Bearer access token."
)
@click.option("--username", default=None, help="Accepted Basic-auth API user (with --password).")
@click.option("--password", default=None, help="Password of --username.")
@click.option(
    "--latency", default=0.0, show_default=True, type=float, help="Seconds before each answer."
)
@click.option(
    "--auto-report/--no-auto-report",
    default=True,
    show_default=True,
    help="Send delivery reports to each message's notificationCallbackUrl by itself.",
)
@click.option(
    "--report-delay", default=2.0, show_default=True, type=float, help="Seconds until a report."
)
@click.option(
    "--callback-url", default=None, help="Delivery reports for messages without their own URL."
)
def websms_command(
    host: str,
    port: int,
    token: str,
    username: str | None,
    password: str | None,
    latency: float,
    auto_report: bool,
    report_delay: float,
    callback_url: str | None,
) -> None:
    """Run the websms sandbox (the websms REST API on this machine) until Ctrl-C."""
    sandbox = WebsmsSandbox(
        token=token or None,
        username=username,
        password=password,
        host=host,
        port=port,
        latency=latency,
        auto_report=auto_report,
        report_delay=report_delay,
        callback_url=callback_url,
    ).start()
    click.echo(f"websms-Sandbox läuft auf {sandbox.url} (Basis-URL für die Job-Einstellungen).")
    if token:
        click.echo(f"Zugangstoken (Bearer): {token}")
    if username:
        click.echo(f"API-Benutzer (Basic): {username}")
    click.echo("Beenden mit Strg-C.")
    sandbox.serve_until_interrupted()

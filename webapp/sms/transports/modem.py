"""Variante 1: SMS through a GSM modem, usually behind a Moxa NPort 5110 (SPEC R2.1, E1, E3, E4).

The modem is reached with pyserial's `serial_for_url`: `socket://host:4001` (NPort in TCP-server
mode: the NPort does the serial settings itself), `rfc2217://host:port` (settings are sent to the
server) or a local device such as `/dev/ttyUSB0`. Everything is sent in PDU mode (AT+CMGF=0) with
the PDUs of `webapp.sms.encoding.build_submit_pdus`; facts in `reference/gsm-modem.md`.

What the send job can rely on (base.py): one outcome per SMS, one SMS at a time (`window` 1);
`TransportUnavailable` only when nothing could be tried. A message is `UNKNOWN` as soon as the
modem may have sent any part of it (Ctrl-Z written, a part accepted) and the answer did not say
so; a message of which
nothing left the building is retried once on a fresh connection (dropped TCP link, hung modem)
and otherwise `TRANSIENT`. Error codes are classified only in classify.py.

Every wait reads what the link has and stops at a deadline: no fixed pauses. Unsolicited result
codes (+CMTI, +CDS, RING, +CREG, ^RSSI, …) may arrive anywhere, also inside a reply; the ones the
receive path needs are queued (`take_unsolicited`, `take_status_reports`, `on_unsolicited`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import random
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import serial
from flask_babel import lazy_gettext as _l

from webapp.sms.encoding import (
    DecodedDeliver,
    DecodedStatusReport,
    SubmitPdu,
    build_submit_pdus,
    decode_deliver_pdu,
    decode_status_report_pdu,
    join_parts,
    pdu_type,
)
from webapp.sms.transports.base import (
    Outcome,
    OutcomeKind,
    OutgoingSms,
    TransportUnavailable,
    Verdict,
)
from webapp.sms.transports.classify import (
    cme_error,
    cme_error_code,
    cms_error,
    cms_error_code,
    modem_error_text,
    network_failure,
    outcome_unknown,
)

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"
ESC = b"\x1b"
_POLL = 0.02  # read timeout for ports without a file descriptor (rfc2217://): a short poll

_FINAL_ERRORS = ("ERROR", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS", "NO CARRIER")
_SPONTANEOUS = {"RING", "RDY", "SMS READY", "CALL READY", "NO CARRIER", "POWERED DOWN"}
_ROUTED = ("+CMTI:", "+CDSI:", "+CDS:", "+CMT:")  # what the receive path wants to know
_BUSY = {"CME 14", "CME 515", "CMS 314", "CMS 515"}  # "wait a moment" during initialisation
_CPIN_STATES = {"SIM PUK": 12, "PH-SIM PIN": 5, "SIM PIN2": 17, "SIM PUK2": 18, "PH-NET PIN": 40}


@dataclass(frozen=True)
class ModemSettings:
    """How to reach the modem and how long to wait (job settings, "COM Einstellungen")."""

    url: str  # socket://host:4001, rfc2217://host:port, /dev/ttyUSB0
    baudrate: int = 115200
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False
    pin: str | None = field(default=None, repr=False)
    cmgs_timeout: float = 60.0  # after Ctrl-Z until +CMGS (networks take up to 60-120 s)
    command_timeout: float = 10.0  # any other answer, also the `> ` prompt
    validity_hours: int | None = 168
    request_status_report: bool = True
    list_timeout: float = 60.0  # AT+CMGL with a full SIM
    idle_check: float = 30.0  # an idle connection is checked with `AT` before it is used again
    quiet_time: float = 0.05  # after ESC: how long the line must stay silent to count as clean
    multipart_timeout: float = 3600.0  # an incomplete received multipart SMS is delivered anyway
    new_message_indications: bool = True  # AT+CNMI=2,1,0,1,0: +CMTI and +CDS


@dataclass(frozen=True)
class Unsolicited:
    """A result code the modem sent on its own: +CMTI, +CDSI (stored), +CDS/+CMT (with PDU)."""

    code: str  # "+CMTI", "+CDSI", "+CDS", "+CMT"
    line: str
    pdu: str | None = None

    @property
    def index(self) -> int | None:
        """The storage index of +CMTI / +CDSI (`+CMTI: "SM",3` → 3)."""
        if self.code not in ("+CMTI", "+CDSI"):
            return None
        try:
            return int(self.line.rsplit(",", 1)[1])
        except (IndexError, ValueError):
            return None


@dataclass(frozen=True)
class StatusReport:
    """What became of a sent part: `message_reference` is the `+CMGS: <mr>` of the part."""

    message_reference: int
    recipient: str
    status: int  # TP-ST
    delivered: bool
    final: bool  # False while the SMS centre keeps trying
    discharge_time: datetime | None
    index: int | None = None  # where it is stored on the modem (delete with `delete`)

    @classmethod
    def from_pdu(cls, decoded: DecodedStatusReport, index: int | None = None) -> StatusReport:
        return cls(
            message_reference=decoded.message_reference,
            recipient=decoded.recipient,
            status=decoded.status,
            delivered=decoded.delivered,
            final=decoded.final,
            discharge_time=decoded.discharge_time,
            index=index,
        )


@dataclass(frozen=True)
class ReceivedSms:
    """A received SMS, multipart ones joined. Delete `indices` once it is stored (`delete`)."""

    sender: str
    text: str
    sent_at: datetime | None  # the SMS centre's time stamp of the first part
    indices: tuple[int, ...]
    parts: int
    complete: bool = True  # False: parts missing after `multipart_timeout`
    encoding: str = "GSM-7"


@dataclass(frozen=True)
class ModemStatus:
    """Signal and network registration for the job's status page."""

    rssi: int | None  # 0-31, None when unknown (99)
    ber: int | None
    dbm: int | None
    signal: str  # German
    registration: str  # home, roaming, searching, denied, not_registered, unknown
    registration_text: str  # German

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming")


class ModemUnavailable(TransportUnavailable):
    """The modem cannot be used (unreachable, silent, SIM locked). `verdict` says whether the
    run must stop (`fails_run`, e.g. a wrong PIN); `code` is the modem's error code if any."""

    def __init__(
        self,
        reason: str,
        verdict: Verdict | None = None,
        code: str | None = None,
        pin_rejected: bool = False,
    ):
        super().__init__(reason)
        self.verdict = verdict
        self.code = code
        # The SIM refused the configured PIN: it must never be sent again (the caller stores
        # this, as each run may be a new process) until someone enters a new PIN.
        self.pin_rejected = pin_rejected

    @property
    def fails_run(self) -> bool:
        return bool(self.verdict and self.verdict.fails_run)

    def outcome(self, message_id: int) -> Outcome:
        """The message was not tried: it stays for a later run (stopping this one if needed)."""
        return Outcome(
            message_id=message_id,
            kind=OutcomeKind.TRANSIENT,
            code=self.code,
            reason=self.reason,
            fails_run=self.fails_run,
        )


# A wrong PIN is never sent twice: three tries lock the SIM (PUK). Remembered per modem URL and
# PIN for the life of the process; the job keeps its own record from the outcome's code.
_REJECTED_PINS: dict[tuple[str, str], ModemUnavailable] = {}
_REJECTED_LOCK = threading.Lock()


def forget_rejected_pin(url: str) -> None:
    """After the PIN was changed in the job settings: allow one try again."""
    with _REJECTED_LOCK:
        for key in [key for key in _REJECTED_PINS if key[0] == url]:
            del _REJECTED_PINS[key]


# --- the link: pyserial, read what is there, up to a deadline -----------------------------------


class _LinkDown(Exception):
    """The connection failed (closed by the peer, socket error, device gone)."""


class _NoAnswer(Exception):
    """The deadline passed without the answer."""


class _ModemSaidError(Exception):
    def __init__(self, line: str, verdict: Verdict, code: str) -> None:
        super().__init__(line)
        self.line = line
        self.verdict = verdict
        self.code = code


class _Link:
    """A pyserial port read without fixed waits: select() on its descriptor where it has one
    (socket://, local ports), short polls of the reader queue otherwise (rfc2217://).

    For socket:// the bytes go straight through pyserial's socket (opened and owned by
    pyserial): its read/write add a Timeout object and a second select() per call, a fifth of
    the cost of a message on a fast link."""

    def __init__(self, settings: ModemSettings) -> None:
        try:
            port = serial.serial_for_url(settings.url, do_not_open=True)
            port.baudrate = settings.baudrate
            port.bytesize = settings.bytesize
            port.parity = settings.parity
            port.stopbits = settings.stopbits
            port.rtscts = settings.rtscts
            port.xonxoff = settings.xonxoff
        except (serial.SerialException, ValueError) as exc:
            raise _LinkDown(str(exc)) from exc
        self.port = port
        self.write_timeout = settings.command_timeout
        self._rfc2217 = type(port).__module__ == "serial.rfc2217"
        if self._rfc2217:
            # changing the timeout of an open rfc2217 port renegotiates the port settings, and
            # it has no write timeout: poll its reader queue briefly instead
            port.timeout = _POLL
        else:
            port.timeout = 0  # after select() said "readable": take what is there
            port.write_timeout = settings.command_timeout
        self._fd: int | None = None
        self._sock: socket.socket | None = None

    def open(self) -> None:
        try:
            self.port.open()
            try:
                self._fd = self.port.fileno()
            except (io.UnsupportedOperation, AttributeError, OSError):
                self._fd = None  # no descriptor (rfc2217, loop, Windows): short polls
                if not self._rfc2217:
                    self.port.timeout = _POLL
            sock = getattr(self.port, "_socket", None)
            if type(self.port).__module__.endswith("protocol_socket") and isinstance(
                sock, socket.socket
            ):
                self._sock = sock
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _LinkDown(str(exc)) from exc

    def read_some(self, timeout: float) -> bytes:
        """What arrives within `timeout` (at least one byte if anything comes), or b""."""
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
                if not ready:
                    return b""
                if self._sock is None:
                    return self.port.read(4096)
                try:
                    data = self._sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    return b""
                if not data:
                    raise _LinkDown("socket disconnected")
                return data
            if timeout <= 0 and not self.port.in_waiting:
                return b""  # the read below would wait for the fixed poll time
            data = self.port.read(1)
            if data:
                waiting = self.port.in_waiting
                if waiting:
                    data += self.port.read(waiting)
            return data
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _LinkDown(str(exc) or type(exc).__name__) from exc

    def write(self, data: bytes) -> None:
        try:
            if self._sock is None:
                self.port.write(data)
                return
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent == len(data):
                return
            view = memoryview(data)[sent:]
            deadline = time.monotonic() + self.write_timeout
            while view:
                try:
                    view = view[self._sock.send(view) :]
                except (BlockingIOError, InterruptedError):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _LinkDown("write timeout") from None
                    select.select([], [self._sock], [], remaining)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _LinkDown(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        port = self.port
        sock = self._sock
        if sock is not None:
            # pyserial's socket close sleeps 0.3 s "for quick reconnects"; we reconnect on our
            # own terms, so close the socket directly.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            port._socket = None
            port.is_open = False
            self._sock = None
            return
        with contextlib.suppress(serial.SerialException, OSError):
            port.close()


# --- the AT channel: lines, echo, URCs, final result codes --------------------------------------


def _parse_error(line: str) -> _ModemSaidError:
    """+CMS ERROR / +CME ERROR (numeric or verbose) or a bare error word → a classified error."""
    upper = line.upper()
    for prefix, number_of, classify, kind in (
        ("+CMS ERROR:", cms_error_code, cms_error, "CMS"),
        ("+CME ERROR:", cme_error_code, cme_error, "CME"),
    ):
        if upper.startswith(prefix):
            text = line[len(prefix) :].strip()
            code = number_of(text)
            if code is None:
                return _ModemSaidError(line, modem_error_text(text), f"{kind} {text}")
            return _ModemSaidError(line, classify(code), f"{kind} {code}")
    return _ModemSaidError(line, modem_error_text(line), line.strip())


class _AtChannel:
    """Lines from the modem: echo skipped, unsolicited codes handed on, answers collected."""

    def __init__(self, link: _Link, unsolicited: Callable[[Unsolicited], None]) -> None:
        self.link = link
        self.buffer = bytearray()
        self._unsolicited = unsolicited
        self._pdu_for: str | None = None  # a +CDS/+CMT line whose PDU is the next line
        self.last_used = time.monotonic()

    # reading

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _NoAnswer
        data = self.link.read_some(remaining)
        if data:
            self.buffer += data
            if log.isEnabledFor(logging.DEBUG):
                log.debug("modem → %r", bytes(data))

    def _pop_line(self) -> str | None:
        """The next complete non-empty line, without CR/LF, echo prompt and control bytes."""
        while True:
            end = self.buffer.find(b"\n")
            if end < 0:
                return None
            raw = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            line = raw.decode("latin-1").strip("\r\n\t \x1a\x1b")
            if line.startswith(">"):  # an echoed PDU after the prompt
                line = line[1:].strip()
            if line:
                return line

    def _prompt_waiting(self) -> bool:
        """The `> ` prompt (no line end) at the start of what is left: consume it."""
        start = 0
        while start < len(self.buffer) and self.buffer[start] in b"\r\n":
            start += 1
        if start < len(self.buffer) and self.buffer[start] == ord(">"):
            end = start + 1
            if end < len(self.buffer) and self.buffer[end] == ord(" "):
                end += 1
            del self.buffer[:end]
            return True
        return False

    def _kind(self, line: str, command: str | None, expect: str | None) -> str:
        """echo, ok, error, info (starts with `expect`), urc, or other."""
        if self._pdu_for is not None:
            first, self._pdu_for = self._pdu_for, None
            self._route(first, line)
            return "urc"
        upper = line.upper()
        if command is not None and upper == command.upper():
            return "echo"
        if upper == "OK":
            return "ok"
        if upper in _FINAL_ERRORS or upper.startswith(("+CMS ERROR:", "+CME ERROR:")):
            return "error"
        if expect is not None and upper.startswith(expect):
            return "info"
        if line[0] in "+^" or upper in _SPONTANEOUS:
            self._urc(line)
            return "urc"
        return "other"

    def _urc(self, line: str) -> None:
        upper = line.upper()
        if upper.startswith(("+CDS:", "+CMT:")):
            fields = line.split(":", 1)[1].split(",")
            # PDU mode: `+CDS: <length>` / `+CMT: [<alpha>],<length>`, the PDU on the next line
            if (upper.startswith("+CDS:") and len(fields) == 1) or upper.startswith("+CMT:"):
                self._pdu_for = line
                return
        if upper.startswith(_ROUTED):
            self._route(line, None)
        else:
            log.debug("modem: unsolicited %r ignored", line)

    def _route(self, line: str, pdu: str | None) -> None:
        code = line.split(":", 1)[0].strip().upper()
        self._unsolicited(Unsolicited(code=code, line=line, pdu=pdu))

    def drain(self, quiet: float = 0.0, limit: float = 1.0) -> None:
        """Handle what has arrived unasked. With `quiet`, read until the line has been silent
        that long (at most `limit`) and drop what is left: a clean start after ESC."""
        if quiet > 0:
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                data = self.link.read_some(min(quiet, deadline - time.monotonic()))
                if not data:
                    break
                self.buffer += data
        else:
            while True:
                data = self.link.read_some(0)
                if not data:
                    break
                self.buffer += data
        while (line := self._pop_line()) is not None:
            if self._kind(line, None, None) not in ("urc",):
                log.debug("modem: unexpected %r dropped", line)
        if quiet > 0 and self.buffer:
            log.debug("modem: partial %r dropped", bytes(self.buffer))
            self.buffer.clear()

    # commands

    def write(self, data: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "modem ← %r", b'AT+CPIN="****"' if data.upper().startswith(b"AT+CPIN=") else data
            )
        self.link.write(data)
        self.last_used = time.monotonic()

    def command(
        self,
        command: str,
        timeout: float,
        expect: str | None = None,
        grace_after_info: float | None = None,
    ) -> list[str]:
        """Send `command`, return its information lines (`expect` prefix and other non-URC
        lines) once `OK` came; raise _ModemSaidError on an error result. With
        `grace_after_info`, an information line without `OK` after that long counts as done
        (Wavecom answers AT+CPIN? without OK)."""
        self.drain()
        self.write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        info_deadline: float | None = None
        while True:
            line = self._pop_line()
            if line is None:
                if info_deadline is not None:
                    try:
                        self._fill(min(deadline, info_deadline))
                    except _NoAnswer:
                        return lines
                else:
                    self._fill(deadline)
                continue
            kind = self._kind(line, command, expect)
            if kind == "ok":
                return lines
            if kind == "error":
                raise _parse_error(line)
            if kind in ("info", "other"):
                lines.append(line)
                if kind == "info" and grace_after_info is not None:
                    info_deadline = time.monotonic() + grace_after_info

    def wait_prompt(self, command: str, deadline: float) -> None:
        """Until the `> ` prompt of AT+CMGS; an error result raises. A stray `OK` (a late answer
        to something earlier) cannot be the answer to AT+CMGS and is skipped."""
        while True:
            line = self._pop_line()
            if line is None:
                if self._prompt_waiting():
                    return
                self._fill(deadline)
                continue
            kind = self._kind(line, command, None)
            if kind == "error":
                raise _parse_error(line)
            if kind in ("ok", "other"):
                log.debug("modem: %r before the prompt skipped", line)

    def wait_submitted(self, deadline: float) -> int | None:
        """After Ctrl-Z: `+CMGS: <mr>` then `OK`; the echoed PDU and URCs are skipped."""
        reference: int | None = None
        while True:
            line = self._pop_line()
            if line is None:
                self._fill(deadline)
                continue
            kind = self._kind(line, None, "+CMGS:")
            if kind == "info":
                try:
                    reference = int(line.split(":", 1)[1].split(",")[0])
                except ValueError:
                    log.warning("modem: unreadable %r", line)
            elif kind == "ok":
                return reference
            elif kind == "error":
                raise _parse_error(line)


# --- the transport ------------------------------------------------------------------------------


class _NothingSent(Exception):
    """No byte of the message can have left: safe to try again on a fresh connection."""


def _signal_text(rssi: int | None) -> str:
    if rssi is None:
        return str(_l("unbekannt"))
    if rssi <= 1:
        return str(_l("kein oder kaum Signal"))
    if rssi <= 9:
        return str(_l("schwach"))
    if rssi <= 14:
        return str(_l("ausreichend"))
    if rssi <= 19:
        return str(_l("gut"))
    return str(_l("sehr gut"))


_REGISTRATION = {
    0: ("not_registered", _l("nicht im Netz angemeldet")),
    1: ("home", _l("im Heimnetz angemeldet")),
    2: ("searching", _l("nicht angemeldet, sucht ein Netz")),
    3: ("denied", _l("Anmeldung im Netz abgelehnt")),
    4: ("unknown", _l("Netzstatus unbekannt")),
    5: ("roaming", _l("angemeldet (Roaming)")),
}


class ModemTransport:
    """Variante 1. One connection at a time; opened on first use, kept until `close`."""

    name = "modem"
    window = 1  # one serial line: one SMS at a time

    def __init__(
        self,
        settings: ModemSettings,
        *,
        on_unsolicited: Callable[[Unsolicited], None] | None = None,
        first_reference: int | None = None,
    ) -> None:
        self.settings = settings
        self._on_unsolicited = on_unsolicited
        self._reference = (
            random.randrange(256) if first_reference is None else first_reference % 256
        )
        self._lock = threading.RLock()
        self._link: _Link | None = None
        self._at: _AtChannel | None = None
        self._needs_check = False
        self._events: deque[Unsolicited] = deque()
        self._reports: deque[StatusReport] = deque()
        self._first_seen: dict[tuple, datetime] = {}

    # connection

    def _pin_key(self) -> tuple[str, str]:
        digest = hashlib.sha256((self.settings.pin or "").encode()).hexdigest()
        return (self.settings.url, digest)

    def _unavailable(self, detail: str) -> ModemUnavailable:
        return ModemUnavailable(
            str(_l("Modem nicht erreichbar (%(url)s): %(d)s", url=self.settings.url, d=detail)),
            network_failure(detail),
            "link",
        )

    def _drop(self) -> None:
        if self._link is not None:
            self._link.close()
        self._link = self._at = None

    def _connect(self) -> _AtChannel:
        """Open the port and initialise the modem; ModemUnavailable if that fails."""
        self._drop()
        try:
            link = _Link(self.settings)
            link.open()
        except _LinkDown as exc:
            raise self._unavailable(str(exc)) from exc
        at = _AtChannel(link, self._unsolicited)
        try:
            self._initialise(at)
        except _LinkDown as exc:
            link.close()
            raise self._unavailable(
                str(_l("Verbindung beim Initialisieren unterbrochen (%(e)s)", e=exc))
            ) from exc
        except BaseException:
            link.close()
            raise
        self._link, self._at, self._needs_check = link, at, False
        return at

    def _retrying_busy(
        self, at: _AtChannel, call: Callable[[], list[str]], bare_error: bool = False
    ) -> list[str]:
        """Run `call`; while the modem or SIM says "busy", read on for a moment and repeat.
        `bare_error`: a plain ERROR may mean busy too (before AT+CMEE=1 took effect)."""
        deadline = time.monotonic() + self.settings.command_timeout
        pause = 0.05
        while True:
            try:
                return call()
            except _ModemSaidError as err:
                busy = err.code in _BUSY or (bare_error and err.code == "ERROR")
                if not busy or time.monotonic() + pause >= deadline:
                    raise
            with contextlib.suppress(_NoAnswer):
                at._fill(time.monotonic() + pause)  # a busy modem may report in the meantime
            at.drain()
            pause = min(pause * 2, 1.0)

    def _initialise(self, at: _AtChannel) -> None:
        s = self.settings
        timeout = s.command_timeout
        at.write(ESC)  # a prompt left over from an interrupted AT+CMGS is abandoned
        at.drain(quiet=s.quiet_time)
        try:
            try:
                at.command("AT", timeout)
            except _ModemSaidError:
                at.command("AT", timeout)  # garbage before the first AT
        except _NoAnswer as exc:
            raise self._unavailable(str(_l("Das Modem antwortet nicht auf AT."))) from exc
        except _ModemSaidError as err:
            raise self._unavailable(err.line) from err
        self._optional(at, "ATE0")
        error_codes = self._optional(at, "AT+CMEE=1")
        if self._unlock(at) and not error_codes:
            # Some modems (ZTE) refuse AT+CMEE while the SIM waits for its PIN; without it every
            # later error would be a bare ERROR without its code.
            self._optional(at, "AT+CMEE=1")
        try:
            self._retrying_busy(at, lambda: at.command("AT+CMGF=0", timeout), bare_error=True)
        except _ModemSaidError as err:
            raise ModemUnavailable(
                str(
                    _l(
                        "Das Modem kann nicht in den PDU-Modus schalten: %(r)s",
                        r=err.verdict.reason,
                    )
                ),
                err.verdict,
                err.code,
            ) from err
        except _NoAnswer as exc:
            raise self._unavailable(str(_l("keine Antwort auf AT+CMGF=0"))) from exc
        if s.new_message_indications:
            try:
                at.command("AT+CNMI=2,1,0,1,0", timeout)
            except (_ModemSaidError, _NoAnswer) as exc:
                log.info("modem: AT+CNMI not accepted (%s)", exc)

    def _optional(self, at: _AtChannel, command: str) -> bool:
        """Send a setting the modem may refuse (waiting out "busy"); whether it took it."""
        try:
            self._retrying_busy(at, lambda: at.command(command, self.settings.command_timeout))
        except (_ModemSaidError, _NoAnswer) as exc:
            log.info("modem: %s not accepted (%s)", command, exc)
            return False
        return True

    def _sim_state(self, at: _AtChannel) -> str:
        try:
            lines = self._retrying_busy(
                at,
                lambda: at.command(
                    "AT+CPIN?", self.settings.command_timeout, "+CPIN:", grace_after_info=0.5
                ),
                bare_error=True,
            )
        except _ModemSaidError as err:
            raise ModemUnavailable(err.verdict.reason, err.verdict, err.code) from err
        except _NoAnswer as exc:
            raise self._unavailable(str(_l("keine Antwort auf AT+CPIN?"))) from exc
        for line in lines:
            if line.upper().startswith("+CPIN:"):
                return line.split(":", 1)[1].strip().strip('"').upper()
        return "READY" if not lines else lines[0].strip().strip('"').upper()

    def _unlock(self, at: _AtChannel) -> bool:
        """SIM PIN: entered once if configured, never again after the SIM refused it.

        True when the PIN was entered now, False when the SIM was ready already."""
        state = self._sim_state(at)
        if state == "READY":
            return False
        if state == "SIM PIN":
            pin = self.settings.pin
            if not pin:
                verdict = cme_error(11)
                raise ModemUnavailable(verdict.reason, verdict, "CME 11")
            key = self._pin_key()
            with _REJECTED_LOCK:
                rejected = _REJECTED_PINS.get(key)
            if rejected is not None:
                raise rejected
            try:
                at.command(f'AT+CPIN="{pin}"', self.settings.command_timeout)
            except _ModemSaidError as err:
                verdict = err.verdict
                if err.code not in ("CME 12", "CME 16"):
                    # Whatever the modem says: the PIN is not sent again by this process.
                    verdict = Verdict(
                        OutcomeKind.PERMANENT,
                        str(_l("Die SIM-PIN wurde nicht angenommen (%(r)s).", r=verdict.reason))
                        + " "
                        + str(_l("Die PIN wird nicht erneut versucht.")),
                        fails_run=True,
                    )
                unavailable = ModemUnavailable(verdict.reason, verdict, err.code, pin_rejected=True)
                with _REJECTED_LOCK:
                    _REJECTED_PINS[key] = unavailable
                raise unavailable from err
            except _NoAnswer as exc:
                raise self._unavailable(str(_l("keine Antwort auf die PIN-Eingabe"))) from exc
            state = self._sim_state(at)
            if state == "READY":
                return True
        code = _CPIN_STATES.get(state)
        if code is not None:
            verdict = cme_error(code)
            raise ModemUnavailable(verdict.reason, verdict, f"CME {code}")
        verdict = Verdict(
            OutcomeKind.PERMANENT, str(_l("SIM-Karte nicht bereit: %(s)s", s=state)), True
        )
        raise ModemUnavailable(verdict.reason, verdict, f"CPIN {state}")

    def _ready(self) -> _AtChannel:
        """The channel, connected and initialised; an idle or doubtful one is checked first."""
        at = self._at
        if at is None:
            return self._connect()
        idle = time.monotonic() - at.last_used
        if self._needs_check or idle > self.settings.idle_check:
            try:
                at.drain()
                at.command("AT", self.settings.command_timeout)
                at.drain(quiet=self.settings.quiet_time)  # a late answer to what timed out
                self._needs_check = False
            except (_LinkDown, _NoAnswer, _ModemSaidError) as exc:
                log.warning("modem: check failed (%s), reconnecting", exc)
                return self._connect()
        return at

    # unsolicited

    def _unsolicited(self, event: Unsolicited) -> None:
        if event.code == "+CDS" and event.pdu:
            try:
                self._reports.append(StatusReport.from_pdu(decode_status_report_pdu(event.pdu)))
            except ValueError as exc:
                log.warning("modem: unreadable status report %r: %s", event.pdu, exc)
        self._events.append(event)
        if self._on_unsolicited is not None:
            try:
                self._on_unsolicited(event)
            except Exception:
                log.exception("modem: on_unsolicited failed")

    def take_unsolicited(self) -> list[Unsolicited]:
        """The +CMTI/+CDSI/+CDS/+CMT codes seen since the last call."""
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def take_status_reports(self) -> list[StatusReport]:
        """Status reports from +CDS and from the stored ones `receive` listed."""
        reports = []
        while self._reports:
            reports.append(self._reports.popleft())
        return reports

    def poll(self, timeout: float = 0.0) -> int:
        """Read what the modem sent on its own, waiting up to `timeout` for a new code (e.g.
        +CDS after sending); returns how many are queued for `take_unsolicited`."""
        with self._lock:
            at = self._at
            if at is None:
                return len(self._events)
            before = len(self._events)
            deadline = time.monotonic() + timeout
            try:
                at.drain()
                while len(self._events) == before:
                    try:
                        at._fill(deadline)
                    except _NoAnswer:
                        break
                    at.drain()
            except _LinkDown:
                self._drop()
            return len(self._events)

    # sending

    def send(self, sms: OutgoingSms) -> Outcome:
        """One SMS (all its parts). ModemUnavailable (a TransportUnavailable) when it was not
        handed to the modem: unreachable after one reconnect, SIM not ready, PIN refused."""
        with self._lock:
            self._ready()
            return self._send_message(sms)

    def _next_reference(self) -> int:
        self._reference = (self._reference + 1) % 256
        return self._reference

    def _send_message(self, sms: OutgoingSms) -> Outcome:
        s = self.settings
        try:
            pdus = build_submit_pdus(
                sms.recipient,
                sms.text,
                self._next_reference(),
                request_status_report=s.request_status_report,
                validity_hours=s.validity_hours,
            )
        except ValueError as exc:
            return Outcome(
                message_id=sms.message_id,
                kind=OutcomeKind.PERMANENT,
                code="PDU",
                reason=str(_l("Die SMS lässt sich nicht als PDU kodieren: %(e)s", e=exc)),
            )
        for attempt in (1, 2):
            at = self._ready()
            try:
                return self._submit(at, sms, pdus)
            except _NothingSent as exc:
                self._drop()
                if attempt == 2:
                    raise ModemUnavailable(str(exc), network_failure(str(exc)), "link") from exc
                log.warning("modem: %s; reconnecting to send message %d", exc, sms.message_id)
        raise AssertionError("unreachable")

    def _submit(self, at: _AtChannel, sms: OutgoingSms, pdus: list[SubmitPdu]) -> Outcome:
        """All parts of one message. Raises _NothingSent while retrying is safe."""
        s = self.settings
        total = len(pdus)
        references: list[int | None] = []

        def finish(
            kind: OutcomeKind,
            code: str | None,
            reason: str | None,
            fails_run: bool = False,
            halts: bool = False,
        ) -> Outcome:
            return Outcome(
                message_id=sms.message_id,
                kind=kind,
                provider_ref=",".join(str(r) for r in references if r is not None) or None,
                segments=total,
                code=code,
                reason=reason,
                fails_run=fails_run,
                halts=halts,
            )

        def unknown(detail: str, code: str) -> Outcome:
            if total > 1:
                detail = str(
                    _l("Teil %(n)d von %(t)d: %(d)s", n=len(references) + 1, t=total, d=detail)
                )
            verdict = outcome_unknown(detail)
            # No answer or a lost link: the next SMS goes out only as a probe.
            return finish(verdict.kind, code, verdict.reason, halts=True)

        for pdu in pdus:
            command = f"AT+CMGS={pdu.tpdu_length}"
            try:
                at.write(command.encode("ascii") + b"\r")  # what came unasked: wait_prompt
                at.wait_prompt(command, time.monotonic() + s.command_timeout)
                at.drain()  # a link that dropped after the prompt shows here, before Ctrl-Z
                at.write(pdu.hex.encode("ascii") + CTRL_Z)
            except _NoAnswer as exc:
                self._needs_check = True
                with contextlib.suppress(_LinkDown):
                    at.write(ESC)  # in case the prompt comes after all
                if references:
                    self._drop()
                    return unknown(str(_l("keine Antwort des Modems auf AT+CMGS")), "timeout")
                raise _NothingSent(str(_l("Das Modem antwortet nicht auf AT+CMGS."))) from exc
            except _LinkDown as exc:
                self._drop()
                if references:
                    return unknown(str(_l("Verbindung unterbrochen (%(e)s)", e=exc)), "link")
                raise _NothingSent(str(_l("Verbindung unterbrochen (%(e)s)", e=exc))) from exc
            except _ModemSaidError as err:
                outcome = self._refused(err, references, unknown, finish)
                if outcome is None:
                    continue
                return outcome
            try:
                references.append(at.wait_submitted(time.monotonic() + s.cmgs_timeout))
            except _NoAnswer:
                self._needs_check = True
                return unknown(
                    str(
                        _l(
                            "keine Antwort auf AT+CMGS innerhalb von %(s)s s nach dem Absenden",
                            s=f"{s.cmgs_timeout:g}",
                        )
                    ),
                    "timeout",
                )
            except _LinkDown as exc:
                self._drop()
                return unknown(
                    str(_l("Verbindung nach dem Absenden unterbrochen (%(e)s)", e=exc)), "link"
                )
            except _ModemSaidError as err:
                outcome = self._refused(err, references, unknown, finish)
                if outcome is not None:
                    return outcome
        return finish(OutcomeKind.ACCEPTED, None, None)

    @staticmethod
    def _refused(err: _ModemSaidError, references, unknown, finish) -> Outcome | None:
        """An error result for a part. None: it counts as accepted (duplicate), go on."""
        verdict = err.verdict
        if verdict.kind is OutcomeKind.ACCEPTED:
            references.append(None)
            return None
        if references:  # earlier parts are on their way
            return unknown(verdict.reason, err.code)
        return finish(verdict.kind, err.code, verdict.reason, verdict.fails_run)

    # status

    def status(self) -> ModemStatus:
        """Signal (AT+CSQ) and registration (AT+CREG?); TransportUnavailable if unreachable."""
        with self._lock:
            at = self._ready()
            timeout = self.settings.command_timeout
            rssi = ber = None
            stat: int | None = None
            try:
                for line in at.command("AT+CSQ", timeout, "+CSQ:"):
                    if line.upper().startswith("+CSQ:"):
                        values = [int(v) for v in line.split(":", 1)[1].split(",")[:2]]
                        rssi = values[0] if values[0] != 99 else None
                        ber = values[1] if len(values) > 1 and values[1] != 99 else None
                for line in at.command("AT+CREG?", timeout, "+CREG:"):
                    if line.upper().startswith("+CREG:"):
                        fields = line.split(":", 1)[1].split(",")
                        stat = int(fields[1] if len(fields) > 1 else fields[0])
            except (_ModemSaidError, ValueError) as exc:
                log.info("modem: status incomplete (%s)", exc)
            except (_LinkDown, _NoAnswer) as exc:
                self._drop()
                raise self._unavailable(str(exc) or type(exc).__name__) from exc
            registration, text = _REGISTRATION.get(
                stat if stat is not None else 4, ("unknown", _l("Netzstatus unbekannt"))
            )
            return ModemStatus(
                rssi=rssi,
                ber=ber,
                dbm=None if rssi is None else -113 + 2 * rssi,
                signal=_signal_text(rssi),
                registration=registration,
                registration_text=str(text),
            )

    # receiving

    def receive(self, now: datetime | None = None) -> list[ReceivedSms]:
        """The SMS stored on the modem (AT+CMGL=4), multipart ones joined. Incomplete sets stay
        until complete or `multipart_timeout` old. Nothing is deleted: call `delete` with the
        indices once they are stored. Stored status reports go to `take_status_reports`."""
        now = now or datetime.now(UTC)
        with self._lock:
            at = self._ready()
            try:
                lines = at.command("AT+CMGL=4", self.settings.list_timeout, "+CMGL:")
            except (_LinkDown, _NoAnswer) as exc:
                self._drop()
                raise self._unavailable(str(exc) or type(exc).__name__) from exc
            except _ModemSaidError as err:
                raise ModemUnavailable(err.verdict.reason, err.verdict, err.code) from err
        singles: list[ReceivedSms] = []
        groups: dict[tuple, list[tuple[int, int, DecodedDeliver]]] = {}
        for index, pdu in _listing(lines):
            try:
                kind = pdu_type(pdu)
                if kind == 2:
                    self._reports.append(
                        StatusReport.from_pdu(decode_status_report_pdu(pdu), index)
                    )
                    continue
                if kind != 0:
                    log.warning("modem: stored PDU %d of type %d left alone", index, kind)
                    continue
                sms = decode_deliver_pdu(pdu)
            except ValueError as exc:
                log.warning("modem: stored PDU %d unreadable (%s), left alone", index, exc)
                continue
            part = sms.concatenation
            if part is None or part.total <= 1:
                singles.append(
                    ReceivedSms(
                        sms.sender, sms.text, sms.timestamp, (index,), 1, True, sms.encoding
                    )
                )
                continue
            key = (sms.sender, part.reference, part.total, part.wide)
            groups.setdefault(key, []).append((part.sequence, index, sms))
        joined = []
        for key, parts in groups.items():
            total = key[2]
            by_sequence: dict[int, DecodedDeliver] = {}
            for sequence, _index, sms in sorted(parts, key=lambda p: (p[0], p[1])):
                by_sequence.setdefault(sequence, sms)
            complete = all(n in by_sequence for n in range(1, total + 1))
            if not complete:
                seen = self._first_seen.setdefault(key, now)
                stamps = [sms.timestamp for _s, _i, sms in parts if sms.timestamp is not None]
                newest = max([*stamps, seen])
                if now - newest < timedelta(seconds=self.settings.multipart_timeout):
                    continue
            self._first_seen.pop(key, None)
            ordered = [by_sequence[n] for n in sorted(by_sequence)]
            joined.append(
                ReceivedSms(
                    sender=key[0],
                    text=join_parts(sms.text for sms in ordered),
                    sent_at=ordered[0].timestamp,
                    indices=tuple(sorted(index for _s, index, _m in parts)),
                    parts=total,
                    complete=complete,
                    encoding=ordered[0].encoding,
                )
            )
        items = singles + joined
        items.sort(key=lambda item: item.indices[0])
        return items

    def delete(self, indices: Iterable[int]) -> list[int]:
        """Delete stored SMS (AT+CMGD=<index>) — only after they are safely stored."""
        deleted = []
        with self._lock:
            at = self._ready()
            for index in sorted(set(indices)):
                try:
                    at.command(f"AT+CMGD={int(index)}", self.settings.command_timeout)
                    deleted.append(index)
                except _ModemSaidError as err:
                    log.warning("modem: AT+CMGD=%d refused: %s", index, err.line)
                except (_LinkDown, _NoAnswer) as exc:
                    self._drop()
                    raise self._unavailable(str(exc) or type(exc).__name__) from exc
        return deleted

    def receive_into(self, store: Callable[[ReceivedSms], object]) -> int:
        """Hand every received SMS to `store`; delete it from the modem once `store` returned.
        If `store` raises, that SMS and the rest stay on the modem."""
        items = self.receive()
        for item in items:
            store(item)
            self.delete(item.indices)
        return len(items)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> ModemTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _listing(lines: list[str]) -> list[tuple[int, str]]:
    """(index, pdu) pairs of an AT+CMGL / PDU-mode listing: `+CMGL: <i>,<stat>,,<len>` + PDU."""
    pairs = []
    index: int | None = None
    for line in lines:
        if line.upper().startswith("+CMGL:"):
            try:
                index = int(line.split(":", 1)[1].split(",")[0])
            except ValueError:
                index = None
        elif index is not None:
            pairs.append((index, line.strip()))
            index = None
    return pairs

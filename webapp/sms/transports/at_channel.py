"""The AT channel to a GSM modem: bytes in and out of a serial line or socket, lines and result
codes to the caller (python-gsmmodem's `serial_comms.py`, for `modem.py`).

The port is opened with pyserial's `serial_for_url`: `socket://host:4001` (Moxa NPort in
TCP-server mode: the NPort does the serial settings itself), `rfc2217://host:port` (settings are
sent to the server) or a local device such as `/dev/ttyUSB0`.

Every wait reads what the link has and stops at a deadline: no fixed pauses. Unsolicited result
codes (+CMTI, +CDS, RING, +CREG, ^RSSI, …) may arrive anywhere, also inside a reply; the ones the
receive path needs (`_ROUTED`) go to the callback as `Unsolicited`, the others are dropped.

The channel knows AT framing (echo, `OK`/error results, the `> ` prompt, Ctrl-Z, ESC), not what
a result means for an SMS: an error result is raised as `ErrorResult` and judged by the modem
transport with classify.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

import serial
import serial.rfc2217
import serial.urlhandler.protocol_socket

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"
ESC = b"\x1b"
_POLL = 0.02  # read timeout for ports without a file descriptor (rfc2217://): a short poll

_FINAL_ERRORS = ("ERROR", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS", "NO CARRIER")
_SPONTANEOUS = {"RING", "RDY", "SMS READY", "CALL READY", "NO CARRIER", "POWERED DOWN"}
_ROUTED = ("+CMTI:", "+CDSI:", "+CDS:", "+CMT:")  # what the receive path wants to know
# The modem (re)started: its settings are back at power-on values (SIM800 "RDY", "SMS Ready")
_RESTARTED = ("RDY", "SMS READY", "^SYSSTART")


class PortSettings(Protocol):
    """What the channel needs of the modem settings (`ModemSettings`)."""

    @property
    def url(self) -> str: ...
    @property
    def baudrate(self) -> int: ...
    @property
    def bytesize(self) -> int: ...
    @property
    def parity(self) -> str: ...
    @property
    def stopbits(self) -> float: ...
    @property
    def rtscts(self) -> bool: ...
    @property
    def xonxoff(self) -> bool: ...
    @property
    def command_timeout(self) -> float:
        """Also the write timeout."""
        ...


@dataclass(frozen=True)
class Unsolicited:
    """A result code the modem sent on its own: +CMTI, +CDSI (stored), +CDS/+CMT (with PDU)."""

    code: str  # "+CMTI", "+CDSI", "+CDS", "+CMT"; "RDY", "SMS READY", "^SYSSTART": restarted
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


class LinkDown(Exception):
    """The connection failed (closed by the peer, socket error, device gone)."""


class NoAnswer(Exception):
    """The deadline passed without the answer."""


class ErrorResult(Exception):
    """A final error result: `+CMS ERROR: <n or text>` / `+CME ERROR: …` (`family` "CMS" or
    "CME", `text` what follows) or a bare one such as `ERROR` (`family` None, `text` the line).
    """

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line
        upper = line.upper()
        self.family: Literal["CMS", "CME"] | None = None
        self.text = line.strip()
        if upper.startswith("+CMS ERROR:"):
            self.family, self.text = "CMS", line[len("+CMS ERROR:") :].strip()
        elif upper.startswith("+CME ERROR:"):
            self.family, self.text = "CME", line[len("+CME ERROR:") :].strip()


# --- the link: pyserial, read what is there, up to a deadline -----------------------------------


class _Link:
    """A pyserial port read without fixed waits: select() on its descriptor where it has one
    (socket://, local ports), short polls of the reader queue otherwise (rfc2217://).

    For socket:// the bytes go straight through pyserial's socket (opened and owned by
    pyserial): its read/write add a Timeout object and a second select() per call, a fifth of
    the cost of a message on a fast link."""

    def __init__(self, settings: PortSettings) -> None:
        try:
            port = serial.serial_for_url(settings.url, do_not_open=True)
            port.baudrate = settings.baudrate
            port.bytesize = settings.bytesize
            port.parity = settings.parity
            port.stopbits = settings.stopbits
            port.rtscts = settings.rtscts
            port.xonxoff = settings.xonxoff
        except (serial.SerialException, ValueError) as exc:
            raise LinkDown(str(exc)) from exc
        self.port = port
        self.write_timeout = settings.command_timeout
        self._rfc2217 = isinstance(port, serial.rfc2217.Serial)
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
            if isinstance(self.port, serial.urlhandler.protocol_socket.Serial) and isinstance(
                sock, socket.socket
            ):
                self._sock = sock
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkDown(str(exc)) from exc

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
                    raise LinkDown("socket disconnected")
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
            raise LinkDown(str(exc) or type(exc).__name__) from exc

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
                        raise LinkDown("write timeout") from None
                    select.select([], [self._sock], [], remaining)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkDown(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        port = self.port
        sock = self._sock
        if sock is not None:
            # pyserial's socket close sleeps 0.3 s "for quick reconnects"; we reconnect on our
            # own terms, so close the socket directly.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            cast(Any, port)._socket = None  # pyserial's private socket, not in its stubs
            port.is_open = False
            self._sock = None
            return
        with contextlib.suppress(serial.SerialException, OSError):
            port.close()


# --- the AT channel: lines, echo, URCs, final result codes --------------------------------------


class AtChannel:
    """Lines from the modem: echo skipped, unsolicited codes handed on, answers collected.

    Reading and writing raise LinkDown (the connection is lost: close the channel), waits
    NoAnswer at their deadline, and an error result of the modem ErrorResult."""

    def __init__(self, link: _Link, unsolicited: Callable[[Unsolicited], None]) -> None:
        self._link = link
        self._buffer = bytearray()
        self._unsolicited = unsolicited
        self._pdu_for: str | None = None  # a +CDS/+CMT line whose PDU is the next line
        self._routed = 0  # how many codes went to `unsolicited`
        # Phase 2+ (AT+CSMS=1): each routed +CDS/+CMT is acknowledged with AT+CNMA, or the
        # modem turns routing off (27.005 §3.4.4). Sent before the next command, not inside one.
        self.acknowledge_routed = False
        self._acks_due = 0
        self._acking = False
        # an ack became due while AT+CMGS waited (sent only after it: perhaps too late)
        self.acks_delayed = False
        self.last_used = time.monotonic()

    @classmethod
    def open(cls, settings: PortSettings, unsolicited: Callable[[Unsolicited], None]) -> AtChannel:
        """Open the port; `unsolicited` gets the +CMTI/+CDSI/+CDS/+CMT codes as they come."""
        link = _Link(settings)
        link.open()
        return cls(link, unsolicited)

    def close(self) -> None:
        self._link.close()

    # reading

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoAnswer
        data = self._link.read_some(remaining)
        if data:
            self._buffer += data
            if log.isEnabledFor(logging.DEBUG):
                log.debug("modem → %r", bytes(data))

    def _pop_line(self) -> str | None:
        """The next complete non-empty line, without CR/LF, echo prompt and control bytes."""
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return None
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            line = raw.decode("latin-1").strip("\r\n\t \x1a\x1b")
            if line.startswith(">"):  # an echoed PDU after the prompt
                line = line[1:].strip()
            if line:
                return line

    def _prompt_waiting(self) -> bool:
        """The `> ` prompt (no line end) at the start of what is left: consume it."""
        start = 0
        while start < len(self._buffer) and self._buffer[start] in b"\r\n":
            start += 1
        if start < len(self._buffer) and self._buffer[start] == ord(">"):
            end = start + 1
            if end < len(self._buffer) and self._buffer[end] == ord(" "):
                end += 1
            del self._buffer[:end]
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
        elif upper in _RESTARTED:
            self._unsolicited(Unsolicited(code=upper, line=line))
        else:
            log.debug("modem: unsolicited %r ignored", line)

    def _route(self, line: str, pdu: str | None) -> None:
        code = line.split(":", 1)[0].strip().upper()
        self._routed += 1
        if self.acknowledge_routed and code in ("+CDS", "+CMT"):
            self._acks_due += 1
        self._unsolicited(Unsolicited(code=code, line=line, pdu=pdu))

    def _acknowledge(self) -> None:
        """AT+CNMA for each routed +CDS/+CMT not yet acknowledged (phase 2+ only)."""
        if self._acking:
            return
        self._acking = True
        try:
            while self._acks_due:
                self._acks_due -= 1
                try:
                    self.command("AT+CNMA", self._link.write_timeout)
                except (ErrorResult, NoAnswer) as exc:
                    log.info("modem: AT+CNMA not accepted (%s)", exc)
        finally:
            self._acking = False

    def drain(self, quiet: float = 0.0, limit: float = 1.0) -> None:
        """Handle what has arrived unasked. With `quiet`, read until the line has been silent
        that long (at most `limit`) and drop what is left: a clean start after ESC."""
        if quiet > 0:
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                data = self._link.read_some(min(quiet, deadline - time.monotonic()))
                if not data:
                    break
                self._buffer += data
        else:
            while True:
                data = self._link.read_some(0)
                if not data:
                    break
                self._buffer += data
        while (line := self._pop_line()) is not None:
            if self._kind(line, None, None) not in ("urc",):
                log.debug("modem: unexpected %r dropped", line)
        if quiet > 0 and self._buffer:
            log.debug("modem: partial %r dropped", bytes(self._buffer))
            self._buffer.clear()

    def listen(self, seconds: float) -> None:
        """Read for `seconds` (or until something arrives) and handle what came unasked."""
        with contextlib.suppress(NoAnswer):
            self._fill(time.monotonic() + seconds)
        self.drain()
        self._acknowledge()

    def wait_unsolicited(self, timeout: float) -> None:
        """Handle what came unasked; if no code for `unsolicited` was among it, wait up to
        `timeout` for one (e.g. +CDS after sending)."""
        routed = self._routed
        deadline = time.monotonic() + timeout
        self.drain()
        while self._routed == routed:
            try:
                self._fill(deadline)
            except NoAnswer:
                break
            self.drain()
        self._acknowledge()

    # commands

    def reset(self, quiet: float) -> None:
        """ESC, then a clean start: a prompt left over from an interrupted AT+CMGS is abandoned
        and what the modem still says is dropped once the line is `quiet` that long."""
        self._write(ESC)
        self.drain(quiet=quiet)

    def _write(self, data: bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "modem ← %r", b'AT+CPIN="****"' if data.upper().startswith(b"AT+CPIN=") else data
            )
        self._link.write(data)
        self.last_used = time.monotonic()

    def command(
        self,
        command: str,
        timeout: float,
        expect: str | None = None,
        grace_after_info: float | None = None,
    ) -> list[str]:
        """Send `command`, return its information lines (`expect` prefix and other non-URC
        lines) once `OK` came; raise ErrorResult on an error result. With
        `grace_after_info`, an information line without `OK` after that long counts as done
        (Wavecom answers AT+CPIN? without OK)."""
        self.drain()
        self._acknowledge()
        self._write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        info_deadline: float | None = None
        while True:
            line = self._pop_line()
            if line is None:
                if info_deadline is not None:
                    try:
                        self._fill(min(deadline, info_deadline))
                    except NoAnswer:
                        return lines
                else:
                    self._fill(deadline)
                continue
            kind = self._kind(line, command, expect)
            if kind == "ok":
                return lines
            if kind == "error":
                raise ErrorResult(line)
            if kind in ("info", "other"):
                lines.append(line)
                if kind == "info" and grace_after_info is not None:
                    info_deadline = time.monotonic() + grace_after_info

    def start_pdu(self, command: str, deadline: float) -> None:
        """Send `command` (AT+CMGS=<length>) and wait for its `> ` prompt; an error result
        raises. A stray `OK` (a late answer to something earlier) cannot be the answer to
        AT+CMGS and is skipped; so is what came unasked before the command (acknowledged
        first, not after the send)."""
        self.drain()
        self._acknowledge()
        self._write(command.encode("ascii") + b"\r")
        while True:
            line = self._pop_line()
            if line is None:
                if self._prompt_waiting():
                    return
                self._fill(deadline)
                continue
            kind = self._kind(line, command, None)
            if kind == "error":
                raise ErrorResult(line)
            if kind in ("ok", "other"):
                log.debug("modem: %r before the prompt skipped", line)

    def send_pdu(self, pdu_hex: str) -> None:
        """After the prompt: the PDU and Ctrl-Z. A link that dropped after the prompt shows
        (LinkDown) before Ctrl-Z is written."""
        self.drain()
        self._write(pdu_hex.encode("ascii") + CTRL_Z)

    def abandon_pdu(self) -> None:
        """ESC, in case the prompt of a timed-out AT+CMGS comes after all."""
        with contextlib.suppress(LinkDown):
            self._write(ESC)

    def wait_result(self, deadline: float, expect: str) -> list[str]:
        """After Ctrl-Z: the lines starting with `expect` (`+CMGS: <mr>`) once `OK` came; the
        echoed PDU and URCs are skipped, an error result raises."""
        lines: list[str] = []
        due = self._acks_due
        try:
            while True:
                line = self._pop_line()
                if line is None:
                    self._fill(deadline)
                    continue
                kind = self._kind(line, None, expect)
                if kind == "info":
                    lines.append(line)
                elif kind == "ok":
                    return lines
                elif kind == "error":
                    raise ErrorResult(line)
        finally:
            if self._acks_due > due:
                self.acks_delayed = True

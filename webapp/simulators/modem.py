"""A GSM modem behind a Moxa NPort 5110 in TCP-server mode: AT commands over a TCP socket.

For tests, the demo run and benchmarks: `ModemTransport` talks to it through pyserial's
`socket://` exactly as to the real NPort. What a phone would receive is decoded from the PDUs
(with the decoder of webapp.sms.encoding) and recorded; faults of real modems and links can be
switched on (reference/gsm-modem.md §6, §7): +CMS/+CME errors, a SIM that wants its PIN, busy,
no answer after Ctrl-Z, a dropped connection at a chosen point, replies split byte by byte,
unsolicited codes before and inside replies, echo on, verbose or bare errors.

    with ModemSimulator() as sim:           # port 0: a free port, see sim.url
        ...
        sim.wait_for(1)                      # the messages a phone got, multipart ones joined

`flask --app wsgi sim modem` runs it until Ctrl-C (see `modem_command`).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click

from webapp.sms.encoding import (
    build_submit_pdus,
    decode_submit_pdu,
    encode_gsm7,
    pack_septets,
)

CTRL_Z = 0x1A
ESC = 0x1B

_CMS_TEXT = {
    1: "Unassigned (unallocated) number",
    21: "Short message transfer rejected",
    27: "Destination out of service",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Congestion",
    50: "Requested facility not subscribed",
    69: "Requested facility not implemented",
    302: "operation not allowed",
    304: "invalid PDU mode parameter",
    311: "SIM PIN required",
    314: "SIM busy",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}
_CME_TEXT = {
    3: "operation not allowed",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    14: "SIM busy",
    16: "incorrect password",
    30: "no network service",
    515: "Please wait, init or command processing in progress",
}


@dataclass(frozen=True)
class SentPart:
    """One SMS-SUBMIT the modem accepted, as the network and the phone see it."""

    recipient: str
    text: str
    encoding: str
    message_reference: int  # TP-MR the modem assigned (the `+CMGS: <mr>` answer)
    reference: int | None  # concatenation reference, None for a single SMS
    total: int
    sequence: int
    status_report_requested: bool
    validity: int | None
    pdu: str


@dataclass(frozen=True)
class PhoneMessage:
    """What the recipient's phone shows: the parts joined in order."""

    recipient: str
    text: str
    parts: int
    reference: int | None
    message_references: tuple[int, ...]
    pdus: tuple[str, ...]
    encoding: str


@dataclass
class _SendFault:
    kind: str  # "error", "silent", "drop"
    line: str | None = None  # the error line, formatted when used
    cms: int | None = None
    cme: int | None = None
    before_prompt: bool = False
    at: str = ""  # drop: before_prompt, after_prompt, after_ctrl_z
    sent: bool = True  # silent / drop after Ctrl-Z: does the SMS go out anyway?


def _timestamp(moment: datetime) -> bytes:
    """TP-SCTS: swapped BCD, zone in quarter hours (sign bit 0x08)."""
    offset = moment.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)

    def bcd(value: int) -> int:
        return ((value % 10) << 4) | (value // 10)

    zone = ((quarters % 10) << 4) | (quarters // 10) | (0x08 if offset < timedelta(0) else 0)
    return bytes(
        bcd(v)
        for v in (
            moment.year % 100,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
        )
    ) + bytes([zone])


def _address(number: str) -> bytes:
    """TP-OA/TP-RA: international digits (TOA 0x91), national digits (0x81), or alphanumeric."""
    digits = number.lstrip("+")
    if digits.isdigit():
        padded = digits + "F" * (len(digits) % 2)
        swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
        toa = 0x91 if number.startswith("+") else 0x81
        return bytes([len(digits), toa]) + bytes.fromhex(swapped)
    septets = encode_gsm7(number)
    packed = pack_septets(septets)
    return bytes([(len(septets) * 7 + 3) // 4, 0xD0]) + packed


def _smsc_field(number: str) -> bytes:
    address = _address(number)
    return bytes([len(address) - 1]) + address[1:]


def deliver_pdus(
    sender: str, text: str, reference: int, moment: datetime, smsc: str
) -> list[tuple[str, int]]:
    """SMS-DELIVER PDUs (hex with SMSC field, TPDU length) for a received `text`.

    The user data (UDL + UD, with the concatenation UDH) comes from `build_submit_pdus`, the one
    encoder of the project; only the DELIVER header around it is built here."""
    result = []
    for submit in build_submit_pdus(
        "+1", text, reference, request_status_report=False, validity_hours=None
    ):
        tpdu = bytes.fromhex(submit.hex)[1:]  # without SMSC "00"
        first = tpdu[0]
        # SUBMIT header: first octet, MR, DA (length, TOA, digits), PID, DCS — then UDL + UD
        da_octets = (tpdu[2] + 1) // 2
        dcs = tpdu[4 + da_octets + 1]
        user_data = tpdu[4 + da_octets + 2 :]
        deliver_first = 0x04 | (first & 0x40)  # MTI DELIVER, no more messages, UDHI
        tpdu_out = (
            bytes([deliver_first])
            + _address(sender)
            + bytes([0x00, dcs])
            + _timestamp(moment)
            + user_data
        )
        result.append(((_smsc_field(smsc) + tpdu_out).hex().upper(), len(tpdu_out)))
    return result


def status_report_pdu(
    message_reference: int, recipient: str, status: int, moment: datetime, smsc: str
) -> tuple[str, int]:
    """An SMS-STATUS-REPORT (hex with SMSC field, TPDU length)."""
    stamp = _timestamp(moment)
    tpdu = bytes([0x06, message_reference % 256]) + _address(recipient) + stamp + stamp
    tpdu += bytes([status])
    return (_smsc_field(smsc) + tpdu).hex().upper(), len(tpdu)


def _first_of(buffer: bytearray, one: bytes, other: bytes) -> int:
    """Position of the first `one` or `other` in `buffer`, -1 if neither is there."""
    found = [i for i in (buffer.find(one), buffer.find(other)) if i >= 0]
    return min(found) if found else -1


class _Closed(Exception):
    """The connection is gone (dropped on purpose or by the client)."""


class _Connection:
    """One TCP client, i.e. the NPort's serial line while it is connected."""

    def __init__(self, sim: ModemSimulator, sock: socket.socket) -> None:
        self.sim = sim
        self.sock = sock
        self.write_lock = threading.Lock()
        self.hung = False
        self.closed = False

    def send(self, data: bytes) -> None:
        if self.closed:
            raise _Closed
        with self.write_lock:
            try:
                if self.sim.byte_by_byte:
                    for i in range(len(data)):
                        self.sock.sendall(data[i : i + 1])
                        if self.sim.byte_delay:
                            time.sleep(self.sim.byte_delay)  # a slow serial line, simulated
                else:
                    self.sock.sendall(data)
            except OSError as exc:
                self.close()
                raise _Closed from exc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class ModemSimulator:
    """A modem with a SIM behind an NPort (TCP server, one client at a time)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float | tuple[float, float] = 0.0,
        echo: bool = True,
        smsc: str = "+436640000000",
        status_reports: bool = False,
        cmee_needs_pin: bool = False,
        on_message: Callable[[PhoneMessage], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.smsc = smsc
        self.on_message = on_message
        # modem state (survives reconnects: the modem is not reset by a TCP disconnect)
        self.echo = echo
        self.cmee = 0
        self.cmgf = 0
        self.sim_state = "READY"
        self._pin: str | None = None
        self._pin_attempts_left = 3
        self.rssi = 20
        self.ber = 99
        self.registration = 1
        # behaviour switches
        self.ignore_ate0 = False
        # ZTE: AT+CMEE is refused (bare ERROR) while the SIM waits for its PIN or PUK
        self.cmee_needs_pin = cmee_needs_pin
        self.cmee_override: int | None = None  # 0: bare ERROR always, 2: verbose always
        self.cpin_without_ok = False
        self.byte_by_byte = False
        self.byte_delay = 0.0005
        self.status_reports = status_reports
        self.status_report_status = 0x00
        self.abort_reply = True  # ESC at the prompt answers OK
        self._urcs: list[str] = []
        self._urcs_before = True
        self._urcs_inside = True
        # faults
        self._send_faults: deque[_SendFault | None] = deque()  # None: a normal send
        self._busy = 0
        self._busy_cme = 515
        self._hang_all = False
        self._drop_on_command: deque[str] = deque()
        # records
        self._cond = threading.Condition()
        self._parts: list[SentPart] = []
        self._messages: list[PhoneMessage] = []
        self._open_sets: dict[tuple, dict[int, SentPart]] = {}
        self._next_mr = 0
        self._storage: dict[int, list] = {}  # index -> [stat, pdu_hex, tpdu_length]
        self._next_deliver_ref = random.randrange(256)
        self.commands: list[str] = []
        self.pin_attempts: list[str] = []
        self.connections = 0
        # server
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._conn: _Connection | None = None
        self._conn_threads: list[threading.Thread] = []
        self._state_lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def start(self) -> ModemSimulator:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(4)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._accept_loop, name="modem-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._listener is None:
            return
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(5)
        self.drop_connection("now")
        for thread in self._conn_threads:
            thread.join(5)
        self._listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._listener = None

    def __enter__(self) -> ModemSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            watched: list[socket.socket | int] = [self._listener, self._wake_r]
            ready, _, _ = select.select(watched, [], [])
            if self._wake_r in ready:
                return
            try:
                sock, _addr = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, sock)
            with self._state_lock:
                old, self._conn = self._conn, connection
                self.connections += 1
                self._conn_threads = [t for t in self._conn_threads if t.is_alive()]
            if old is not None:
                old.close()  # the NPort serves one client; the newest wins
            thread = threading.Thread(
                target=self._serve, args=(connection,), name="modem-sim-conn", daemon=True
            )
            self._conn_threads.append(thread)
            thread.start()

    # --- what a phone got ---------------------------------------------------------------------

    @property
    def parts(self) -> list[SentPart]:
        with self._cond:
            return list(self._parts)

    def messages(self) -> list[PhoneMessage]:
        """Complete messages in the order their last part arrived."""
        with self._cond:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[PhoneMessage]:
        """Until `count` complete messages arrived; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._messages)} of {count} messages arrived")
                self._cond.wait(remaining)
            return list(self._messages)

    def _record(self, pdu_hex: str) -> int:
        submit = decode_submit_pdu(pdu_hex)
        concat = submit.concatenation
        with self._cond:
            self._next_mr = (self._next_mr + 1) % 256
            mr = self._next_mr
            part = SentPart(
                recipient=submit.recipient,
                text=submit.text,
                encoding=submit.encoding,
                message_reference=mr,
                reference=concat.reference if concat else None,
                total=concat.total if concat else 1,
                sequence=concat.sequence if concat else 1,
                status_report_requested=submit.status_report_requested,
                validity=submit.validity,
                pdu=pdu_hex,
            )
            self._parts.append(part)
            complete: list[SentPart] | None = None
            if part.total <= 1:
                complete = [part]
            else:
                key = (part.recipient, part.reference, part.total)
                open_set = self._open_sets.setdefault(key, {})
                open_set[part.sequence] = part
                if len(open_set) == part.total:
                    del self._open_sets[key]
                    complete = [open_set[n] for n in sorted(open_set)]
            message = None
            if complete is not None:
                raw = "".join(p.text for p in complete)
                text = raw.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
                message = PhoneMessage(
                    recipient=part.recipient,
                    text=text,
                    parts=len(complete),
                    reference=part.reference,
                    message_references=tuple(p.message_reference for p in complete),
                    pdus=tuple(p.pdu for p in complete),
                    encoding=part.encoding,
                )
                self._messages.append(message)
                self._cond.notify_all()
        if message is not None and self.on_message is not None:
            self.on_message(message)
        return mr

    # --- faults -------------------------------------------------------------------------------

    def fail_sends(
        self,
        count: int = 1,
        *,
        cms: int | None = None,
        cme: int | None = None,
        line: str | None = None,
        before_prompt: bool = False,
        after: int = 0,
    ) -> None:
        """The next `count` AT+CMGS (after `after` normal ones) are answered with an error
        (formatted per AT+CMEE unless `line` gives it verbatim), after the PDU or, with
        `before_prompt`, instead of the prompt. The SMS does not go out."""
        self._skip_sends(after)
        for _ in range(count):
            self._send_faults.append(
                _SendFault("error", line=line, cms=cms, cme=cme, before_prompt=before_prompt)
            )

    def no_answer_after_ctrl_z(self, count: int = 1, *, sent: bool = True, after: int = 0) -> None:
        """The next `count` sends get no answer at all after Ctrl-Z (the SMS may go out)."""
        self._skip_sends(after)
        for _ in range(count):
            self._send_faults.append(_SendFault("silent", sent=sent))

    def drop_during_send(
        self, at: str = "after_ctrl_z", *, sent: bool = True, after: int = 0
    ) -> None:
        """Close the connection during the next send (after `after` normal ones):
        `before_prompt`, `after_prompt` or `after_ctrl_z` (then the SMS goes out unless
        `sent=False`, as a real modem would: the link drop does not stop the radio)."""
        if at not in ("before_prompt", "after_prompt", "after_ctrl_z"):
            raise ValueError(at)
        self._skip_sends(after)
        self._send_faults.append(_SendFault("drop", at=at, sent=sent))

    def _skip_sends(self, count: int) -> None:
        for _ in range(count):
            self._send_faults.append(None)

    def drop_connection(self, when: str = "now", command: str = "") -> None:
        """`now`: close the current connection; `on_command`: close it when the next command
        starting with `command` arrives (before answering)."""
        if when == "now":
            with self._state_lock:
                conn = self._conn
            if conn is not None:
                conn.close()
        elif when == "on_command":
            self._drop_on_command.append(command.upper())
        else:
            raise ValueError(when)

    def busy(self, count: int = 1, cme: int = 515) -> None:
        """The next `count` commands other than a bare AT answer `+CME ERROR: <cme>`."""
        self._busy, self._busy_cme = count, cme

    def hang(self, until_reconnect: bool = True) -> None:
        """Stop answering: on this connection only, or (until_reconnect=False) for good."""
        self._hang_all = not until_reconnect
        with self._state_lock:
            if self._conn is not None:
                self._conn.hung = True

    def recover(self) -> None:
        """Answer again (new connections; a hung connection stays hung)."""
        self._hang_all = False

    def require_pin(self, pin: str, attempts: int = 3) -> None:
        """The SIM asks for `pin`; after `attempts` wrong ones it wants the PUK."""
        self._pin = pin
        self._pin_attempts_left = attempts
        self.sim_state = "SIM PIN"

    def interleave_urcs(
        self, lines: list[str], *, before: bool = True, inside: bool = True
    ) -> None:
        """Send these unsolicited lines before every reply and/or between its lines."""
        self._urcs = list(lines)
        self._urcs_before, self._urcs_inside = before, inside

    def emit(self, line: str) -> bool:
        """An unsolicited result code now (if a client is connected)."""
        with self._state_lock:
            conn = self._conn
        if conn is None or conn.closed or conn.hung:
            return False
        try:
            conn.send(f"\r\n{line}\r\n".encode("latin-1"))
        except _Closed:
            return False
        return True

    # --- received SMS (the modem's storage) ---------------------------------------------------

    def inject_received(
        self,
        sender: str,
        text: str,
        *,
        moment: datetime | None = None,
        only_parts: set[int] | None = None,
        notify: bool = True,
    ) -> list[int]:
        """Store `text` from `sender` as SMS-DELIVER PDUs (concatenated if long) and announce
        each stored part with `+CMTI: "SM",<index>`. `only_parts` stores some parts only."""
        moment = moment or datetime.now(UTC).astimezone().replace(microsecond=0)
        with self._cond:
            self._next_deliver_ref = (self._next_deliver_ref + 1) % 256
            reference = self._next_deliver_ref
        indices = []
        for sequence, (pdu, length) in enumerate(
            deliver_pdus(sender, text, reference, moment, self.smsc), start=1
        ):
            if only_parts is not None and sequence not in only_parts:
                continue
            indices.append(self._store(0, pdu, length))
        if notify:
            for index in indices:
                self.emit(f'+CMTI: "SM",{index}')
        return indices

    def inject_status_report(
        self, message_reference: int, recipient: str, status: int = 0x00, *, stored: bool = False
    ) -> int | None:
        """A status report: as `+CDS: <len>` + PDU now, or stored (listed by AT+CMGL)."""
        moment = datetime.now(UTC).astimezone().replace(microsecond=0)
        pdu, length = status_report_pdu(message_reference, recipient, status, moment, self.smsc)
        if stored:
            return self._store(0, pdu, length)
        self.emit(f"+CDS: {length}\r\n{pdu}")
        return None

    def _store(self, stat: int, pdu: str, length: int) -> int:
        with self._cond:
            index = 1
            while index in self._storage:
                index += 1
            self._storage[index] = [stat, pdu, length]
            return index

    def stored(self) -> dict[int, str]:
        """Index → PDU of what is stored on the "SIM"."""
        with self._cond:
            return {index: entry[1] for index, entry in self._storage.items()}

    # --- the AT interpreter -------------------------------------------------------------------

    def _error(self, kind: str, code: int) -> str:
        mode = self.cmee if self.cmee_override is None else self.cmee_override
        if mode == 0:
            return "ERROR"
        if mode == 2:
            text = (_CMS_TEXT if kind == "CMS" else _CME_TEXT).get(code)
            if text:
                return f"+{kind} ERROR: {text}"
        return f"+{kind} ERROR: {code}"

    def _reply(self, conn: _Connection, *info: str, final: str = "OK") -> None:
        urcs = [f"\r\n{u}\r\n" for u in self._urcs]
        out = "".join(urcs) if self._urcs_before else ""
        for line in info:
            out += f"\r\n{line}\r\n"
        if self._urcs_inside and info:
            out += "".join(urcs)
        out += f"\r\n{final}\r\n"
        conn.send(out.encode("latin-1"))

    def _latency(self) -> None:
        latency = self.latency
        if isinstance(latency, tuple):
            latency = random.uniform(*latency)
        if latency > 0:
            time.sleep(latency)  # the network's time to take the SMS, simulated

    def _serve(self, conn: _Connection) -> None:
        if self._hang_all:
            conn.hung = True
        buffer = bytearray()
        pdu_length: int | None = None  # set while the `> ` prompt is open
        fault: _SendFault | None = None
        try:
            while not conn.closed:
                try:
                    data = conn.sock.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                if conn.hung:
                    continue
                buffer += data
                while not conn.closed and not conn.hung:
                    if pdu_length is not None:
                        end = _first_of(buffer, b"\x1a", b"\x1b")
                        if end < 0:
                            break
                        terminator = buffer[end]
                        pdu = bytes(buffer[:end]).decode("latin-1").strip()
                        del buffer[: end + 1]
                        length, pdu_length = pdu_length, None
                        if terminator == ESC:
                            if self.abort_reply:
                                conn.send(b"\r\nOK\r\n")
                            continue
                        if self.echo:
                            conn.send(pdu.encode("latin-1"))
                        self._submitted(conn, pdu, length, fault)
                        fault = None
                        continue
                    end = _first_of(buffer, b"\r", b"\n")
                    if end < 0:
                        break
                    raw = bytes(buffer[:end]).decode("latin-1")
                    del buffer[: end + 1]
                    line = raw.replace("\x1b", "").replace("\x1a", "").strip()
                    start = line.upper().find("AT")
                    if start < 0:
                        continue
                    line = line[start:]
                    if self.echo:
                        conn.send(line.encode("latin-1") + b"\r")
                    result = self._command(conn, line)
                    if result is not None:
                        pdu_length, fault = result
        except _Closed:
            pass
        finally:
            conn.close()

    def _command(self, conn: _Connection, line: str) -> tuple[int, _SendFault | None] | None:
        """Answer one command line; (length, fault) when AT+CMGS opened the prompt."""
        upper = line.upper()
        self.commands.append(line)
        if self._drop_on_command and upper.startswith(self._drop_on_command[0]):
            self._drop_on_command.popleft()
            conn.close()
            raise _Closed
        if self._busy and upper != "AT":
            self._busy -= 1
            self._reply(conn, final=self._error("CME", self._busy_cme))
            return None
        if upper == "AT" or upper == "ATZ":
            self._reply(conn)
        elif upper in ("ATE0", "ATE1"):
            if not (upper == "ATE0" and self.ignore_ate0):
                self.echo = upper == "ATE1"
            self._reply(conn)
        elif upper.startswith("AT+CMEE="):
            value = upper.split("=", 1)[1]
            if value not in ("0", "1", "2") or (self.cmee_needs_pin and self.sim_state != "READY"):
                self._reply(conn, final="ERROR")
                return None
            self.cmee = int(value)
            self._reply(conn)
        elif upper == "AT+CPIN?":
            info = f"+CPIN: {self.sim_state}"
            if self.cpin_without_ok:
                conn.send(f"\r\n{info}\r\n".encode())
            else:
                self._reply(conn, info)
        elif upper.startswith("AT+CPIN="):
            self._enter_pin(conn, line.split("=", 1)[1].strip().strip('"'))
        elif upper.startswith("AT+CMGF="):
            value = upper.split("=", 1)[1]
            if value not in ("0", "1"):
                self._reply(conn, final="ERROR")
                return None
            self.cmgf = int(value)
            self._reply(conn)
        elif upper == "AT+CMGF?":
            self._reply(conn, f"+CMGF: {self.cmgf}")
        elif upper.startswith("AT+CNMI="):
            self._reply(conn)
        elif upper == "AT+CSQ":
            self._reply(conn, f"+CSQ: {self.rssi},{self.ber}")
        elif upper == "AT+CREG?":
            self._reply(conn, f"+CREG: 0,{self.registration}")
        elif upper == "AT+CSCA?":
            self._reply(conn, f'+CSCA: "{self.smsc}",145')
        elif upper.startswith("AT+CMGS="):
            return self._open_prompt(conn, upper)
        elif upper.startswith("AT+CMGL"):
            self._list(conn, upper)
        elif upper.startswith("AT+CMGR="):
            self._read(conn, upper)
        elif upper.startswith("AT+CMGD="):
            self._delete(conn, upper)
        else:
            self._reply(conn, final="ERROR")
        return None

    def _enter_pin(self, conn: _Connection, pin: str) -> None:
        self.pin_attempts.append(pin)
        if self.sim_state == "SIM PUK":
            return self._reply(conn, final=self._error("CME", 12))
        if self.sim_state != "SIM PIN":
            return self._reply(conn, final=self._error("CME", 3))
        if pin == self._pin:
            self.sim_state = "READY"
            return self._reply(conn)
        self._pin_attempts_left -= 1
        if self._pin_attempts_left <= 0:
            self.sim_state = "SIM PUK"
        return self._reply(conn, final=self._error("CME", 16))

    def _sim_locked(self, conn: _Connection) -> bool:
        if self.sim_state == "READY":
            return False
        self._reply(conn, final=self._error("CMS", 316 if self.sim_state == "SIM PUK" else 311))
        return True

    def _open_prompt(self, conn: _Connection, upper: str) -> tuple[int, _SendFault | None] | None:
        if self._sim_locked(conn):
            return None
        if self.cmgf != 0:
            self._reply(conn, final=self._error("CMS", 302))
            return None
        try:
            length = int(upper.split("=", 1)[1])
        except ValueError:
            self._reply(conn, final=self._error("CMS", 304))
            return None
        fault = self._send_faults.popleft() if self._send_faults else None
        if fault is not None and fault.kind == "error" and fault.before_prompt:
            self._reply(conn, final=self._fault_line(fault))
            return None
        if fault is not None and fault.kind == "drop" and fault.at == "before_prompt":
            conn.close()
            raise _Closed
        prompt = "".join(f"\r\n{u}\r\n" for u in self._urcs) if self._urcs_before else ""
        conn.send((prompt + "\r\n> ").encode("latin-1"))
        if fault is not None and fault.kind == "drop" and fault.at == "after_prompt":
            conn.close()
            raise _Closed
        return length, fault

    def _fault_line(self, fault: _SendFault) -> str:
        if fault.line is not None:
            return fault.line
        if fault.cme is not None:
            return self._error("CME", fault.cme)
        return self._error("CMS", fault.cms if fault.cms is not None else 500)

    def _submitted(
        self, conn: _Connection, pdu: str, length: int, fault: _SendFault | None
    ) -> None:
        try:
            data = bytes.fromhex(pdu)
            if not data or len(data) - 1 - data[0] != length:
                raise ValueError("length does not match AT+CMGS")
            decode_submit_pdu(pdu)
        except ValueError:
            return self._reply(conn, final=self._error("CMS", 304))
        if fault is not None and fault.kind == "error":
            self._latency()
            return self._reply(conn, final=self._fault_line(fault))
        if fault is not None and fault.kind in ("silent", "drop"):
            if fault.sent:
                self._record(pdu)
            if fault.kind == "drop":
                conn.close()
                raise _Closed
            return None
        self._latency()
        mr = self._record(pdu)
        self._reply(conn, f"+CMGS: {mr}")
        if self.status_reports and decode_submit_pdu(pdu).status_report_requested:
            recipient = decode_submit_pdu(pdu).recipient
            moment = datetime.now(UTC).astimezone().replace(microsecond=0)
            report, size = status_report_pdu(
                mr, recipient, self.status_report_status, moment, self.smsc
            )
            conn.send(f"\r\n+CDS: {size}\r\n{report}\r\n".encode("latin-1"))
        return None

    def _list(self, conn: _Connection, upper: str) -> None:
        if self._sim_locked(conn):
            return
        match = re.fullmatch(r"AT\+CMGL(?:=(\d))?", upper)
        if self.cmgf != 0 or match is None:
            return self._reply(conn, final=self._error("CMS", 302))
        wanted = int(match.group(1) or 0)
        info = []
        with self._cond:
            for index in sorted(self._storage):
                entry = self._storage[index]
                if wanted == 4 or entry[0] == wanted:
                    info += [f"+CMGL: {index},{entry[0]},,{entry[2]}", entry[1]]
                    if entry[0] == 0:
                        entry[0] = 1
        self._reply(conn, *info)
        return None

    def _read(self, conn: _Connection, upper: str) -> None:
        if self._sim_locked(conn):
            return
        try:
            index = int(upper.split("=", 1)[1])
        except ValueError:
            return self._reply(conn, final=self._error("CMS", 321))
        with self._cond:
            entry = self._storage.get(index)
            if entry is not None:
                stat, pdu, length = entry
                entry[0] = 1 if stat == 0 else stat
        if entry is None:
            return self._reply(conn, final=self._error("CMS", 321))
        self._reply(conn, f"+CMGR: {stat},,{length}", pdu)
        return None

    def _delete(self, conn: _Connection, upper: str) -> None:
        if self._sim_locked(conn):
            return
        try:
            values = [int(v) for v in upper.split("=", 1)[1].split(",")]
        except ValueError:
            return self._reply(conn, final=self._error("CMS", 321))
        with self._cond:
            if len(values) > 1 and values[1] == 4:
                self._storage.clear()
            else:
                self._storage.pop(values[0], None)
        self._reply(conn)
        return None


def _parse_latency(value: str) -> float | tuple[float, float]:
    if "-" in value.strip("-"):
        low, high = value.split("-", 1)
        return (float(low), float(high))
    return float(value)


@click.command("modem")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4001, show_default=True, type=int)
@click.option(
    "--latency",
    default="0.0",
    show_default=True,
    help="Sekunden bis zur Antwort auf eine SMS, fest (2.5) oder als Bereich (2-5).",
)
@click.option("--pin", default=None, help="Die SIM verlangt diese PIN.")
@click.option("--status-reports/--no-status-reports", default=True, show_default=True)
@click.option(
    "--cmee-needs-pin",
    is_flag=True,
    help="Wie ZTE-Modems: AT+CMEE wird abgelehnt, solange die SIM ihre PIN verlangt.",
)
def modem_command(
    host: str, port: int, latency: str, pin: str | None, status_reports: bool, cmee_needs_pin: bool
) -> None:
    """Modem-Simulator (GSM-Modem hinter einer Moxa NPort, TCP-Server) bis Strg-C."""
    try:
        parsed = _parse_latency(latency)
    except ValueError:
        raise click.BadParameter(latency, param_hint="--latency") from None

    def show(message: PhoneMessage) -> None:
        click.echo(f"SMS an {message.recipient} ({message.parts} Teil(e)): {message.text}")

    sim = ModemSimulator(
        host,
        port,
        latency=parsed,
        status_reports=status_reports,
        cmee_needs_pin=cmee_needs_pin,
        on_message=show,
    )
    if pin:
        sim.require_pin(pin)
    try:
        sim.start()
    except OSError as exc:
        raise click.ClickException(f"{host}:{port} nicht verfügbar: {exc}") from None
    click.echo(f"Modem-Simulator läuft: {sim.url} (Strg-C beendet)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        click.echo("Modem-Simulator beendet.")

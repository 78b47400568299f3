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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import click

from webapp.simulators.modem_profiles import DEFAULT_PROFILE, PROFILES, ModemProfile
from webapp.sms.encoding import (
    DecodedDeliver,
    build_submit_pdus,
    decode_deliver_pdu,
    decode_gsm7,
    decode_status_report_pdu,
    decode_submit_pdu,
    encode_gsm7,
    is_gsm7,
    pack_septets,
    pdu_type,
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
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    314: "SIM busy",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}
_CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
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


# --- command lines (V.250 §5.3-5.4) ------------------------------------------------------------


@dataclass(frozen=True)
class AtCommand:
    """One command of a command line. `name` upper case ("+CMGS", "E", "&F", "S"); `kind`
    "exec" (AT+CGMI, ATE1 – a basic command's digits are its `args`), "read" (AT+CREG?),
    "test" (AT+CREG=?) or "set" (AT+CREG=2); `args` as typed, quotes kept."""

    name: str
    kind: str
    args: str = ""

    def values(self) -> list[str]:
        """The comma-separated arguments without their quotes ("" for one left out)."""
        if not self.args.strip():
            return []
        values, current, quoted = [], "", False
        for ch in self.args:
            if ch == '"':
                quoted = not quoted
            elif ch == "," and not quoted:
                values.append(current.strip())
                current = ""
            else:
                current += ch
        values.append(current.strip())
        return values


_EXTENDED_NAME = re.compile(r"[+^$%*#][A-Za-z0-9!%\-./:_]+")
_BASIC_COMMAND = re.compile(r"(&?[A-Z])(\d*)")
_S_REGISTER = re.compile(r"S(\d+)(\?|=\d*)")


def parse_command_line(line: str) -> list[AtCommand]:
    """The commands of one line starting with "AT": basic ones run together (ATE0V1),
    extended ones separated by ";" (AT+CMEE=1;+CREG=2). ValueError for what is no command."""
    if line[:2].upper() != "AT":
        raise ValueError(line)
    body, position, commands = line[2:], 0, []
    while position < len(body):
        rest = body[position:]
        if rest[0] in " ;":
            position += 1
            continue
        extended = _EXTENDED_NAME.match(rest)
        if extended is not None:
            name, after = extended.group().upper(), rest[extended.end() :]
            if after.startswith("=?"):
                commands.append(AtCommand(name, "test"))
                position += extended.end() + 2
            elif after.startswith("?"):
                commands.append(AtCommand(name, "read"))
                position += extended.end() + 1
            elif after.startswith("="):
                end, quoted = 1, False
                while end < len(after) and (quoted or after[end] != ";"):
                    quoted ^= after[end] == '"'
                    end += 1
                commands.append(AtCommand(name, "set", after[1:end]))
                position += extended.end() + end
            else:
                commands.append(AtCommand(name, "exec"))
                position += extended.end()
            continue
        upper = rest.upper()
        if upper[0] == "D":  # dial: the rest of the line is the number
            commands.append(AtCommand("D", "exec", rest[1:]))
            break
        register = _S_REGISTER.match(upper)
        if register is not None:
            kind = "read" if register.group(2) == "?" else "set"
            commands.append(AtCommand("S", kind, register.group(1) + register.group(2)[1:]))
            position += register.end()
            continue
        basic = _BASIC_COMMAND.match(upper)
        if basic is None:
            raise ValueError(line)
        commands.append(AtCommand(basic.group(1), "exec", basic.group(2)))
        position += basic.end()
    return commands


@dataclass
class _Prompt:
    """An open `> ` prompt: PDU mode (`length` TPDU octets) or text mode (`recipient`)."""

    length: int | None
    recipient: str = ""
    fault: _SendFault | None = None


@dataclass
class _Answer:
    """What one command answers: information lines, then OK or `error`; URCs after it."""

    info: list[str] = field(default_factory=list)
    error: str | None = None
    after: list[str] = field(default_factory=list)
    prompt: _Prompt | None = None
    without_final: bool = False
    then: Callable[[], object] | None = None  # runs once the final result code is out


# Command → handler method of ModemSimulator (what the simulator answers; profiles may refuse).
_COMMANDS = {
    "Z": "_at_reset",
    "&F": "_at_reset",
    "E": "_at_echo",
    "V": "_at_verbose",
    "I": "_at_identify",
    "Q": "_at_accept",
    "X": "_at_accept",
    "H": "_at_accept",
    "L": "_at_accept",
    "M": "_at_accept",
    "&C": "_at_accept",
    "&D": "_at_accept",
    "&K": "_at_accept",
    "&W": "_at_accept",
    "+IFC": "_at_accept",  # flow control: nothing to control on the simulated line
    "S": "_at_s_register",
    "+GMI": "_gmi",
    "+CGMI": "_gmi",
    "+GMM": "_gmm",
    "+CGMM": "_gmm",
    "+GMR": "_gmr",
    "+CGMR": "_gmr",
    "+GSN": "_gsn",
    "+CGSN": "_gsn",
    "+GCAP": "_gcap",
    "+CIMI": "_cimi",
    "+CMEE": "_cmee_command",
    "+CPIN": "_cpin",
    "+CFUN": "_cfun",
    "+CREG": "_creg",
    "+CGREG": "_cgreg",
    "+CSQ": "_csq",
    "+CBC": "_cbc",
    "+COPS": "_cops",
    "+CSCS": "_cscs",
    "+CSMS": "_csms_command",
    "+CNMA": "_cnma",
    "+CMGF": "_cmgf",
    "+CSCA": "_csca",
    "+CSMP": "_csmp",
    "+CSDH": "_csdh",
    "+CMMS": "_cmms_command",
    "+CNMI": "_cnmi_command",
    "+CPMS": "_cpms",
    "+CMGS": "_cmgs",
    "+CMGL": "_cmgl",
    "+CMGR": "_cmgr",
    "+CMGD": "_cmgd",
}

_TEXT_STAT = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")
_STATUS_REPORT = 0x02  # TP-MTI of an SMS-STATUS-REPORT
_NUMERIC_RESULT = {"OK": "0", "ERROR": "4"}


# Answered only once the SIM is up (+CME ERROR: 14 before) and once the SMS service is
# (ERROR before "SMS Ready") while the modem starts (`ModemSimulator.power_on`).
_SIM_COMMANDS = frozenset({"+CPIN", "+CIMI", "+CLCK", "+CPWD"})
_SMS_COMMANDS = frozenset(
    {
        "+CSMS",
        "+CPMS",
        "+CMGF",
        "+CSCA",
        "+CSMP",
        "+CSDH",
        "+CNMI",
        "+CNMA",
        "+CMGS",
        "+CMGL",
        "+CMGR",
        "+CMGD",
        "+CMMS",
    }
)


def _toa(number: str) -> int:
    """Type of address: 145 international, 129 unknown, 208 alphanumeric."""
    if number.startswith("+"):
        return 145
    return 129 if number.isdigit() or not number else 208


def _scts(moment: datetime | None) -> str:
    """A time stamp in text mode (27.005 §3.3.1): "yy/MM/dd,hh:mm:ss±zz", zz in quarter hours."""
    if moment is None:
        return ""
    offset = moment.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    sign = "-" if quarters < 0 else "+"
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{sign}{abs(quarters):02d}"


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
        profile: str | ModemProfile = DEFAULT_PROFILE,
        latency: float | tuple[float, float] = 0.0,
        echo: bool = True,
        smsc: str = "+436640000000",
        status_reports: bool = False,
        report_delay: float | tuple[float, float] = 0.0,
        cmee_needs_pin: bool | None = None,
        on_message: Callable[[PhoneMessage], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.latency = latency
        self.smsc = smsc
        self.on_message = on_message
        # modem state (survives reconnects: the modem is not reset by a TCP disconnect)
        self.echo = echo
        self.verbose = True  # ATV1: result codes as words
        self.cmee = 0
        self.cmgf = 0
        self.cscs = self.profile.default_charset
        self.csmp = (17, 167, 0, 0)  # <fo>,<vp>,<pid>,<dcs> of text mode sends
        self.csdh = 0
        self.csms = self.profile.csms_default
        self.cmms = 0
        self.cnmi = self.profile.cnmi_default
        self.creg_mode = 0
        self.cops_format = 0
        self.cpms = [names[0] for names in self.profile.memories]
        self.fun = 1
        self.sim_state = "READY"
        self._pin: str | None = None
        self._pin_attempts_left = 3
        self.rssi = 20
        self.ber = 99
        self.registration = 1
        self.location = ("1A2B", "00C3E5")  # <lac>,<ci> in +CREG: 2,…
        self.s_registers: dict[int, int] = {0: 0, 3: 13, 4: 10, 5: 8}
        # behaviour switches (the profile's, overridable by the tests)
        self.ignore_ate0 = False
        # ZTE: AT+CMEE is refused (bare ERROR) while the SIM waits for its PIN or PUK
        self.cmee_needs_pin = (
            self.profile.cmee_needs_pin if cmee_needs_pin is None else cmee_needs_pin
        )
        self.cmee_override: int | None = None  # 0: bare ERROR always, 2: verbose always
        self.cpin_without_ok = self.profile.cpin_without_ok
        self.cnma_timeout = self.profile.cnma_timeout
        self.byte_by_byte = False
        self.byte_delay = 0.0005
        self.status_reports = status_reports
        self.status_report_status = 0x00
        # per recipient, the TP-Status of the report of each next part sent to it (None: no
        # report; the test injects one later with `inject_status_report`): `plan_reports`
        self._report_plans: dict[str, deque[int | None]] = {}
        # seconds from +CMGS to the status report (the network's delivery), fixed or a range;
        # `delay_reports` sets it per SMS, `reports_while_disconnected` holds due ones until
        # no client is connected (what an NPort does with them then depends on <ds>)
        self.report_delay = report_delay
        self._report_delays: deque[float | None] = deque()  # per next SMS; None: held
        self._report_delay_now: float | None = 0.0  # the SMS whose parts are being sent
        self._held_reports: list[tuple[str, int, int]] = []  # (recipient, mr, TP-ST)

        self.reports_while_disconnected = False
        self._after_disconnect: list[tuple[str, int, int | None]] = []
        self._report_timers: list[threading.Timer] = []
        self.reports_dropped = 0  # with <ds> 0, or routed while no client was connected
        # power-on (profile.startup): monotonic times the SIM and the SMS service are ready
        self._sim_ready_at = 0.0
        self._sms_ready_at = 0.0
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
        # memory ("SM", "ME", "SR", …) -> index -> [stat, pdu_hex, tpdu_length]
        self._stores: dict[str, dict[int, list]] = {
            name: {} for names in self.profile.memories for name in names
        }
        self._next_deliver_ref = random.randrange(256)
        # +CMT/+CDS routed while AT+CSMS=1, oldest first; the first waits for its AT+CNMA
        self._unacked: deque[tuple[str, str, int]] = deque()
        self._ack_timer: threading.Timer | None = None
        self.unacknowledged = 0  # routed messages whose AT+CNMA never came
        self._handlers: dict[str, Callable[[AtCommand], _Answer]] = {
            name: getattr(self, method) for name, method in _COMMANDS.items()
        }
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
        with self._cond:
            if self._ack_timer is not None:
                self._ack_timer.cancel()
            for timer in self._report_timers:
                timer.cancel()
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

    def power_on(self, scale: float = 1.0) -> None:
        """The modem is switched on now (profile `startup`, its times × `scale`): the
        start-up URCs come as timed (to a connected client), SIM commands answer SIM busy
        until the SIM is ready, SMS commands ERROR until the SMS service is (SIM800)."""
        startup = self.profile.startup
        start = time.monotonic()
        self._reset_settings()
        if self._pin is not None:
            self.sim_state = "SIM PIN"
        times = {urc: at * scale for at, urc in startup}
        end = max(times.values(), default=0.0)
        self._sim_ready_at = start + times.get(self.profile.sim_ready_urc, 0.0)
        self._sms_ready_at = start + times.get(self.profile.sms_ready_urc, end)
        for at, urc in startup:
            timer = threading.Timer(at * scale, self.emit, (urc,))
            timer.daemon = True
            with self._cond:
                self._report_timers.append(timer)
            timer.start()

    @property
    def sms_ready(self) -> bool:
        """Whether the SMS service has started (always, unless `power_on` is under way)."""
        return time.monotonic() >= self._sms_ready_at

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

    # --- received SMS (the modem's stores) -----------------------------------------------------

    def inject_received(
        self,
        sender: str,
        text: str,
        *,
        moment: datetime | None = None,
        only_parts: set[int] | None = None,
        notify: bool = True,
    ) -> list[int]:
        """`text` from `sender` arrives as SMS-DELIVER PDUs (concatenated if long), handled as
        AT+CNMI <mt> says: stored in the receive memory (<mem3> of AT+CPMS) and announced with
        `+CMTI: "<mem>",<index>` (mt 1 and 3; mt 0 stores silently), or routed as `+CMT` (mt 2,
        then nothing is stored unless nobody is connected or, with AT+CSMS=1, nobody sends
        AT+CNMA in time). `notify=False` stores without a word. `only_parts` keeps some parts
        only. Returns the indices of what was stored."""
        moment = moment or datetime.now(UTC).astimezone().replace(microsecond=0)
        with self._cond:
            self._next_deliver_ref = (self._next_deliver_ref + 1) % 256
            reference = self._next_deliver_ref
        indices = []
        routed = notify and self.cnmi[1] == 2  # mt 3 routes class 3 only; ours have no class
        for sequence, (pdu, length) in enumerate(
            deliver_pdus(sender, text, reference, moment, self.smsc), start=1
        ):
            if only_parts is not None and sequence not in only_parts:
                continue
            if routed and self._route("+CMT", pdu, length):
                continue
            memory = self.cpms[2]
            index = self._store(memory, 0, pdu, length)
            indices.append(index)
            if notify and self.cnmi[1] in (1, 2, 3):
                self.emit(f'+CMTI: "{memory}",{index}')
        return indices

    def inject_status_report(
        self,
        message_reference: int,
        recipient: str,
        status: int = 0x00,
        *,
        stored: bool = False,
        memory: str | None = None,
    ) -> int | None:
        """A status report, handled as AT+CNMI <ds> says: 2 stores it in the profile's report
        memory ("SR") and says `+CDSI: "SR",<index>`; otherwise it comes as `+CDS` now
        (AT+CSMS=1: to be acknowledged with AT+CNMA). `stored=True` stores it silently in
        `memory` (default the receive memory), as modems do that keep reports with the SMS.
        Returns the index where it was stored."""
        moment = datetime.now(UTC).astimezone().replace(microsecond=0)
        pdu, length = status_report_pdu(message_reference, recipient, status, moment, self.smsc)
        if stored:
            return self._store(memory or self.cpms[2], 0, pdu, length)
        return self._status_report(pdu, length)

    def delay_reports(self, *delays: float | None) -> None:
        """The status reports of the next SMS (one value per SMS, for all its parts) come
        that many seconds after their +CMGS; None holds them until `release_reports`."""
        self._report_delays.extend(delays)

    def release_reports(self, status: int | None = None) -> int:
        """The held status reports arrive now (`status`: TP-ST instead of the planned one);
        how many. Delivered as AT+CNMI <ds> says at this moment."""
        with self._cond:
            held, self._held_reports = self._held_reports, []
        for recipient, mr, planned in held:
            self._deliver_report(mr, recipient, planned if status is None else status)
        return len(held)

    def _report_later(self, mr: int, recipient: str, delay: float | None, status: int) -> None:
        if delay is None:
            with self._cond:
                self._held_reports.append((recipient, mr, status))
            return
        if delay <= 0:
            self._deliver_report(mr, recipient, status)
            return
        timer = threading.Timer(delay, self._deliver_report, (mr, recipient, status))
        timer.daemon = True
        with self._cond:
            self._report_timers = [t for t in self._report_timers if t.is_alive()]
            self._report_timers.append(timer)
        timer.start()

    def _deliver_report(self, mr: int, recipient: str, status: int | None = None) -> None:
        """The network's status report for part `mr` reaches the modem now."""
        if self.reports_while_disconnected and self._connected():
            with self._cond:
                self._after_disconnect.append((recipient, mr, status))
            return
        moment = datetime.now(UTC).astimezone().replace(microsecond=0)
        tp_st = self.status_report_status if status is None else status
        pdu, length = status_report_pdu(mr, recipient, tp_st, moment, self.smsc)
        self._status_report(pdu, length)

    def _connected(self) -> bool:
        with self._state_lock:
            conn = self._conn
        return conn is not None and not conn.closed

    def _deliver_after_disconnect(self, conn: _Connection) -> None:
        """Reports that waited for the client to go: delivered with nobody listening (an
        NPort drops a routed +CDS then; with <ds> 2 the modem stores it)."""
        with self._state_lock:
            newer = self._conn is not None and self._conn is not conn and not self._conn.closed
        if newer:
            return
        with self._cond:
            waiting, self._after_disconnect = self._after_disconnect, []
        for recipient, mr, status in waiting:
            self._deliver_report(mr, recipient, status)

    def wait_reports_dropped(self, count: int, timeout: float = 5.0) -> None:
        """Until `count` reports went nowhere (<ds> 0, or routed with nobody connected)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.reports_dropped >= count, timeout):
                raise TimeoutError(f"{self.reports_dropped} of {count} reports dropped")

    def _status_report(self, pdu: str, length: int) -> int | None:
        if self.cnmi[3] == 2:  # 27.005 +CNMI <ds> 2: stored, its place announced
            memory = self.profile.report_memory
            index = self._store(memory, 0, pdu, length)
            self.emit(f'+CDSI: "{memory}",{index}')
            return index
        if self.cnmi[3] == 0:  # 27.005 <ds> 0: not routed (and this modem keeps none)
            with self._cond:
                self.reports_dropped += 1
                self._cond.notify_all()
            return None
        if not self._route("+CDS", pdu, length):
            with self._cond:
                self.reports_dropped += 1  # routed with nobody connected: the NPort drops it
                self._cond.notify_all()
        return None

    def _store(self, memory: str, stat: int, pdu: str, length: int) -> int:
        with self._cond:
            store = self._stores.setdefault(memory, {})
            index = 1
            while index in store:
                index += 1
            store[index] = [stat, pdu, length]
            self._cond.notify_all()
            return index

    def wait_stored(self, count: int, memory: str | None = None, timeout: float = 5.0) -> None:
        """Until `memory` holds `count` messages; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._stores.get(memory or self.cpms[2], {})) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fewer than {count} messages stored")
                self._cond.wait(remaining)

    def stored(self, memory: str | None = None) -> dict[int, str]:
        """Index → PDU of what is stored in `memory` (default: the receive memory, "SM")."""
        with self._cond:
            store = self._stores.get(memory or self.cpms[2], {})
            return {index: entry[1] for index, entry in store.items()}

    def set_registration(self, stat: int) -> None:
        """The network registration changes (27.007 <stat>); `+CREG` URC per AT+CREG=<n>."""
        self.registration = stat
        if self.creg_mode:
            self.emit(self._creg_urc())

    # --- routed messages and AT+CNMA (27.005 §3.4.4) ------------------------------------------

    def _route(self, code: str, pdu: str, length: int) -> bool:
        """Send a `+CMT`/`+CDS` to the client; with AT+CSMS=1 it must be acknowledged with
        AT+CNMA within `cnma_timeout`, and the next waits for that. False if nobody listens."""
        with self._cond:
            if self.csms == 1:
                self._unacked.append((code, pdu, length))
                if len(self._unacked) > 1:
                    return True  # 27.005: no further +CMT/+CDS before the ack of this one
        return self._emit_routed(code, pdu, length)

    def _emit_routed(self, code: str, pdu: str, length: int) -> bool:
        if not self.emit(self._routed_text(code, pdu, length)):
            with self._cond:
                if self._unacked and self._unacked[0][1] == pdu:
                    self._unacked.popleft()
            return False
        with self._cond:
            if self.csms == 1 and self._unacked:
                self._ack_timer = threading.Timer(self.cnma_timeout, self._ack_missing)
                self._ack_timer.daemon = True
                self._ack_timer.start()
        return True

    def _ack_missing(self) -> None:
        """27.005 +CNMA: without the ack in time the ME turns routing off (<mt> and <ds> 0);
        the network delivers the message again, and with mt 0 it is stored."""
        with self._cond:
            waiting = list(self._unacked)
            self._unacked.clear()
            self._ack_timer = None
            self.unacknowledged += 1
            self.cnmi = (self.cnmi[0], 0, self.cnmi[2], 0, self.cnmi[4])
        for code, pdu, length in waiting:
            if code == "+CMT":
                self._store(self.cpms[2], 0, pdu, length)
            # a report with <ds> 0 is neither routed nor stored (27.005 +CNMI)

    def _acknowledged(self) -> bool:
        with self._cond:
            if not self._unacked:
                return False
            self._unacked.popleft()
            if self._ack_timer is not None:
                self._ack_timer.cancel()
                self._ack_timer = None
            return True

    def _route_next(self) -> None:
        """After the OK to AT+CNMA: the next routed message that waited for it."""
        with self._cond:
            following = self._unacked[0] if self._unacked else None
        if following is not None:
            self._emit_routed(*following)

    def _routed_text(self, code: str, pdu: str, length: int) -> str:
        if self.cmgf == 0:  # +CMT: [<alpha>],<length> but +CDS: <length>
            return f"{code}: {',' if code == '+CMT' else ''}{length}\r\n{pdu}"
        if code == "+CDS":
            return "+CDS: " + self._report_fields(pdu)
        deliver = decode_deliver_pdu(pdu)
        head = f'+CMT: "{self._to_te(deliver.sender)}",,"{_scts(deliver.timestamp)}"'
        if self.csdh:
            head += self._deliver_details(pdu, deliver)
        return f"{head}\r\n{self._to_te(deliver.text)}"

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
        if self.verbose:
            out += "".join(f"\r\n{line}\r\n" for line in info)
        else:  # ATV0 (V.250 §6.2.6): no leading CR LF, result codes as digits
            out += "".join(f"{line}\r\n" for line in info)
        if self._urcs_inside and info:
            out += "".join(urcs)
        if self.verbose:
            out += f"\r\n{final}\r\n"
        else:
            out += _NUMERIC_RESULT[final] + "\r" if final in _NUMERIC_RESULT else f"{final}\r\n"
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
        prompt: _Prompt | None = None  # set while the `> ` prompt is open
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
                    if prompt is not None:
                        end = _first_of(buffer, b"\x1a", b"\x1b")
                        if end < 0:
                            break
                        terminator = buffer[end]
                        body = bytes(buffer[:end]).decode("latin-1")
                        del buffer[: end + 1]
                        opened, prompt = prompt, None
                        if terminator == ESC:
                            if self.abort_reply:
                                conn.send(b"\r\nOK\r\n")
                            continue
                        if opened.length is not None:
                            body = body.strip()
                        if self.echo:
                            conn.send(body.encode("latin-1"))
                        self._typed(conn, opened, body)
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
                    prompt = self._command(conn, line)
        except _Closed:
            pass
        finally:
            conn.close()
            self._deliver_after_disconnect(conn)

    def _command(self, conn: _Connection, line: str) -> _Prompt | None:
        """Answer one command line (V.250 §5.4: its commands in turn, the first error ends
        it); the `_Prompt` when AT+CMGS opened the `> ` prompt."""
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
        try:
            commands = parse_command_line(line)
        except ValueError:
            self._reply(conn, final="ERROR")
            return None
        info: list[str] = []
        after: list[str] = []
        then: list[Callable[[], object]] = []
        for position, command in enumerate(commands):
            answer = self._execute(command)
            info += answer.info
            after += answer.after
            if answer.then is not None:
                then.append(answer.then)
            if answer.prompt is not None:
                if position != len(commands) - 1:
                    self._reply(conn, final=self._error("CMS", 302))
                    return None
                return self._open_prompt(conn, answer.prompt)
            if answer.error is not None:
                self._reply(conn, *info, final=answer.error)
                return None
            if answer.without_final:  # Wavecom's AT+CPIN?
                conn.send("".join(f"\r\n{line}\r\n" for line in info).encode("latin-1"))
                return None
        self._reply(conn, *info)
        for urc in after:
            conn.send(f"\r\n{urc}\r\n".encode("latin-1"))
        for follow in then:
            follow()
        return None

    def _execute(self, command: AtCommand) -> _Answer:
        now = time.monotonic()
        if now < self._sim_ready_at and command.name in _SIM_COMMANDS:
            return self._cme(14)  # SIM busy: still starting
        if now < self._sms_ready_at and command.name in _SMS_COMMANDS:
            return _Answer(error="ERROR")  # SIM800: SMS commands before "SMS Ready"
        if command.name in self.profile.refused:
            return _Answer(error="ERROR")
        if command.name in self.profile.accepted:
            return _Answer()
        handler = self._handlers.get(command.name)
        if handler is None:
            return _Answer(error=self.profile.unknown_result)
        return handler(command)

    def _cme(self, code: int) -> _Answer:
        return _Answer(error=self._error("CME", code))

    def _cms(self, code: int) -> _Answer:
        return _Answer(error=self._error("CMS", code))

    def _sim_locked(self) -> _Answer | None:
        if self.sim_state == "READY":
            return None
        return self._cms(316 if self.sim_state == "SIM PUK" else 311)

    # --- V.250 --------------------------------------------------------------------------------

    def _reset_settings(self) -> None:
        """ATZ / AT&F / a restart: the settings back to the profile's power-on values."""
        self.echo = True
        self.verbose = True
        self.cmee = 0
        self.cmgf = 0
        self.cscs = self.profile.default_charset
        self.csmp = (17, 167, 0, 0)
        self.csdh = 0
        self.csms = self.profile.csms_default
        self.cmms = 0
        self.cnmi = self.profile.cnmi_default
        self.creg_mode = 0
        self.cops_format = 0

    def _at_reset(self, command: AtCommand) -> _Answer:  # ATZ, AT&F
        if command.args not in ("", "0"):
            return _Answer(error="ERROR")
        self._reset_settings()
        return _Answer()

    def _at_echo(self, command: AtCommand) -> _Answer:  # ATE0, ATE1
        if command.args not in ("", "0", "1"):
            return _Answer(error="ERROR")
        if not (command.args != "1" and self.ignore_ate0):
            self.echo = command.args == "1"
        return _Answer()

    def _at_verbose(self, command: AtCommand) -> _Answer:  # ATV0, ATV1
        if command.args not in ("", "0", "1"):
            return _Answer(error="ERROR")
        self.verbose = command.args == "1"
        return _Answer()

    def _at_identify(self, command: AtCommand) -> _Answer:  # ATI, ATI<n>
        lines = self.profile.ati.get(int(command.args or 0))
        if lines is None:
            return _Answer(error="ERROR")
        return _Answer(list(lines))

    def _at_accept(self, command: AtCommand) -> _Answer:  # ATQ0, AT&C, AT&D, AT&W, ATH, …
        return _Answer()

    def _at_s_register(self, command: AtCommand) -> _Answer:  # ATS<n>?, ATS<n>=<v>
        number, _, value = command.args.partition("=")
        register = int(number)
        if command.kind == "read":
            return _Answer([f"{self.s_registers.get(register, 0):03d}"])
        if not value.isdigit() or int(value) > 255:
            return _Answer(error="ERROR")
        self.s_registers[register] = int(value)
        return _Answer()

    def _identity(self, value: str) -> Callable[[AtCommand], _Answer]:
        def answer(command: AtCommand) -> _Answer:
            if command.kind == "test":
                return _Answer()
            if command.kind != "exec":
                return self._cme(4)
            return _Answer([value])

        return answer

    def _gmi(self, command: AtCommand) -> _Answer:  # AT+CGMI, AT+GMI
        return self._identity(self.profile.manufacturer)(command)

    def _gmm(self, command: AtCommand) -> _Answer:  # AT+CGMM, AT+GMM
        return self._identity(self.profile.model)(command)

    def _gmr(self, command: AtCommand) -> _Answer:  # AT+CGMR, AT+GMR
        return self._identity(self.profile.revision)(command)

    def _gsn(self, command: AtCommand) -> _Answer:  # AT+CGSN, AT+GSN: the IMEI
        return self._identity(self.profile.imei)(command)

    def _gcap(self, command: AtCommand) -> _Answer:
        return _Answer(["+GCAP: +CGSM"])

    # --- 27.007 -------------------------------------------------------------------------------

    def _cimi(self, command: AtCommand) -> _Answer:
        if self.sim_state != "READY":
            return self._cme(12 if self.sim_state == "SIM PUK" else 11)
        return self._identity(self.profile.imsi)(command)

    def _cmee_command(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CMEE: {self.cmee}"])
        if command.kind == "test":
            return _Answer(["+CMEE: (0-2)"])
        value = command.args.strip() or "0"
        if value not in ("0", "1", "2") or (self.cmee_needs_pin and self.sim_state != "READY"):
            return _Answer(error="ERROR")
        self.cmee = int(value)
        return _Answer()

    def _cpin(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            return _Answer()
        if command.kind == "read":
            return _Answer([f"+CPIN: {self.sim_state}"], without_final=self.cpin_without_ok)
        if command.kind != "set":
            return self._cme(4)
        return self._enter_pin(command.values()[0] if command.values() else "")

    def _enter_pin(self, pin: str) -> _Answer:
        self.pin_attempts.append(pin)
        if self.sim_state == "SIM PUK":
            return self._cme(12)
        if self.sim_state != "SIM PIN":
            return self._cme(3)
        if pin == self._pin:
            self.sim_state = "READY"
            return _Answer()
        self._pin_attempts_left -= 1
        if self._pin_attempts_left <= 0:
            self.sim_state = "SIM PUK"
        return self._cme(16)

    def _cfun(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CFUN: {self.fun}"])
        if command.kind == "test":
            return _Answer(["+CFUN: (0,1,4),(0-1)"])
        values = command.values()
        if command.kind != "set" or not 1 <= len(values) <= 2:
            return self._cme(4)
        fun, reset = values[0], values[1] if len(values) == 2 else "0"
        if fun not in ("0", "1", "4") or reset not in ("0", "1"):
            return self._cme(4)
        self.fun = int(fun)
        after: list[str] = []
        if reset == "1":
            self._reset_settings()
            if self._pin is not None:
                self.sim_state = "SIM PIN"  # the SIM asks for its PIN after a restart
            after += self.profile.restart_urcs
        self.registration = 1 if self.fun == 1 else 0
        if self.creg_mode and reset == "0":
            after.append(self._creg_urc())
        if self.fun == 1 and self.profile.busy_after_cfun:
            self._busy, self._busy_cme = self.profile.busy_after_cfun, 515
        return _Answer(after=after)

    def _creg_urc(self) -> str:
        line = f"+CREG: {self.registration}"
        if self.creg_mode == 2 and self.registration in (1, 5):
            line += ',"{}","{}"'.format(*self.location)
        return line

    def _creg(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            line = f"+CREG: {self.creg_mode},{self.registration}"
            if self.creg_mode == 2 and self.registration in (1, 5):
                line += ',"{}","{}"'.format(*self.location)
            return _Answer([line])
        if command.kind == "test":
            return _Answer(["+CREG: (0-2)"])
        value = command.args.strip() or "0"
        if value not in ("0", "1", "2"):
            return self._cme(4)
        self.creg_mode = int(value)
        return _Answer()

    def _cgreg(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CGREG: 0,{self.registration}"])
        if command.kind == "test":
            return _Answer(["+CGREG: (0-2)"])
        return _Answer() if command.args.strip() in ("", "0", "1", "2") else self._cme(4)

    def _csq(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            return _Answer(["+CSQ: (0-31,99),(0-7,99)"])
        return _Answer([f"+CSQ: {self.rssi},{self.ber}"])

    def _cbc(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            return _Answer(["+CBC: (0-3),(0-100)"])
        return _Answer([f"+CBC: {self.profile.battery}"])

    def _cops(self, command: AtCommand) -> _Answer:
        act = "" if self.profile.access_technology is None else f",{self.profile.access_technology}"
        names = {0: self.profile.operator, 1: self.profile.operator, 2: self.profile.imsi[:5]}
        if command.kind == "read":
            if self.registration not in (1, 5):
                return _Answer(["+COPS: 0"])
            return _Answer([f'+COPS: 0,{self.cops_format},"{names[self.cops_format]}"{act}'])
        if command.kind == "test":
            operator = f'(2,"{names[0]}","{names[1]}","{names[2]}"{act})'
            return _Answer([f"+COPS: {operator},,(0-4),(0-2)"])
        values = command.values()
        if not values or values[0] not in ("0", "1", "2", "3", "4"):
            return self._cme(4)
        if len(values) > 1 and values[1]:
            if values[1] not in ("0", "1", "2"):
                return self._cme(4)
            self.cops_format = int(values[1])
        return _Answer()

    def _cscs(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f'+CSCS: "{self.cscs}"'])
        if command.kind == "test":
            return _Answer(["+CSCS: (" + ",".join(f'"{c}"' for c in self.profile.charsets) + ")"])
        values = command.values()
        if (
            command.kind != "set"
            or len(values) != 1
            or values[0].upper() not in self.profile.charsets
        ):
            return self._cme(4)
        self.cscs = values[0].upper()
        return _Answer()

    # --- 27.005 -------------------------------------------------------------------------------

    def _csms_command(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CSMS: {self.csms},1,1,1"])
        if command.kind == "test":
            return _Answer(["+CSMS: (" + ",".join(map(str, self.profile.csms_services)) + ")"])
        value = command.args.strip()
        if not value.isdigit() or int(value) not in self.profile.csms_services:
            return self._cms(303)
        if not self.profile.csms_ignored:
            self.csms = int(value)
        return _Answer(["+CSMS: 1,1,1"])

    def _cnma(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            return _Answer(["+CNMA: (0-2)"] if self.cmgf == 0 else [])
        values = command.values()
        # 27.005 §3.4.4: <n> 0-2 in PDU mode; a PDU to go with the ack (<length>) is not offered
        if command.kind == "set" and (
            self.cmgf == 1 or values[0] not in ("0", "1", "2") or values[1:] not in ([], ["0"])
        ):
            return self._cms(304 if self.cmgf == 0 else 302)
        if self.csms != 1 or not self._acknowledged():
            return self._cms(340)
        return _Answer(then=self._route_next)

    def _cmgf(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CMGF: {self.cmgf}"])
        if command.kind == "test":
            return _Answer(["+CMGF: (0,1)"])
        value = command.args.strip() or "0"
        if value not in ("0", "1"):
            return _Answer(error="ERROR")
        self.cmgf = int(value)
        return _Answer()

    def _csca(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            toa = 145 if self.smsc.startswith("+") else 129
            return _Answer([f'+CSCA: "{self._to_te(self.smsc)}",{toa}'])
        if command.kind == "test":
            return _Answer()
        values = command.values()
        if command.kind != "set" or not values:
            return self._cms(302)
        number = self._from_te(values[0])
        if len(values) > 1 and values[1] == "145" and not number.startswith("+"):
            number = "+" + number
        self.smsc = number
        return _Answer()

    def _csmp(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer(["+CSMP: {},{},{},{}".format(*self.csmp)])
        if command.kind == "test":
            return _Answer()
        try:
            values = [int(v) if v else None for v in command.values()]
        except ValueError:
            return self._cms(305)
        if not 1 <= len(values) <= 4 or any(v is not None and not 0 <= v <= 255 for v in values):
            return self._cms(305)
        given = values + [None] * (4 - len(values))
        merged = [old if new is None else new for old, new in zip(self.csmp, given, strict=True)]
        self.csmp = (merged[0], merged[1], merged[2], merged[3])
        if self.profile.csmp_clears_smsc:
            self.smsc = ""
        return _Answer()

    def _csdh(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CSDH: {self.csdh}"])
        if command.kind == "test":
            return _Answer(["+CSDH: (0,1)"])
        value = command.args.strip() or "0"
        if value not in ("0", "1"):
            return self._cms(302)
        self.csdh = int(value)
        return _Answer()

    def _cmms_command(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer([f"+CMMS: {self.cmms}"])
        if command.kind == "test":
            return _Answer(["+CMMS: (0-2)"])
        value = command.args.strip() or "0"
        if value not in ("0", "1", "2"):
            return self._cms(302)
        self.cmms = int(value)
        return _Answer()

    def _cnmi_command(self, command: AtCommand) -> _Answer:
        if command.kind == "read":
            return _Answer(["+CNMI: {},{},{},{},{}".format(*self.cnmi)])
        if command.kind == "test":
            return _Answer([self.profile.cnmi_test()])
        try:
            values = [int(v or 0) for v in command.values()]
        except ValueError:
            return self._cms(303)
        values += [0] * (5 - len(values))
        if command.kind != "set" or len(values) != 5:
            return self._cms(303)
        if any(
            v not in allowed for v, allowed in zip(values, self.profile.cnmi_ranges, strict=True)
        ):
            return self._cms(303)
        self.cnmi = (values[0], values[1], values[2], values[3], values[4])
        return _Answer()

    def _cpms(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            lists = [
                "(" + ",".join(f'"{m}"' for m in names) + ")" for names in self.profile.memories
            ]
            return _Answer(["+CPMS: " + ",".join(lists)])
        locked = self._sim_locked()
        if locked is not None:
            return locked
        if command.kind == "read":
            fields = [f'"{m}",{self._used(m)},{self._total(m)}' for m in self.cpms]
            return _Answer(["+CPMS: " + ",".join(fields)])
        values = [v.upper() for v in command.values()]
        if command.kind != "set" or not 1 <= len(values) <= 3:
            return self._cms(302)
        for position, memory in enumerate(values):
            if memory not in self.profile.memories[position]:
                return self._cms(302)
        self.cpms[: len(values)] = values
        return _Answer(
            ["+CPMS: " + ",".join(f"{self._used(m)},{self._total(m)}" for m in self.cpms)]
        )

    def _used(self, memory: str) -> int:
        with self._cond:
            return len(self._stores.get(memory, {}))

    def _total(self, memory: str) -> int:
        return self.profile.capacity.get(memory, 0)

    def _cmgs(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            return _Answer()
        locked = self._sim_locked()
        if locked is not None:
            return locked
        if command.kind != "set":
            return self._cms(302)
        if self.cmgf == 0:
            try:
                length = int(command.args)
            except ValueError:
                return self._cms(304)
            return _Answer(prompt=_Prompt(length=length))
        values = command.values()
        if not values or not values[0]:
            return self._cms(305)
        recipient = self._from_te(values[0])
        toda = int(values[1]) if len(values) > 1 and values[1].isdigit() else None
        if toda == 145 and not recipient.startswith("+"):
            recipient = "+" + recipient
        return _Answer(prompt=_Prompt(length=None, recipient=recipient))

    def _open_prompt(self, conn: _Connection, prompt: _Prompt) -> _Prompt | None:
        fault = self._send_faults.popleft() if self._send_faults else None
        if fault is not None and fault.kind == "error" and fault.before_prompt:
            self._reply(conn, final=self._fault_line(fault))
            return None
        if fault is not None and fault.kind == "drop" and fault.at == "before_prompt":
            conn.close()
            raise _Closed
        text = "".join(f"\r\n{u}\r\n" for u in self._urcs) if self._urcs_before else ""
        conn.send((text + "\r\n> ").encode("latin-1"))
        if fault is not None and fault.kind == "drop" and fault.at == "after_prompt":
            conn.close()
            raise _Closed
        prompt.fault = fault
        return prompt

    def _fault_line(self, fault: _SendFault) -> str:
        if fault.line is not None:
            return fault.line
        if fault.cme is not None:
            return self._error("CME", fault.cme)
        return self._error("CMS", fault.cms if fault.cms is not None else 500)

    def _typed(self, conn: _Connection, prompt: _Prompt, body: str) -> None:
        """What came after the prompt, up to Ctrl-Z: the PDU, or the text in text mode."""
        if prompt.length is not None:
            return self._submitted(conn, body, prompt.length, prompt.fault)
        try:
            pdu, length = self._text_submit(prompt.recipient, self._from_te(body))
        except ValueError:
            return self._reply(conn, final=self._error("CMS", 305))
        return self._submitted(conn, pdu, length, prompt.fault)

    def _text_submit(self, recipient: str, text: str) -> tuple[str, int]:
        """The SMS-SUBMIT a modem makes of a text mode send: AT+CSMP's <fo>,<vp>,<pid>,<dcs>,
        one SMS (ValueError if the text does not fit)."""
        fo, vp, pid, dcs = self.csmp
        if dcs & 0x0C == 0x08:
            user_data = text.encode("utf-16-be")
            udl = len(user_data)
        elif dcs & 0x0C == 0x04:
            user_data = text.encode("latin-1", "replace")
            udl = len(user_data)
        else:
            septets = encode_gsm7("".join(c if is_gsm7(c) else "?" for c in text))
            user_data, udl = pack_septets(septets), len(septets)
            if udl > 160:
                raise ValueError("more than 160 septets")
        if len(user_data) > 140:
            raise ValueError("more than 140 octets")
        validity = bytes([vp]) if fo & 0x18 == 0x10 else b""
        tpdu = (
            bytes([(fo & ~0x03) | 0x01, 0x00])
            + _address(recipient)
            + bytes([pid, dcs])
            + validity
            + bytes([udl])
            + user_data
        )
        return "00" + tpdu.hex().upper(), len(tpdu)

    def _submitted(
        self, conn: _Connection, pdu: str, length: int, fault: _SendFault | None
    ) -> None:
        try:
            data = bytes.fromhex(pdu)
            if not data or len(data) - 1 - data[0] != length:
                raise ValueError("length does not match AT+CMGS")
            submit = decode_submit_pdu(pdu)
        except ValueError:
            return self._reply(conn, final=self._error("CMS", 304))
        if data[0] == 0 and not self.smsc:
            return self._reply(conn, final=self._error("CMS", 330))
        if self.fun != 1:
            return self._reply(conn, final=self._error("CMS", 331))
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
        concat = submit.concatenation
        if concat is None or concat.sequence == 1:  # a new SMS: its delay for all its parts
            delay = self._report_delays.popleft() if self._report_delays else self.report_delay
            if isinstance(delay, tuple):
                delay = random.uniform(*delay)
            self._report_delay_now = delay
        if self.status_reports and submit.status_report_requested:
            status = self._planned_status(submit.recipient)
            if status is None:
                return None
            self._report_later(mr, submit.recipient, self._report_delay_now, status)
        return None

    def plan_reports(self, recipient: str, *statuses: int | None) -> None:
        """Per-part outcomes: the next parts sent to `recipient` ("+43664…") get reports with
        these TP-Status values in turn (0x00 delivered, 0x30 pending, 0x45 failed, …; None:
        no report now, inject it later). Parts beyond the plan get `status_report_status`."""
        with self._cond:
            self._report_plans.setdefault(recipient, deque()).extend(statuses)

    def _planned_status(self, recipient: str) -> int | None:
        with self._cond:
            plan = self._report_plans.get(recipient)
            if plan:
                return plan.popleft()
        return self.status_report_status

    def _cmgl(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            if self.cmgf == 0:
                return _Answer(["+CMGL: (0-4)"])
            return _Answer(["+CMGL: (" + ",".join(f'"{s}"' for s in _TEXT_STAT) + ")"])
        locked = self._sim_locked()
        if locked is not None:
            return locked
        argument = command.args.strip()
        if self.cmgf == 0:
            if not (argument or "0").isdigit() or int(argument or 0) > 4:
                return self._cms(302)
            wanted = int(argument or 0)
        else:
            name = (argument.strip('"') or "REC UNREAD").upper()
            if (argument and not argument.startswith('"')) or name not in _TEXT_STAT:
                return self._cms(302)
            wanted = _TEXT_STAT.index(name)
        info = []
        with self._cond:
            store = self._stores.get(self.cpms[0], {})
            for index in sorted(store):
                entry = store[index]
                if wanted == 4 or entry[0] == wanted:
                    info += self._listed(index, entry)
                    if entry[0] == 0:
                        entry[0] = 1
        return _Answer(info)

    def _cmgr(self, command: AtCommand) -> _Answer:
        if command.kind == "test":
            return _Answer()
        locked = self._sim_locked()
        if locked is not None:
            return locked
        try:
            index = int(command.args)
        except ValueError:
            return self._cms(321)
        with self._cond:
            entry = self._stores.get(self.cpms[0], {}).get(index)
            if entry is None:
                return self._cms(321)
            shown = list(entry)
            entry[0] = 1 if entry[0] == 0 else entry[0]  # reading marks it read
        return _Answer(self._read_lines(shown))

    def _cmgd(self, command: AtCommand) -> _Answer:
        store_name = self.cpms[0]
        if command.kind == "test":
            with self._cond:
                used = ",".join(str(i) for i in sorted(self._stores.get(store_name, {})))
            return _Answer([f"+CMGD: ({used}),(0-4)"])
        locked = self._sim_locked()
        if locked is not None:
            return locked
        try:
            values = [int(v) for v in command.values()]
        except ValueError:
            return self._cms(321)
        if not values or len(values) > 2 or (len(values) == 2 and not 0 <= values[1] <= 4):
            return self._cms(302)
        flag = values[1] if len(values) == 2 else 0
        # 27.005 <delflag>: 1 read, 2 read + sent, 3 read + sent + unsent, 4 all
        doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}.get(flag)
        with self._cond:
            store = self._stores.setdefault(store_name, {})
            if doomed is None:
                store.pop(values[0], None)
            else:
                for index in [i for i, entry in store.items() if entry[0] in doomed]:
                    del store[index]
        return _Answer()

    # --- text mode listings (27.005 §3.4.2, §4.1) ---------------------------------------------

    def _listed(self, index: int, entry: list) -> list[str]:
        stat, pdu, length = entry
        if self.cmgf == 0:
            return [f"+CMGL: {index},{stat},,{length}", pdu]
        if pdu_type(pdu) == _STATUS_REPORT:
            return [f'+CMGL: {index},"{_TEXT_STAT[stat]}",{self._report_fields(pdu)}']
        deliver = decode_deliver_pdu(pdu)
        text = self._to_te(deliver.text)
        head = f'+CMGL: {index},"{_TEXT_STAT[stat]}","{self._to_te(deliver.sender)}",,'
        head += f'"{_scts(deliver.timestamp)}"'
        if self.csdh:
            head += f",{_toa(deliver.sender)},{len(deliver.text)}"
        return [head, text]

    def _read_lines(self, entry: list) -> list[str]:
        stat, pdu, length = entry
        if self.cmgf == 0:
            return [f"+CMGR: {stat},,{length}", pdu]
        if pdu_type(pdu) == _STATUS_REPORT:
            return [f'+CMGR: "{_TEXT_STAT[stat]}",{self._report_fields(pdu)}']
        deliver = decode_deliver_pdu(pdu)
        head = f'+CMGR: "{_TEXT_STAT[stat]}","{self._to_te(deliver.sender)}",,'
        head += f'"{_scts(deliver.timestamp)}"'
        if self.csdh:
            head += self._deliver_details(pdu, deliver)
        return [head, self._to_te(deliver.text)]

    def _deliver_details(self, pdu: str, deliver: DecodedDeliver) -> str:
        """,<tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length> (shown with AT+CSDH=1)."""
        data = bytes.fromhex(pdu)
        first = data[data[0] + 1]
        smsc = deliver.smsc or ""
        return (
            f",{_toa(deliver.sender)},{first},{deliver.pid},{deliver.dcs},"
            f'"{self._to_te(smsc)}",{_toa(smsc)},{len(deliver.text)}'
        )

    def _report_fields(self, pdu: str) -> str:
        """<fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st> of a status report in text mode."""
        report = decode_status_report_pdu(pdu)
        data = bytes.fromhex(pdu)
        first = data[data[0] + 1]
        return (
            f'{first},{report.message_reference},"{self._to_te(report.recipient)}",'
            f'{_toa(report.recipient)},"{_scts(report.sc_timestamp)}",'
            f'"{_scts(report.discharge_time)}",{report.status}'
        )

    # --- character sets (AT+CSCS, 27.007 §5.5) ------------------------------------------------

    def _to_te(self, text: str) -> str:
        """`text` as the client sees it in the chosen character set (text mode strings)."""
        if self.cscs == "UCS2":
            return text.encode("utf-16-be").hex().upper()
        if self.cscs == "GSM":
            gsm = "".join(c if is_gsm7(c) else "?" for c in text)
            return "".join(chr(septet) for septet in encode_gsm7(gsm))
        limit = 0x80 if self.cscs == "IRA" else 0x100
        return "".join(c if ord(c) < limit else "?" for c in text)

    def _from_te(self, data: str) -> str:
        """What the client typed in the chosen character set, as text."""
        if self.cscs == "UCS2":
            return bytes.fromhex(data).decode("utf-16-be", "replace")
        if self.cscs == "GSM":
            return decode_gsm7(ord(c) & 0x7F for c in data)
        return data


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
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Modemtyp: Kennung, Voreinstellungen und Eigenheiten (siehe README).",
)
@click.option("--pin", default=None, help="Die SIM verlangt diese PIN.")
@click.option("--status-reports/--no-status-reports", default=True, show_default=True)
@click.option(
    "--report-delay",
    default="0.0",
    show_default=True,
    help="Sekunden bis zum Statusbericht einer SMS, fest (30) oder als Bereich (5-600).",
)
@click.option(
    "--power-on",
    is_flag=True,
    help="Startet wie nach dem Einschalten (RDY … SMS Ready; SMS-Befehle bis dahin ERROR).",
)
@click.option(
    "--cmee-needs-pin",
    is_flag=True,
    help="Wie ZTE-Modems: AT+CMEE wird abgelehnt, solange die SIM ihre PIN verlangt.",
)
def modem_command(
    host: str,
    port: int,
    latency: str,
    profile: str,
    pin: str | None,
    status_reports: bool,
    report_delay: str,
    power_on: bool,
    cmee_needs_pin: bool,
) -> None:
    """Modem-Simulator (GSM-Modem hinter einer Moxa NPort, TCP-Server) bis Strg-C."""
    try:
        parsed = _parse_latency(latency)
    except ValueError:
        raise click.BadParameter(latency, param_hint="--latency") from None
    try:
        delay = _parse_latency(report_delay)
    except ValueError:
        raise click.BadParameter(report_delay, param_hint="--report-delay") from None

    def show(message: PhoneMessage) -> None:
        click.echo(f"SMS an {message.recipient} ({message.parts} Teil(e)): {message.text}")

    sim = ModemSimulator(
        host,
        port,
        profile=profile,
        latency=parsed,
        status_reports=status_reports,
        report_delay=delay,
        cmee_needs_pin=cmee_needs_pin or None,
        on_message=show,
    )
    if pin:
        sim.require_pin(pin)
    try:
        sim.start()
    except OSError as exc:
        raise click.ClickException(f"{host}:{port} nicht verfügbar: {exc}") from None
    if power_on:
        sim.power_on()
    click.echo(f"Modem-Simulator ({profile}) läuft: {sim.url} (Strg-C beendet)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        click.echo("Modem-Simulator beendet.")

"""Variante 1: SMS through a GSM modem, usually behind a Moxa NPort 5110 (SPEC R2.1, E1, E3, E4).

The modem transport: it sets the modem up (echo off, error codes, SIM PIN, PDU mode, new-message
indications), sends every SMS in PDU mode (AT+CMGF=0) with the PDUs of
`webapp.sms.encoding.build_submit_pdus`, reads received SMS and status reports, and turns what
the modem answered into outcomes; facts in `reference/gsm-modem.md`. Bytes, lines, deadlines and
unsolicited result codes are the AT channel's (at_channel.py), error codes are classified only in
classify.py.

What the send job can rely on (base.py): one outcome per SMS, one SMS at a time (`window` 1);
`TransportUnavailable` only when nothing could be tried. A message is `UNKNOWN` as soon as the
modem may have sent any part of it (Ctrl-Z written, a part accepted) and the answer did not say
so; a message of which
nothing left the building is retried once on a fresh connection (dropped TCP link, hung modem)
and otherwise `TRANSIENT`.

The receive path learns of new SMS and status reports from the unsolicited codes the channel
hands on; they are queued (`take_unsolicited`, `take_status_reports`, `on_unsolicited`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
from webapp.sms.transports.at_channel import (
    AtChannel,
    ErrorResult,
    LinkDown,
    NoAnswer,
    Unsolicited,
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
    modem_error,
    network_failure,
    outcome_unknown,
)
from webapp.technical import explain_error, map_sentence, with_details

log = logging.getLogger(__name__)

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
    # a modem that is starting (SIM800: SMS commands ERROR until "SMS Ready", SIM busy before
    # "+CPIN: READY") is waited for this long at connect before the run gives up on it
    ready_timeout: float = 30.0
    # a modem that can only route its reports (AT+CNMI <ds> 1): at the end of a run the
    # reports still missing are waited for this long after their SMS left (behind an NPort a
    # report routed once the run closed is lost)
    report_grace: float = 10.0
    validity_hours: int | None = 168
    request_status_report: bool = True
    list_timeout: float = 60.0  # AT+CMGL with a full SIM
    idle_check: float = 30.0  # an idle connection is checked with `AT` before it is used again
    quiet_time: float = 0.05  # after ESC: how long the line must stay silent to count as clean
    multipart_timeout: float = 3600.0  # an incomplete received multipart SMS is delivered anyway
    # AT+CNMI=2,1,0,<ds>,0: +CMTI, and status reports stored on the modem (<ds> 2, +CDSI) where
    # AT+CNMI=? offers it, else routed as +CDS (<ds> 1)
    new_message_indications: bool = True


@dataclass(frozen=True)
class StatusReport:
    """What became of a sent part: `message_reference` is the `+CMGS: <mr>` of the part."""

    message_reference: int
    recipient: str
    status: int  # TP-ST
    delivered: bool
    final: bool  # False while the SMS centre keeps trying
    sc_timestamp: datetime | None  # when the SMS centre got the part (TP-SCTS)
    discharge_time: datetime | None
    index: int | None = None  # where it is stored on the modem (delete with `delete`)
    memory: str | None = None  # its store ("SR", "SM", …); None: the current read memory

    @classmethod
    def from_pdu(
        cls, decoded: DecodedStatusReport, index: int | None = None, memory: str | None = None
    ) -> StatusReport:
        return cls(
            message_reference=decoded.message_reference,
            recipient=decoded.recipient,
            status=decoded.status,
            delivered=decoded.delivered,
            final=decoded.final,
            sc_timestamp=decoded.sc_timestamp,
            discharge_time=decoded.discharge_time,
            index=index,
            memory=memory,
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


# --- the transport ------------------------------------------------------------------------------


# A received multipart SMS: (sender, reference, total, 16-bit reference); a part of it stored on
# the modem: (sequence, storage index, decoded part).
_MultipartKey = tuple[str, int, int, bool]
_StoredPart = tuple[int, int, DecodedDeliver]


class _NothingSent(Exception):
    """No byte of the message can have left: safe to try again on a fresh connection."""


@dataclass
class _Parts:
    """The parts of one message the modem took so far; what they are makes its outcome."""

    message_id: int
    total: int
    references: list[int | None] = field(default_factory=list)  # None: a duplicate (CMS 197)

    def outcome(
        self,
        kind: OutcomeKind,
        code: str | None,
        reason: str | None,
        fails_run: bool = False,
        halts: bool = False,
    ) -> Outcome:
        return Outcome(
            message_id=self.message_id,
            kind=kind,
            provider_ref=join_references(self.references),
            segments=self.total,
            code=code,
            reason=reason,
            fails_run=fails_run,
            halts=halts,
        )

    def unknown(self, detail: str, code: str) -> Outcome:
        """The modem may have sent some of it: never resent automatically."""
        if self.total > 1:
            n = len(self.references) + 1
            detail = str(_l("Teil %(n)d von %(t)d: %(d)s", n=n, t=self.total, d=detail))
        verdict = outcome_unknown(detail)
        # No answer or a lost link: the next SMS goes out only as a probe.
        return self.outcome(verdict.kind, code, verdict.reason, halts=True)

    def refused(self, err: ErrorResult) -> Outcome | None:
        """An error result for a part. None: it counts as accepted (duplicate), go on."""
        verdict, code = modem_error(err.family, err.text)
        if verdict.kind is OutcomeKind.ACCEPTED:
            self.references.append(None)
            return None
        if self.references:  # earlier parts are on their way
            return self.unknown(verdict.reason, code)
        return self.outcome(verdict.kind, code, verdict.reason, verdict.fails_run)


def join_references(references: Sequence[int | None]) -> str | None:
    """The references of the parts as the SMS keeps them (`provider_ref`): "12,13,14", in
    part order; a part without one (a duplicate) stays an empty place ("12,,14"), so each
    keeps its number. None when no part has one."""
    if all(r is None for r in references):
        return None
    return ",".join("" if r is None else str(r) for r in references)


def split_references(provider_ref: str | None) -> list[int | None]:
    """`join_references` read back: the reference of each part ("12,,14" → [12, None, 14])."""
    references: list[int | None] = []
    for item in (provider_ref or "").split(",") if provider_ref else []:
        item = item.strip()
        references.append(int(item) if item.isascii() and item.isdigit() else None)
    return references


def _link_problem(exc: LinkDown | NoAnswer) -> str:
    """What went wrong on the link to the modem: German, the technical text as details."""
    if isinstance(exc, NoAnswer):
        return str(_l("Das Modem hat nicht rechtzeitig geantwortet."))
    return explain_error(exc, str(_l("Die Verbindung zum Modem ist abgebrochen.")))


def _message_reference(lines: list[str]) -> int | None:
    """The <mr> of `+CMGS: <mr>` after a part was sent."""
    reference: int | None = None
    for line in lines:
        try:
            reference = int(line.split(":", 1)[1].split(",")[0])
        except ValueError:
            log.warning("modem: unreadable %r", line)
    return reference


def _refusal(err: ErrorResult) -> ModemUnavailable:
    """The modem refused what has to work: the message stays, with the verdict on the error."""
    verdict, code = modem_error(err.family, err.text)
    return ModemUnavailable(verdict.reason, verdict, code)


def signal_text(rssi: int | None) -> str:
    """The signal of AT+CSQ (0–31; None: unknown) in German words."""
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


def registration_text(registration: str | None) -> str:
    """A `ModemStatus.registration` in German words."""
    for key, text in _REGISTRATION.values():
        if key == registration:
            return str(text)
    return str(_l("Netzstatus unbekannt"))


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
        self._at: AtChannel | None = None
        self._needs_check = False
        self._events: deque[Unsolicited] = deque()
        self._reports: deque[StatusReport] = deque()
        self._first_seen: dict[_MultipartKey, datetime] = {}
        self._indications: str | None = None  # the AT+CNMI set command chosen for this modem
        self._ready_by = 0.0  # while connecting: until when a starting modem is waited for
        self._report_memories: set[str] = set()  # where +CDSI said reports were stored
        self._readable: list[str] | None = None  # AT+CPMS=? <mem1> stores that may hold reports
        self._awaited: dict[int, float] = {}  # reference → when it left, report not yet seen
        self._restarted = False  # the modem said it started again: initialise before use

    # connection

    def _pin_key(self) -> tuple[str, str]:
        digest = hashlib.sha256((self.settings.pin or "").encode()).hexdigest()
        return (self.settings.url, digest)

    def _unavailable(self, problem: str) -> ModemUnavailable:
        """`problem`: German, perhaps with technical details (`_link_problem`)."""
        url = self.settings.url
        reason = map_sentence(
            problem, lambda d: str(_l("Modem nicht erreichbar (%(url)s): %(d)s", url=url, d=d))
        )
        return ModemUnavailable(reason, network_failure(problem), "link")

    def _drop(self) -> None:
        if self._at is not None:
            self._at.close()
        self._at = None

    def _connect(self) -> AtChannel:
        """Open the port and initialise the modem; ModemUnavailable if that fails."""
        self._drop()
        try:
            at = AtChannel.open(self.settings, self._unsolicited)
        except LinkDown as exc:
            raise self._unavailable(_link_problem(exc)) from exc
        try:
            self._initialise(at)
        except LinkDown as exc:
            at.close()
            raise self._unavailable(
                map_sentence(
                    _link_problem(exc),
                    lambda e: str(_l("Verbindung beim Initialisieren unterbrochen. %(e)s", e=e)),
                )
            ) from exc
        except BaseException:
            at.close()
            raise
        self._at, self._needs_check, self._restarted = at, False, False
        return at

    def _retrying_busy(
        self,
        at: AtChannel,
        call: Callable[[], list[str]],
        bare_error: bool = False,
        deadline: float | None = None,
    ) -> list[str]:
        """Run `call`; while the modem or SIM says "busy", read on for a moment and repeat
        (until `deadline`, default one command timeout from now). `bare_error`: a plain ERROR
        may mean busy too (before AT+CMEE=1 took effect, or while the modem starts)."""
        if deadline is None:
            deadline = time.monotonic() + self.settings.command_timeout
        pause = 0.05
        while True:
            try:
                return call()
            except ErrorResult as err:
                _verdict, code = modem_error(err.family, err.text)
                busy = code in _BUSY or (bare_error and code == "ERROR")
                if not busy or time.monotonic() + pause >= deadline:
                    raise
            at.listen(pause)  # a busy modem may report in the meantime
            pause = min(pause * 2, 1.0)

    def _initialise(self, at: AtChannel) -> None:
        s = self.settings
        timeout = s.command_timeout
        at.reset(quiet=s.quiet_time)
        self._ready_by = time.monotonic() + max(s.ready_timeout, timeout)
        try:
            try:
                at.command("AT", timeout)
            except ErrorResult:
                at.command("AT", timeout)  # garbage before the first AT
        except NoAnswer as exc:
            raise self._unavailable(str(_l("Das Modem antwortet nicht auf AT."))) from exc
        except ErrorResult as err:
            raise self._unavailable(
                with_details(str(_l("Das Modem antwortet auf AT mit einem Fehler.")), err.line)
            ) from err
        self._optional(at, "ATE0")
        error_codes = self._optional(at, "AT+CMEE=1")
        if self._unlock(at) and not error_codes:
            # Some modems (ZTE) refuse AT+CMEE while the SIM waits for its PIN; without it every
            # later error would be a bare ERROR without its code.
            self._optional(at, "AT+CMEE=1")
        self._wait_sms_ready(at)
        try:
            self._retrying_busy(at, lambda: at.command("AT+CMGF=0", timeout), True, self._ready_by)
        except ErrorResult as err:
            verdict, code = modem_error(err.family, err.text)
            raise ModemUnavailable(
                str(_l("Das Modem kann nicht in den PDU-Modus schalten: %(r)s", r=verdict.reason)),
                verdict,
                code,
            ) from err
        except NoAnswer as exc:
            raise self._unavailable(str(_l("keine Antwort auf AT+CMGF=0"))) from exc
        at.acknowledge_routed = self._phase_2_plus(at)
        if s.new_message_indications:
            self._indications = self._indications or _indications(self._cnmi_offer(at))
            try:
                at.command(self._indications, timeout)
            except (ErrorResult, NoAnswer) as exc:
                log.info("modem: %s not accepted (%s)", self._indications, exc)

    def _wait_sms_ready(self, at: AtChannel) -> None:
        """A modem that is starting answers SMS commands with ERROR (SIM800 until "SMS
        Ready"): AT+CPMS? is repeated until it answers, at most until `ready_timeout`. An
        error that stays is left to the commands after it to report."""
        try:
            self._retrying_busy(
                at,
                lambda: at.command("AT+CPMS?", self.settings.command_timeout, "+CPMS:"),
                True,
                self._ready_by,
            )
        except ErrorResult as err:
            log.info("modem: AT+CPMS? refused (%s)", err.line)
        except NoAnswer as exc:
            raise self._unavailable(str(_l("keine Antwort auf AT+CPMS?"))) from exc

    def _keep_routing(self, at: AtChannel) -> None:
        """27.005 +CNMA: a phase 2+ modem whose acknowledgement came too late (it waited
        behind a long AT+CMGS) has turned routing off (<mt>, <ds> 0); set it again."""
        wanted = self._indications
        if wanted is None:
            return
        try:
            lines = at.command("AT+CNMI?", self.settings.command_timeout, "+CNMI:")
            now = [v.strip() for line in lines for v in line.split(":", 1)[1].split(",")]
            if now[:4] == wanted.split("=", 1)[1].split(",")[:4]:
                return
            log.warning("modem: routing was reset to %s, setting %s again", now, wanted)
            at.command(wanted, self.settings.command_timeout)
        except (ErrorResult, NoAnswer, IndexError) as exc:
            log.info("modem: AT+CNMI? not checked (%s)", exc)

    def _cnmi_offer(self, at: AtChannel) -> list[set[int]]:
        """What AT+CNMI=? offers for each of <mode>,<mt>,<bm>,<ds>,<bfr> (empty: unknown)."""
        try:
            lines = at.command("AT+CNMI=?", self.settings.command_timeout, "+CNMI:")
        except (ErrorResult, NoAnswer) as exc:
            log.info("modem: AT+CNMI=? not answered (%s)", exc)
            return []
        for line in lines:
            if line.upper().startswith("+CNMI:"):
                return _offered_ranges(line.split(":", 1)[1])
        return []

    def _phase_2_plus(self, at: AtChannel) -> bool:
        """Ask for phase 2 (AT+CSMS=0: routed +CDS/+CMT need no AT+CNMA) and say whether the
        modem stays in phase 2+ anyway. The answer to the set command lists only what the
        service supports (+CSMS: <mt>,<mo>,<bm>); the service itself is the first value of
        AT+CSMS? (27.005 §3.2.1). A modem that knows no AT+CSMS is phase 2."""
        self._optional(at, "AT+CSMS=0")
        try:
            lines = at.command("AT+CSMS?", self.settings.command_timeout, "+CSMS:")
        except (ErrorResult, NoAnswer) as exc:
            log.info("modem: AT+CSMS? not answered (%s)", exc)
            return False
        for line in lines:
            if line.upper().startswith("+CSMS:"):
                service = line.split(":", 1)[1].split(",")[0].strip()
                if service == "1":
                    log.info("modem: stays in phase 2+ (AT+CSMS=1): acknowledging with AT+CNMA")
                    return True
        return False

    def _optional(self, at: AtChannel, command: str) -> bool:
        """Send a setting the modem may refuse (waiting out "busy"); whether it took it."""
        try:
            self._retrying_busy(at, lambda: at.command(command, self.settings.command_timeout))
        except (ErrorResult, NoAnswer) as exc:
            log.info("modem: %s not accepted (%s)", command, exc)
            return False
        return True

    def _sim_state(self, at: AtChannel) -> str:
        try:
            lines = self._retrying_busy(
                at,
                lambda: at.command(
                    "AT+CPIN?", self.settings.command_timeout, "+CPIN:", grace_after_info=0.5
                ),
                bare_error=True,
                deadline=self._ready_by or None,  # a starting modem: SIM busy for a while
            )
        except ErrorResult as err:
            raise _refusal(err) from err
        except NoAnswer as exc:
            raise self._unavailable(str(_l("keine Antwort auf AT+CPIN?"))) from exc
        for line in lines:
            if line.upper().startswith("+CPIN:"):
                return line.split(":", 1)[1].strip().strip('"').upper()
        return "READY" if not lines else lines[0].strip().strip('"').upper()

    def _unlock(self, at: AtChannel) -> bool:
        """SIM PIN: entered once if configured, never again after the SIM refused it.

        True when the PIN was entered now, False when the SIM was ready already."""
        state = self._sim_state(at)
        if state == "READY":
            return False
        if state == "SIM PIN":
            self._enter_pin(at)
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

    def _enter_pin(self, at: AtChannel) -> None:
        """The configured PIN, unless the SIM refused it before: a refused PIN is remembered
        and raised again instead of being sent (ModemUnavailable with `pin_rejected`)."""
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
        except ErrorResult as err:
            verdict, code = modem_error(err.family, err.text)
            if code not in ("CME 12", "CME 16"):
                # Whatever the modem says: the PIN is not sent again by this process.
                verdict = Verdict(
                    OutcomeKind.PERMANENT,
                    str(_l("Die SIM-PIN wurde nicht angenommen (%(r)s).", r=verdict.reason))
                    + " "
                    + str(_l("Die PIN wird nicht erneut versucht.")),
                    fails_run=True,
                )
            unavailable = ModemUnavailable(verdict.reason, verdict, code, pin_rejected=True)
            with _REJECTED_LOCK:
                _REJECTED_PINS[key] = unavailable
            raise unavailable from err
        except NoAnswer as exc:
            raise self._unavailable(str(_l("keine Antwort auf die PIN-Eingabe"))) from exc

    def _ready(self) -> AtChannel:
        """The channel, connected and initialised; an idle or doubtful one is checked first."""
        at = self._at
        if at is None:
            return self._connect()
        try:
            at.drain()  # did the modem say it restarted meanwhile?
        except LinkDown:
            return self._connect()
        if self._restarted:
            return self._connect()
        idle = time.monotonic() - at.last_used
        if self._needs_check or idle > self.settings.idle_check:
            try:
                at.drain()
                at.command("AT", self.settings.command_timeout)
                at.drain(quiet=self.settings.quiet_time)  # a late answer to what timed out
                self._needs_check = False
            except (LinkDown, NoAnswer, ErrorResult) as exc:
                log.warning("modem: check failed (%s), reconnecting", exc)
                return self._connect()
        return at

    # unsolicited

    def _unsolicited(self, event: Unsolicited) -> None:
        if event.code in ("RDY", "SMS READY", "^SYSSTART"):
            # restarted (power, watchdog): echo, PDU mode and AT+CNMI are back at their
            # power-on values — with <ds> 0 its reports would go nowhere until set again
            log.warning("modem: restarted (%s), initialising again", event.line)
            self._restarted = True
            return
        if event.code == "+CDS" and event.pdu:
            try:
                report = StatusReport.from_pdu(decode_status_report_pdu(event.pdu))
                self._reports.append(report)
                self._awaited.pop(report.message_reference, None)
            except ValueError as exc:
                log.warning("modem: unreadable status report %r: %s", event.pdu, exc)
        elif event.code == "+CDSI":
            memory = event.line.split(":", 1)[1].split(",")[0].strip().strip('"').upper()
            if memory:
                self._report_memories.add(memory)
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
        """Status reports routed as +CDS since the last call (stored ones: `stored_reports`)."""
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
            try:
                at.wait_unsolicited(timeout)
            except LinkDown:
                self._drop()
            return len(self._events)

    def await_routed_reports(self) -> None:
        """A modem whose reports are routed (<ds> 1): wait for the reports of the parts sent
        on this connection, at most `report_grace` after each left (none: at once). Stored
        reports (<ds> 2) need no wait: the next run reads them."""
        indications = self._indications or ""
        if not indications.endswith(",1,0") or not self._awaited:
            self._awaited.clear()
            return
        deadline = max(self._awaited.values()) + self.settings.report_grace
        while self._awaited and self._at is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.poll(remaining)
        self._awaited.clear()

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
                reason=with_details(
                    str(_l("Die SMS lässt sich nicht als PDU kodieren.")), str(exc)
                ),
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

    def _submit(self, at: AtChannel, sms: OutgoingSms, pdus: list[SubmitPdu]) -> Outcome:
        """All parts of one message. Raises _NothingSent while retrying is safe."""
        parts = _Parts(sms.message_id, len(pdus))
        for pdu in pdus:
            outcome = self._submit_part(at, pdu, parts)
            if outcome is not None:
                return outcome
        if at.acks_delayed:  # a +CDS/+CMT came while AT+CMGS waited: acknowledged late
            at.acks_delayed = False
            self._keep_routing(at)
        return parts.outcome(OutcomeKind.ACCEPTED, None, None)

    def _submit_part(self, at: AtChannel, pdu: SubmitPdu, parts: _Parts) -> Outcome | None:
        """One part (AT+CMGS, prompt, PDU, Ctrl-Z, +CMGS). None: the modem took it, go on with
        the next; else the message's outcome. Raises _NothingSent while retrying is safe."""
        s = self.settings
        try:
            at.start_pdu(f"AT+CMGS={pdu.tpdu_length}", time.monotonic() + s.command_timeout)
            at.send_pdu(pdu.hex)
        except NoAnswer as exc:
            self._needs_check = True
            at.abandon_pdu()
            if parts.references:
                self._drop()
                return parts.unknown(str(_l("keine Antwort des Modems auf AT+CMGS")), "timeout")
            raise _NothingSent(str(_l("Das Modem antwortet nicht auf AT+CMGS."))) from exc
        except LinkDown as exc:
            self._drop()
            interrupted = map_sentence(
                _link_problem(exc), lambda e: str(_l("Verbindung unterbrochen. %(e)s", e=e))
            )
            if parts.references:
                return parts.unknown(interrupted, "link")
            raise _NothingSent(interrupted) from exc
        except ErrorResult as err:
            return parts.refused(err)
        try:
            lines = at.wait_result(time.monotonic() + s.cmgs_timeout, "+CMGS:")
        except NoAnswer:
            self._needs_check = True
            return parts.unknown(
                str(
                    _l(
                        "keine Antwort auf AT+CMGS innerhalb von %(s)s s nach dem Absenden",
                        s=f"{s.cmgs_timeout:g}",
                    )
                ),
                "timeout",
            )
        except LinkDown as exc:
            self._drop()
            return parts.unknown(
                map_sentence(
                    _link_problem(exc),
                    lambda e: str(_l("Verbindung nach dem Absenden unterbrochen. %(e)s", e=e)),
                ),
                "link",
            )
        except ErrorResult as err:
            return parts.refused(err)
        reference = _message_reference(lines)
        parts.references.append(reference)
        if reference is not None and self.settings.request_status_report:
            self._awaited[reference] = time.monotonic()
        return None

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
            except (ErrorResult, ValueError) as exc:
                log.info("modem: status incomplete (%s)", exc)
            except (LinkDown, NoAnswer) as exc:
                self._drop()
                raise self._unavailable(_link_problem(exc)) from exc
            registration, text = _REGISTRATION.get(
                stat if stat is not None else 4, ("unknown", _l("Netzstatus unbekannt"))
            )
            return ModemStatus(
                rssi=rssi,
                ber=ber,
                dbm=None if rssi is None else -113 + 2 * rssi,
                signal=signal_text(rssi),
                registration=registration,
                registration_text=str(text),
            )

    # receiving

    def receive(self, now: datetime | None = None) -> list[ReceivedSms]:
        """The SMS stored on the modem (AT+CMGL=4), multipart ones joined. Incomplete sets stay
        until complete or `multipart_timeout` old. Nothing is deleted: call `delete` with the
        indices once they are stored. Status reports stored there are left to
        `stored_reports` (read also when Empfang is off)."""
        now = now or datetime.now(UTC)
        with self._lock:
            at = self._ready()
            try:
                lines = at.command("AT+CMGL=4", self.settings.list_timeout, "+CMGL:")
            except (LinkDown, NoAnswer) as exc:
                self._drop()
                raise self._unavailable(_link_problem(exc)) from exc
            except ErrorResult as err:
                raise _refusal(err) from err
        singles, multipart = self._decode_stored(lines)
        items = singles + self._join_multipart(multipart, now)
        items.sort(key=lambda item: item.indices[0])
        return items

    def _decode_stored(
        self, lines: list[str]
    ) -> tuple[list[ReceivedSms], dict[_MultipartKey, list[_StoredPart]]]:
        """The single SMS of an AT+CMGL listing, and the parts of multipart ones by message.
        Status reports are skipped (`stored_reports`); what is unreadable stays on the modem."""
        singles: list[ReceivedSms] = []
        multipart: dict[_MultipartKey, list[_StoredPart]] = {}
        for index, pdu in _listing(lines):
            try:
                kind = pdu_type(pdu)
                if kind == 2:
                    continue  # a status report kept with the SMS: `stored_reports` reads it
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
            multipart.setdefault(key, []).append((part.sequence, index, sms))
        return singles, multipart

    def _join_multipart(
        self, multipart: dict[_MultipartKey, list[_StoredPart]], now: datetime
    ) -> list[ReceivedSms]:
        """The complete multipart SMS, and incomplete ones after `multipart_timeout`."""
        joined = []
        for key, parts in multipart.items():
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
        return joined

    def stored_reports(self) -> list[StatusReport]:
        """The status reports stored on the modem: in its report memory ("SR": AT+CNMI <ds> 2,
        `+CDSI`), in any memory a `+CDSI` named, and in the other stores AT+CPMS=? offers
        ("SM", "ME"), where some modems keep them with the received SMS. Each is read with
        AT+CPMS="<mem>" and AT+CMGL=4; the read memory is set back afterwards; received SMS
        there are not returned and stay (Empfang may be off; the listing marks unread ones
        read). Nothing is deleted: `delete(indices, memory)` once they are applied."""
        timeout = self.settings.command_timeout
        reports: list[StatusReport] = []
        with self._lock:
            at = self._ready()
            try:
                self._keep_routing(at)  # once a run: routing a phase 2+ modem dropped is back
                previous = _read_memory(at.command("AT+CPMS?", timeout, "+CPMS:"))
                wanted = [
                    _REPORT_MEMORY,
                    *sorted(self._report_memories),
                    previous,
                    *self._message_memories(at),
                ]
                memories = [m for n, m in enumerate(wanted) if m and m not in wanted[:n]]
                current = previous
                try:
                    for memory in memories:
                        if memory != current:
                            try:
                                at.command(f'AT+CPMS="{memory}"', timeout, "+CPMS:")
                            except ErrorResult as err:
                                log.info("modem: no memory %s (%s)", memory, err.line)
                                continue
                            current = memory
                        lines = at.command("AT+CMGL=4", self.settings.list_timeout, "+CMGL:")
                        reports += _reports_listed(lines, memory)
                finally:
                    if current != previous:
                        self._select_memory(at, previous)
            except ErrorResult as err:
                raise _refusal(err) from err
            except (LinkDown, NoAnswer) as exc:
                self._drop()
                raise self._unavailable(_link_problem(exc)) from exc
        return reports

    def _message_memories(self, at: AtChannel) -> list[str]:
        """The stores AT+CPMS=? offers to read (<mem1>) that may hold reports: each one but
        broadcasts ("BM") and "MT" where it is only "SM" and "ME" together (listed twice
        otherwise). A report stored in "ME" while no run was connected is found there even
        though its +CDSI went unheard. Asked once per transport (run)."""
        if self._readable is None:
            try:
                lines = at.command("AT+CPMS=?", self.settings.command_timeout, "+CPMS:")
            except (ErrorResult, NoAnswer) as exc:
                log.info("modem: AT+CPMS=? not answered (%s)", exc)
                lines = []
            names: list[str] = []
            for line in lines:
                if line.upper().startswith("+CPMS:"):
                    first = re.match(r"\s*\(([^)]*)\)", line.split(":", 1)[1])
                    if first:
                        names = [n.strip().strip('"').upper() for n in first.group(1).split(",")]
            if "SM" in names or "ME" in names:
                names = [n for n in names if n != "MT"]
            self._readable = [n for n in names if n and n != "BM"]
        return self._readable

    def _select_memory(self, at: AtChannel, memory: str | None) -> None:
        """Back to the read memory that was set before (errors only logged)."""
        if memory is None:
            return
        try:
            at.command(f'AT+CPMS="{memory}"', self.settings.command_timeout, "+CPMS:")
        except ErrorResult as err:
            log.warning("modem: AT+CPMS=%r refused: %s", memory, err.line)

    def delete(self, indices: Iterable[int], memory: str | None = None) -> list[int]:
        """Delete stored SMS or reports (AT+CMGD=<index>) — only after they are safely stored.
        `memory`: the store they are in when not the default read memory (e.g. "SR")."""
        deleted = []
        with self._lock:
            at = self._ready()
            timeout = self.settings.command_timeout
            try:
                previous = None
                if memory is not None:
                    previous = _read_memory(at.command("AT+CPMS?", timeout, "+CPMS:"))
                    at.command(f'AT+CPMS="{memory}"', timeout, "+CPMS:")
                try:
                    for index in sorted(set(indices)):
                        try:
                            at.command(f"AT+CMGD={int(index)}", timeout)
                            deleted.append(index)
                        except ErrorResult as err:
                            log.warning("modem: AT+CMGD=%d refused: %s", index, err.line)
                finally:
                    if previous != memory:
                        self._select_memory(at, previous)
            except ErrorResult as err:
                log.warning("modem: memory %r not selectable: %s", memory, err.line)
            except (LinkDown, NoAnswer) as exc:
                self._drop()
                raise self._unavailable(_link_problem(exc)) from exc
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


_REPORT_MEMORY = "SR"  # 27.005 §3.2.2: the status report store


def _offered_ranges(text: str) -> list[set[int]]:
    """The values of each parameter in a test answer: `(0-3),(0,2),1` → [{0,1,2,3}, {0,2}, {1}]."""
    ranges: list[set[int]] = []
    for group in re.findall(r"\(([^)]*)\)|([0-9]+)", text):
        values: set[int] = set()
        for item in (group[0] or group[1]).split(","):
            low, _dash, high = item.strip().partition("-")
            try:
                values.update(range(int(low), int(high or low) + 1))
            except ValueError:
                continue
        ranges.append(values)
    return ranges


def _indications(offer: list[set[int]]) -> str:
    """AT+CNMI for `offer` (`_offered_ranges` of AT+CNMI=?): +CMTI for received SMS and the
    status reports stored on the modem (<ds> 2) where it offers that — a stored report waits
    for the next run, a routed one (<ds> 1) is lost when no run is connected (issue 15 pt 1)."""
    ds = 2 if len(offer) > 3 and 2 in offer[3] else 1
    return f"AT+CNMI=2,1,0,{ds},0"


def _read_memory(lines: list[str]) -> str | None:
    """<mem1> of `+CPMS: "SM",3,30,…` (AT+CPMS?), or None when the answer has none."""
    for line in lines:
        if line.upper().startswith("+CPMS:"):
            first = line.split(":", 1)[1].split(",")[0].strip().strip('"')
            return first or None
    return None


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


def _reports_listed(lines: list[str], memory: str) -> list[StatusReport]:
    """The status reports of an AT+CMGL listing of `memory`; other PDUs are left alone."""
    reports = []
    for index, pdu in _listing(lines):
        try:
            if pdu_type(pdu) == 2:
                decoded = decode_status_report_pdu(pdu)
                reports.append(StatusReport.from_pdu(decoded, index, memory))
        except ValueError as exc:
            log.warning("modem: stored report %d unreadable (%s), left alone", index, exc)
    return reports

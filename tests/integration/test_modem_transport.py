"""Variante 1 end to end: ModemTransport → pyserial socket:// → ModemSimulator (real sockets).

What the recipient gets is checked on the simulator side, decoded from the PDUs the transport
wrote. Fault tests use short deadlines; nothing here sleeps to wait: the simulator's `wait_for`
and the transport's `poll` wait on events up to a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import select
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import serial
import serial.rfc2217

from webapp.simulators.modem import ModemSimulator
from webapp.simulators.modem_profiles import PROFILES
from webapp.sms.encoding import analyze, relative_validity_period
from webapp.sms.transports.base import OutcomeKind, OutgoingSms, TransportUnavailable
from webapp.sms.transports.modem import (
    ModemSettings,
    ModemTransport,
    ModemUnavailable,
    forget_rejected_pin,
)
from webapp.sms.transports.window import send_all

A, T, P, U = OutcomeKind.ACCEPTED, OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT, OutcomeKind.UNKNOWN
NUMBER = "+436641234567"
OTHER = "+4915112345678"
EMOJI = "😀"
# A modem whose AT+CNMI offers no <ds> 2: its status reports can only be routed (+CDS).
ROUTING_ONLY = dataclasses.replace(
    PROFILES["simcom"], cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1), (0, 1))
)


@pytest.fixture
def sim():
    with ModemSimulator() as simulator:
        yield simulator


@pytest.fixture
def make_transport():
    made: list[ModemTransport] = []

    def make(simulator: ModemSimulator, **overrides) -> ModemTransport:
        options = {"command_timeout": 2.0, "cmgs_timeout": 2.0, "quiet_time": 0.02}
        options.update(overrides)
        first_reference = options.pop("first_reference", None)
        transport = ModemTransport(
            ModemSettings(url=simulator.url, **options), first_reference=first_reference
        )
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def transport(sim, make_transport):
    return make_transport(sim)


def sms(message_id: int, text: str, recipient: str = NUMBER) -> OutgoingSms:
    return OutgoingSms(message_id=message_id, recipient=recipient, text=text)


def poll_until(condition, transport: ModemTransport, timeout: float = 3.0):
    """Read unsolicited codes until `condition()` is truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("condition not met in time")
        transport.poll(min(remaining, 0.1))


# --- happy path and encodings ------------------------------------------------------------------


def test_a_batch_arrives_as_written(sim, transport):
    outcomes = send_all(
        transport, [sms(1, "Wasser ist morgen 8-12 Uhr abgesperrt."), sms(2, "Grüße!", OTHER)]
    )
    assert [o.kind for o in outcomes] == [A, A]
    assert [o.message_id for o in outcomes] == [1, 2]
    assert [o.segments for o in outcomes] == [1, 1]
    got = sim.wait_for(2, timeout=2)
    assert [(m.recipient, m.text) for m in got] == [
        (NUMBER, "Wasser ist morgen 8-12 Uhr abgesperrt."),
        (OTHER, "Grüße!"),
    ]
    assert [o.provider_ref for o in outcomes] == [str(m.message_references[0]) for m in got]
    part = sim.parts[0]
    assert part.status_report_requested
    assert part.validity == relative_validity_period(168)
    assert part.reference is None and part.total == 1


def test_settings_for_reports_and_validity_reach_the_pdu(sim, make_transport):
    transport = make_transport(sim, request_status_report=False, validity_hours=24)
    assert send_all(transport, [sms(1, "Test")])[0].ok
    part = sim.wait_for(1)[0] and sim.parts[0]
    assert not part.status_report_requested
    assert part.validity == relative_validity_period(24)


CASES = [
    ("Grüße aus Wien: Ä Ö Ü ä ö ü ß", "GSM-7", 1),
    ("Preis: 5 € pro Monat", "GSM-7", 1),
    ("Sonderzeichen ^{}[]~|\\ bleiben", "GSM-7", 1),
    ("Danke " + EMOJI, "UCS-2", 1),
    ("a" * 160, "GSM-7", 1),
    ("b" * 161, "GSM-7", 2),
    ("c" * 306, "GSM-7", 2),
    ("d" * 307, "GSM-7", 3),
    ("€" * 81, "GSM-7", 2),  # 162 septets, 76 € in part 1: an ESC pair is never split
    ("ő" * 70, "UCS-2", 1),
    ("ő" * 71, "UCS-2", 2),
    ("ő" * 135, "UCS-2", 3),
    ("Ω" * 66 + EMOJI + "Ω" * 10, "UCS-2", 2),  # the surrogate pair moves whole to part 2
]


@pytest.mark.parametrize(("text", "encoding", "parts"), CASES, ids=range(len(CASES)))
def test_encodings_and_parts(sim, make_transport, text, encoding, parts):
    transport = make_transport(sim, first_reference=41)
    outcome = send_all(transport, [sms(7, text)])[0]
    assert outcome.kind is A and outcome.segments == parts == analyze(text).segments
    message = sim.wait_for(1)[0]
    assert message.text == text
    assert message.encoding == encoding
    assert message.parts == parts
    assert outcome.provider_ref == ",".join(str(mr) for mr in message.message_references)
    got = sim.parts
    assert [p.sequence for p in got] == list(range(1, parts + 1))
    assert {p.total for p in got} == {parts}
    assert {p.reference for p in got} == ({42} if parts > 1 else {None})


def test_each_message_gets_the_next_concatenation_reference(sim, make_transport):
    transport = make_transport(sim, first_reference=254)
    long_text = "Lange Nachricht. " * 12
    outcomes = send_all(transport, [sms(n, long_text) for n in (1, 2, 3)])
    assert all(o.ok and o.segments == 2 for o in outcomes)
    assert [m.reference for m in sim.wait_for(3)] == [255, 0, 1]


def test_a_number_that_cannot_be_encoded_fails_without_touching_the_modem(sim, transport):
    outcome = send_all(transport, [sms(1, "Hallo", recipient="keine Nummer")])[0]
    assert outcome.kind is P and outcome.code == "PDU"
    assert not any(c.startswith("AT+CMGS") for c in sim.commands)


# --- errors from the modem ---------------------------------------------------------------------


def test_cms_transient_leaves_the_rest_of_the_batch_alone(sim, transport):
    sim.fail_sends(cms=38)
    first, second = send_all(transport, [sms(1, "eins"), sms(2, "zwei")])
    assert (first.kind, first.code, first.fails_run) == (T, "CMS 38", False)
    assert "CMS 38" in first.reason
    assert second.ok
    assert [m.text for m in sim.wait_for(1)] == ["zwei"]


def test_cms_permanent_for_the_number(sim, transport):
    sim.fail_sends(cms=1)
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert (outcome.kind, outcome.code, outcome.fails_run) == (P, "CMS 1", False)
    assert "Nummer" in outcome.reason


def test_cms_stop_ends_the_run_and_leaves_the_rest_untried(sim, transport):
    sim.fail_sends(cms=330)
    outcomes = send_all(transport, [sms(1, "eins"), sms(2, "zwei"), sms(3, "drei")])
    assert (outcomes[0].kind, outcomes[0].code, outcomes[0].fails_run) == (T, "CMS 330", True)
    assert [o.kind for o in outcomes[1:]] == [T, T]
    assert all("Nicht versucht" in o.reason for o in outcomes[1:])
    assert sum(c.startswith("AT+CMGS") for c in sim.commands) == 1
    assert sim.messages() == []


def test_cms_before_the_prompt(sim, transport):
    sim.fail_sends(cms=304, before_prompt=True)
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert (outcome.kind, outcome.code) == (P, "CMS 304")


def test_cme_error_on_send(sim, transport):
    sim.fail_sends(cme=30)
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert (outcome.kind, outcome.code) == (T, "CME 30")


def test_duplicate_counts_as_accepted(sim, transport):
    sim.fail_sends(cms=197)
    assert send_all(transport, [sms(1, "eins")])[0].kind is A


def test_verbose_errors_are_mapped_to_their_numbers(sim, transport):
    sim.cmee_override = 2
    sim.fail_sends(cms=41)
    sim.fail_sends(line="+CME ERROR: SIM busy")
    first, second = send_all(transport, [sms(1, "eins"), sms(2, "zwei")])
    assert (first.kind, first.code) == (T, "CMS 41")
    assert (second.kind, second.code) == (T, "CME 14")


def test_unknown_verbose_error_is_transient_with_its_text(sim, transport):
    sim.fail_sends(line="+CMS ERROR: Relay link broken")
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert outcome.kind is T
    assert "Relay link broken" in outcome.reason


def test_bare_error_when_the_modem_ignores_cmee(sim, transport):
    sim.cmee_override = 0
    sim.fail_sends(cms=500)
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert (outcome.kind, outcome.code) == (T, "ERROR")
    assert "ohne Fehlercode" in outcome.reason


def test_a_failing_later_part_makes_the_message_unknown(sim, transport):
    sim.fail_sends(cms=1, after=1)  # part 1 goes out, part 2 is refused
    outcome = send_all(transport, [sms(1, "x" * 400)])[0]
    assert outcome.kind is U and outcome.code == "CMS 1"
    assert outcome.segments == 3
    assert outcome.provider_ref == str(sim.parts[0].message_reference)
    assert "Teil 2 von 3" in outcome.reason and "angekommen" in outcome.reason
    assert len(sim.parts) == 1


# --- SIM PIN -----------------------------------------------------------------------------------


def test_pin_is_entered_when_the_sim_asks(sim, make_transport):
    sim.require_pin("4711")
    transport = make_transport(sim, pin="4711")
    assert send_all(transport, [sms(1, "eins")])[0].ok
    assert sim.pin_attempts == ["4711"]


def test_error_codes_are_switched_on_again_after_the_pin(make_transport):
    # ZTE: AT+CMEE=1 is refused while the SIM wants its PIN; without a second AT+CMEE=1 every
    # later error would come as a bare ERROR without its code.
    with ModemSimulator(cmee_needs_pin=True) as sim:
        sim.require_pin("4711")
        transport = make_transport(sim, pin="4711")
        assert send_all(transport, [sms(1, "eins")])[0].ok
        cmee = [i for i, command in enumerate(sim.commands) if command.startswith("AT+CMEE")]
        assert [sim.commands[i] for i in cmee] == ["AT+CMEE=1", "AT+CMEE=1"]
        assert cmee[0] < sim.commands.index('AT+CPIN="4711"') < cmee[1]
        sim.fail_sends(cme=10)  # the SIM is gone
        outcome = send_all(transport, [sms(2, "zwei")])[0]
        assert outcome.code == "CME 10"
        assert outcome.reason == "Keine SIM-Karte im Modem."


def test_error_codes_are_switched_on_once_when_the_modem_takes_them_at_once(sim, make_transport):
    sim.require_pin("4711")
    assert send_all(make_transport(sim, pin="4711"), [sms(1, "eins")])[0].ok
    assert [c for c in sim.commands if c.startswith("AT+CMEE")] == ["AT+CMEE=1"]


def test_pin_required_but_not_configured(sim, transport):
    sim.require_pin("4711")
    with pytest.raises(TransportUnavailable) as caught:
        send_all(transport, [sms(1, "eins")])
    error = caught.value
    assert isinstance(error, ModemUnavailable)
    assert error.code == "CME 11" and error.fails_run
    assert "PIN" in error.reason and "Job-Einstellungen" in error.reason
    assert sim.pin_attempts == []


def test_wrong_pin_is_never_tried_again(sim, make_transport):
    sim.require_pin("4711")
    first = make_transport(sim, pin="0000")
    with pytest.raises(ModemUnavailable) as caught:
        send_all(first, [sms(1, "eins")])
    assert caught.value.code == "CME 16" and caught.value.fails_run
    assert "nicht erneut versucht" in caught.value.reason
    assert caught.value.outcome(1).fails_run
    # the same transport, and a new one for the same modem and PIN, do not send it again
    with pytest.raises(ModemUnavailable):
        send_all(first, [sms(1, "eins")])
    with pytest.raises(ModemUnavailable) as again:
        send_all(make_transport(sim, pin="0000"), [sms(1, "eins")])
    assert again.value.code == "CME 16"
    assert sim.pin_attempts == ["0000"]
    # after the PIN was corrected in the settings
    forget_rejected_pin(sim.url)
    assert send_all(make_transport(sim, pin="4711"), [sms(2, "zwei")])[0].ok
    assert sim.pin_attempts == ["0000", "4711"]


def test_puk_locked_sim(sim, make_transport):
    sim.require_pin("4711", attempts=0)
    sim.sim_state = "SIM PUK"
    with pytest.raises(ModemUnavailable) as caught:
        send_all(make_transport(sim, pin="4711"), [sms(1, "eins")])
    assert caught.value.code == "CME 12" and caught.value.fails_run
    assert sim.pin_attempts == []


@pytest.mark.parametrize(
    ("state", "code"), [("SIM PIN2", "CME 17"), ("PH-SIM PIN", "CME 5"), ("SIM BROKEN", None)]
)
def test_other_sim_states_stop_the_run(sim, make_transport, state, code):
    sim.sim_state = state
    with pytest.raises(ModemUnavailable) as caught:
        send_all(make_transport(sim, pin="4711"), [sms(1, "eins")])
    assert caught.value.fails_run
    assert caught.value.code == (code or f"CPIN {state}")
    assert sim.pin_attempts == []


def test_the_pin_stays_out_of_reprs_and_logs(sim, make_transport, caplog):
    sim.require_pin("4711")
    transport = make_transport(sim, pin="4711")
    with caplog.at_level("DEBUG", logger="webapp.sms.transports"):  # modem and AT channel
        assert send_all(transport, [sms(1, "eins")])[0].ok
    assert "4711" not in repr(transport.settings)
    assert "AT+CMGS" in caplog.text and "4711" not in caplog.text


def test_cpin_answer_without_ok(sim, make_transport):
    sim.cpin_without_ok = True  # Wavecom
    assert send_all(make_transport(sim), [sms(1, "eins")])[0].ok


# --- busy, silence, hangs ----------------------------------------------------------------------


@pytest.mark.parametrize("stored_cmee", [0, 1])
def test_busy_during_initialisation_is_waited_out(sim, transport, stored_cmee):
    # ATE0, AT+CMEE=1 and the first AT+CPIN? are refused: "+CME ERROR: 515", or a bare ERROR
    # from a modem whose error mode is still 0
    sim.cmee = stored_cmee
    sim.busy(3)
    assert send_all(transport, [sms(1, "eins")])[0].ok
    assert sim.wait_for(1)[0].text == "eins"


def test_busy_on_send_is_transient(sim, transport):
    assert send_all(transport, [sms(1, "eins")])[0].ok
    sim.busy(1)
    outcome = send_all(transport, [sms(2, "zwei")])[0]
    assert (outcome.kind, outcome.code) == (T, "CME 515")


def test_no_answer_after_ctrl_z_is_unknown(sim, make_transport):
    transport = make_transport(sim, cmgs_timeout=0.3)
    sim.no_answer_after_ctrl_z()
    started = time.monotonic()
    first, second = send_all(transport, [sms(1, "eins"), sms(2, "zwei")])
    assert (first.kind, first.code) == (U, "timeout")
    assert "angekommen" in first.reason
    assert second.ok  # the next message still goes out
    assert time.monotonic() - started < 2
    assert [m.text for m in sim.wait_for(2)] == ["eins", "zwei"]  # it did reach the phone


def test_hung_modem_is_reopened_and_the_message_sent_once(sim, make_transport):
    transport = make_transport(sim, command_timeout=0.3)
    assert send_all(transport, [sms(1, "eins")])[0].ok
    sim.hang()  # no answer on this connection
    outcome = send_all(transport, [sms(2, "zwei")])[0]
    assert outcome.ok
    assert [m.text for m in sim.wait_for(2)] == ["eins", "zwei"]
    assert sim.connections == 2


def test_dead_modem_mid_batch_leaves_messages_queued(sim, make_transport):
    transport = make_transport(sim, command_timeout=0.3)
    assert send_all(transport, [sms(1, "eins")])[0].ok
    sim.hang(until_reconnect=False)
    # Nothing of SMS 2 left the building: the transport says so (the run hands it back).
    with pytest.raises(TransportUnavailable, match="antwortet nicht") as caught:
        transport.send(sms(2, "zwei"))
    assert not caught.value.fails_run
    with pytest.raises(TransportUnavailable, match="antwortet nicht"):
        send_all(make_transport(sim, command_timeout=0.3), [sms(4, "vier")])
    assert len(sim.messages()) == 1


def test_unreachable_modem(make_transport):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = ModemSimulator(port=port)  # never started: nothing listens there
    with pytest.raises(TransportUnavailable) as caught:
        send_all(make_transport(closed), [sms(1, "eins")])
    assert closed.url in caught.value.reason


# --- the link ----------------------------------------------------------------------------------


def test_drop_before_the_prompt_is_retried_on_a_new_connection(sim, transport):
    sim.drop_during_send("before_prompt")
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert outcome.ok
    assert [m.text for m in sim.wait_for(1)] == ["eins"]
    assert sim.connections == 2


def test_drop_between_batches_reconnects(sim, transport):
    assert send_all(transport, [sms(1, "eins")])[0].ok
    sim.drop_connection("now")
    assert send_all(transport, [sms(2, "zwei")])[0].ok
    assert [m.text for m in sim.wait_for(2)] == ["eins", "zwei"]
    assert sim.connections == 2


def test_drop_after_ctrl_z_is_unknown_and_the_batch_goes_on(sim, transport):
    sim.drop_during_send("after_ctrl_z")
    first, second = send_all(transport, [sms(1, "eins"), sms(2, "zwei")])
    assert (first.kind, first.code) == (U, "link")
    assert second.ok
    assert [m.text for m in sim.wait_for(2)] == ["eins", "zwei"]
    assert sim.connections == 2


def test_drop_during_a_multipart_message_is_unknown(sim, transport):
    sim.drop_during_send("before_prompt", after=1)
    outcome = send_all(transport, [sms(1, "y" * 200)])[0]
    assert outcome.kind is U
    assert outcome.provider_ref == str(sim.parts[0].message_reference)
    assert len(sim.parts) == 1


def test_drop_while_connecting_counts_as_unavailable(sim, make_transport):
    sim.drop_connection("on_command", "AT+CMGF")
    with pytest.raises(TransportUnavailable):
        send_all(make_transport(sim), [sms(1, "eins")])


def test_replies_byte_by_byte(sim, transport):
    sim.byte_by_byte = True
    outcomes = send_all(transport, [sms(1, "eins"), sms(2, "z" * 170)])
    assert [o.kind for o in outcomes] == [A, A]
    assert [m.text for m in sim.wait_for(2)] == ["eins", "z" * 170]
    assert transport.status().registration == "home"


def test_unsolicited_codes_before_and_inside_replies(sim, make_transport):
    seen = []
    transport = ModemTransport(
        ModemSettings(url=sim.url, command_timeout=2, quiet_time=0.02), on_unsolicited=seen.append
    )
    try:
        sim.interleave_urcs(['+CMTI: "SM",7', "RING", "+CREG: 1", "^RSSI: 17", "+CSQ: 20,99"])
        outcomes = send_all(transport, [sms(1, "eins"), sms(2, "w" * 170)])
        assert [o.kind for o in outcomes] == [A, A]
        assert [o.provider_ref for o in outcomes] == ["1", "2,3"]
        status = transport.status()
        assert (status.rssi, status.registration) == (20, "home")
    finally:
        transport.close()
    assert [m.text for m in sim.wait_for(2)] == ["eins", "w" * 170]
    assert seen and {event.code for event in seen} == {"+CMTI"}
    assert seen[0].index == 7
    assert transport.take_unsolicited()[0].index == 7


def test_echo_stays_on_when_the_modem_ignores_ate0(sim, transport):
    sim.ignore_ate0 = True
    outcomes = send_all(transport, [sms(1, "eins"), sms(2, "Ä" * 200)])
    assert [o.kind for o in outcomes] == [A, A]
    assert sim.echo
    assert [m.text for m in sim.wait_for(2)] == ["eins", "Ä" * 200]
    sim.inject_received(OTHER, "Antwort")
    assert [r.text for r in transport.receive()] == ["Antwort"]


# --- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rssi", "registration", "dbm", "signal", "state", "registered"),
    [
        (20, 1, -73, "sehr gut", "home", True),
        (15, 5, -83, "gut", "roaming", True),
        (12, 1, -89, "ausreichend", "home", True),
        (5, 2, -103, "schwach", "searching", False),
        (99, 0, None, "unbekannt", "not_registered", False),
        (8, 3, -97, "schwach", "denied", False),
    ],
)
def test_status_signal_and_registration(
    sim, transport, rssi, registration, dbm, signal, state, registered
):
    sim.rssi, sim.registration = rssi, registration
    status = transport.status()
    assert (status.rssi, status.dbm, status.signal) == (
        None if rssi == 99 else rssi,
        dbm,
        signal,
    )
    assert (status.registration, status.registered) == (state, registered)
    assert status.registration_text


# --- receiving ---------------------------------------------------------------------------------


def test_receive_joins_parts_and_deletes_only_when_told(sim, transport):
    long_gsm = "Bitte um Rückruf wegen Wasserschaden im Keller. " * 7  # 3 parts
    long_ucs2 = "Schöne Grüße " + EMOJI + " " + "ő" * 80  # 2 parts
    first = sim.inject_received(OTHER, "Hallo")
    second = sim.inject_received("+436767654321", long_gsm)
    third = sim.inject_received("Hausverwaltung", long_ucs2)
    items = transport.receive()
    assert [(r.sender, r.text, r.parts, r.complete) for r in items] == [
        (OTHER, "Hallo", 1, True),
        ("+436767654321", long_gsm, 3, True),
        ("Hausverwaltung", long_ucs2, 2, True),
    ]
    assert [r.indices for r in items] == [tuple(first), tuple(second), tuple(third)]
    assert items[2].encoding == "UCS-2"
    assert items[0].sent_at is not None
    assert len(sim.stored()) == 6  # nothing deleted yet
    assert transport.delete(items[1].indices) == second
    assert sorted(sim.stored()) == sorted(first + third)


def test_receive_into_deletes_after_store_and_keeps_the_rest_on_failure(sim, transport):
    sim.inject_received(OTHER, "eins")
    sim.inject_received(OTHER, "zwei")
    stored = []

    def store(item):
        if item.text == "zwei":
            raise RuntimeError("Datenbank weg")
        stored.append(item.text)

    with pytest.raises(RuntimeError):
        transport.receive_into(store)
    assert stored == ["eins"]
    assert [r.text for r in transport.receive()] == ["zwei"]
    assert transport.receive_into(lambda item: None) == 1
    assert sim.stored() == {}


def test_incomplete_multipart_waits_until_it_is_old(sim, transport):
    moment = datetime.now(UTC).replace(microsecond=0)
    text = "Teil für Teil. " * 25  # 3 parts
    indices = sim.inject_received(OTHER, text, moment=moment, only_parts={1, 3})
    assert transport.receive(now=moment + timedelta(minutes=5)) == []
    assert sorted(sim.stored()) == indices
    late = transport.receive(now=moment + timedelta(hours=2))
    assert len(late) == 1 and not late[0].complete
    assert late[0].indices == tuple(indices)
    assert late[0].text == text[:153] + text[306:]


def test_new_message_indication_is_queued(sim, transport):
    send_all(transport, [sms(1, "eins")])  # connected
    index = sim.inject_received(OTHER, "Hallo")[0]
    events = poll_until(transport.take_unsolicited, transport)
    assert [(e.code, e.index) for e in events] == [("+CMTI", index)]


# --- status reports ----------------------------------------------------------------------------


def test_status_reports_are_stored_on_a_modem_that_offers_it(sim, transport):
    """AT+CNMI=? offers <ds> 2: reports are stored on the modem (+CDSI) and read with
    `stored_reports`, so none is lost while no run is connected (issue 15 point 1)."""
    sim.status_reports = True
    outcome = send_all(transport, [sms(1, "eins")])[0]
    assert sim.cnmi == (2, 1, 0, 2, 0)
    events = poll_until(transport.take_unsolicited, transport)
    assert [e.code for e in events] == ["+CDSI"]
    reports = transport.stored_reports()
    assert [(r.message_reference, r.memory) for r in reports] == [(int(outcome.provider_ref), "SR")]
    assert reports[0].delivered and reports[0].final
    assert reports[0].recipient == NUMBER
    assert reports[0].discharge_time is not None
    assert transport.take_status_reports() == []


def test_status_reports_after_sending_are_routed_where_ds_2_is_not_offered(make_transport):
    with ModemSimulator(profile=ROUTING_ONLY, status_reports=True) as simulator:
        transport = make_transport(simulator)
        outcome = send_all(transport, [sms(1, "eins")])[0]
        assert simulator.cnmi == (2, 1, 0, 1, 0)
        reports = poll_until(transport.take_status_reports, transport)
        assert [r.message_reference for r in reports] == [int(outcome.provider_ref)]
        assert reports[0].delivered and reports[0].final and reports[0].memory is None
        simulator.inject_status_report(17, NUMBER, status=0x46)
        report = poll_until(transport.take_status_reports, transport)[0]
        assert (report.message_reference, report.delivered, report.final) == (17, False, True)


@pytest.mark.parametrize(
    "quirk",
    [
        {"csms_services": (1,)},  # refuses AT+CSMS=0
        {"csms_ignored": True},  # answers AT+CSMS=0 with +CSMS: 1,1,1 and stays in phase 2+
    ],
    ids=["refuses-csms-0", "keeps-csms-1"],
)
def test_phase_2_plus_modem_keeps_routing_across_runs(make_transport, quirk):
    """27.005: in phase 2+ (AT+CSMS=1) every routed +CDS/+CMT wants AT+CNMA, or the modem
    turns routing off (<mt> and <ds> 0) and later reports and +CMTI are lost (issue 15 pt 4)."""
    profile = dataclasses.replace(ROUTING_ONLY, csms_default=1, **quirk)
    with ModemSimulator(profile=profile, status_reports=True) as simulator:
        simulator.cnma_timeout = 0.3
        for run in range(3):
            transport = make_transport(simulator)
            outcomes = send_all(transport, [sms(1, "eins"), sms(2, "zwei"), sms(3, "drei")])
            references = sorted(int(o.provider_ref) for o in outcomes)
            got: list[int] = []

            def reports(got=got, transport=transport) -> bool:
                got.extend(r.message_reference for r in transport.take_status_reports())
                return len(got) == 3

            poll_until(reports, transport)
            assert sorted(got) == references, f"run {run}"
            transport.take_unsolicited()
            index = simulator.inject_received(OTHER, f"Antwort {run}")[0]
            events = poll_until(transport.take_unsolicited, transport)
            assert ("+CMTI", index) in [(e.code, e.index) for e in events], f"run {run}"
            transport.poll(0.5)  # longer than the modem waits for AT+CNMA
            transport.close()
        assert simulator.unacknowledged == 0
        assert simulator.cnmi == (2, 1, 0, 1, 0)


def test_phase_2_is_set_at_start_up(make_transport):
    profile = dataclasses.replace(ROUTING_ONLY, csms_default=1)
    with ModemSimulator(profile=profile, status_reports=True) as simulator:
        transport = make_transport(simulator)
        send_all(transport, [sms(1, "eins")])
        assert simulator.csms == 0
        assert poll_until(transport.take_status_reports, transport)
        assert not any("CNMA" in c for c in simulator.commands)


def test_reports_kept_with_the_received_sms_are_read_without_touching_the_sms(sim, transport):
    """Some modems keep reports in the receive memory ("SM"): `stored_reports` finds them
    there, `receive` leaves them to it, and the received SMS stay (Empfang may be off)."""
    index = sim.inject_status_report(33, NUMBER, status=0x00, stored=True)
    received = sim.inject_received(OTHER, "Hallo", notify=False)
    reports = transport.stored_reports()
    assert [(r.message_reference, r.delivered, r.index, r.memory) for r in reports] == [
        (33, True, index, "SM")
    ]
    assert [r.text for r in transport.receive()] == ["Hallo"]
    assert transport.take_status_reports() == []
    transport.delete([index], "SM")
    assert sorted(sim.stored()) == received


# --- rfc2217:// (an NPort in RFC2217 mode) ----------------------------------------------------


class Rfc2217Server:
    """pyserial's RFC 2217 PortManager in front of the simulator: the transport negotiates the
    serial settings and reads through pyserial's rfc2217 reader queue (no file descriptor)."""

    def __init__(self, target_url: str) -> None:
        self.target_url = target_url
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"rfc2217://127.0.0.1:{self.listener.getsockname()[1]}"
        self.client: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        self.client = client
        port = serial.serial_for_url(self.target_url, timeout=0)

        class Writer:
            def write(self, data: bytes) -> None:
                client.sendall(data)

        manager = serial.rfc2217.PortManager(port, Writer())
        try:
            while True:
                ready, _, _ = select.select([client, port.fileno()], [], [])
                if client in ready:
                    data = client.recv(4096)
                    if not data:
                        break
                    port.write(b"".join(manager.filter(data)))
                if port.fileno() in ready:
                    client.sendall(b"".join(manager.escape(port.read(4096))))
        except (OSError, serial.SerialException):
            pass
        finally:
            port.close()
            client.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)


@pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")
def test_through_an_rfc2217_server(sim):
    server = Rfc2217Server(sim.url)
    transport = ModemTransport(
        ModemSettings(url=server.url, baudrate=9600, parity="E", command_timeout=2)
    )
    try:
        outcomes = send_all(transport, [sms(1, "über RFC 2217 €"), sms(2, "ő" * 100)])
        assert [o.kind for o in outcomes] == [A, A]
        assert [m.text for m in sim.wait_for(2)] == ["über RFC 2217 €", "ő" * 100]
        assert transport.status().registration == "home"
        sim.inject_received(OTHER, "Antwort über RFC 2217")
        assert [r.text for r in transport.receive()] == ["Antwort über RFC 2217"]
    finally:
        transport.close()
        server.stop()


def test_reports_in_the_report_memory_are_read_and_deleted_there(sim, transport):
    in_sr = sim.inject_status_report(41, NUMBER, status=0x00, stored=True, memory="SR")
    received = sim.inject_received(OTHER, "Hallo", notify=False)
    reports = transport.stored_reports()
    assert [(r.message_reference, r.index, r.memory) for r in reports] == [(41, in_sr, "SR")]
    assert sim.cpms[0] == "SM"  # the read memory is set back
    assert transport.delete([in_sr], "SR") == [in_sr]
    assert sim.stored("SR") == {} and sorted(sim.stored("SM")) == received
    assert sim.cpms[0] == "SM"


def test_a_modem_without_report_memory_has_no_stored_reports(make_transport):
    memories = (("SM", "ME"), ("SM", "ME"), ("SM", "ME"))
    profile = dataclasses.replace(PROFILES["simcom"], memories=memories)
    with ModemSimulator(profile=profile) as simulator:
        assert make_transport(simulator).stored_reports() == []
        assert simulator.cpms[0] == "SM"


# --- a modem that is starting (SIM800: "RDY" … "SMS Ready") ----------------------------------


def test_a_starting_modem_is_waited_for(sim, make_transport):
    """SIM800: SMS commands answer ERROR until "SMS Ready" (here after 4 s, twice the command
    timeout): the transport waits for it (ready_timeout) and sends."""
    sim.power_on(scale=0.5)
    transport = make_transport(sim)
    outcomes = send_all(transport, [sms(1, "nach dem Start")])
    assert [o.kind for o in outcomes] == [A]
    assert sim.sms_ready
    assert "AT+CPMS?" in sim.commands
    assert sim.cnmi == (2, 1, 0, 2, 0)  # set once the SMS service was up


def test_a_modem_that_does_not_get_ready_is_unavailable_not_a_failure(sim, make_transport):
    sim.power_on(scale=2.0)  # "SMS Ready" after 16 s
    transport = make_transport(sim, ready_timeout=1.0, command_timeout=0.5)
    with pytest.raises(ModemUnavailable) as raised:
        transport.send(sms(1, "zu früh"))
    assert not raised.value.fails_run
    assert sim.messages() == []


# --- phase 2+ with a short AT+CNMA timeout -----------------------------------------------------


def test_routing_dropped_by_a_late_cnma_is_set_again(make_transport):
    """27.005: a phase 2+ modem whose +CDS is acknowledged after its timeout turns routing off
    (<mt>, <ds> 0). A report that arrives while the next AT+CMGS waits is acknowledged only
    after it; the transport then sets AT+CNMI again, so only the report that came in between
    is lost (a modem without <ds> 2; with <ds> 2 nothing is routed — next test)."""
    profile = dataclasses.replace(ROUTING_ONLY, csms_default=1, csms_ignored=True)
    with ModemSimulator(profile=profile, status_reports=True, latency=1.0) as simulator:
        simulator.cnma_timeout = 0.3
        simulator.delay_reports(0.5)  # the first SMS's report comes during the second send
        transport = make_transport(simulator, cmgs_timeout=5.0)
        outcomes = send_all(transport, [sms(1, "eins"), sms(2, "zwei"), sms(3, "drei")])
        references = [int(o.provider_ref) for o in outcomes]
        assert simulator.unacknowledged == 1
        assert simulator.cnmi == (2, 1, 0, 1, 0)
        got: list[int] = []

        def reports() -> bool:
            got.extend(r.message_reference for r in transport.take_status_reports())
            return references[2] in got

        poll_until(reports, transport)
        assert references[0] in got and references[1] not in got


def test_a_phase_2_plus_modem_with_ds_2_needs_no_cnma(make_transport):
    profile = dataclasses.replace(PROFILES["simcom"], csms_default=1, csms_ignored=True)
    with ModemSimulator(profile=profile, status_reports=True, latency=0.3) as simulator:
        simulator.cnma_timeout = 0.1
        simulator.delay_reports(0.1, 0.1, 0.1)
        transport = make_transport(simulator)
        outcomes = send_all(transport, [sms(1, "eins"), sms(2, "zwei"), sms(3, "drei")])
        simulator.wait_stored(3, "SR")
        stored = sorted(r.message_reference for r in transport.stored_reports())
        assert stored == sorted(int(o.provider_ref) for o in outcomes)
        assert simulator.unacknowledged == 0 and simulator.cnmi == (2, 1, 0, 2, 0)


def test_waiting_for_routed_reports_ends_at_the_grace(make_transport):
    with ModemSimulator(profile=ROUTING_ONLY, status_reports=True) as simulator:
        simulator.delay_reports(0.2, None)  # the second phone is off
        transport = make_transport(simulator, report_grace=0.6)
        outcomes = send_all(transport, [sms(1, "eins"), sms(2, "zwei")])
        started = time.monotonic()
        transport.await_routed_reports()
        waited = time.monotonic() - started
        assert [r.message_reference for r in transport.take_status_reports()] == [
            int(outcomes[0].provider_ref)
        ]
        assert 0.3 < waited < 1.5


def test_no_wait_for_reports_the_modem_stores(sim, make_transport):
    sim.status_reports = True
    sim.delay_reports(None)
    transport = make_transport(sim, report_grace=5.0)
    send_all(transport, [sms(1, "eins")])
    started = time.monotonic()
    transport.await_routed_reports()
    assert time.monotonic() - started < 0.5


def test_a_modem_that_restarted_mid_run_is_initialised_again(sim, make_transport):
    """SIM800 restarted (power, watchdog) while connected: "RDY" … "SMS Ready", its settings
    back at power-on values (AT+CNMI <ds> 0: reports would go nowhere). The next SMS waits for
    it, sets everything again, and its report is stored as before."""
    sim.status_reports = True
    transport = make_transport(sim)
    assert [o.kind for o in send_all(transport, [sms(1, "eins")])] == [A]
    sim.wait_stored(1, "SR")  # its report, before the restart
    sim.power_on(scale=0.1)
    assert sim.cnmi == PROFILES["simcom"].cnmi_default
    poll_until(lambda: sim.sms_ready, transport, timeout=5)
    outcome = send_all(transport, [sms(2, "zwei")])[0]
    assert outcome.kind is A
    assert sim.cnmi == (2, 1, 0, 2, 0)
    stored = [r.message_reference for r in transport.stored_reports()]
    assert int(outcome.provider_ref) in stored
    assert sim.reports_dropped == 0

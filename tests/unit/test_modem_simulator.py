"""The modem simulator's answers, in the formats of V.250, 3GPP TS 27.007 and 27.005.

Each test talks to a simulator over a real socket, as a terminal on the serial line would:
one command line out, the lines up to the final result code back (deadline 2 s, no sleeps).
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator

import pytest

from webapp.simulators.modem import ModemSimulator, parse_command_line
from webapp.simulators.modem_profiles import PROFILES
from webapp.sms.encoding import build_submit_pdus

FINAL = ("OK", "ERROR", "+CME ERROR:", "+CMS ERROR:", "COMMAND NOT SUPPORT")
NUMBER = "+436641234567"


def _final_at(text: str) -> int:
    """Where the text after the first final result line starts, -1 before it is complete."""
    position = 0
    for line in text.split("\r\n")[:-1]:
        position += len(line) + 2
        if line.startswith(FINAL):
            return position
    return -1


class Terminal:
    """One client on the simulated serial line (echo switched off first)."""

    def __init__(self, sim: ModemSimulator) -> None:
        self.sock = socket.create_connection((sim.host, sim.port), timeout=2)
        self.buffer = b""
        self.at("ATE0")

    def read_until(self, done, timeout: float = 2.0) -> str:
        """Everything read (with what was left over) once `done(text)` holds."""
        deadline = time.monotonic() + timeout
        while not done(self.buffer.decode("latin-1")):
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer in time: {self.buffer!r}")
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.buffer += chunk
        text, self.buffer = self.buffer.decode("latin-1"), b""
        return text

    def at(self, line: str) -> list[str]:
        """The lines answering `line`, up to the final result code; what follows it (URCs)
        stays for `urc`."""
        self.sock.sendall(line.encode("latin-1") + b"\r")
        text = self.read_until(lambda got: _final_at(got) >= 0)
        end = _final_at(text)
        self.buffer = text[end:].encode("latin-1")
        return [line.strip("\r") for line in text[:end].split("\r\n") if line]

    def prompt(self, line: str) -> None:
        self.sock.sendall(line.encode("latin-1") + b"\r")
        assert self.read_until(lambda got: got.endswith("\r\n> ")) == "\r\n> "

    def type(self, body: str, end: bytes = b"\x1a") -> list[str]:
        self.sock.sendall(body.encode("latin-1") + end)
        text = self.read_until(
            lambda got: got.endswith(("OK\r\n", "ERROR\r\n")) or "ERROR: " in got
        )
        return [line for line in text.split("\r\n") if line]

    def urc(self, until: str) -> list[str]:
        text = self.read_until(lambda got: until in got and got.endswith("\r\n"))
        return [line for line in text.split("\r\n") if line]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["simcom"])
def sim(request) -> Iterator[ModemSimulator]:
    with ModemSimulator(profile=request.param) as simulator:
        yield simulator


@pytest.fixture
def term(sim) -> Iterator[Terminal]:
    terminal = Terminal(sim)
    yield terminal
    terminal.close()


# --- command lines -----------------------------------------------------------------------------


def test_command_lines_are_split_as_v250_says():
    assert [(c.name, c.kind, c.args) for c in parse_command_line("ATE0V1&FI4")] == [
        ("E", "exec", "0"),
        ("V", "exec", "1"),
        ("&F", "exec", ""),
        ("I", "exec", "4"),
    ]
    parsed = parse_command_line('AT+CMEE=1;+CSCS=?;+CREG?;+CMGS="+43;1",145;S0=2')
    assert [(c.name, c.kind, c.args) for c in parsed] == [
        ("+CMEE", "set", "1"),
        ("+CSCS", "test", ""),
        ("+CREG", "read", ""),
        ("+CMGS", "set", '"+43;1",145'),
        ("S", "set", "02"),
    ]
    assert parsed[3].values() == ["+43;1", "145"]


def test_a_command_line_runs_in_turn_and_stops_at_the_first_error(term):
    assert term.at("AT+CMEE=1;+CGMI;+CGMM") == ["SIMCOM_Ltd", "SIMCOM_SIM800L", "OK"]
    assert term.at("AT+CFUN=9;+CGMI") == ["+CME ERROR: 4"]
    assert term.at("ATE0V1Q0") == ["OK"]


# --- V.250 and 27.007 identification ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_identification_per_profile(name):
    profile = PROFILES[name]
    with ModemSimulator(profile=name) as simulator:
        term = Terminal(simulator)
        for command, value in (
            ("AT+CGMI", profile.manufacturer),
            ("AT+GMI", profile.manufacturer),
            ("AT+CGMM", profile.model),
            ("AT+GMM", profile.model),
            ("AT+CGSN", profile.imei),
            ("AT+CIMI", profile.imsi),
        ):
            assert term.at(command) == [value, "OK"], command
        if "+CGMR" in profile.refused:
            assert term.at("AT+CGMR") == ["ERROR"]
        else:
            assert term.at("AT+CGMR") == [profile.revision, "OK"]
        assert term.at("ATI") == [*profile.ati[0], "OK"]
        for number, lines in profile.ati.items():
            assert term.at(f"ATI{number}") == [*lines, "OK"]
        assert term.at("ATI9") == ["ERROR"]
        term.close()


def test_reset_restores_the_power_on_settings(term):
    assert term.at('AT+CMEE=2;+CMGF=1;+CSCS="UCS2"') == ["OK"]
    assert term.at("ATZ") == ["OK"]  # echo is on again after the reset
    assert term.at("ATE0") == ["ATE0", "OK"]
    assert term.at("AT+CMEE?;+CMGF?;+CSCS?") == ["+CMEE: 0", "+CMGF: 0", '+CSCS: "IRA"', "OK"]
    term.at("AT+CMGF=1")
    assert term.at("AT&F") == ["OK"]
    assert term.at("ATE0;+CMGF?") == ["ATE0;+CMGF?", "+CMGF: 0", "OK"]


def test_cfun(sim, term):
    assert term.at("AT+CFUN?") == ["+CFUN: 1", "OK"]
    assert term.at("AT+CFUN=?") == ["+CFUN: (0,1,4),(0-1)", "OK"]
    assert term.at("AT+CFUN=1") == ["OK"]
    assert term.at("AT+CFUN=4") == ["OK"]
    assert term.at("AT+CFUN?;+CREG?") == ["+CFUN: 4", "+CREG: 0,0", "OK"]
    assert term.at("AT+CFUN=1,1") == ["OK"]
    assert term.urc(sim.profile.restart_urcs[-1]) == list(sim.profile.restart_urcs)
    assert term.at("ATE0") == ["ATE0", "OK"]
    assert term.at("AT+CFUN?;+CREG?") == ["+CFUN: 1", "+CREG: 0,1", "OK"]
    assert term.at("AT+CMEE=1;+CFUN=2") == ["+CME ERROR: 4"]


def test_cfun_restart_asks_for_the_pin_again(sim, term):
    sim.require_pin("4711")
    assert term.at('AT+CPIN="4711"') == ["OK"]
    term.at("AT+CFUN=1,1")
    term.at("ATE0")
    assert term.at("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]


def test_wavecom_is_busy_after_cfun_and_answers_cpin_without_ok():
    with ModemSimulator(profile="wavecom") as simulator:
        term = Terminal(simulator)
        term.at("AT+CMEE=1")
        assert term.at("AT+CFUN=1") == ["OK"]
        assert term.at("AT+CSQ") == ["+CME ERROR: 515"]
        assert term.at("AT+CSQ") == ["+CME ERROR: 515"]
        assert term.at("AT+CSQ") == ["+CSQ: 20,99", "OK"]
        term.sock.sendall(b"AT+CPIN?\r")
        assert term.read_until(lambda got: got.endswith("READY\r\n")) == "\r\n+CPIN: READY\r\n"
        term.close()


def test_cscs(term):
    assert term.at("AT+CSCS?") == ['+CSCS: "IRA"', "OK"]
    assert term.at("AT+CSCS=?") == ['+CSCS: ("GSM","IRA","UCS2","8859-1")', "OK"]
    assert term.at('AT+CSCS="UCS2"') == ["OK"]
    assert term.at("AT+CSCS?") == ['+CSCS: "UCS2"', "OK"]
    assert term.at('AT+CMEE=1;+CSCS="KOI8"') == ["+CME ERROR: 4"]


def test_creg_and_its_urcs(sim, term):
    assert term.at("AT+CREG?") == ["+CREG: 0,1", "OK"]
    assert term.at("AT+CREG=?") == ["+CREG: (0-2)", "OK"]
    assert term.at("AT+CREG=1") == ["OK"]
    sim.set_registration(5)
    assert term.urc("+CREG") == ["+CREG: 5"]
    assert term.at("AT+CREG=2;+CREG?") == ['+CREG: 2,5,"1A2B","00C3E5"', "OK"]
    sim.set_registration(1)
    assert term.urc("+CREG") == ['+CREG: 1,"1A2B","00C3E5"']
    term.at("AT+CREG=0")
    sim.set_registration(2)
    assert term.at("AT+CREG?") == ["+CREG: 0,2", "OK"]


def test_signal_battery_operator(term):
    assert term.at("AT+CSQ") == ["+CSQ: 20,99", "OK"]
    assert term.at("AT+CSQ=?") == ["+CSQ: (0-31,99),(0-7,99)", "OK"]
    assert term.at("AT+CBC") == ["+CBC: 0,95,4123", "OK"]
    assert term.at("AT+COPS?") == ['+COPS: 0,0,"A1"', "OK"]
    assert term.at("AT+COPS=3,2;+COPS?") == ['+COPS: 0,2,"23201"', "OK"]


def test_huawei_operator_with_access_technology_and_its_error_text():
    with ModemSimulator(profile="huawei") as simulator:
        term = Terminal(simulator)
        assert term.at("AT+COPS?") == ['+COPS: 0,0,"A1",2', "OK"]
        assert term.at("AT^CURC=0") == ["OK"]
        assert term.at("AT+XYZ") == ["COMMAND NOT SUPPORT"]
        term.close()


def test_cmee(term):
    assert term.at("AT+CMEE?") == ["+CMEE: 0", "OK"]
    assert term.at("AT+CMEE=?") == ["+CMEE: (0-2)", "OK"]
    assert term.at("AT+CFUN=7") == ["ERROR"]
    term.at("AT+CMEE=2")
    assert term.at("AT+CFUN=7") == ["+CME ERROR: operation not supported"]


# --- 27.005 ------------------------------------------------------------------------------------


def test_csms(term):
    assert term.at("AT+CSMS?") == ["+CSMS: 0,1,1,1", "OK"]
    assert term.at("AT+CSMS=?") == ["+CSMS: (0,1)", "OK"]
    assert term.at("AT+CSMS=1") == ["+CSMS: 1,1,1", "OK"]
    assert term.at("AT+CSMS?") == ["+CSMS: 1,1,1,1", "OK"]
    assert term.at("AT+CMEE=1;+CSMS=2") == ["+CMS ERROR: 303"]


@pytest.mark.parametrize(
    ("quirk", "answer"),
    [
        ({"csms_services": (1,)}, ["+CMS ERROR: 303"]),
        ({"csms_ignored": True}, ["+CSMS: 1,1,1", "OK"]),
    ],
)
def test_a_modem_that_stays_in_phase_2_plus(quirk, answer):
    profile = dataclasses.replace(PROFILES["simcom"], csms_default=1, **quirk)
    with ModemSimulator(profile=profile) as simulator:
        term = Terminal(simulator)
        assert term.at("AT+CSMS?") == ["+CSMS: 1,1,1,1", "OK"]
        assert term.at("AT+CMEE=1;+CSMS=0") == answer
        assert term.at("AT+CSMS?") == ["+CSMS: 1,1,1,1", "OK"]
        assert term.at("ATZ;+CSMS?") == ["+CSMS: 1,1,1,1", "OK"]  # its power-on service
        term.close()


def test_reports_with_ds_2_are_stored_in_sr(sim, term):
    term.at("AT+CMEE=1;+CNMI=2,1,0,2,0")
    index = sim.inject_status_report(5, NUMBER, 0x00)
    assert term.urc("+CDSI") == [f'+CDSI: "SR",{index}']
    assert list(sim.stored("SR")) == [index] and sim.stored() == {}
    assert term.at('AT+CPMS="SR"')[-1] == "OK"
    assert term.at("AT+CMGL=4")[0].startswith(f"+CMGL: {index},")


def test_phase_2_plus_routing_needs_cnma(sim, term):
    term.at("AT+CMEE=1;+CSMS=1;+CNMI=2,2,0,1,0")
    assert term.at("AT+CNMA") == ["+CMS ERROR: 340"]  # nothing to acknowledge
    assert sim.inject_received(NUMBER, "eins") == []
    assert term.urc("+CMT")[0].startswith("+CMT: ,")
    sim.inject_received(NUMBER, "zwei")  # held back until the first is acknowledged
    assert term.at("AT+CNMA") == ["OK"]
    assert term.urc("+CMT")[0].startswith("+CMT: ,")
    assert term.at("AT+CNMA") == ["OK"]
    assert term.at("AT+CNMA") == ["+CMS ERROR: 340"]
    assert sim.stored() == {}


def test_without_cnma_routing_falls_back_to_storing(sim, term):
    sim.cnma_timeout = 0.2
    term.at("AT+CMEE=1;+CSMS=1;+CNMI=2,2,0,1,0")
    sim.inject_received(NUMBER, "nicht bestätigt")
    term.urc("+CMT")
    sim.wait_stored(1, timeout=2)  # the modem's timer ran out: stored instead
    assert len(sim.stored()) == 1
    assert sim.unacknowledged == 1
    assert term.at("AT+CNMI?") == ["+CNMI: 2,0,0,0,0", "OK"]


def test_cnmi(term):
    assert term.at("AT+CNMI?") == ["+CNMI: 2,1,0,0,0", "OK"]
    assert term.at("AT+CNMI=?") == ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)", "OK"]
    assert term.at("AT+CNMI=2,1,0,2,0;+CNMI?") == ["+CNMI: 2,1,0,2,0", "OK"]
    assert term.at("AT+CMEE=1;+CNMI=2,1,1") == ["+CMS ERROR: 303"]


def test_cpms_three_stores(sim, term):
    assert term.at("AT+CPMS=?") == ['+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")', "OK"]
    assert term.at("AT+CPMS?") == ['+CPMS: "SM",0,30,"SM",0,30,"SM",0,30', "OK"]
    assert term.at('AT+CPMS="ME","ME","ME"') == ["+CPMS: 0,100,0,100,0,100", "OK"]
    sim.inject_received(NUMBER, "in den Telefonspeicher")
    assert term.urc("+CMTI") == ['+CMTI: "ME",1']
    assert term.at('AT+CPMS="SR"') == ["+CPMS: 0,20,1,100,1,100", "OK"]
    assert term.at("AT+CPMS?") == ['+CPMS: "SR",0,20,"ME",1,100,"ME",1,100', "OK"]
    assert term.at('AT+CMEE=1;+CPMS="ME","SR"') == ["+CMS ERROR: 302"]
    assert list(sim.stored("ME")) == [1] and sim.stored("SM") == {}


def test_csca_and_csmp(sim, term):
    assert term.at("AT+CSCA?") == ['+CSCA: "+436640000000",145', "OK"]
    assert term.at('AT+CSCA="+436649999999",145;+CSCA?') == ['+CSCA: "+436649999999",145', "OK"]
    assert term.at("AT+CSMP?") == ["+CSMP: 17,167,0,0", "OK"]
    assert term.at("AT+CSMP=49,167,0,8;+CSMP?") == ["+CSMP: 49,167,0,8", "OK"]


def test_zte_forgets_the_smsc_on_csmp():
    with ModemSimulator(profile="zte") as simulator:
        term = Terminal(simulator)
        term.at("AT+CSMP=17,167,0,0")
        assert term.at("AT+CSCA?") == ['+CSCA: "",129', "OK"]
        term.close()


def test_pdu_mode_send_list_read_delete(sim, term):
    pdu = build_submit_pdus(NUMBER, "Hallo", 1, request_status_report=False)[0]
    term.prompt(f"AT+CMGS={pdu.tpdu_length}")
    assert term.type(pdu.hex) == ["+CMGS: 1", "OK"]
    assert sim.wait_for(1)[0].text == "Hallo"
    index = sim.inject_received(NUMBER, "Antwort")[0]
    assert term.urc("+CMTI") == [f'+CMTI: "SM",{index}']
    listed = term.at("AT+CMGL=4")
    assert listed[0].startswith(f"+CMGL: {index},0,,") and listed[-1] == "OK"
    assert term.at(f"AT+CMGR={index}")[0].startswith("+CMGR: 1,,")
    assert term.at("AT+CMGL=?") == ["+CMGL: (0-4)", "OK"]
    assert term.at("AT+CMGD=?") == [f"+CMGD: ({index}),(0-4)", "OK"]
    assert term.at("AT+CMGD=0,4") == ["OK"]
    assert sim.stored() == {}


def test_text_mode_send_with_csmp_and_ucs2(sim, term):
    term.at("AT+CMGF=1")
    term.prompt(f'AT+CMGS="{NUMBER}"')
    assert term.type("Gruesse aus Wien") == ["+CMGS: 1", "OK"]
    assert sim.wait_for(1)[-1].text == "Gruesse aus Wien"
    term.at('AT+CSCS="UCS2";+CSMP=49,167,0,8')
    hexed = lambda text: text.encode("utf-16-be").hex().upper()  # noqa: E731
    term.prompt(f'AT+CMGS="{hexed(NUMBER)}",145')
    term.type(hexed("Grüße 😀"))
    message = sim.wait_for(2)[-1]
    assert (message.recipient, message.text, message.encoding) == (NUMBER, "Grüße 😀", "UCS-2")
    assert sim.parts[-1].status_report_requested
    term.at('AT+CSCS="GSM";+CSMP=17,167,0,0')
    term.prompt(f'AT+CMGS="{NUMBER}"')
    term.type("".join(chr(c) for c in (0x5B, 0x7C, 0x7E)))  # Ä ö ü in GSM 03.38
    assert sim.wait_for(3)[-1].text == "Äöü"


def test_text_mode_list_and_read(sim, term):
    term.at("AT+CMGF=1")
    index = sim.inject_received("+4366412345", "Grüße")[0]
    term.urc("+CMTI")
    listed = term.at('AT+CMGL="ALL"')
    assert listed[0].startswith(f'+CMGL: {index},"REC UNREAD","+4366412345",,"')
    assert listed[1:] == ["Gr??e", "OK"]  # IRA has no ü and ß
    assert term.at("AT+CMEE=1;+CMGL=4") == ["+CMS ERROR: 302"]  # the PDU mode form
    term.at('AT+CSCS="UCS2";+CSDH=1')
    read = term.at(f"AT+CMGR={index}")
    assert read[0].startswith('+CMGR: "REC READ","002B0034003300360036003400310032003300340035",,"')
    smsc = "+436640000000".encode("utf-16-be").hex().upper()
    assert read[0].endswith(f',145,4,0,0,"{smsc}",145,5')
    assert read[1:] == ["Grüße".encode("utf-16-be").hex().upper(), "OK"]


def test_sms_commands_want_the_pin(sim, term):
    sim.require_pin("4711")
    term.at("AT+CMEE=1")
    assert term.at("AT+CPMS?") == ["+CMS ERROR: 311"]
    assert term.at("AT+CIMI") == ["+CME ERROR: 11"]


# --- delivery reports later, and while nobody is connected (issue 15 point 1) ----------------


def _send(term: Terminal, text: str, reference: int = 1) -> str:
    pdu = build_submit_pdus(NUMBER, text, reference, request_status_report=True)[0]
    term.prompt(f"AT+CMGS={pdu.tpdu_length}")
    answer = term.type(pdu.hex)
    assert answer[-1] == "OK"
    return answer[0].split(": ")[1]  # <mr>


def test_report_delay_per_sms(sim, term):
    sim.status_reports = True
    term.at("AT+CMEE=1;+CNMI=2,1,0,1,0")
    sim.delay_reports(0.3, None)
    started = time.monotonic()
    _send(term, "eins")
    _send(term, "zwei")
    assert term.urc("+CDS")[0].startswith("+CDS: ")
    assert time.monotonic() - started >= 0.3
    assert sim.release_reports(status=0x46) == 1  # the second SMS's report, held till now
    assert term.urc("+CDS")[0].startswith("+CDS: ")
    assert sim.release_reports() == 0


def test_report_while_disconnected_is_lost_with_ds_1(sim):
    sim.status_reports = True
    sim.reports_while_disconnected = True
    term = Terminal(sim)
    term.at("AT+CNMI=2,1,0,1,0")
    _send(term, "eins")
    assert sim.reports_dropped == 0
    term.close()
    sim.wait_reports_dropped(1, timeout=2)
    assert sim.stored("SR") == {} and sim.stored() == {}


def test_report_while_disconnected_is_stored_with_ds_2(sim):
    sim.status_reports = True
    sim.reports_while_disconnected = True
    term = Terminal(sim)
    term.at("AT+CNMI=2,1,0,2,0")
    _send(term, "eins")
    assert sim.stored("SR") == {}  # not while the client is there
    term.close()
    sim.wait_stored(1, "SR")


# --- power-on (SIM800: "RDY" … "SMS Ready") ----------------------------------------------------


def test_power_on_urcs_and_sms_commands_refused_until_sms_ready(sim, term):
    sim.power_on(scale=0.1)  # SMS Ready after 0.8 s
    term.at("ATE0")
    assert term.at("AT+CMGF=0") == ["ERROR"]
    assert not sim.sms_ready
    lines = term.urc("SMS Ready")  # "RDY" came with the answer to ATE0
    assert lines[-4:] == ["+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"]
    assert sim.sms_ready
    assert term.at("AT+CMGF=0") == ["OK"]
    assert term.at("AT+CPIN?") == ["+CPIN: READY", "OK"]


def test_sim_busy_until_the_sim_is_ready(sim, term):
    sim.power_on(scale=0.5)  # +CPIN: READY after 0.75 s
    term.at("ATE0")
    assert term.at("AT+CMEE=1;+CPIN?") == ["+CME ERROR: 14"]

"""Kannel (bearerbox + smsbox, AT2 driver) sends and receives through the modem simulator.

Three SMS go out through smsbox's sendsms interface (GSM-7, UCS-2, two parts); the simulator
decodes what Kannel wrote and must get the texts as given. One SMS comes in, routed as +CMT
(the modem group's AT+CNMI=2,2,0,1,0); smsbox must hand it to the get-url of its service, a
small HTTP server of the test.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.gateways.support import (
    free_port,
    gateway_log,
    listening,
    modem_device,
    program,
    started,
    wait_until,
)
from webapp.simulators.modem import ModemSimulator

CONFIG = Path(__file__).with_name("kannel.conf")
RECIPIENT = "+436641234567"
SENDER = "+436761234567"
GSM = "Grüße aus Wien: Ä Ö Ü ß € [x]"
UNICODE = "Привет 你好 Zürich"
LONG = "Lang " + "abcdefghij" * 25 + " Ende"


@dataclass
class Receiver:
    """The get-url of smsbox's service: what it was called with."""

    calls: list[dict[str, str]] = field(default_factory=list)

    def texts(self) -> list[tuple[str, str]]:
        return [(call["from"], call["text"]) for call in self.calls]


@contextlib.contextmanager
def receiver() -> Iterator[tuple[Receiver, int]]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.urlsplit(self.path).query
            # %b: the text as bytes in the character set %C names (UTF-16BE for UCS-2)
            raw = dict(urllib.parse.parse_qsl(query, encoding="latin-1"))
            charset = raw.get("charset") or "latin-1"
            raw["text"] = raw["text"].encode("latin-1").decode(charset)
            got.calls.append(raw)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Kannel:
    sim: ModemSimulator
    received: Receiver
    sendsms_port: int
    logs: Path

    def send(self, text: str, **options: str) -> str:
        query = urllib.parse.urlencode(
            {
                "username": "test",
                "password": "geheim",
                "to": RECIPIENT,
                "text": text,
                "charset": "UTF-8",
                **options,
            }
        )
        url = f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms?{query}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.read().decode()

    def log(self) -> str:
        return (
            gateway_log(self.logs / "bearerbox.log") + "\n" + gateway_log(self.logs / "smsbox.log")
        )


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[Kannel]:
    bearerbox, smsbox = program("bearerbox"), program("smsbox")
    ports = {name: free_port() for name in ("admin_port", "smsbox_port", "sendsms_port")}
    with (
        ModemSimulator() as sim,
        modem_device(sim, tmp_path / "modem") as device,
        receiver() as (received, receiver_port),
    ):
        config = tmp_path / "kannel.conf"
        config.write_text(
            CONFIG.read_text().format(
                device=device, logs=tmp_path, receiver_port=receiver_port, **ports
            )
        )
        gateway = Kannel(sim, received, ports["sendsms_port"], tmp_path)
        with started([bearerbox, str(config)], tmp_path / "bearerbox.out"):
            # smsbox gives up at once when the bearerbox does not listen yet
            wait_until(lambda: listening(ports["smsbox_port"]), 30, gateway.log())
            with started([smsbox, str(config)], tmp_path / "smsbox.out"):
                # the modem is initialised once Kannel chose its message store
                wait_until(
                    lambda: any(c.startswith("AT+CPMS") for c in sim.commands), 60, gateway.log()
                )
                wait_until(lambda: listening(gateway.sendsms_port), 30, gateway.log())
                yield gateway


def test_kannel_sends_gsm_unicode_and_multipart_and_receives(kannel):
    # "0: Accepted for delivery", or "3: Queued for later delivery" while the AT2 driver
    # is still setting the modem up
    for answer in (kannel.send(GSM), kannel.send(UNICODE, coding="2"), kannel.send(LONG)):
        assert answer.startswith(("0:", "3:")), answer
    try:
        got = kannel.sim.wait_for(3, timeout=60)
    except TimeoutError:
        pytest.fail(kannel.log())
    assert sorted((m.recipient, m.text, m.parts, m.encoding) for m in got) == sorted(
        [
            (RECIPIENT, GSM, 1, "GSM-7"),
            (RECIPIENT, UNICODE, 1, "UCS-2"),
            (RECIPIENT, LONG, 2, "GSM-7"),
        ]
    )

    kannel.sim.inject_received(SENDER, "Antwort: Grüße € 😀")
    wait_until(lambda: kannel.received.calls, 60, kannel.log())
    assert kannel.received.texts() == [(SENDER, "Antwort: Grüße € 😀")]
    assert kannel.sim.stored() == {}  # routed, not stored

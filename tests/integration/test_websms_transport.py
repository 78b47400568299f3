"""Variante 2 over real sockets: WebsmsTransport against the websms sandbox (no mocks).

Every fault the reference knows is scripted in the sandbox; callbacks go to a tiny HTTP
receiver started here. Waiting is always a deadline on a condition, never a sleep.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from webapp.simulators.websms import Fault, WebsmsSandbox, validate
from webapp.sms.encoding import analyze
from webapp.sms.transports import classify
from webapp.sms.transports.base import OutcomeKind, OutgoingSms, TransportUnavailable
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport
from webapp.sms.transports.window import send_all

A, T, P, U = OutcomeKind.ACCEPTED, OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT, OutcomeKind.UNKNOWN
TOKEN = "sandbox-token"
NUMBER = "+436641234567"
HEX20 = re.compile(r"[0-9a-f]{20}")


class Receiver:
    """Collects the JSON POSTed to it and answers like a websms webhook receiver should."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length).decode("utf-8"))
        with self._changed:
            self.received.append((environ["PATH_INFO"], payload))
            self._changed.notify_all()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"statusCode": 2000, "statusMessage": "OK"}']

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} callbacks")
            return list(self.received)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sandbox() -> Iterator[WebsmsSandbox]:
    with WebsmsSandbox(token=TOKEN, username="api@example.at", password="pw-geheim") as box:
        yield box


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def make_transport(sandbox: WebsmsSandbox) -> Iterator[Callable[..., WebsmsTransport]]:
    made: list[WebsmsTransport] = []

    def make(**overrides: Any) -> WebsmsTransport:
        options: dict[str, Any] = {
            "base_url": sandbox.url,
            "access_token": TOKEN,
            "read_timeout": 5.0,
            "connect_timeout": 2.0,
        }
        options.update(overrides)
        transport = WebsmsTransport(WebsmsSettings(**options))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


def sms(message_id: int = 1, text: str = "Hallo", recipient: str = NUMBER) -> OutgoingSms:
    return OutgoingSms(message_id=message_id, recipient=recipient, text=text)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stopped(outcome: Any) -> bool:
    return outcome.kind is T and (outcome.reason or "").startswith("Nicht versucht: ")


# --- happy path ------------------------------------------------------------------------------


def test_sends_the_documented_json_with_bearer_auth(sandbox, make_transport):
    transport = make_transport(
        sender_address="ImmoVerw",
        sender_address_type="alphanumeric",
        test_mode=True,
        max_sms_per_message=3,
        notification_callback_url="http://hooks.example/webhooks/websms/dlr?key=k1",
    )

    [outcome] = send_all(transport, [sms(42, "Termin morgen 9 Uhr")])

    [record] = sandbox.wait_for(1)
    assert record.body == {
        "recipientAddressList": ["436641234567"],
        "messageContent": "Termin morgen 9 Uhr",
        "clientMessageId": "42",
        "test": True,
        "senderAddress": "ImmoVerw",
        "senderAddressType": "alphanumeric",
        "maxSmsPerMessage": 3,
        "notificationCallbackUrl": "http://hooks.example/webhooks/websms/dlr?key=k1",
    }
    assert record.headers["Authorization"] == f"Bearer {TOKEN}"
    assert record.headers["Content-Type"].startswith("application/json")
    assert record.headers["Accept"] == "application/json"
    assert record.test is True
    assert outcome.kind is A and outcome.ok
    assert outcome.message_id == 42
    assert outcome.provider_ref == record.transfer_id and HEX20.fullmatch(record.transfer_id)
    assert (outcome.segments, outcome.code) == (1, "websms 2000")
    assert not outcome.fails_run


def test_basic_auth_and_a_minimal_body(sandbox, make_transport):
    transport = make_transport(
        access_token=None, username="api@example.at", password="pw-geheim", max_sms_per_message=0
    )

    [outcome] = send_all(transport, [sms(7)])

    assert outcome.kind is A
    [record] = sandbox.accepted
    expected = base64.b64encode(b"api@example.at:pw-geheim").decode()
    assert record.headers["Authorization"] == f"Basic {expected}"
    assert record.body == {
        "recipientAddressList": ["436641234567"],
        "messageContent": "Hallo",
        "clientMessageId": "7",
        "test": False,
    }


@pytest.mark.parametrize("base", ["{url}/", "{url}/rest", "{url}/rest/"])
def test_base_url_may_end_in_rest_or_a_slash(sandbox, make_transport, base):
    transport = make_transport(base_url=base.format(url=sandbox.url))
    assert send_all(transport, [sms()])[0].kind is A


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("Grüße aus Wien, Straße 5: ÄÖÜ äöü ß", 1),
        ("€" * 80, 1),  # 160 septets: each € is ESC + code
        ("€" * 81, 2),
        ("Kosten: 12 € [Rechnung] {Nr. 5} ~ | ^ \\", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("Danke 👍 für die Rückmeldung", 1),  # UCS-2
        ("Ł" * 70, 1),
        ("Ł" * 71, 2),
        ("😀" * 36, 2),  # 72 UTF-16 units: parts of 67, a surrogate pair is never split
        ("Zeile 1\nZeile 2\r\nЗдравствуйте 中文", 1),
    ],
)
def test_texts_arrive_intact_and_segments_agree(sandbox, make_transport, text, segments):
    transport = make_transport(max_sms_per_message=0)

    [outcome] = send_all(transport, [sms(1, text)])

    [record] = sandbox.accepted
    assert record.text == text
    assert record.sms_count == segments == analyze(text).segments
    assert outcome.kind is A and outcome.segments == segments


# --- answers of the API ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [2001, 2002, 4002, 4003, 4012, 4013, 4014, 4019, 4023, 4031, 4035, 5000, 5003, 5123]
)
def test_each_status_code_is_classified_in_one_place(sandbox, make_transport, code):
    sandbox.inject(Fault.status(code, "scripted"))

    [outcome] = send_all(make_transport(), [sms(3)])

    verdict = classify.websms_status(code, "scripted")
    assert (outcome.kind, outcome.fails_run, outcome.reason) == (
        verdict.kind,
        verdict.fails_run,
        verdict.reason,
    )
    assert outcome.code == f"websms {code}"
    if verdict.kind is A:
        assert outcome.provider_ref == sandbox.accepted[0].transfer_id


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503])
def test_http_statuses(sandbox, make_transport, status):
    sandbox.inject(Fault.http(status))

    [outcome] = send_all(make_transport(), [sms()])

    verdict = classify.http_status(status)
    assert (outcome.kind, outcome.fails_run) == (verdict.kind, verdict.fails_run)
    assert outcome.code == f"HTTP {status}"


def test_wrong_token_is_http_401_and_stops_the_run(sandbox, make_transport):
    transport = make_transport(access_token="falsch")

    outcomes = send_all(transport, [sms(i) for i in range(1, 6)])

    assert outcomes[0].kind is classify.http_status(401).kind  # the message stays queued
    assert outcomes[0].fails_run and outcomes[0].code == "HTTP 401"
    assert all(stopped(o) for o in outcomes[1:])
    assert "HTTP 401" in outcomes[1].reason
    assert len(sandbox.requests) == 1 and sandbox.requests[0].http_status == 401
    assert sandbox.accepted == []


def test_wrong_basic_password_is_refused(sandbox, make_transport):
    transport = make_transport(access_token=None, username="api@example.at", password="nein")
    [outcome] = send_all(transport, [sms()])
    assert outcome.kind is classify.http_status(401).kind
    assert outcome.fails_run and outcome.code == "HTTP 401"


def test_sandbox_validation_reaches_the_transport(sandbox, make_transport):
    sandbox.blacklist("436601111111")
    transport = make_transport(max_sms_per_message=1)

    outcomes = send_all(
        transport,
        [
            sms(1, "Hallo", "+4366"),  # too short for an MSISDN
            sms(2, "Hallo", "+436601111111"),  # blacklisted
            sms(3, "a" * 161),  # 2 segments, 1 allowed
            sms(4, "Hallo"),
        ],
    )

    assert [(o.kind, o.code, o.fails_run) for o in outcomes] == [
        (P, "websms 4002", False),
        (P, "websms 4031", False),
        (P, "websms 4026", False),
        (A, "websms 2000", False),
    ]
    assert [r.client_message_id for r in sandbox.accepted] == ["4"]


def test_empty_text_is_4019_naming_the_parameter(make_transport):
    [outcome] = send_all(make_transport(), [sms(1, "")])
    assert (outcome.code, outcome.fails_run) == ("websms 4019", True)
    assert outcome.kind is classify.websms_status(4019).kind
    assert "messageContent" in outcome.reason


def test_invalid_sender_is_4003_and_stops_the_run(sandbox, make_transport):
    sandbox.senders = {"HV Wien"}  # the senders websms assigned to the account
    transport = make_transport(sender_address="HV Graz", sender_address_type="alphanumeric")
    outcomes = send_all(transport, [sms(1), sms(2)])
    assert (outcomes[0].code, outcomes[0].fails_run) == ("websms 4003", True)
    assert stopped(outcomes[1])
    assert len(sandbox.requests) == 1


def test_malformed_json_in_a_200_is_unknown(sandbox, make_transport):
    sandbox.inject(Fault(malformed=True))
    [outcome] = send_all(make_transport(), [sms()])
    assert outcome.kind is U and outcome.provider_ref is None
    assert "angekommen" in outcome.reason
    assert sandbox.requests[0].http_status == 200


def test_dropped_connection_after_sending_is_unknown(sandbox, make_transport):
    sandbox.inject(Fault(drop=True))
    [outcome] = send_all(make_transport(), [sms()])
    assert outcome.kind is U
    assert sandbox.requests[0].http_status is None


def test_read_timeout_is_unknown_and_the_next_goes_alone_as_a_probe(sandbox, make_transport):
    sandbox.inject(Fault(hang=True, accept=True))  # accepted, but the answer never comes
    transport = make_transport(read_timeout=0.3)

    started = time.monotonic()
    outcomes = send_all(transport, [sms(1), sms(2)])

    assert time.monotonic() - started < 3
    assert outcomes[0].kind is U and outcomes[0].code == "websms timeout"
    assert outcomes[0].halts  # the next one goes alone, as a probe
    # websms has it: resending would send it twice, so it is never retried automatically.
    assert [r.client_message_id for r in sandbox.accepted] == ["1", "2"]
    assert outcomes[1].kind is A  # the probe got through: the link works again


def test_slow_answer_within_the_timeout_is_fine(sandbox, make_transport):
    sandbox.inject(Fault.slow(0.2))
    [outcome] = send_all(make_transport(read_timeout=2), [sms()])
    assert outcome.kind is A


def test_connection_refused_is_transient_and_probed_three_times(make_transport):
    transport = make_transport(base_url=f"http://127.0.0.1:{closed_port()}")

    outcomes = send_all(transport, [sms(i) for i in range(1, 6)])

    assert outcomes[0].kind is T and outcomes[0].code == "websms connect"
    assert "Verbindung fehlgeschlagen" in outcomes[0].reason
    # One probe at a time; after three refused connections in a row the rest is not tried.
    assert [o.code for o in outcomes[:3]] == ["websms connect"] * 3
    assert all(o.halts for o in outcomes[:3])
    assert all(stopped(o) for o in outcomes[3:])


def test_connect_timeout_is_transient():
    # A listening socket that never accepts: once its backlog is full, SYNs go unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    settings = WebsmsSettings(
        base_url=f"http://127.0.0.1:{port}", access_token=TOKEN, connect_timeout=0.3
    )
    try:
        with WebsmsTransport(settings) as transport:
            started = time.monotonic()
            [outcome] = send_all(transport, [sms()])
            elapsed = time.monotonic() - started
    finally:
        for s in [*fillers, listener]:
            s.close()
    assert outcome.kind is T and outcome.code == "websms connect"
    assert elapsed < 3


def test_unknown_host_is_transient():
    settings = WebsmsSettings(base_url="http://websms-sandbox.invalid", access_token=TOKEN)
    with WebsmsTransport(settings) as transport:
        [outcome] = send_all(transport, [sms()])
    assert outcome.kind is T and "websms-sandbox.invalid" in outcome.reason


# --- batches -------------------------------------------------------------------------------


def test_fails_run_in_the_middle_stops_what_was_not_sent(make_transport):
    with WebsmsSandbox(token=TOKEN, latency=0.02) as slow_box:
        slow_box.add_rule("436640000010", Fault.status(4001))
        transport = make_transport(base_url=slow_box.url, concurrency=8)
        messages = [sms(i, "Hallo", f"+4366400000{i:02d}") for i in range(50)]

        outcomes = send_all(transport, messages)

        assert [o.message_id for o in outcomes] == list(range(50))
        assert outcomes[10].kind is classify.websms_status(4001).kind
        assert outcomes[10].fails_run
        halted = [o for o in outcomes if stopped(o)]
        assert len(halted) >= 20
        assert all(o.kind is A or stopped(o) for i, o in enumerate(outcomes) if i != 10)
        assert all("Zugangsdaten" in o.reason for o in halted)
        # Nothing that is reported as stopped was sent.
        assert len(slow_box.requests) == 50 - len(halted)
        sent_ids = {json.loads(r.body)["clientMessageId"] for r in slow_box.requests}
        assert sent_ids.isdisjoint({str(o.message_id) for o in halted})


def test_limit_reached_4013_stops_the_batch_transient(sandbox, make_transport):
    sandbox.inject(Fault.status(4013))
    outcomes = send_all(make_transport(), [sms(1), sms(2), sms(3)])
    assert outcomes[0].kind is T and outcomes[0].fails_run
    assert all(stopped(o) for o in outcomes[1:])


def test_errors_of_one_message_do_not_stop_the_batch(sandbox, make_transport):
    sandbox.blacklist("436601111111")
    sandbox.add_rule("436602222222", Fault.http(503))
    numbers = ["+436641234567", "+436601111111", "+436602222222", "+436641234568"]
    outcomes = send_all(make_transport(), [sms(i, "x", n) for i, n in enumerate(numbers)])
    assert [o.kind for o in outcomes] == [A, P, T, A]


def test_batch_is_concurrent_bounded_and_keeps_the_order(make_transport):
    latency = 0.02
    with WebsmsSandbox(token=TOKEN, latency=latency) as slow_box:
        # The second message is slow: it finishes after later ones.
        slow_box.add_rule("436640000001", Fault.slow(0.15))
        transport = make_transport(base_url=slow_box.url, concurrency=4)
        messages = [sms(i, f"Nachricht {i}", f"+4366400000{i:02d}") for i in range(40)]

        started = time.monotonic()
        outcomes = send_all(transport, messages)
        elapsed = time.monotonic() - started

        assert [o.message_id for o in outcomes] == list(range(40))
        assert all(o.kind is A for o in outcomes)
        by_cid = {r.client_message_id: r.transfer_id for r in slow_box.accepted}
        assert [o.provider_ref for o in outcomes] == [by_cid[str(i)] for i in range(40)]
        arrival = [r.client_message_id for r in slow_box.accepted]
        assert arrival.index("1") > arrival.index("2")  # finished out of order
        assert slow_box.peak_concurrency == 4
        assert elapsed < 40 * latency  # one at a time would take longer


def test_empty_batch_sends_nothing(sandbox, make_transport):
    assert send_all(make_transport(), []) == []
    assert sandbox.requests == []


# --- configuration, lifecycle, secrets -------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"access_token": None}, "Zugangstoken"),
        ({"access_token": None, "username": "api", "password": ""}, "Passwort"),
        ({"base_url": "ftp://example.at"}, "Basis-URL"),
        ({"sender_address": "x", "sender_address_type": "fancy"}, "Absendertyp"),
        ({"sender_address": "ZwölfZeichen", "sender_address_type": "alphanumeric"}, "11 Zeichen"),
        ({"sender_address": "06641234567", "sender_address_type": "international"}, "ohne 0"),
    ],
)
def test_unusable_settings_make_the_transport_unavailable(
    sandbox, make_transport, overrides, words
):
    transport = make_transport(**overrides)
    with pytest.raises(TransportUnavailable) as raised:
        send_all(transport, [sms()])
    assert words in raised.value.reason
    assert sandbox.requests == []


def test_closed_transport_is_unavailable(make_transport):
    transport = make_transport()
    transport.close()
    with pytest.raises(TransportUnavailable):
        send_all(transport, [sms()])


def test_secrets_never_reach_the_log_or_a_repr(sandbox, make_transport, caplog):
    caplog.set_level(logging.DEBUG)
    settings = WebsmsSettings(base_url=sandbox.url, username="api@example.at", password="pw-geheim")
    bearer = make_transport(access_token=TOKEN)
    basic = make_transport(access_token=None, username="api@example.at", password="pw-geheim")
    sandbox.inject(Fault.http(500))

    send_all(bearer, [sms(1), sms(2)])
    send_all(basic, [sms(3)])

    basic_value = base64.b64encode(b"api@example.at:pw-geheim").decode()
    for secret in (TOKEN, "pw-geheim", basic_value):
        assert secret not in caplog.text
        assert secret not in repr(settings) + repr(bearer) + repr(basic)
        assert secret not in repr(bearer.settings) + repr(basic.settings)


# --- callbacks -------------------------------------------------------------------------------


def test_delivery_report_reaches_the_callback_url(sandbox, make_transport, receiver):
    callback = f"{receiver.url}/webhooks/websms/dlr?key=k1"
    transport = make_transport(notification_callback_url=callback)
    [outcome] = send_all(transport, [sms(77)])

    [result] = sandbox.send_delivery_report(outcome.provider_ref, "delivered")

    [(path, report)] = receiver.wait_for(1)
    assert path == "/webhooks/websms/dlr"
    assert report["messageType"] == "deliveryReport"
    assert report["transferId"] == outcome.provider_ref
    assert report["clientMessageId"] == "77"
    assert report["deliveryReportMessageStatus"] == "delivered"
    assert report["senderAddress"] == "436641234567"
    assert report["deliveredAs"] == "sms"
    assert HEX20.fullmatch(report["notificationId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", report["sentOn"])
    assert result.http_status == 200 and result.answer["statusCode"] == 2000


def test_undelivered_report_has_no_delivered_on(sandbox, make_transport, receiver):
    transport = make_transport(notification_callback_url=f"{receiver.url}/dlr")
    [outcome] = send_all(transport, [sms(5)])
    sandbox.send_delivery_report(outcome.provider_ref, "undelivered")
    [(_, report)] = receiver.wait_for(1)
    assert report["deliveryReportMessageStatus"] == "undelivered"
    assert "deliveredOn" not in report


def test_automatic_delivery_reports(make_transport, receiver):
    with WebsmsSandbox(token=TOKEN, auto_report=True, report_delay=0.05) as box:
        box.report_as("436640000002", "undelivered")
        transport = make_transport(base_url=box.url, notification_callback_url=receiver.url)
        send_all(transport, [sms(1, "a", "+436640000001"), sms(2, "b", "+436640000002")])

        reports = {p["clientMessageId"]: p for _, p in receiver.wait_for(2)}

        assert reports["1"]["deliveryReportMessageStatus"] == "delivered"
        assert reports["2"]["deliveryReportMessageStatus"] == "undelivered"
        assert len(box.wait_for_callbacks(2)) == 2


def test_test_mode_messages_get_no_automatic_report(make_transport, receiver):
    with WebsmsSandbox(token=TOKEN, auto_report=True) as box:
        transport = make_transport(
            base_url=box.url, test_mode=True, notification_callback_url=receiver.url
        )
        [outcome] = send_all(transport, [sms()])
        assert outcome.kind is A and box.accepted[0].test
        assert box.callbacks == []


def test_inbound_sms_reaches_the_receiver(sandbox, receiver):
    result = sandbox.send_inbound("+436641234567", "Ja, passt 👍 – Grüße", f"{receiver.url}/mo")

    [(path, payload)] = receiver.wait_for(1)
    assert path == "/mo"
    assert payload["messageType"] == "text"
    assert payload["senderAddress"] == "436641234567"
    assert payload["senderAddressType"] == "international"
    assert payload["recipientAddress"] == sandbox.own_number
    assert payload["recipientAddressType"] == "international"
    assert payload["textMessageContent"] == "Ja, passt 👍 – Grüße"
    assert payload["messageFlashSms"] is False
    assert HEX20.fullmatch(payload["notificationId"])
    assert result.http_status == 200


# --- the sandbox on its own ------------------------------------------------------------------


def test_simple_get_with_latin1_text_and_access_token(sandbox):
    response = requests.get(
        f"{sandbox.url}/rest/smsmessaging/simple"
        f"?access_token={TOKEN}&recipientAddressList=436641234567,436641234568"
        "&messageContent=Gr%FC%DFe%20aus%20Wien&test=true",
        timeout=5,
    )
    answer = response.json()
    assert response.status_code == 200 and answer["statusCode"] == 2000
    assert answer["smsCount"] == 2 and HEX20.fullmatch(answer["transferId"])
    assert [r.recipient for r in sandbox.accepted] == ["436641234567", "436641234568"]
    assert sandbox.accepted[0].text == "Grüße aus Wien"


def test_sandbox_answers_malformed_json_with_4000_and_numbers_as_json_numbers(sandbox):
    url = f"{sandbox.url}/rest/smsmessaging/text"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    broken = requests.post(url, data=b"{nope", headers=headers, timeout=5).json()
    assert broken["statusCode"] == 4000 and broken["transferId"] is None
    body = {"recipientAddressList": [436641234567], "messageContent": "x"}
    ok = requests.post(url, json=body, headers=headers, timeout=5).json()
    assert ok["statusCode"] == 2000 and ok["clientMessageId"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"messageContent": "x"}, 4019),
        ({"recipientAddressList": ["436641234567"]}, 4019),
        ({"recipientAddressList": ["+436641234567"], "messageContent": "x"}, 4002),
        ({"recipientAddressList": ["0664123456"], "messageContent": "x"}, 4002),
        ({"recipientAddressList": ["4366412345678901"], "messageContent": "x"}, 4002),
        ({"recipientAddressList": ["436641234567"] * 1001, "messageContent": "x"}, 4025),
        ({"recipientAddressList": ["436641234567"], "messageContent": 5}, 4009),
        (
            {
                "recipientAddressList": ["436641234567"],
                "messageContent": "x",
                "senderAddressType": "alphanumeric",
                "senderAddress": "VielZuLangerName",
            },
            4003,
        ),
        ({"recipientAddressList": ["436641234567"], "messageContent": "x", "priority": 12}, 4015),
        (
            {"recipientAddressList": ["436641234567"], "messageContent": "x", "validityPeriode": 5},
            4041,
        ),
        (
            {
                "recipientAddressList": ["436641234567"],
                "messageContent": "x",
                "notificationCallbackUrl": "nicht-url",
            },
            4016,
        ),
        (
            {
                "recipientAddressList": ["436641234567"],
                "messageContent": "€" * 81,
                "maxSmsPerMessage": "1",
            },
            4026,
        ),
        ({"recipientAddressList": ["436641234567"], "messageContent": "x"}, None),
    ],
)
def test_sandbox_validation(body, code):
    error = validate(body)
    assert (error[0] if error else None) == code
    if code == 4019:
        missing = {"recipientAddressList", "messageContent"} - set(body)
        assert missing.pop() in error[1]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("436641234567", "international"),
        ("06641234567", "international"),
        ("06641234567", "national"),
        ("436641234567", "national"),
        ("Hausverw ä", "alphanumeric"),
        ("ZwölfZeichen", "alphanumeric"),
        ("HV 😀", "alphanumeric"),
        ("12345", "shortcode"),
        ("12", "shortcode"),
        ("HV-Wien", None),
        ("06641234567", None),
    ],
)
def test_the_sandbox_and_the_settings_share_one_sender_rule(address, kind):
    # The sandbox imitates websms with the rule the Einstellungen and the transport check.
    body = {"recipientAddressList": ["436641234567"], "messageContent": "x"}
    body["senderAddress"] = address
    if kind:
        body["senderAddressType"] = kind
    settings = WebsmsSettings(access_token=TOKEN, sender_address=address, sender_address_type=kind)
    refused = validate(body) is not None
    assert refused == (settings.problem() is not None)
    if refused:
        assert validate(body)[0] == 4003


def test_sandbox_wait_for_times_out_with_a_deadline(sandbox):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sandbox.wait_for(1, timeout=0.1)
    assert time.monotonic() - started < 1

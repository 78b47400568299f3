"""Throughput of Variante 1 against the modem simulator, and the link's ceiling. Prints JSON.

`bench_modem(count)` sends `count` single-part SMS through `ModemTransport` to a simulator with
zero latency (socket:// over loopback, as to an NPort), and measures a bare client loop that
does the same AT+CMGS / prompt / PDU + Ctrl-Z / +CMGS + OK exchange over a raw socket against
the same simulator, building each PDU with the same `build_submit_pdus`. `ratio` = transport /
ceiling; best of `rounds` each, measured alternately.

The simulator runs in a process of its own, as a modem is a device of its own: in the
benchmark's process its Python work would compete with the measured client for the GIL and
blur the comparison.

Run: `.venv/bin/python bench/_modem.py [count]`.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from webapp.simulators.modem import ModemSimulator
from webapp.sms.encoding import build_submit_pdus
from webapp.sms.transports.base import OutgoingSms
from webapp.sms.transports.modem import ModemSettings, ModemTransport
from webapp.sms.transports.window import send_all

RECIPIENT = "+436641234567"


def _texts(count: int) -> list[str]:
    return [f"Benchmark Nachricht {n}: Wasserabsperrung morgen 8-12 Uhr." for n in range(count)]


def _serve(pipe: Connection) -> None:
    """In the child process: run the simulator until told to stop, report the parts it got."""
    with ModemSimulator(latency=0.0) as sim:
        pipe.send(sim.url)
        pipe.recv()
        pipe.send(len(sim.parts))


@contextmanager
def _simulator() -> Iterator[tuple[str, list[int]]]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), daemon=True)
    process.start()
    received: list[int] = []
    try:
        if not ours.poll(30):
            raise RuntimeError("the simulator did not start")
        yield ours.recv(), received
        ours.send("stop")
        if ours.poll(30):
            received.append(ours.recv())
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()


def _transport_rate(url: str, count: int) -> float:
    messages = [OutgoingSms(n, RECIPIENT, text) for n, text in enumerate(_texts(count))]
    transport = ModemTransport(ModemSettings(url=url))
    try:
        send_all(transport, messages[:1])  # connect and initialise outside the timing
        started = time.perf_counter()
        outcomes = send_all(transport, messages)
        elapsed = time.perf_counter() - started
    finally:
        transport.close()
    if not all(outcome.ok for outcome in outcomes):
        raise RuntimeError("not every message was accepted")
    return count / elapsed


def _read_until(sock: socket.socket, buffer: bytearray, marker: bytes) -> None:
    while marker not in buffer:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("simulator closed the connection")
        buffer += data
    del buffer[: buffer.index(marker) + len(marker)]


def _ceiling_rate(url: str, count: int) -> float:
    """The same exchange with nothing around it: no echo, URC or error handling, no outcomes."""
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    texts = _texts(count)
    with socket.create_connection((host, int(port))) as sock:
        buffer = bytearray()
        for command in (b"ATE0\r", b"AT+CMGF=0\r"):
            sock.sendall(command)
            _read_until(sock, buffer, b"OK\r\n")
        started = time.perf_counter()
        for reference, text in enumerate(texts):
            pdu = build_submit_pdus(RECIPIENT, text, reference % 256)[0]
            sock.sendall(b"AT+CMGS=%d\r" % pdu.tpdu_length)
            _read_until(sock, buffer, b"> ")
            sock.sendall(pdu.hex.encode("ascii") + b"\x1a")
            _read_until(sock, buffer, b"OK\r\n")
        elapsed = time.perf_counter() - started
    return count / elapsed


def bench_modem(count: int = 1500, rounds: int = 5) -> dict:
    rates, ceilings = [], []
    with _simulator() as (url, received):
        for _ in range(rounds):
            rates.append(_transport_rate(url, count))
            ceilings.append(_ceiling_rate(url, count))
    expected = rounds * (2 * count + 1)
    if received and received[0] != expected:
        raise RuntimeError(f"the simulator got {received[0]} SMS, not {expected}")
    rate, ceiling = max(rates), max(ceilings)
    return {
        "messages_per_second": round(rate, 1),
        "ceiling_per_second": round(ceiling, 1),
        "ratio": round(rate / ceiling, 3),
    }


if __name__ == "__main__":
    print(json.dumps({"modem": bench_modem(int(sys.argv[1]) if len(sys.argv) > 1 else 1500)}))

"""Throughput of Variante 2: WebsmsTransport against the websms sandbox, and the ceiling.

The ceiling is a bare loop of `requests.Session().post` with the same concurrency and the same
JSON against the same sandbox: what Python's HTTP stack can do here at all. `ratio` is what the
transport (JSON body, outcomes, classification, batch bookkeeping) keeps of it.

By default the sandbox runs in a process of its own (`flask … sim websms` as a subprocess), as
websms is another machine: in one process, client and server share one interpreter lock and the
figure measures that lock more than the transport. `in_process=True` measures that case too.

Targets (2-core machine): ≥ 1000 messages/s, ratio ≥ 0.8.

    .venv/bin/python bench/_websms.py [count]
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

from webapp.simulators.websms import WebsmsSandbox  # noqa: E402
from webapp.sms.transports.base import OutcomeKind, OutgoingSms  # noqa: E402
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport  # noqa: E402
from webapp.sms.transports.window import send_all  # noqa: E402

TOKEN = "bench-token"
TEXT = "Sehr geehrte Damen und Herren, am Montag wird zwischen 8 und 12 Uhr das Wasser abgedreht."


@contextmanager
def _sandbox(in_process: bool):
    if in_process:
        with WebsmsSandbox(token=TOKEN) as sandbox:
            yield sandbox.url
        return
    code = (
        "from webapp.simulators.websms import websms_command; "
        "websms_command(['--port', '0', '--token', sys.argv[1], '--no-auto-report'])"
    )
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", "import sys; " + code, TOKEN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        url = next(word for word in first.split() if word.startswith("http://"))
        yield url
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _transport_rate(url: str, count: int, batch_size: int, concurrency: int) -> float:
    settings = WebsmsSettings(base_url=url, access_token=TOKEN, concurrency=concurrency)
    messages = [OutgoingSms(i, f"+4366{i:09d}", TEXT) for i in range(1, count + 1)]
    with WebsmsTransport(settings) as transport:
        send_all(transport, messages[: min(count, 2 * concurrency)])  # connect the pool
        started = time.perf_counter()
        outcomes = []
        for start in range(0, count, batch_size):
            outcomes += send_all(transport, messages[start : start + batch_size])
        elapsed = time.perf_counter() - started
    refused = [o for o in outcomes if o.kind is not OutcomeKind.ACCEPTED]
    if refused:
        raise RuntimeError(f"{len(refused)} messages not accepted, e.g. {refused[0]}")
    return count / elapsed


def _ceiling_rate(url: str, count: int, concurrency: int) -> float:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=concurrency, pool_block=True))
    endpoint = f"{url}/rest/smsmessaging/text"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def post(i: int) -> Any:
        body = {"recipientAddressList": [f"4366{i:09d}"], "messageContent": TEXT}
        return session.post(endpoint, data=json.dumps(body), headers=headers).json()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(2 * concurrency)))
        started = time.perf_counter()
        answers = list(pool.map(post, range(count)))
        elapsed = time.perf_counter() - started
    session.close()
    if any(answer["statusCode"] != 2000 for answer in answers):
        raise RuntimeError("the sandbox refused a ceiling request")
    return count / elapsed


def bench_websms(
    count: int = 3000,
    batch_size: int = 200,
    concurrency: int = 8,
    rounds: int = 3,
    in_process: bool = False,
) -> dict[str, Any]:
    """Messages per second through WebsmsTransport and the bare-requests ceiling (best of
    `rounds` each, interleaved)."""
    transport_rates, ceiling_rates = [], []
    with _sandbox(in_process) as url:
        for _ in range(rounds):
            transport_rates.append(_transport_rate(url, count, batch_size, concurrency))
            ceiling_rates.append(_ceiling_rate(url, count, concurrency))
    rate, ceiling = max(transport_rates), max(ceiling_rates)
    return {
        "messages_per_second": round(rate, 1),
        "ceiling_per_second": round(ceiling, 1),
        "ratio": round(rate / ceiling, 3),
        "count": count,
        "batch_size": batch_size,
        "concurrency": concurrency,
        "sandbox": "in process" if in_process else "own process",
    }


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    print(json.dumps({"websms": bench_websms(total)}))
    print(json.dumps({"websms_sandbox_in_process": bench_websms(total, in_process=True)}))

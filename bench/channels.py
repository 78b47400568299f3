"""Pooled modems: a whole run of Service SMS through one modem channel, then through four of
equal rank ("parallel zum vorigen Kanal"), each a modem simulator at `--latency` seconds per
SMS (default 0.2). Prints JSON: the messages per second of each run and their ratio (target
≥ 3.5: the four lanes' throughput adds up).

Each simulator runs in a process of its own (a modem is a device of its own: in the run's
process its Python work would compete with the run for the GIL). Both runs are the same
`run_service_sms` on a fresh SQLite database with `--count` queued SMS; only the channel list
differs.

    .venv/bin/python bench/channels.py [--count 200] [--latency 0.2] [--modems 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from multiprocessing.connection import Connection

from sqlalchemy import insert, select

from webapp.simulators.modem import ModemSimulator


def _serve(pipe: Connection, latency: float) -> None:
    """In the child process: run the simulator until told to stop, report what it got."""
    with ModemSimulator(latency=latency) as sim:
        pipe.send(sim.url)
        pipe.recv()
        pipe.send([m.recipient for m in sim.messages()])


@contextmanager
def _simulator(latency: float, received: list[list[str]]) -> Iterator[str]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, latency), daemon=True)
    process.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the simulator did not start")
        yield ours.recv()
        ours.send("stop")
        if ours.poll(30):
            received.append(ours.recv())
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()


def _app(url: str):  # type: ignore[no-untyped-def]
    from webapp import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": tempfile.mkdtemp(),
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


def one_run(urls: list[str], count: int) -> dict[str, float]:
    """A fresh database with `count` queued SMS, a job whose channels are the modems at
    `urls` (all of equal rank), one run: its messages per second."""
    from flask_migrate import upgrade

    from webapp.extensions import db
    from webapp.jobs.channels import ChannelInput, new_channel, save_channel_fields, set_enabled
    from webapp.jobs.runlog import RunLog
    from webapp.jobs.runner import RunContext
    from webapp.jobs.settings_tab import SettingsInput, save_settings
    from webapp.models import Job, JobRun, Mandant, Message, RunStatus
    from webapp.models.base import utcnow
    from webapp.sms.dispatch import run_service_sms
    from webapp.sms.settings import set_global

    app = _app(f"sqlite:///{tempfile.mkdtemp()}/channels.sqlite")
    with app.app_context():
        upgrade()
        session = db.session()
        set_global(session, 1400, "1", "bench")  # a new installation starts with it off
        mandant = Mandant(name="Bench")
        session.add(mandant)
        session.commit()
        now = utcnow()
        session.execute(
            insert(Message.__table__),
            [
                {
                    "mandant_id": mandant.id,
                    "recipient_raw": f"+43664{i:07d}",
                    "recipient": f"+43664{i:07d}",
                    "text": f"Wasserabsperrung morgen 8-12 Uhr, Nr. {i}",
                    "encoding": "GSM-7",
                    "segments": 1,
                    "status": "queued",
                    "attempts": 0,
                    "source": "manual",
                    "error_notification_due": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, count + 1)
            ],
        )
        job = session.scalar(select(Job).where(Job.job_type == "service_sms"))
        key = app.config["SMS_SECRET_KEY"]
        for n, url in enumerate(urls):
            channel = job.channels[0] if n == 0 else new_channel(session, job, "1", "bench")
            save_settings(
                session, job, SettingsInput(variant="1", modem_url=url), "bench", key, channel
            )
            fields = ChannelInput(parallel=n > 0)
            save_channel_fields(session, job, channel, fields, "bench")
            set_enabled(session, job, channel, True, "bench")
        job.active = True
        session.commit()
        run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
        session.add(run)
        session.commit()
        started = time.perf_counter()
        totals = run_service_sms(RunContext(app, session, job, run, RunLog(session, job, run)))
        seconds = time.perf_counter() - started
        db.engine.dispose()
    return {
        "modems": len(urls),
        "sent": totals.sent,
        "seconds": round(seconds, 2),
        "messages_per_second": round(totals.sent / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--modems", type=int, default=4)
    args = parser.parse_args()
    received: list[list[str]] = []
    with ExitStack() as stack:
        urls = [
            stack.enter_context(_simulator(args.latency, received)) for _n in range(args.modems)
        ]
        one = one_run(urls[:1], args.count)
        pooled = one_run(urls, args.count)
    delivered = [recipient for got in received for recipient in got]
    ratio = pooled["messages_per_second"] / one["messages_per_second"]
    print(
        json.dumps(
            {
                "benchmark": "channels",
                "latency_seconds": args.latency,
                "messages": args.count,
                "one_modem": one,
                "pooled": pooled,
                "ratio": round(ratio, 2),
                # every SMS once per run: each recipient delivered exactly twice in all
                "duplicates": len(delivered) - 2 * len(set(delivered)),
                "target": 3.5,
                "meets_target": ratio >= 3.5,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

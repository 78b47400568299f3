"""Variante 1: what the modem received — SMS and status reports — collected by every run of
"Service SMS" after its sending. Each is deleted from the SIM only once it is stored or
applied; a failure here is logged and never fails the sending run."""

from __future__ import annotations

from sqlalchemy.orm import Session

from webapp.jobs.runlog import RunLog
from webapp.models import Job, JobRun
from webapp.sms.inbound import store_from_modem
from webapp.sms.modem_reports import apply_status_reports
from webapp.sms.transports.base import (
    Transport,
    TransportUnavailable,
)


def collect_received(
    session: Session,
    transport: Transport,
    log: RunLog,
    default_region: str = "AT",
) -> int:
    """Store what the modem received, deleting each SMS from the SIM only once it is stored;
    a failure here is logged and does not fail the sending run."""
    receive_into = getattr(transport, "receive_into", None)
    if receive_into is None:
        return 0
    try:
        count: int = receive_into(
            lambda received: store_from_modem(session, received, default_region)
        )
    except TransportUnavailable as error:
        log.error(f"Empfangene SMS konnten nicht gelesen werden: {error.reason}")
        return 0
    if count:
        log.info(f"{count} empfangene SMS gespeichert.")
    return count


def collect_status_reports(
    session: Session,
    job: Job,
    transport: Transport,
    log: RunLog,
    default_region: str = "AT",
) -> int:
    """Variante 1: apply the modem's status reports (+CDS and stored ones) to sent SMS and
    delete the stored ones from the SIM once applied (E2)."""
    take = getattr(transport, "take_status_reports", None)
    if take is None:
        return 0
    poll = getattr(transport, "poll", None)
    linger = getattr(transport, "await_routed_reports", None)
    try:
        if linger is not None:
            linger()  # a modem that routes its reports: the last SMS's may be seconds away
        if poll is not None:
            poll(0.0)  # +CDS that arrived since the last answer
    except TransportUnavailable:
        pass
    reports = take()
    read_stored = getattr(transport, "stored_reports", None)
    if read_stored is not None:
        # the report memory ("SR"), read on every run whether or not Empfang is on: reports
        # stored while no run was connected arrive with the next one (issue 15 point 2)
        try:
            reports += read_stored()
        except TransportUnavailable as error:
            log.error(f"Gespeicherte Statusberichte konnten nicht gelesen werden: {error.reason}")
    if not reports:
        return 0
    applied = apply_status_reports(session, job, reports, log, default_region)  # commits
    by_memory: dict[str | None, list[int]] = {}
    for report in reports:
        if report.index is not None:
            by_memory.setdefault(report.memory, []).append(report.index)
    delete = getattr(transport, "delete", None)
    for memory, indices in by_memory.items():
        if delete is None:
            break
        try:
            if memory is None:
                delete(indices)
            else:
                delete(indices, memory)
        except TransportUnavailable as error:
            log.error(f"Statusberichte konnten nicht vom Modem gelöscht werden: {error.reason}")
    if applied:
        log.info(f"{applied} Statusberichte des Modems verarbeitet.")
    return applied


def record_signal(run: JobRun, transport: Transport) -> bool:
    """Variante 1: store the modem's signal (AT+CSQ) and registration (AT+CREG?) with the run,
    for the Übersicht. Read on every run, also one that found nothing to send (then the run
    opens the connection for it: a TCP connect and the modem's setup, well under a second,
    once a minute — and a modem that stopped answering shows although nobody sends). A modem
    that does not answer leaves the run's reading empty and never fails the run."""
    status = getattr(transport, "status", None)
    if status is None:
        return False
    try:
        reading = status()
    except TransportUnavailable:
        return False
    run.signal_rssi = reading.rssi
    run.registration = reading.registration
    return True

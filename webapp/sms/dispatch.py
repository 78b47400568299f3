"""One run of the job "Service SMS" (SPEC R3–R5, E3, E4; DESIGN.md "Exactly once, nothing lost").

Order of work: expire what is older than a week, recover the leases of dead runs, then claim
due messages in batches, commit "attempt started", hand them to the transport, commit the
outcomes. A message is only ever handed to a transport by the run that holds its lease, after
the start of the attempt is committed: a crash leaves it `sending` with `attempt_started_at`,
and the next run marks it `unknown` instead of sending it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from webapp.jobs.mail import send_mail
from webapp.models import Job, JobRun, Message, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.sms.inbound import (
    apply_status_reports,
    forward_pending,
    settle_early_reports,
    store_from_modem,
)
from webapp.sms.numbers import check_number
from webapp.sms.prefixes import active_prefixes
from webapp.sms.settings import GlobalNumber, get_global
from webapp.sms.transports.base import (
    Outcome,
    OutcomeKind,
    OutgoingSms,
    Transport,
    TransportUnavailable,
)

MAX_AGE = timedelta(days=7)  # R4: never send what waited longer than a week
BATCH_SIZE = 200
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# A lease whose run has not beaten its heart for this long belongs to a dead run.
DEAD_RUN_AFTER = timedelta(minutes=5)


@dataclass
class RunTotals:
    expired: int = 0
    recovered_queued: int = 0
    recovered_unknown: list[int] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0


def _scope(job: Job):  # type: ignore[no-untyped-def]
    """The job's Mandanten: none chosen means all of them."""
    ids = [m.id for m in job.mandanten]
    return Message.mandant_id.in_(ids) if ids else True


def expire_old(session: Session, job: Job, now: datetime) -> int:
    """Queued messages older than a week end as `expired` (R4)."""
    result = session.execute(
        update(Message)
        .where(
            Message.status == MessageStatus.QUEUED,
            Message.created_at < now - MAX_AGE,
            _scope(job),
        )
        .values(
            status=MessageStatus.EXPIRED,
            reason="Älter als eine Woche: wird nicht mehr versendet.",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0


def recover_dead_leases(session: Session, own_run_key: str, now: datetime) -> tuple[int, list[int]]:
    """Leases of runs that died: never-started attempts go back to `queued`, started ones
    become `unknown` (they may have reached the provider; never resent automatically)."""
    alive = select(JobRun.run_key).where(
        JobRun.status == RunStatus.RUNNING, JobRun.heartbeat_at >= now - DEAD_RUN_AFTER
    )
    orphaned = and_(
        Message.status == MessageStatus.SENDING,
        Message.run_key != own_run_key,
        or_(Message.run_key.is_(None), Message.run_key.not_in(alive)),
    )
    back = session.execute(
        update(Message)
        .where(orphaned, Message.attempt_started_at.is_(None))
        .values(status=MessageStatus.QUEUED, run_key=None, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    unknown_ids = list(
        session.scalars(select(Message.id).where(orphaned, Message.attempt_started_at.is_not(None)))
    )
    if unknown_ids:
        session.execute(
            update(Message)
            .where(Message.id.in_(unknown_ids))
            .values(
                status=MessageStatus.UNKNOWN,
                reason="Der Versand wurde unterbrochen (Absturz oder Zeitüberschreitung); die "
                "SMS kann angekommen sein. Bitte prüfen und bei Bedarf erneut versenden.",
                run_key=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return back or 0, unknown_ids


def claim(session: Session, job: Job, run_key: str, now: datetime, limit: int) -> list[Message]:
    """Take up to `limit` due messages under this run's lease (committed).

    One UPDATE of rows still `queued`: on PostgreSQL from a CTE that skips rows other runs have
    locked (FOR UPDATE SKIP LOCKED); on SQLite the statement is one write transaction.
    """
    due = (
        select(Message.id)
        .where(
            Message.status == MessageStatus.QUEUED,
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            Message.created_at >= now - MAX_AGE,
            _scope(job),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    claiming = dict(status=MessageStatus.SENDING, run_key=run_key, claimed_at=now, updated_at=now)
    if session.get_bind().dialect.name == "postgresql":
        # A materialized CTE: an IN (… LIMIT … FOR UPDATE SKIP LOCKED) subquery may be run
        # again by the planner and then lock and claim more than `limit` rows.
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        statement = (
            update(Message)
            .where(Message.id == picked.c.id, Message.status == MessageStatus.QUEUED)
            .values(**claiming)
        )
    else:
        statement = (
            update(Message)
            .where(Message.id.in_(due.scalar_subquery()), Message.status == MessageStatus.QUEUED)
            .values(**claiming)
        )
    claimed = list(
        session.scalars(
            statement.returning(Message.id).execution_options(synchronize_session=False)
        )
    )
    session.commit()
    if not claimed:
        return []
    return list(
        session.scalars(select(Message).where(Message.id.in_(claimed)).order_by(Message.id))
    )


def _backoff(attempts: int) -> timedelta:
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def record(session: Session, message: Message, outcome: Outcome, now: datetime) -> None:
    """Apply one outcome to its message and release the lease."""
    message.run_key = None
    if outcome.kind is OutcomeKind.ACCEPTED:
        message.status = MessageStatus.SENT
        message.provider_ref = outcome.provider_ref
        message.sent_at = now
        message.reason = None
        message.error_code = None
        if outcome.segments:
            message.segments = outcome.segments
    elif outcome.kind is OutcomeKind.TRANSIENT:
        message.status = MessageStatus.QUEUED
        message.next_attempt_at = now + _backoff(message.attempts)
        message.attempt_started_at = None
        message.reason = outcome.reason
        message.error_code = outcome.code
    elif outcome.kind is OutcomeKind.PERMANENT:
        message.status = MessageStatus.FAILED
        message.reason = outcome.reason
        message.error_code = outcome.code
    else:
        message.status = MessageStatus.UNKNOWN
        message.reason = outcome.reason
        message.error_code = outcome.code


def send_claimed(
    session: Session,
    transport: Transport,
    messages: Sequence[Message],
    now: datetime,
    default_region: str,
    totals: RunTotals,
) -> list[Outcome]:
    """Check numbers again, commit the attempt start, send, commit the outcomes."""
    sendable: list[Message] = []
    prefixes = active_prefixes(session)  # once per batch
    for message in messages:
        parsed = check_number(session, message.recipient_raw, default_region, prefixes)
        if not parsed.ok:  # table 93001 changed since it was queued: no provider contact
            message.status = MessageStatus.FAILED
            message.reason = parsed.reason
            message.error_code = str(parsed.problem)
            message.error_notification_due = True
            message.run_key = None
            totals.failed += 1
            continue
        message.attempts += 1
        message.attempt_started_at = now
        sendable.append(message)
    session.commit()  # "attempt started" is durable before anything leaves the building
    if not sendable:
        return []
    try:
        outcomes = transport.send_batch(
            [OutgoingSms(m.id, m.recipient or "", m.text) for m in sendable]
        )
    except TransportUnavailable:
        # Nothing was tried (the contract of TransportUnavailable): hand them back untouched.
        for message in sendable:
            message.status = MessageStatus.QUEUED
            message.attempts -= 1
            message.attempt_started_at = None
            message.run_key = None
        session.commit()
        raise
    by_id = {o.message_id: o for o in outcomes}
    done = utcnow()
    for message in sendable:
        outcome = by_id.get(message.id) or Outcome(
            message.id, OutcomeKind.UNKNOWN, reason="Der Transport meldete kein Ergebnis."
        )
        record(session, message, outcome, done)
        if outcome.kind is OutcomeKind.ACCEPTED:
            totals.sent += 1
        elif outcome.kind is OutcomeKind.TRANSIENT:
            totals.retried += 1
        elif outcome.kind is OutcomeKind.PERMANENT:
            totals.failed += 1
        else:
            totals.unknown += 1
    session.commit()
    return outcomes


def notify_number_problems(app: Flask, session: Session, now: datetime) -> int:
    """One e-mail per run to global 1401 listing the refused numbers not reported yet."""
    pending = list(
        session.scalars(
            select(Message)
            .where(Message.error_notification_due.is_(True), Message.error_notified_at.is_(None))
            .order_by(Message.id)
        )
    )
    if not pending:
        return 0
    address = get_global(session, GlobalNumber.SMS_ERROR_EMAIL).strip()
    if address:
        lines = [
            f"SMS {m.id} an „{m.recipient_raw}“ ({m.mandant.name}): {m.reason}" for m in pending
        ]
        body = (
            "Folgende SMS konnten wegen der Mobilfunknummer nicht versendet werden:\n\n"
            + "\n".join(lines)
            + "\n"
        )
        if not send_mail(app, address, f"SMS-Modul: {len(pending)} SMS mit Nummernfehler", body):
            return 0  # try again next run
    for message in pending:
        message.error_notified_at = now
    session.commit()
    return len(pending)


def receives(job: Job) -> bool:
    """Variante 1 with "Empfang" on: each run also reads the SMS the modem received."""
    from webapp.jobs.jobs import VARIANT_MODEM, stored_settings

    stored = stored_settings(job)
    return stored["variant"] == VARIANT_MODEM and bool(stored["modem"]["receive"])


def collect_received(
    session: Session,
    transport: Transport,
    log,  # type: ignore[no-untyped-def]
    default_region: str = "AT",
) -> int:
    """Store what the modem received, deleting each SMS from the SIM only once it is stored;
    a failure here is logged and does not fail the sending run."""
    receive_into = getattr(transport, "receive_into", None)
    if receive_into is None:
        return 0
    try:
        count = receive_into(lambda received: store_from_modem(session, received, default_region))
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
    log,  # type: ignore[no-untyped-def]
    default_region: str = "AT",
) -> int:
    """Variante 1: apply the modem's status reports (+CDS and stored ones) to sent SMS and
    delete the stored ones from the SIM once applied (E2)."""
    take = getattr(transport, "take_status_reports", None)
    if take is None:
        return 0
    poll = getattr(transport, "poll", None)
    try:
        if poll is not None:
            poll(0.0)  # +CDS that arrived since the last answer
    except TransportUnavailable:
        pass
    reports = take()
    if not reports:
        return 0
    applied = apply_status_reports(session, job, reports, log, default_region)
    stored = [r.index for r in reports if r.index is not None]
    delete = getattr(transport, "delete", None)
    if stored and delete is not None:
        try:
            delete(stored)
        except TransportUnavailable as error:
            log.error(f"Statusberichte konnten nicht vom Modem gelöscht werden: {error.reason}")
    if applied:
        log.info(f"{applied} Statusberichte des Modems verarbeitet.")
    return applied


PIN_REJECTED_REASON = (
    "Die SIM-PIN wurde vom Modem abgelehnt und wird nicht erneut versucht (sonst sperrt die "
    "SIM). Bitte die richtige PIN in den Job-Einstellungen eintragen."
)


def remember_rejected_pin(session: Session, job: Job) -> None:
    """Store that the SIM refused the PIN: no later run (a new process) may send it again."""
    session.rollback()
    settings = dict(job.settings or {})
    settings["modem"] = {**(settings.get("modem") or {}), "pin_rejected": True}
    job.settings = settings
    session.commit()


def open_transport(app: Flask, job: Job) -> Transport:
    """The transport of the job's Einstellungen (Variante 1 modem, Variante 2 websms)."""
    from webapp.jobs.jobs import job_settings

    if (job.settings or {}).get("modem", {}).get("pin_rejected") and (
        (job.settings or {}).get("variant") == 1
    ):
        raise TransportUnavailable(PIN_REJECTED_REASON)

    settings = job_settings(job, app.config.get("SMS_SECRET_KEY", ""))
    if type(settings).__name__ == "ModemSettings":
        from webapp.sms.transports.modem import ModemTransport

        return ModemTransport(settings)
    from webapp.sms.transports.websms import WebsmsTransport

    return WebsmsTransport(settings)


def run_service_sms(ctx, transport: Transport | None = None) -> RunTotals:  # type: ignore[no-untyped-def]
    """The job function of "Service SMS" (registered in webapp.jobs.registry)."""
    session, job, run, log, app = ctx.session, ctx.job, ctx.run, ctx.log, ctx.app
    region = app.config["DEFAULT_PHONE_REGION"]
    batch_size = app.config.get("SMS_DISPATCH_BATCH", BATCH_SIZE)
    totals = RunTotals()
    now = utcnow()
    totals.expired = expire_old(session, job, now)
    if totals.expired:
        log.warning(f"{totals.expired} SMS älter als eine Woche: als „Abgelaufen“ markiert.")
    totals.recovered_queued, totals.recovered_unknown = recover_dead_leases(
        session, run.run_key, now
    )
    if totals.recovered_unknown:
        ids = ", ".join(str(i) for i in totals.recovered_unknown)
        log.error(f"Versand unterbrochen, Ergebnis unklar: SMS {ids}.")
        send_mail(
            app,
            job.failure_email,
            f"SMS-Modul: {len(totals.recovered_unknown)} SMS mit unklarem Ergebnis",
            "Ein Lauf wurde während des Versands unterbrochen. Diese SMS können angekommen "
            f"sein und werden nicht automatisch erneut versendet: {ids}.\n",
        )
    transport = transport or open_transport(app, job)
    stop_reason: str | None = None
    try:
        while stop_reason is None:
            batch = claim(session, job, run.run_key, utcnow(), batch_size)
            if not batch:
                break
            run.total += len(batch)
            outcomes = send_claimed(session, transport, batch, utcnow(), region, totals)
            settle_early_reports(
                session, [o.message_id for o in outcomes if o.kind is OutcomeKind.ACCEPTED]
            )
            for outcome in outcomes:
                if outcome.kind is OutcomeKind.PERMANENT:
                    log.warning(f"SMS {outcome.message_id}: {outcome.reason}")
                elif outcome.kind is OutcomeKind.UNKNOWN:
                    log.error(f"SMS {outcome.message_id}: {outcome.reason}")
                if outcome.fails_run:
                    stop_reason = outcome.reason
            run.sent, run.failed, run.retried = totals.sent, totals.failed, totals.retried
            ctx.heartbeat()
            session.commit()
        if stop_reason is None and receives(job):
            collect_received(session, transport, log, region)
        if stop_reason is None:
            collect_status_reports(session, job, transport, log, region)
    except TransportUnavailable as error:
        if getattr(error, "pin_rejected", False):
            remember_rejected_pin(session, job)
        raise
    finally:
        transport.close()
    forward_pending(app, session, job, log)
    notify_number_problems(app, session, utcnow())
    log.info(
        f"Lauf beendet: {totals.sent} versendet, {totals.failed} Fehler, "
        f"{totals.retried} später erneut, {totals.unknown} unklar."
    )
    session.commit()
    if stop_reason:
        raise TransportUnavailable(stop_reason)
    return totals

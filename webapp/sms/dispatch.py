"""One run of the job "Service SMS" (SPEC R3–R5, E3, E4, E9; DESIGN.md "Exactly once").

The unit is the SMS. A run expires what is older than a week and recovers the leases of dead
runs; then it keeps the window of each of its lanes full (one lane per channel, see
`webapp.sms.lanes`; 1 SMS for a modem, the websms concurrency):
it claims a few due SMS under its lease, commits "attempt started" for an SMS just before it
hands it to the transport, and commits each outcome as soon as the transport reports it.
Outcomes that come back together share one commit with the attempt start of the SMS that take
their slots, so a crash leaves at most the window `sending` with an attempt started: the next
run marks those `unknown` (they may have reached the provider; never resent automatically) and
puts every other claimed SMS back to `queued`.

The run beats its heart every few seconds whatever the transport's pace, and no transaction
stays open while it waits for the modem or websms. It stops claiming when its time budget is
used (the next run goes on), when the process is asked to stop (SIGTERM), or when no lane is
left: an outcome that says a channel must stop (`fails_run`) or a link that stays broken stops
that lane only, its SMS go through the others. The SMS in flight are finished and every SMS
claimed but not started goes back to `queued`.

The writes to the SMS table (expiry, recovery, claims, attempt starts, outcomes, hand back)
are in `webapp.sms.leases`; what the modem received is collected by `webapp.sms.modem_inbox`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session

from webapp.jobs.channels import mark_failed, mark_ok, run_channels
from webapp.jobs.housekeeping import Retention, prune_if_due
from webapp.jobs.mail import send_mail
from webapp.jobs.queues import redis_connection
from webapp.jobs.settings import (
    Variant,
    channel_settings,
    mark_pin_rejected,
    receives,
    transport_settings,
)
from webapp.jobs.stopping import RunAborted, stop_requested
from webapp.models import Channel, Job, JobRun, Message
from webapp.models.base import utcnow
from webapp.sms.inbound import (
    forward_pending,
    settle_early_reports,
)
from webapp.sms.lanes import Lane, Lanes
from webapp.sms.leases import (
    BATCH_SIZE,
    Claimed,
    Writes,
    claim,
    count_due,
    expire_old,
    hand_back,
    job_mandant_ids,
    recover_dead_leases,
)
from webapp.sms.metrics import NOT_TRIED, TransportTally
from webapp.sms.modem_inbox import collect_received, collect_status_reports, record_signal
from webapp.sms.numbers import check_number
from webapp.sms.overview import keep_current
from webapp.sms.prefixes import active_prefixes
from webapp.sms.settings import GlobalNumber, get_global, sms_service_refusal
from webapp.sms.transports.base import (
    Outcome,
    OutcomeKind,
    OutgoingSms,
    Transport,
    TransportUnavailable,
)
from webapp.sms.transports.modem import ModemSettings, ModemTransport
from webapp.sms.transports.websms import WebsmsTransport
from webapp.sms.transports.window import Finished

if TYPE_CHECKING:
    from webapp.jobs.runner import RunContext

logger = logging.getLogger(__name__)

# A claim holds about this many seconds of sending at the run's pace (at least the window):
# a modem claims one or two SMS at a time, websms up to SMS_DISPATCH_BATCH.
CLAIM_SECONDS = 2.0
# The counters of the run (progress of "Jetzt ausführen") are written at most this often.
PROGRESS_EVERY = 0.5
# With a window of several SMS, outcomes are gathered this long (or until half the window is
# back) to share one commit: fewer commits keep the run's own work small beside the sending.
GATHER_SECONDS = 0.002
# How long a run waits for a database that went away (restart, failover) before it gives up.
DATABASE_OUTAGE_SECONDS = 120.0
# Delivery reports that overtook the run's commit of "sent" are applied this often.
SETTLE_EVERY = 1.0


@dataclass
class RunTotals:
    expired: int = 0
    recovered_queued: int = 0
    recovered_unknown: list[int] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    handed_back: int = 0  # claimed, never started, back to `queued` at the end
    budget_used: bool = False  # stopped claiming because the time budget was used
    stopped: bool = False  # stopped because the process was asked to (SIGTERM)


class SendRun:
    """The sending part of one run: claims, keeps the window full, records outcomes."""

    def __init__(self, ctx: RunContext, lanes: Lanes, totals: RunTotals) -> None:
        app = ctx.app
        # One lane per channel (webapp.sms.lanes): each SMS is placed on one, each attempt
        # records its channel; a lane that fails stops alone.
        self.lanes = lanes
        self.ctx = ctx
        self.session: Session = ctx.session
        self.totals = totals
        self.run_id: int = ctx.run.id
        self.run_key: str = ctx.run.run_key
        self.mandant_ids = job_mandant_ids(ctx.job)
        self.region: str = app.config["DEFAULT_PHONE_REGION"]
        self.timezone: str = app.config["TIMEZONE"]
        self.max_claim: int = max(1, int(app.config.get("SMS_DISPATCH_BATCH", BATCH_SIZE)))
        self.heartbeat_every = ctx.heartbeat_seconds
        budget = ctx.budget_seconds
        self.started = time.monotonic()
        self.deadline = self.started + budget if budget > 0 else None
        self.tally = TransportTally()  # latency and outcomes for /metrics, added to Redis
        self.claimed: deque[Claimed] = deque()
        self.stranded: list[Claimed] = []  # every lane serving them failed: handed back
        # lanes that failed, their channel's state not written yet (reason, when)
        self.failed_lanes: list[tuple[Lane, str, datetime]] = []
        self.in_flight: dict[int, Claimed] = {}
        self.writes = Writes(self.run_key)
        self.starting: list[Claimed] = []  # attempt start written, not committed yet
        # The SMS statements of each commit go through a connection of the run's own, not the
        # ORM session (whose every commit costs more than the statements); on PostgreSQL in
        # autocommit mode, one round trip instead of BEGIN, statement, COMMIT (each statement
        # is atomic by itself; nothing else of the run writes these rows meanwhile).
        self.autocommit = self.session.get_bind().dialect.name == "postgresql"
        self.hot: Connection | None = None
        self._connect_hot()
        self.sent_ids: list[int] = []  # for settle_early_reports
        self.log_lines: list[tuple[str, str]] = []
        self.prefixes: tuple[str, ...] = ()
        self.queue_empty = False
        self.stop_reason: str | None = None  # why no more SMS are handed over
        self.failure: str | None = None  # the run fails with this reason
        self.unavailable: TransportUnavailable | None = None
        self.lock_lost = False
        self.total = 0
        self.done = 0
        now = time.monotonic()
        self.next_heartbeat = now + self.heartbeat_every
        self.next_progress = now
        self.next_settle = now + SETTLE_EVERY

    def _session_busy(self) -> bool:
        """Whether the ORM session has begun a transaction or holds new objects (then it has
        something to commit; its commit is skipped otherwise: it costs more than a write)."""
        session = self.session
        inner = session.registry() if isinstance(session, scoped_session) else session
        return inner.in_transaction() or bool(inner.new)

    def _connect_hot(self) -> None:
        # The app's sessions are bound to the engine, never to one connection.
        engine = cast(Engine, self.session.get_bind())
        fresh = engine.connect()
        if self.autocommit:
            fresh = fresh.execution_options(isolation_level="AUTOCOMMIT")
        if self.hot is not None:
            with contextlib.suppress(DBAPIError):
                self.hot.close()
        self.hot = fresh

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        session = self.session
        self.total = count_due(session, self.mandant_ids, utcnow())
        self._write_progress(force=True)
        session.commit()
        failed = True
        try:
            while True:
                try:
                    self._check_stop()
                    self._hand_over()
                    if self.lanes.in_flight == 0 and (
                        self.stop_reason is not None or (self.queue_empty and not self.claimed)
                    ):
                        break
                    self._collect()
                    self._beat_if_due()
                except DBAPIError as error:
                    self._outage(error)
            failed = False
        finally:
            self._finish(failed)

    def _check_stop(self) -> None:
        if self.stop_reason is not None:
            return
        if stop_requested():
            self.totals.stopped = True
            self._stop(_("Der Lauf wurde angehalten (Stopp-Signal, z. B. Neustart des Workers)."))
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            self.totals.budget_used = True
            self._stop(
                _("Das Zeitbudget des Laufs ist aufgebraucht; der nächste Lauf sendet weiter.")
            )

    def _stop(self, reason: str, failure: bool = False) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if failure and self.failure is None:
            self.failure = reason

    def _room(self) -> int:
        return 0 if self.stop_reason is not None else self.lanes.room()

    def _claim_size(self) -> int:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        return max(self.lanes.size, min(self.max_claim, int(rate * CLAIM_SECONDS)))

    def _hand_over(self) -> None:
        """Commit what came back together with the attempt start of the SMS that fill the free
        slots, then hand those to the transport."""
        session = self.session
        room = self._room()
        if room > 0 and len(self.claimed) < room and not self.queue_empty:
            self._flush()  # a claim is a transaction of its own
            more = claim(
                session,
                self.mandant_ids,
                self.run_key,
                utcnow(),
                self._claim_size(),
                self.timezone,  # the hour and day of the Mandanten's limits
            )
            if not more:
                self.queue_empty = True
            self.claimed.extend(more)
            if len(more):
                self.prefixes = tuple(active_prefixes(session))  # 93001 may have changed
                session.commit()
            claimed_so_far = self.done + len(self.in_flight) + len(self.claimed)
            if claimed_so_far > self.total:
                self.total = claimed_so_far  # queued meanwhile
        now = utcnow()
        chosen: list[tuple[Claimed, Lane]] = []
        waiting: list[Claimed] = []  # no room on their lane now: others may pass them
        candidate: Claimed | None = None
        try:
            while room > 0 and self.claimed:
                candidate = self.claimed.popleft()
                problem = self._number_problem(candidate)
                if problem is None and not self.lanes.served_at_all(candidate):
                    problem = (
                        _(
                            "Kein Kanal darf an diese Nummer senden (Einstellungen – Kanäle, "
                            "Nur an diese Nummern)."
                        ),
                        "no_channel",
                    )
                if problem is not None:
                    self.writes.add_refused(candidate, *problem, now)
                    self.totals.failed += 1
                    self.done += 1
                    continue
                if not self.lanes.candidates(candidate):
                    self.stranded.append(candidate)  # every lane serving it failed
                    continue
                lane = self.lanes.place(candidate)
                if lane is None:
                    waiting.append(candidate)
                    continue
                if lane.window is None and not self._open(lane):
                    self.claimed.appendleft(candidate)  # placed anew on the lanes left
                    room = self._room()
                    continue
                chosen.append((candidate, lane))
                lane.reserved += 1
                room -= 1
        except DBAPIError:
            # The database went away (a number check, opening a lane): nothing was handed
            # over; all of them wait in `claimed` again (the outage handling goes on).
            back = [c for c, _lane in chosen] + waiting + ([candidate] if candidate else [])
            self.claimed.extendleft(reversed(back))
            for lane in self.lanes:
                lane.reserved = 0
            raise
        self.claimed.extendleft(reversed(waiting))
        for lane in self.lanes:
            lane.reserved = 0
        self.starting = [c for c, _lane in chosen]
        start: dict[int | None, list[int]] = {}
        for candidate, lane in chosen:
            start.setdefault(lane.channel_id, []).append(candidate.id)
        started = self._flush(start, now)
        self.starting = []
        for candidate, lane in chosen:
            if candidate.id not in started:
                continue  # no longer ours (our run was declared dead meanwhile): never send
            assert lane.window is not None
            self.in_flight[candidate.id] = candidate
            sms = OutgoingSms(candidate.id, candidate.recipient or "", candidate.text)
            lane.window.submit(sms, tag=lane)

    def _open(self, lane: Lane) -> bool:
        """Open the lane's transport; a lane that cannot be opened fails (False)."""
        try:
            lane.open(self.lanes.done)
        except TransportUnavailable as error:
            self._lane_failed(lane, error.reason, error)
            return False
        return True

    def _number_problem(self, claimed: Claimed) -> tuple[str, str] | None:
        """Why the number may not be sent to now (table 93001 changed since it was queued)."""
        digits = (claimed.recipient or "").removeprefix("+")
        if digits and self.prefixes and digits.startswith(self.prefixes):
            return None
        parsed = check_number(self.session, claimed.recipient_raw, self.region, self.prefixes)
        if parsed.ok:
            return None
        return parsed.reason or "", str(parsed.problem)

    def _collect(self) -> None:
        """Wait for outcomes until the next heartbeat is due (or a probe may go out)."""
        until = self.next_heartbeat
        if self.stop_reason is None:
            for lane in self.lanes.live():
                pace = lane.pace
                if pace is not None and pace.probing and lane.in_flight == 0:
                    until = min(until, pace.not_before)  # a probe may go out then
        timeout = max(0.0, until - time.monotonic())
        if self.lanes.in_flight == 0:
            if timeout > 0:
                time.sleep(min(timeout, 0.5))  # pausing before a probe: keep beating
            return
        size = self.lanes.size
        gather = GATHER_SECONDS if size > 1 else 0.0
        finished_now = self.lanes.collect(timeout, gather, max(1, size // 2))
        now = utcnow()
        for finished in finished_now:
            self._record(finished, now)

    def _record(self, finished: Finished, now: datetime) -> None:
        claimed = self.in_flight.pop(finished.sms.message_id)
        lane = finished.tag
        assert isinstance(lane, Lane) and lane.transport is not None and lane.pace is not None
        error = finished.unavailable
        outcome_class = NOT_TRIED if finished.outcome is None else finished.outcome.kind.value
        self.tally.observe(lane.transport.name, finished.seconds, outcome_class)
        if error is not None:  # certainly not sent: back to the queue as it was
            reason = _("Nicht versucht: %(reason)s", reason=error.reason)
            code = getattr(error, "code", None)
            self.writes.add_untried(claimed, reason, code, now, lane.channel_id)
            if error.fails_run or not lane.any_answer:
                # unusable (from the start): the lane fails as a whole at once
                self._lane_failed(lane, error.reason, error)
            else:
                self._halted(lane, error.reason)
            if lane.failed and self.lanes.candidates_ignoring_limit(claimed):
                self.queue_empty = False  # due again at once: another lane claims it
            else:
                self.totals.handed_back += 1
            return
        outcome = finished.outcome
        assert outcome is not None
        self.done += 1
        lane.any_answer = True
        kind = outcome.kind
        moves_on = False
        if kind is OutcomeKind.TRANSIENT and self.lanes.other_lane_for(claimed, lane):
            in_a_row = 1 + (
                claimed.channel_transients if claimed.channel_id == lane.channel_id else 0
            )
            moves_on = outcome.fails_run or outcome.halts or in_a_row >= self.lanes.transients_limit
        lane.settled = lane.settled or kind is not OutcomeKind.TRANSIENT
        self.writes.add(claimed, outcome, now, lane.channel_id, failover=moves_on)
        if moves_on:
            self.queue_empty = False  # due at once: claimed again, placed on another lane
        if kind is OutcomeKind.ACCEPTED:
            self.totals.sent += 1
            self.sent_ids.append(claimed.id)
        elif kind is OutcomeKind.TRANSIENT:
            self.totals.retried += 1
        elif kind is OutcomeKind.PERMANENT:
            self.totals.failed += 1
            self.log_lines.append(("warning", f"SMS {claimed.id}: {outcome.reason}"))
        else:
            self.totals.unknown += 1
            self.log_lines.append(("error", f"SMS {claimed.id}: {outcome.reason}"))
        if outcome.fails_run:
            self._lane_failed(lane, outcome.reason or "")
        elif outcome.halts:
            self._halted(lane, outcome.reason or "")
        else:
            lane.pace.answered()

    def _halted(self, lane: Lane, reason: str) -> None:
        """The lane's link looks broken: its next SMS goes alone after a pause; after a few
        the lane fails."""
        assert lane.pace is not None
        if lane.pace.halted():
            self._lane_failed(lane, reason)

    def _lane_failed(
        self, lane: Lane, reason: str, error: TransportUnavailable | None = None
    ) -> None:
        """The lane stops (what stopped a whole run before channels): its channel's state is
        written, its SMS go to the lanes left; the run fails only when none is left."""
        if lane.failed:
            return
        lane.failed = True
        lane.failure = reason
        lane.unavailable = error
        if lane.channel is not None:
            # written with the next commit (no database access here: it may be gone)
            self.failed_lanes.append((lane, reason, utcnow()))
        if self.lanes.live():
            self.log_lines.append(
                (
                    "warning",
                    f"Kanal {lane.position} gestört: {reason} Die SMS gehen über die anderen "
                    "eingeschalteten Kanäle.",
                )
            )
            return
        if error is not None:
            self.unavailable = error
        self._stop(reason, failure=True)

    def _flush(
        self, start: Mapping[int | None, Sequence[int]] | None = None, now: datetime | None = None
    ) -> set[int]:
        """Write the staged outcomes, the attempt start of `start`, the log lines and the
        progress; commit. What was staged is kept until the commit succeeded. Returns the ids
        of `start` this run may hand over."""
        session = self.session
        # The session's part first (Errorlog lines, progress, a heartbeat), committed before
        # the SMS are written: SQLite has one writer at a time, and it must not be the session
        # while the run's own connection writes.
        for level, line in self.log_lines:
            getattr(self.ctx.log, level)(line)
        for lane, reason, at in self.failed_lanes:
            assert lane.channel is not None
            error = lane.unavailable
            if error is not None and getattr(error, "pin_rejected", False):
                mark_pin_rejected(self.ctx.job, lane.channel)
            mark_failed(lane.channel, reason, at)
        self._write_progress()
        if self._session_busy():
            session.commit()
        self.log_lines.clear()
        self.failed_lanes.clear()
        started: set[int] = set()
        if self.writes or start:
            assert self.hot is not None
            started = self.writes.execute(self.hot, start, now)
            if not self.autocommit:
                self.hot.commit()
        self.writes.clear()
        if self.sent_ids and time.monotonic() >= self.next_settle:
            self._settle()
        return started

    def _outage(self, error: DBAPIError) -> None:
        """The database went away (restart, failover, a lock held too long): hand over
        nothing, keep the outcomes of the SMS in flight in memory, keep the lock, and write
        everything once the database answers again (at most DATABASE_OUTAGE_SECONDS)."""
        self.session.rollback()
        if self.hot is not None:
            with contextlib.suppress(DBAPIError):
                self.hot.rollback()
        if not _database_gone(error):
            raise error
        # These were not handed over (their attempt start may or may not have been written:
        # the next try finds out, see leases._started).
        self.claimed.extendleft(reversed(self.starting))
        self.starting = []
        began = time.monotonic()
        logger.warning("run %s: database unreachable (%s); waiting", self.run_key, error.orig)
        pause = 0.5
        while True:
            if self.lanes.in_flight:
                for finished in self.lanes.collect(pause):
                    self._record(finished, utcnow())
            else:
                time.sleep(pause)
            try:
                if time.monotonic() >= self.next_heartbeat:
                    self.next_heartbeat = time.monotonic() + self.heartbeat_every
                    self.ctx.heartbeat()  # the lock first, then the database
                self._connect_hot()  # a fresh one (on PostgreSQL in autocommit mode again)
                self._flush()
            except DBAPIError as again:
                self.session.rollback()
                if not _database_gone(again) or time.monotonic() - began > DATABASE_OUTAGE_SECONDS:
                    raise
                pause = min(pause * 2, 5.0)
                continue
            break
        seconds = time.monotonic() - began
        logger.warning("run %s: database back after %.1f s", self.run_key, seconds)
        self.ctx.log.warning(
            f"Die Datenbank war {seconds:.0f} s nicht erreichbar; der Lauf hat gewartet und "
            "nichts verloren."
        )

    def _settle(self) -> None:
        settle_early_reports(self.session, self.sent_ids)
        self.sent_ids = []
        self.next_settle = time.monotonic() + SETTLE_EVERY

    def _write_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self.next_progress:
            return
        self.next_progress = now + PROGRESS_EVERY
        t = self.totals
        runs = cast(Table, JobRun.__table__)  # a FromClause to the type checker
        self.session.connection().execute(
            update(runs)
            .where(runs.c.id == self.run_id)
            .values(total=self.total, sent=t.sent, failed=t.failed, retried=t.retried)
        )

    def _beat_if_due(self) -> None:
        now = time.monotonic()
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + self.heartbeat_every
        if self.ctx.heartbeat() is False:
            self.lock_lost = True
            self._stop(
                _("Die Sperre des Jobs ging verloren: ein anderer Lauf sendet; dieser hört auf.")
            )
        self._flush()
        self.tally.flush(redis_connection(self.ctx.app))

    def _finish(self, failed: bool) -> None:
        """Let the SMS in flight finish and record them; hand back what was not started.
        After an error (`failed`: the database may be gone) only the hand-back is tried: the
        next run recovers whatever this one could not record."""
        try:
            if failed:
                self.session.rollback()
                if self.hot is not None:
                    with contextlib.suppress(DBAPIError):
                        self.hot.rollback()
            else:
                while self.lanes.in_flight:
                    try:
                        self._collect()
                        self._beat_if_due()
                    except DBAPIError as error:
                        self._outage(error)
                self.next_progress = 0.0  # the final counts
                self._flush()
                if self.sent_ids:
                    self._settle()
            # The SMS whose attempt start was not committed (an error in that very commit)
            # go back too: they were never handed over.
            left = [c.id for c in (*self.starting, *self.claimed, *self.stranded)]
            self.claimed.clear()
            self.stranded.clear()
            self.starting = []
            self.totals.handed_back += hand_back(self.session, self.run_key, left, utcnow())
        except Exception:
            if not failed:
                raise
            logger.exception("run %s: could not hand back its claimed SMS", self.run_key)
        finally:
            self.lanes.close()
            if self.hot is not None:
                with contextlib.suppress(DBAPIError):
                    self.hot.close()
            self.tally.flush(redis_connection(self.ctx.app))


def _database_gone(error: DBAPIError) -> bool:
    """A lost connection or a server that does not answer (OperationalError), as opposed to a
    wrong statement or a broken constraint."""
    return bool(error.connection_invalidated) or isinstance(error, OperationalError)


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


PIN_REJECTED_REASON = (
    "Die SIM-PIN wurde vom Modem abgelehnt und wird nicht erneut versucht (sonst sperrt die "
    "SIM). Bitte die richtige PIN in den Job-Einstellungen eintragen."
)


class NoChannel:
    """The transport of a job whose channels are all switched off: like a job without settings,
    the first SMS stops the run (handed back untouched) with the reason."""

    name = "kein Kanal"
    window = 1

    def send(self, sms: OutgoingSms) -> Outcome:
        """Never sends: the run stops, the SMS stays queued."""
        raise TransportUnavailable(
            _(
                "Kein Kanal ist eingeschaltet: Der Job versendet nichts, die SMS bleiben in der "
                "Warteschlange. Bitte in den Job-Einstellungen unter „Kanäle“ einen Kanal "
                "aktivieren."
            ),
            fails_run=True,
        )

    def close(self) -> None:
        """Nothing to release."""


def remember_rejected_pin(session: Session, job: Job, channel: Channel | None) -> None:
    """Store that the SIM refused the PIN: no later run (a new process) may send it again."""
    session.rollback()
    mark_pin_rejected(job, channel)
    session.commit()


def open_transport(app: Flask, job: Job, channel: Channel | None) -> Transport:
    """The transport of `channel` (Variante 1 modem, Variante 2 websms); without a channel:
    `NoChannel` when the job has channels (all switched off), else the defaults (a job never
    configured: its first SMS fails with what is missing)."""
    if channel is None and job.channels:
        return NoChannel()
    stored = channel_settings(job, channel)
    if stored.variant is Variant.MODEM and stored.modem.pin_rejected:
        raise TransportUnavailable(PIN_REJECTED_REASON)
    settings = transport_settings(job, channel, app.config.get("SMS_SECRET_KEY", ""))
    if isinstance(settings, ModemSettings):
        return ModemTransport(settings)
    return WebsmsTransport(settings)


def _lane(app: Flask, job: Job, channel: Channel | None) -> Lane:
    """The lane of `channel` in a run (its transport opened when first needed)."""
    return Lane(
        channel=channel,
        rank=channel.rank if channel is not None else 1,
        routes=channel.routes if channel is not None else "",
        opener=lambda: open_transport(app, job, channel),
    )


def _collects_unused(job: Job, lane: Lane, totals: RunTotals, sender: SendRun) -> bool:
    """Whether a lane no SMS used is opened after the sending to collect what its modem
    stored (status reports, received SMS): a modem channel of a run that was not stopped."""
    if lane.channel is None or lane.failed or totals.stopped or sender.lock_lost:
        return False
    return channel_settings(job, lane.channel).variant is Variant.MODEM


def run_service_sms(ctx: RunContext, transport: Transport | None = None) -> RunTotals:
    """The job function of "Service SMS" (registered in webapp.jobs.registry)."""
    session, job, run, log, app = ctx.session, ctx.job, ctx.run, ctx.log, ctx.app
    region = app.config["DEFAULT_PHONE_REGION"]
    dead_after = ctx.dead_after
    totals = RunTotals()
    now = utcnow()
    totals.expired = expire_old(session, job, now)
    if totals.expired:
        log.warning(f"{totals.expired} SMS älter als eine Woche: als „Abgelaufen“ markiert.")
    totals.recovered_queued, totals.recovered_unknown = recover_dead_leases(
        session, run.run_key, now, dead_after
    )
    if totals.recovered_unknown:
        report_unknown(app, job, log, totals.recovered_unknown)
    refusal = sms_service_refusal(session)
    if refusal is not None:  # SPEC R60: the queue is kept (and still expires), nothing is sent
        log.error(f"{refusal} Der Lauf versendet nichts; die wartenden SMS bleiben erhalten.")
        session.commit()
        keep_overview_current(session, app)
        keep_tables_bounded(ctx)
        if transport is not None:
            transport.close()
        return totals
    session.commit()
    # The lanes (README "Kanäle"): one per channel switched on and not in its back-off, each
    # opened when its first SMS is placed on it; a lane that fails stops alone and its SMS go
    # through the others. One channel: opened first, as before channels (a transport that
    # cannot be opened fails the run before anything is claimed).
    channels: list[Channel | None] = [*run_channels(job, utcnow())] or [None]
    if transport is None and len(channels) == 1:
        try:
            transport = open_transport(app, job, channels[0])
        except TransportUnavailable as error:
            if getattr(error, "pin_rejected", False):
                remember_rejected_pin(session, job, channels[0])
            raise
    lanes = Lanes(
        [_lane(app, job, channel) for channel in channels],
        all_routes=[c.routes for c in job.channels if c.enabled] or [""],
        transients_limit=int(app.config.get("SMS_CHANNEL_TRANSIENTS", 3)),
    )
    lanes.lanes[0].transport = transport
    sender = SendRun(ctx, lanes, totals)
    try:
        sender.run()
        for lane in lanes:
            if lane.channel is not None and lane.settled and not lane.failed:
                mark_ok(lane.channel, utcnow())
        # Collected whenever the modem may answer, also after a failed SMS: a report stored
        # on the modem waits for a run that reads it (issue 15 point 1) — also on a modem no
        # SMS of this run went through (opened for it, as one channel is for the signal).
        for lane in lanes:
            if lane.transport is None and _collects_unused(job, lane, totals, sender):
                with contextlib.suppress(TransportUnavailable):
                    lane.transport = lane.opener()
            if lane.transport is None or lane.unavailable is not None:
                continue
            if not totals.stopped and not sender.lock_lost:
                if receives(job, lane.channel):
                    collect_received(session, lane.transport, log, region)
                collect_status_reports(session, job, lane.transport, log, region)
            if not lane.failed and sender.failure is None and not totals.stopped:
                record_signal(run, lane.transport)
    finally:
        for lane in lanes:
            if lane.transport is not None:
                lane.transport.close()
    # the lane whose failure ended the run
    channel = next((lane.channel for lane in lanes if lane.unavailable is sender.unavailable), None)
    if sender.unavailable is not None and getattr(sender.unavailable, "pin_rejected", False):
        remember_rejected_pin(session, job, channel)
    if not totals.stopped:
        forward_pending(app, session, job, log)
        notify_number_problems(app, session, utcnow())
    _log_end(session, job, log, totals, sender)
    session.commit()
    keep_overview_current(session, app)
    keep_tables_bounded(ctx)
    if sender.unavailable is not None:
        raise sender.unavailable
    if sender.failure is not None:
        raise TransportUnavailable(sender.failure)
    if sender.lock_lost:
        raise RunAborted(sender.stop_reason or "")
    return totals


def keep_overview_current(session: Session, app: Flask) -> None:
    """Recompute the Übersicht's roll-up of the last days (`overview.keep_current`). It is
    derived data: a failure is logged and never fails the run (the next run recomputes)."""
    try:
        keep_current(session, utcnow(), app.config["TIMEZONE"])
        session.commit()
    except SQLAlchemyError as error:
        session.rollback()
        logger.warning("Übersicht: roll-up not recomputed (%s)", error)


def keep_tables_bounded(ctx: RunContext) -> None:
    """Housekeeping once a day (`housekeeping.prune_if_due`: old runs, Errorlog entries,
    idempotency keys, webhook notificationIds), beating between its batches. A failure is a
    warning in the Errorlog and never fails the run; the next run tries again."""
    session, log = ctx.session, ctx.log
    try:
        counts = prune_if_due(
            session, utcnow(), Retention.from_config(ctx.app.config), beat=ctx.heartbeat
        )
    except Exception as error:  # whatever it is, the SMS of this run are settled already
        session.rollback()
        logger.exception("housekeeping failed")
        log.warning(f"Aufräumen alter Läufe und Einträge fehlgeschlagen: {error!r}")
        session.commit()
        return
    if counts and any(counts.values()):
        log.info(
            f"Aufgeräumt: {counts['job_run']} Läufe, {counts['job_log_entry']} Errorlog-Einträge, "
            f"{counts['api_idempotency_key']} Idempotency-Keys, "
            f"{counts['sms_webhook_notification']} Webhook-Benachrichtigungen."
        )
        session.commit()


def report_unknown(app: Flask, job: Job, log: Any, ids: Sequence[int]) -> None:
    """Errorlog line and e-mail to "Email an bei Fehler" for SMS a dead run left unclear."""
    listed = ", ".join(str(i) for i in ids)
    log.error(f"Versand unterbrochen, Ergebnis unklar: SMS {listed}.")
    send_mail(
        app,
        job.failure_email,
        f"SMS-Modul: {len(ids)} SMS mit unklarem Ergebnis",
        "Ein Lauf wurde während des Versands unterbrochen. Diese SMS können angekommen "
        f"sein und werden nicht automatisch erneut versendet: {listed}.\n",
    )


def _log_end(session: Session, job: Job, log: Any, totals: RunTotals, sender: SendRun) -> None:
    if totals.handed_back:
        log.info(
            f"{totals.handed_back} SMS nicht versucht und zurück in die Warteschlange gestellt."
        )
    if totals.budget_used and count_due(session, sender.mandant_ids, utcnow()):
        job.next_run_at = utcnow()  # the next tick goes on at once, whatever the Zeitplan says
        log.info(str(sender.stop_reason))
    elif totals.stopped:
        log.warning(str(sender.stop_reason))
    log.info(
        f"Lauf beendet: {totals.sent} versendet, {totals.failed} Fehler, "
        f"{totals.retried} später erneut, {totals.unknown} unklar."
    )

"""The SMS table's side of a run of "Service SMS": the lease.

A run expires what waited longer than a week (from its planned time, Versand am) and recovers
the leases of dead runs (never-started attempts back to `queued`, started ones `unknown`); it
releases planned SMS whose time has come and claims due SMS under its run key, writes "attempt
started" just before an SMS is handed to the transport, records the outcomes (`Writes`, one
statement per kind and commit) and hands back what it claimed but never started. Every write is
guarded by the run key, so a run wrongly declared dead never writes over another run's SMS.
`webapp.sms.dispatch` drives these steps; nothing here talks to a transport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnClause,
    Connection,
    CursorResult,
    Integer,
    Result,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from webapp.models import Attempt, Job, JobRun, Mandant, Message, MessageStatus, RunStatus
from webapp.sms.mandant_limits import DEFAULT_TIMEZONE, LimitedMandant, allowances
from webapp.sms.transports.base import (
    Outcome,
    OutcomeKind,
)

UNTRIED = "untried"  # the outcome of an attempt that certainly did not reach the provider
MAX_AGE = timedelta(days=7)  # R4: never send what waited longer than a week
BATCH_SIZE = 200  # the most SMS a run claims at once (SMS_DISPATCH_BATCH)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# A lease whose run has not beaten its heart for this long belongs to a dead run (the runner
# passes its own figure, derived from JOB_LOCK_SECONDS).
DEAD_RUN_AFTER = timedelta(minutes=2)


# Declarative types __table__ as any FromClause; a mapped class with columns has a Table.
_table = cast(Table, Message.__table__)
_attempts = cast(Table, Attempt.__table__)
_INSERT_ATTEMPTS = _attempts.insert()
_ACTIVE = (MessageStatus.SENDING, MessageStatus.UNKNOWN)
# `queued` as a literal in the claim's SQL: a bound parameter would keep SQLite (and
# PostgreSQL's generic plans) from using the partial index of queued SMS.
_QUEUED: ColumnClause[str] = literal_column("'queued'")
_PLANNED: ColumnClause[str] = literal_column("'planned'")  # the same for ix_sms_message_planned


@dataclass(frozen=True)
class Claimed:
    """What a run needs of a claimed SMS (plain values: no ORM object per SMS)."""

    id: int
    recipient_raw: str
    recipient: str | None
    text: str
    attempts: int  # before this attempt
    channel_id: int | None = None  # the channel of the last attempt
    channel_transients: int = 0  # passing errors in a row on that channel


def _scope(mandant_ids: Sequence[int]) -> Any:
    """The job's Mandanten: none chosen means all of them."""
    return Message.mandant_id.in_(mandant_ids) if mandant_ids else True


def job_mandant_ids(job: Job) -> list[int]:
    """The Mandanten whose SMS the job sends (none: all)."""
    return [m.id for m in job.mandanten]


def valid(cutoff: datetime) -> Any:
    """The SMS still valid at `cutoff` (now − MAX_AGE): the week counts from the planned time
    (`send_at`), else from the creation. A planned time is never before the creation, so this
    stays a range of the created_at index plus a test of the rows it finds."""
    return or_(Message.created_at >= cutoff, Message.send_at >= cutoff)


def release_planned(session: Session, mandant_ids: Sequence[int], now: datetime) -> int:
    """Planned SMS whose time has come (`send_at` <= now) become `queued`: from now on a
    claim may take them (not committed; `claim` commits). One range of the partial index
    `ix_sms_message_planned`; the compare-and-set on `planned` leaves an SMS cancelled
    meanwhile alone."""
    return (
        _changed_rows(
            session.execute(
                update(Message)
                .where(
                    Message.status == _PLANNED,
                    Message.send_at <= now,
                    _scope(mandant_ids),
                )
                .values(status=MessageStatus.QUEUED, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        or 0
    )


def expire_old(session: Session, job: Job, now: datetime) -> int:
    """Queued messages older than a week end as `expired` (R4); a planned SMS's week counts
    from its planned time."""
    result = session.execute(
        update(Message)
        .where(
            Message.status == MessageStatus.QUEUED,
            Message.created_at < now - MAX_AGE,
            or_(Message.send_at.is_(None), Message.send_at < now - MAX_AGE),
            _scope(job_mandant_ids(job)),
        )
        .values(
            status=MessageStatus.EXPIRED,
            reason="Älter als eine Woche: wird nicht mehr versendet.",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return _changed_rows(result) or 0


def _changed_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE changed: Session.execute is typed Result, but an UPDATE's
    result is a CursorResult."""
    return cast(CursorResult[Any], result).rowcount


def recover_dead_leases(
    session: Session, own_run_key: str, now: datetime, dead_after: timedelta = DEAD_RUN_AFTER
) -> tuple[int, list[int]]:
    """Leases of runs that died: never-started attempts go back to `queued`, started ones
    become `unknown` (they may have reached the provider; never resent automatically). The
    unknown ones keep the dead run's key: should that run still be alive after all, its
    outcome still lands."""
    alive = select(JobRun.run_key).where(
        JobRun.status == RunStatus.RUNNING, JobRun.heartbeat_at >= now - dead_after
    )
    orphaned = and_(
        Message.status == MessageStatus.SENDING,
        Message.run_key != own_run_key,
        or_(Message.run_key.is_(None), Message.run_key.not_in(alive)),
    )
    back = _changed_rows(
        session.execute(
            update(Message)
            .where(orphaned, Message.attempt_started_at.is_(None))
            .values(status=MessageStatus.QUEUED, run_key=None, claimed_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    unknown_ids = sorted(
        session.scalars(
            update(Message)
            .where(orphaned, Message.attempt_started_at.is_not(None))
            .values(
                status=MessageStatus.UNKNOWN,
                reason="Der Versand wurde unterbrochen (Absturz oder Zeitüberschreitung); die "
                "SMS kann angekommen sein. Bitte prüfen und bei Bedarf erneut versenden.",
                updated_at=now,
            )
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    return back or 0, unknown_ids


def count_due(session: Session, mandant_ids: Sequence[int], now: datetime) -> int:
    """How many SMS a run would send now (the total of its progress)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.status == MessageStatus.QUEUED,
                or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                valid(now - MAX_AGE),
                _scope(mandant_ids),
            )
        )
        or 0
    )


def claim(
    session: Session,
    mandant_ids: Sequence[int],
    run_key: str,
    now: datetime,
    limit: int,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[Claimed]:
    """Take up to `limit` due messages under this run's lease (committed), shared fairly.

    Fair share (issue 14): every Mandant with due SMS gets an equal part of the claim,
    ceil(limit / Mandanten), its dialog SMS before its bulk (API) ones, oldest first — one
    range of the partial index `ix_sms_message_claim` (queued SMS by mandant_id, priority, id)
    per Mandant. The claimed SMS come back dialog first, then taking turns between the
    Mandanten, so a single SMS of one Mandant goes out in the next window even while another
    Mandant's 5,000 wait. A Mandant that needs less than its part leaves it unused; the run
    claims again as soon as its claimed SMS run short. A Mandant with limits
    (`mandant_limits`) gets no more than they leave in the hour and day (`timezone`); one at
    its limit gets nothing and is marked held back (its SMS stay queued).

    Planned SMS whose time has come are released first (`release_planned`): a planned SMS
    is claimed from its `send_at` on, never before.

    One UPDATE of rows still `queued` (the compare-and-set that makes a claim exactly once):
    on PostgreSQL from a CTE that skips rows other runs have locked (FOR UPDATE SKIP LOCKED);
    on SQLite the statement is one write transaction.
    """
    # The per-Mandant ranges test only what the claim index cannot tell (the backoff); the
    # age is tested on the rows they picked: a test of created_at in a range, or in the
    # UPDATE, tempts PostgreSQL's planner into the created_at index (it takes queued and
    # recent SMS for independent) and then reads every SMS of the last week. An SMS that turns
    # a week old during a run stays queued (taking a place of its Mandant's part) until the
    # next run's start expires it.
    release_planned(session, mandant_ids, now)
    due = and_(
        Message.status == _QUEUED,
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    )
    cutoff = now - MAX_AGE
    waiting = [
        LimitedMandant(*row)
        for row in session.execute(
            select(Mandant.id, Mandant.sms_per_hour, Mandant.sms_per_day, Mandant.held_until)
            .where(
                Mandant.id.in_(mandant_ids) if mandant_ids else true(),
                select(Message.id)
                .where(Message.mandant_id == Mandant.id, due, valid(cutoff))
                .exists(),
            )
            .order_by(Mandant.id)
        )
    ]
    postgresql = session.get_bind().dialect.name == "postgresql"
    limited = [
        m
        for m in waiting
        if m.sms_per_hour is not None or m.sms_per_day is not None or m.held_until is not None
    ]
    if limited and postgresql:
        # Concurrent claims of a limited Mandant one after the other: each counts what the
        # one before took (on SQLite one run claims at a time on its host anyway).
        session.execute(
            select(Mandant.id).where(Mandant.id.in_([m.id for m in limited])).with_for_update()
        )
    allowed = allowances(session, limited, now, timezone)
    takers = [(m.id, allowed.get(m.id)) for m in waiting if allowed.get(m.id) != 0]
    if not takers or limit <= 0:
        session.commit()
        return []
    share = -(-limit // len(takers))  # ceil
    parts = []
    for mandant_id, left in takers:
        part = (
            select(Message.id, Message.created_at, Message.send_at)
            .where(Message.mandant_id == mandant_id, due)
            .order_by(Message.priority, Message.id)
            .limit(share if left is None else min(share, left))
        )
        if postgresql:
            part = part.with_for_update(skip_locked=True)
        ranged = part.subquery()
        parts.append(select(ranged.c.id, ranged.c.created_at, ranged.c.send_at))
    picked = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    young = select(picked.c.id).where(
        or_(picked.c.created_at >= cutoff, picked.c.send_at >= cutoff)
    )
    claiming = dict(status=MessageStatus.SENDING, run_key=run_key, claimed_at=now, updated_at=now)
    if postgresql:
        # A materialized CTE: an IN (… LIMIT … FOR UPDATE SKIP LOCKED) subquery may be run
        # again by the planner and then lock and claim more than `limit` rows.
        chosen = young.cte("due").prefix_with("MATERIALIZED")
        statement = (
            update(Message)
            .where(Message.id == chosen.c.id, Message.status == MessageStatus.QUEUED)
            .values(**claiming)
        )
    else:
        statement = (
            update(Message)
            .where(Message.id.in_(young), Message.status == MessageStatus.QUEUED)
            .values(**claiming)
        )
    rows = session.execute(
        statement.returning(
            Message.id,
            Message.recipient_raw,
            Message.recipient,
            Message.text,
            Message.attempts,
            Message.mandant_id,
            Message.priority,
            Message.channel_id,
            Message.channel_transients,
        ).execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return _fair_order(rows)


def _fair_order(rows: Sequence[Any]) -> list[Claimed]:
    """Claimed rows (Claimed's columns, then mandant_id and priority) in the order they are
    sent: dialog before bulk, and within each the Mandanten taking turns, oldest first."""
    rows = sorted(rows, key=lambda row: (row.priority, row.mandant_id, row.id))
    turn: dict[tuple[int, int], int] = {}
    keyed = []
    for row in rows:
        group = (row.priority, row.mandant_id)
        position = turn[group] = turn.get(group, -1) + 1
        claimed = Claimed(
            row.id,
            row.recipient_raw,
            row.recipient,
            row.text,
            row.attempts,
            row.channel_id,
            row.channel_transients,
        )
        keyed.append(((row.priority, position, row.mandant_id), claimed))
    keyed.sort(key=lambda pair: pair[0])
    return [claimed for _key, claimed in keyed]


def _backoff(attempts: int) -> timedelta:
    factor: int = 2 ** max(attempts - 1, 0)  # int ** int is typed Any (negative powers)
    return min(BACKOFF_FIRST * factor, BACKOFF_MAX)


def _owned(run_key: str, statuses: Sequence[MessageStatus] = _ACTIVE) -> Any:
    """The row `b_id`, still under this run's lease: nothing is ever written over another
    run's SMS (a run declared dead that lives on only finishes its own)."""
    # OR of equalities, not IN: executemany takes no expanding parameters.
    return and_(
        _table.c.id == bindparam("b_id"),
        _table.c.run_key == run_key,
        or_(*(_table.c.status == status for status in statuses)),
    )


class Writes:
    """The outcomes recorded since the last commit, written with one statement per kind (the
    statements are built once per run: a run writes thousands of times)."""

    def __init__(self, run_key: str) -> None:
        self.sent: list[dict[str, Any]] = []
        self.retry: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.unknown: list[dict[str, Any]] = []
        self.untried: list[dict[str, Any]] = []  # attempt started, but certainly not sent
        self.refused: list[dict[str, Any]] = []  # number refused before any attempt
        self.attempts: list[dict[str, Any]] = []  # rows of sms_attempt (channel, outcome)
        t = _table
        self._run_key = run_key
        owned, owned_unstarted = _owned(run_key), _owned(run_key, (MessageStatus.SENDING,))
        at: BindParameter[Any] = bindparam("b_at")
        reason: BindParameter[Any] = bindparam("b_reason")
        code: BindParameter[Any] = bindparam("b_code")

        def release(where: Any, status: MessageStatus, **values: Any) -> Any:
            """The run lets go of its SMS in `status`, with the reason and code of the outcome."""
            return (
                update(t)
                .where(where)
                .values(
                    status=status,
                    reason=reason,
                    error_code=code,
                    run_key=None,
                    updated_at=at,
                    **values,
                )
            )

        back_in_queue = {"attempt_started_at": None, "claimed_at": None}
        self._statements = (
            (
                self.retry,
                release(
                    owned,
                    MessageStatus.QUEUED,
                    next_attempt_at=bindparam("b_next"),
                    channel_transients=t.c.channel_transients + 1,
                    **back_in_queue,
                ),
            ),
            (self.failed, release(owned, MessageStatus.FAILED)),
            # the references of the parts the modem took before it fell silent: their
            # reports still find the SMS (issue 15 point 5; `sms/modem_reports.py`)
            (
                self.unknown,
                release(owned, MessageStatus.UNKNOWN, provider_ref=bindparam("b_ref")),
            ),
            (
                self.untried,
                release(owned, MessageStatus.QUEUED, attempts=t.c.attempts - 1, **back_in_queue),
            ),
            (
                self.refused,
                release(owned_unstarted, MessageStatus.FAILED, error_notification_due=True),
            ),
        )

    def __bool__(self) -> bool:
        return any((self.sent, self.retry, self.failed, self.unknown, self.untried, self.refused))

    def add(
        self,
        claimed: Claimed,
        outcome: Outcome,
        now: datetime,
        channel_id: int | None = None,
        failover: bool = False,
    ) -> None:
        """Stage the outcome of one attempt (`claimed.attempts` + 1 is this attempt) on
        `channel_id`. `failover`: a passing error after which the SMS goes to another channel
        at once (no backoff)."""
        row = {"b_id": claimed.id, "b_at": now, "b_reason": outcome.reason, "b_code": outcome.code}
        self._attempt(claimed, channel_id, outcome.kind.value, outcome.code, outcome.reason, now)
        if outcome.kind is OutcomeKind.ACCEPTED:
            row.update(b_ref=outcome.provider_ref, b_segments=outcome.segments)
            self.sent.append(row)
        elif outcome.kind is OutcomeKind.TRANSIENT:
            row["b_next"] = now if failover else now + _backoff(claimed.attempts + 1)
            self.retry.append(row)
        elif outcome.kind is OutcomeKind.PERMANENT:
            self.failed.append(row)
        else:
            row["b_ref"] = outcome.provider_ref
            self.unknown.append(row)

    def add_untried(
        self,
        claimed: Claimed,
        reason: str,
        code: str | None,
        now: datetime,
        channel_id: int | None = None,
    ) -> None:
        """Stage an attempt that certainly did not reach the provider (back to the queue)."""
        self._attempt(claimed, channel_id, UNTRIED, code, reason, now)
        self.untried.append({"b_id": claimed.id, "b_at": now, "b_reason": reason, "b_code": code})

    def _attempt(
        self,
        claimed: Claimed,
        channel_id: int | None,
        outcome: str,
        code: str | None,
        reason: str | None,
        now: datetime,
    ) -> None:
        self.attempts.append(
            {
                "message_id": claimed.id,
                "channel_id": channel_id,
                "finished_at": now,
                "outcome": outcome,
                "code": code,
                "reason": reason,
            }
        )

    def add_refused(self, claimed: Claimed, reason: str, code: str, now: datetime) -> None:
        self.refused.append({"b_id": claimed.id, "b_at": now, "b_reason": reason, "b_code": code})

    def execute(
        self,
        connection: Connection,
        start: Mapping[int | None, Sequence[int]] | None = None,
        now: datetime | None = None,
    ) -> set[int]:
        """Run the staged statements in the connection's transaction, and mark the attempt of
        the ids in `start` as started on their channel (the caller commits, then calls
        `clear`: if the commit fails, the same rows are written again later). Returns the ids
        whose attempt this run started."""
        started: set[int] = set()
        groups = [(channel, list(ids)) for channel, ids in (start or {}).items() if ids]
        sent_pending = bool(self.sent)
        if groups and sent_pending and connection.dialect.name == "postgresql":
            # One round trip for both: the run's every commit waits for the database.
            channel, ids = groups.pop(0)
            count = connection.execute(
                _sent_and_start(len(self.sent)),
                {**self._sent_params(), "ids": ids, "now": now, "channel": channel},
            ).rowcount
            started |= _started(connection, self._run_key, ids, count)
            sent_pending = False
        if sent_pending:
            connection.execute(_sent_statement(len(self.sent)), self._sent_params())
        for channel, ids in groups:
            params = {"ids": ids, "now": now, "run": self._run_key, "channel": channel}
            count = connection.execute(_START, params).rowcount
            started |= _started(connection, self._run_key, ids, count)
        for rows, statement in self._statements:
            if rows:
                connection.execute(statement, rows)
        if self.attempts:
            connection.execute(_INSERT_ATTEMPTS, self.attempts)
        return started

    def clear(self) -> None:
        self.sent.clear()
        self.attempts.clear()
        for rows, _statement in self._statements:
            rows.clear()

    def _sent_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"b_at": self.sent[0]["b_at"], "run": self._run_key}
        for k, row in enumerate(self.sent):
            params[f"i{k}"] = row["b_id"]
            params[f"r{k}"] = row["b_ref"]
            params[f"s{k}"] = row["b_segments"]
        return params


# The statements of every commit of a run, as plain SQL (the same on SQLite and PostgreSQL):
# built once, not composed anew thousands of times per run. The accepted SMS of a commit are
# one UPDATE (their provider references through CASE), not one statement per row.
# The attempt start records its channel; the passing errors in a row count on that channel
# only (SET reads the row as it was: the CASE sees the channel of the last attempt).
_START_SQL = (
    "UPDATE sms_message SET attempts = attempts + 1, attempt_started_at = :now, "
    "updated_at = :now, channel_transients = CASE WHEN channel_id = :channel "
    "THEN channel_transients ELSE 0 END, channel_id = :channel "
    "WHERE id IN :ids AND run_key = :run AND status = 'sending' "
    "AND attempt_started_at IS NULL"
)
_START = text(_START_SQL).bindparams(
    bindparam("ids", expanding=True),
    bindparam("now", type_=_table.c.attempt_started_at.type),
    bindparam("channel", type_=Integer()),
)
_SENT: dict[int, Any] = {}  # by the number of accepted SMS (a window: a handful)
_SENT_AND_START: dict[int, Any] = {}


def _sent_sql(count: int) -> str:
    keys = range(count)
    refs = " ".join(f"WHEN :i{k} THEN CAST(:r{k} AS VARCHAR(64))" for k in keys)
    parts = " ".join(f"WHEN :i{k} THEN CAST(:s{k} AS INTEGER)" for k in keys)
    ids = ", ".join(f":i{k}" for k in keys)
    return (
        "UPDATE sms_message SET status = 'sent', "
        f"provider_ref = CASE id {refs} END, "
        f"segments = COALESCE(CASE id {parts} END, segments), "
        "sent_at = :b_at, reason = NULL, error_code = NULL, run_key = NULL, "
        f"updated_at = :b_at WHERE id IN ({ids}) AND run_key = :run "
        "AND status IN ('sending', 'unknown')"
    )


def _sent_statement(count: int) -> Any:
    statement = _SENT.get(count)
    if statement is None:
        statement = _SENT[count] = text(_sent_sql(count)).bindparams(
            bindparam("b_at", type_=_table.c.sent_at.type)
        )
    return statement


def _sent_and_start(count: int) -> Any:
    """PostgreSQL: the accepted SMS and the attempt start in one statement (a data-modifying
    CTE; the two sets of rows never overlap)."""
    statement = _SENT_AND_START.get(count)
    if statement is None:
        statement = _SENT_AND_START[count] = text(
            f"WITH sent AS ({_sent_sql(count)} RETURNING 1) {_START_SQL}"
        ).bindparams(
            bindparam("b_at", type_=_table.c.sent_at.type),
            bindparam("ids", expanding=True),
            bindparam("now", type_=_table.c.attempt_started_at.type),
            bindparam("channel", type_=Integer()),
        )
    return statement


def _started(connection: Connection, run_key: str, ids: Sequence[int], count: int) -> set[int]:
    """The ids whose attempt start was just written, from the statement's row count."""
    if count == len(ids):
        return set(ids)  # the usual case, without a row-by-row answer from the database
    # Some are no longer ours (this run was declared dead meanwhile), or their start was
    # written by an earlier try whose answer was lost (the database went away): `ids` are
    # never in flight, so every one of them this run started may be handed over now.
    t = _table
    return set(
        connection.scalars(
            select(t.c.id).where(
                t.c.id.in_(ids),
                t.c.run_key == run_key,
                t.c.status == MessageStatus.SENDING,
                t.c.attempt_started_at.is_not(None),
            )
        )
    )


def start_attempts(
    session: Session,
    run_key: str,
    ids: Sequence[int],
    now: datetime,
    channel_id: int | None = None,
) -> set[int]:
    """Mark the attempt of `ids` on `channel_id` as started (in the caller's transaction); the
    ids this run may hand to the transport once it is committed."""
    if not ids:
        return set()
    connection = session.connection()
    params = {"ids": list(ids), "now": now, "run": run_key, "channel": channel_id}
    count = connection.execute(_START, params).rowcount
    return _started(connection, run_key, ids, count)


def hand_back(session: Session, run_key: str, ids: Sequence[int], now: datetime) -> int:
    """Claimed SMS whose attempt never started go back to `queued` (committed)."""
    if not ids:
        return 0
    count = _changed_rows(
        session.execute(
            update(Message)
            .where(
                Message.id.in_(ids),
                Message.run_key == run_key,
                Message.status == MessageStatus.SENDING,
                Message.attempt_started_at.is_(None),
            )
            .values(status=MessageStatus.QUEUED, run_key=None, claimed_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    session.commit()
    return count or 0

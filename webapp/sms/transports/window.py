"""The send window: up to `transport.window` SMS in flight, each outcome reported as it comes.

Each SMS is sent in a thread of its own (one per slot of the window), so the caller's thread is
free while a modem takes seconds or websms answers slowly: it records outcomes, beats the run's
heart and hands over the next SMS as soon as a slot is free (webapp.sms.dispatch). Threads run
in a copy of the caller's context (app context, locale), so German reasons come out the same
from every thread.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _

from webapp.sms.transports import classify
from webapp.sms.transports.base import (
    Outcome,
    OutcomeKind,
    OutgoingSms,
    Transport,
    TransportUnavailable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """One SMS back from the transport: its outcome, or `unavailable` when it was not tried."""

    sms: OutgoingSms
    outcome: Outcome | None
    unavailable: TransportUnavailable | None = None
    tag: object = None  # what the caller gave `submit`
    seconds: float = 0.0  # how long `transport.send` took (the latency in /metrics)


class SendWindow:
    """Runs `transport.send` for up to `transport.window` SMS at once: one thread per slot,
    started with the window and fed through a queue (a run hands over thousands of SMS; a
    future and a context copy for each would cost the run's thread more than the rest)."""

    def __init__(
        self, transport: Transport, done: queue.SimpleQueue[Finished] | None = None
    ) -> None:
        self.transport = transport
        self.size = max(1, int(getattr(transport, "window", 1) or 1))
        self._todo: queue.SimpleQueue[tuple[OutgoingSms, object] | None] = queue.SimpleQueue()
        # `done`: a queue shared by several windows (the lanes of a run, webapp.sms.lanes);
        # its reader then counts `in_flight` down itself.
        self._done: queue.SimpleQueue[Finished] = done if done is not None else queue.SimpleQueue()
        self.in_flight = 0
        self._threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._serve,),
                name=f"send-{n}",
                daemon=True,
            )
            for n in range(self.size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, sms: OutgoingSms, tag: object = None) -> None:
        """Hand `sms` to the transport now (its attempt start must already be committed)."""
        if self.in_flight >= self.size:
            raise RuntimeError("send window is full")
        self.in_flight += 1
        self._todo.put((sms, tag))

    def _serve(self) -> None:
        while (item := self._todo.get()) is not None:
            self._send(*item)

    def _send(self, sms: OutgoingSms, tag: object) -> None:
        began = time.monotonic()
        try:
            outcome = self.transport.send(sms)
            finished = Finished(sms, outcome, tag=tag, seconds=time.monotonic() - began)
        except TransportUnavailable as error:
            finished = Finished(sms, None, error, tag, time.monotonic() - began)
        except Exception as error:  # a bug must not lose the SMS: it may have gone out
            log.exception("transport %s: unexpected error for SMS %s", self.transport, sms)
            verdict = classify.outcome_unknown(
                _("unerwarteter Fehler (%(error)s)", error=type(error).__name__)
            )
            finished = Finished(
                sms,
                verdict.outcome(sms.message_id, "bug"),
                tag=tag,
                seconds=time.monotonic() - began,
            )
        self._done.put(finished)

    def collect(
        self, timeout: float | None, gather: float = 0.0, enough: int = 1
    ) -> list[Finished]:
        """What came back: waits up to `timeout` seconds for the first one (None: until one
        comes); then up to `gather` seconds more until `enough` are in hand (outcomes that
        share a commit); then takes whatever else is already there without waiting."""
        results = take_finished(self._done, self.in_flight, timeout, gather, enough)
        self.in_flight -= len(results)
        return results

    def close(self) -> None:
        """Wait for the SMS in flight (their outcomes are dropped: collect them first)."""
        for _thread in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()


def take_finished(
    done: queue.SimpleQueue[Finished],
    in_flight: int,
    timeout: float | None,
    gather: float = 0.0,
    enough: int = 1,
) -> list[Finished]:
    """`SendWindow.collect` on a queue of outcomes with `in_flight` SMS out (the caller counts
    them down)."""
    if in_flight == 0:
        return []
    try:
        first = done.get(timeout=timeout) if timeout is None or timeout > 0 else None
    except queue.Empty:
        first = None
    results = [first] if first is not None else []
    if results and gather > 0:
        wanted = min(enough, in_flight)
        deadline = time.monotonic() + gather
        while len(results) < wanted:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                results.append(done.get(timeout=left))
            except queue.Empty:
                break
    while True:
        try:
            results.append(done.get_nowait())
        except queue.Empty:
            break
    return results


# After this many broken-link outcomes in a row a run stops sending (the link is down).
MAX_HALTS_IN_A_ROW = 3


class Pace:
    """How many SMS may be handed over now. The first SMS goes out alone (a wrong password
    costs one request, not a window of them); then the whole window. After an outcome that
    says the link looks broken (`halts`, or the transport unavailable) one SMS goes alone as a
    probe, after a pause that doubles (`pause` seconds, at most 10 s); after
    MAX_HALTS_IN_A_ROW of them in a row the run stops sending."""

    def __init__(self, size: int, pause: float = 1.0) -> None:
        self.size = size
        self.pause = pause
        self.probing = True
        self.halts_in_a_row = 0
        self.not_before = 0.0  # time.monotonic() of the next probe

    def room(self, in_flight: int) -> int:
        if self.probing:
            return 0 if time.monotonic() < self.not_before else max(0, 1 - in_flight)
        return max(0, self.size - in_flight)

    def answered(self) -> None:
        """An outcome that shows the link works: open the window."""
        self.halts_in_a_row = 0
        self.probing = False

    def halted(self) -> bool:
        """A broken-link outcome; True when the run must stop sending."""
        self.halts_in_a_row += 1
        self.probing = True
        self.not_before = time.monotonic() + min(
            self.pause * 2.0 ** (self.halts_in_a_row - 1), 10.0
        )
        return self.halts_in_a_row >= MAX_HALTS_IN_A_ROW


def _not_tried(sms: OutgoingSms, reason: str, code: str | None = None) -> Outcome:
    return Outcome(
        message_id=sms.message_id,
        kind=OutcomeKind.TRANSIENT,
        code=code,
        reason=_("Nicht versucht: %(reason)s", reason=reason),
    )


def send_all(
    transport: Transport, messages: Iterable[OutgoingSms], probe_pause: float = 0.0
) -> list[Outcome]:
    """Send `messages` as a run does, without a database (Pace: the first alone, then the
    window, probes after a broken link). After an outcome that stops the run (`fails_run`) or
    too many broken-link outcomes, the rest is not tried (TRANSIENT "Nicht versucht: …"). One
    outcome per message, in input order; TransportUnavailable when the first one could not be
    tried (then nothing was). For tests and benchmarks."""
    pending = list(messages)
    outcomes: dict[int, Outcome] = {}  # by position in `pending`
    window = SendWindow(transport)
    pace = Pace(window.size, probe_pause)
    stop: Outcome | None = None
    position = 0
    try:
        while True:
            room = pace.room(window.in_flight) if stop is None else 0
            for _slot in range(room):
                if position >= len(pending):
                    break
                window.submit(pending[position], tag=position)
                position += 1
            if window.in_flight == 0:
                if stop is not None or position >= len(pending):
                    break
                time.sleep(max(0.0, pace.not_before - time.monotonic()))
                continue
            for finished in window.collect(None):
                error = finished.unavailable
                if error is not None:
                    if not outcomes and position == 1:
                        raise error
                    outcome = _not_tried(finished.sms, error.reason, getattr(error, "code", None))
                    outcome = dataclasses.replace(outcome, fails_run=error.fails_run)
                    if error.fails_run or pace.halted():
                        stop = stop or outcome
                else:
                    assert finished.outcome is not None
                    outcome = finished.outcome
                    if outcome.fails_run or (outcome.halts and pace.halted()):
                        stop = stop or outcome
                    elif not outcome.halts:
                        pace.answered()
                assert isinstance(finished.tag, int)
                outcomes[finished.tag] = outcome
        for rest in range(position, len(pending)):
            assert stop is not None
            outcomes[rest] = _not_tried(pending[rest], stop.reason or "", stop.code)
    finally:
        window.close()
    return [outcomes[i] for i in range(len(pending))]

"""The lanes of a run of "Service SMS": one per channel it may send through (README "Kanäle").

A lane holds a channel's transport (opened when the first SMS is placed on it), its own send
window and pace. `Lanes.place` chooses the lane of a claimed SMS: not failed, its routing rules
serve the recipient, the lowest rank, and within that rank the lane with the most room (equal
ranks are pooled modems: each sends at once, throughput adds up). A lane that fails stops
alone; the run goes on with the others and fails as a whole only when none is left.

All windows report their outcomes into one queue, so the run's thread waits on one thing
whatever the number of lanes.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from webapp.jobs.channels import serves
from webapp.models import Channel
from webapp.sms.leases import Claimed
from webapp.sms.transports.base import Transport, TransportUnavailable
from webapp.sms.transports.window import Finished, Pace, SendWindow, take_finished


@dataclass
class Lane:
    """One channel in the run (channel None: a job without channels, its settings as today)."""

    channel: Channel | None
    rank: int
    routes: str
    opener: Callable[[], Transport]
    transport: Transport | None = None
    window: SendWindow | None = None
    pace: Pace | None = None
    failed: bool = False
    unavailable: TransportUnavailable | None = None  # why it failed, when not an outcome
    failure: str | None = None  # why it failed
    any_answer: bool = False
    settled: bool = False  # an SMS ended here (sent, failed, unclear)
    reserved: int = 0  # chosen for this lane in the hand-over under way, not submitted yet
    # Plain copies of the channel's id and position: the run reads them between commits, and
    # an ORM attribute expired by a commit would be loaded from the database (which may be
    # gone just then, with an outcome in hand).
    channel_id: int | None = field(init=False, default=None)
    position: int = field(init=False, default=1)

    def __post_init__(self) -> None:
        if self.channel is not None:
            self.channel_id = self.channel.id
            self.position = self.channel.position

    @property
    def size(self) -> int:
        """The window's size (1 before the transport is opened: its first SMS goes alone)."""
        return self.window.size if self.window is not None else 1

    @property
    def in_flight(self) -> int:
        """SMS handed to this lane whose outcome has not been collected."""
        return self.window.in_flight if self.window is not None else 0

    def room(self) -> int:
        """How many SMS may be handed to this lane now."""
        if self.failed:
            return 0
        if self.pace is None:
            return max(0, 1 - self.reserved)  # not opened yet: its first SMS goes alone
        return self.pace.room(self.in_flight + self.reserved)

    def open(self, done: queue.SimpleQueue[Finished]) -> None:
        """Open the transport and start the window (TransportUnavailable: it cannot be)."""
        if self.transport is None:
            self.transport = self.opener()
        if self.window is None:
            self.window = SendWindow(self.transport, done)
            self.pace = Pace(self.window.size)

    def close(self) -> None:
        """Stop the window's threads (the SMS in flight must have been collected)."""
        if self.window is not None:
            self.window.close()


@dataclass
class Lanes:
    """The lanes of a run and the one queue all their windows report into."""

    lanes: list[Lane]
    # The routing rules of every channel switched on (also those in their back-off): an SMS
    # none of them serves can never be sent and fails before any attempt.
    all_routes: Sequence[str] = ("",)
    transients_limit: int = 3
    done: queue.SimpleQueue[Finished] = field(default_factory=queue.SimpleQueue)

    def __iter__(self) -> Iterator[Lane]:
        return iter(self.lanes)

    def live(self) -> list[Lane]:
        """The lanes that have not failed."""
        return [lane for lane in self.lanes if not lane.failed]

    @property
    def in_flight(self) -> int:
        """SMS handed to any lane whose outcome has not been collected."""
        return sum(lane.in_flight for lane in self.lanes)

    @property
    def size(self) -> int:
        """The window of the run: the sum of the live lanes' windows."""
        return sum(lane.size for lane in self.live()) or 1

    def room(self) -> int:
        """How many SMS the live lanes may take now, together."""
        return sum(lane.room() for lane in self.live())

    def served_at_all(self, claimed: Claimed) -> bool:
        """Whether some channel switched on may send to the SMS's number."""
        return any(serves(routes, claimed.recipient) for routes in self.all_routes)

    def candidates(self, claimed: Claimed) -> list[Lane]:
        """The live lanes that may take the SMS: those serving its number; not the channel
        it met a passing error on `transients_limit` times in a row while another serves."""
        serving = [lane for lane in self.live() if serves(lane.routes, claimed.recipient)]
        if claimed.channel_transients >= self.transients_limit:
            others = [lane for lane in serving if lane.channel_id != claimed.channel_id]
            if others:
                return others
        return serving

    def place(self, claimed: Claimed) -> Lane | None:
        """The lane the SMS goes to now: of its candidates the lowest rank, within it the one
        with the most room; None when that rank has no room now (it waits for it)."""
        candidates = self.candidates(claimed)
        if not candidates:
            return None
        best = min(lane.rank for lane in candidates)
        lane = max(
            (lane for lane in candidates if lane.rank == best),
            key=lambda lane: lane.room(),
        )
        return lane if lane.room() > 0 else None

    def other_lane_for(self, claimed: Claimed, lane: Lane) -> bool:
        """Whether another live lane could take the SMS (failover instead of waiting)."""
        return any(other is not lane for other in self.candidates_ignoring_limit(claimed))

    def candidates_ignoring_limit(self, claimed: Claimed) -> list[Lane]:
        """The live lanes serving the SMS's number."""
        return [other for other in self.live() if serves(other.routes, claimed.recipient)]

    def collect(
        self, timeout: float | None, gather: float = 0.0, enough: int = 1
    ) -> list[Finished]:
        """What came back from any lane (see SendWindow.collect); each Finished's `tag` is its
        lane."""
        results = take_finished(self.done, self.in_flight, timeout, gather, enough)
        for finished in results:
            lane = finished.tag
            assert isinstance(lane, Lane) and lane.window is not None
            lane.window.in_flight -= 1
        return results

    def close(self) -> None:
        """Stop every lane's window."""
        for lane in self.lanes:
            lane.close()

"""The contract every transport keeps: a batch in, one outcome per message out.

The send job (webapp.sms.dispatch) hands a transport the messages it claimed and records what
comes back; it never looks at provider details. What an error code means is decided in one
place, webapp.sms.transports.classify.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class OutcomeKind(enum.StrEnum):
    ACCEPTED = "accepted"  # the provider took it: `provider_ref` set, the message is `sent`
    TRANSIENT = "transient"  # not sent; try again later (timeouts before sending, 5xx, busy)
    PERMANENT = "permanent"  # will never work as it is (invalid number, blacklisted, …)
    UNKNOWN = "unknown"  # may have reached the provider (timeout after the body / Ctrl-Z)


@dataclass(frozen=True)
class OutgoingSms:
    """What a transport needs of a message: our id, the E.164 number, the final text."""

    message_id: int
    recipient: str  # "+436641234567"
    text: str


@dataclass(frozen=True)
class Outcome:
    """What became of one message. `code` is the provider's (e.g. "websms 4002", "CMS 38")."""

    message_id: int
    kind: OutcomeKind
    provider_ref: str | None = None
    segments: int | None = None
    code: str | None = None
    reason: str | None = None  # German, shown in the list
    # The whole run must stop (wrong credentials, SIM PIN wrong): later messages would fail too.
    fails_run: bool = False

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.ACCEPTED


@dataclass(frozen=True)
class Verdict:
    """How an error code is to be treated (see classify.py)."""

    kind: OutcomeKind
    reason: str
    fails_run: bool = False

    def outcome(self, message_id: int, code: str) -> Outcome:
        return Outcome(
            message_id=message_id,
            kind=self.kind,
            code=code,
            reason=self.reason,
            fails_run=self.fails_run,
        )


class Transport(Protocol):
    """A way to send SMS. Implementations: ModemTransport, WebsmsTransport."""

    name: str

    def send_batch(self, messages: Sequence[OutgoingSms]) -> list[Outcome]:
        """Send `messages`; one outcome per message, in the same order. Never raises for a
        message's failure; raises TransportUnavailable only when nothing could be tried."""
        ...

    def close(self) -> None:
        """Release connections (serial port, HTTP pool)."""
        ...


class TransportUnavailable(Exception):
    """Nothing could be sent at all (modem unreachable, configuration missing): the run fails,
    every message stays queued. `reason` is German, for the Errorlog and the failure e-mail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

"""The contract every transport keeps: one SMS in, its outcome out, `window` of them at once.

The send job (webapp.sms.dispatch) hands a transport one SMS at a time, at most `window` in
flight (webapp.sms.transports.window runs them), and records each outcome as it comes back; it
never looks at provider details. What an error code means is decided in one place,
webapp.sms.transports.classify.
"""

from __future__ import annotations

import enum
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
    # The provider or the link looks broken (no connection, no answer): send the next SMS
    # alone, as a probe, before the window opens again.
    halts: bool = False

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

    @property
    def window(self) -> int:
        """How many SMS may be in flight at once: 1 for a modem, the concurrency for websms."""
        ...

    def send(self, sms: OutgoingSms) -> Outcome:
        """Send one SMS and return what became of it. Called from up to `window` threads at
        once. Never raises for the message's failure; raises TransportUnavailable only when
        the SMS was certainly not handed to the provider."""
        ...

    def close(self) -> None:
        """Release connections (serial port, HTTP pool)."""
        ...


class TransportUnavailable(Exception):
    """The SMS in hand was certainly not sent (modem unreachable, configuration missing): it goes
    back to the queue untouched. `fails_run`: no other SMS can work either (settings, SIM), the
    run stops at once. `reason` is German, for the Errorlog and the failure e-mail."""

    def __init__(self, reason: str, fails_run: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self._fails_run = fails_run

    @property
    def fails_run(self) -> bool:
        return self._fails_run

"""The error that domain functions raise for bad input: a German message that says what to fix."""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot be stored as given. `field` names the form field it belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ServiceOff(InputError):
    """The SMS service is switched off (global 1400 = 0): nothing may be queued (SPEC R60)."""

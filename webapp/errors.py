"""The one error of bad input: domain functions raise `InputError` with a German message that
says what to fix and the form field it belongs to; a form with several problems raises one
`InputError` that carries all of them (`errors`), collected by `ErrorCollector`. Views show
them with `webapp.blueprints.forms.save_or_show_errors` / `attach_error`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class InputError(ValueError):
    """Input that cannot be stored as given. `field` names the form field it belongs to;
    `errors` lists every problem (this one alone, or all of a form: `InputError.several`)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors: list[InputError] = [self]

    @classmethod
    def several(cls, errors: Sequence[InputError]) -> InputError:
        """One error for all `errors` (at least one); its message and field are the first's."""
        problems = [problem for error in errors for problem in error.errors]
        combined = cls(problems[0].message, problems[0].field)
        combined.errors = problems
        return combined


class ServiceOff(InputError):
    """The SMS service is switched off (global 1400 = 0): nothing may be queued (SPEC R60)."""


class ErrorCollector:
    """Collects the problems of one form, so that all of them are shown at once."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []

    def add(self, message: str, field: str | None) -> None:
        self.errors.append(InputError(message, field))

    def run(self, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`check(*args, **kwargs)`, or None with its problems collected."""
        try:
            return check(*args, **kwargs)
        except InputError as error:
            self.errors.extend(error.errors)
        return None

    def raise_if_any(self) -> None:
        """Raise one InputError with every problem collected, if there is any."""
        if self.errors:
            raise InputError.several(self.errors)

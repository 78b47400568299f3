# Flask-Babel is annotated but ships no py.typed marker, and its lazy_gettext returns a
# LazyString, which WTForms' stubs refuse as a label although it renders like a str
# everywhere this project uses it (labels, templates, f-strings). This stub declares the
# part of Flask-Babel the project uses, with lazy_gettext typed as str.
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from babel import Locale
from flask import Flask

class Babel:
    def __init__(self, app: Flask | None = ..., **kwargs: Any) -> None: ...
    def init_app(
        self,
        app: Flask,
        *,
        locale_selector: Callable[[], str | None] | None = ...,
        timezone_selector: Callable[[], str | None] | None = ...,
        **kwargs: Any,
    ) -> None: ...

def gettext(string: str, **variables: Any) -> str: ...
def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str: ...
def lazy_gettext(string: str, **variables: Any) -> str: ...
def force_locale(locale: str | Locale) -> AbstractContextManager[None]: ...
def get_locale() -> Locale | None: ...
def refresh() -> None: ...

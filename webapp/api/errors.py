"""The JSON API's error: HTTP status, code and the message in German and English.

The messages are catalog entries (German msgids, English in the catalog), so an API error reads
the same in both languages whatever language the request's session has chosen."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale, gettext


def N_(msgid: str) -> str:
    """Mark `msgid` for the catalog (pybabel extracts `N_`); it is translated when used."""
    return msgid


class ApiError(Exception):
    """An answer `{"error": {"code", "message_de", "message_en"}}` with `status`."""

    def __init__(self, status: int, code: str, message_de: str, message_en: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code
        self.message_de, self.message_en = message_de, message_en
        self.headers: dict[str, str] = {}  # e.g. Retry-After of a 429
        self.extra: dict[str, Any] = {}  # more fields of the error object (retry_after, …)

    def json(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message_de": self.message_de,
                "message_en": self.message_en,
                **self.extra,
            }
        }


def in_language(locale: str, msgid: str, **params: Any) -> str:
    """The catalog's text of `msgid` in `locale` ("de" is the msgid itself), filled in."""
    with force_locale(locale):
        return gettext(msgid, **params)


def api_error(status: int, code: str, msgid: str, where: str = "", **params: Any) -> ApiError:
    """An ApiError with the German and English text of `msgid`; `where` ("body",
    "messages[3]") goes in front of both."""
    prefix = f"{where}: " if where else ""
    return ApiError(
        status,
        code,
        prefix + in_language("de", msgid, **params),
        prefix + in_language("en", msgid, **params),
    )


def validation_error(msgid: str, where: str = "", **params: Any) -> ApiError:
    """422 validation_error: the request breaks one of the rules in `webapp.api.rules`."""
    return api_error(422, "validation_error", msgid, where, **params)

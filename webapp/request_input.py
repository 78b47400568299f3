"""What the app takes from a request, for every route at once: text without control characters,
ids that fit the database, JSON of sane depth, bodies within MAX_CONTENT_LENGTH.

The rules live in `webapp.validation` (`clean_text`, `parse_id`); this module applies them
where Flask and Werkzeug read a request, so no view can forget them:

- every query and form value (`request.args`, `request.form`, and so every WTForms form) and
  every string of a JSON body is cleaned of NUL and other control characters: PostgreSQL
  refuses NUL in text, and no user means one;
- `<int:…>` in a route takes only 1 … 2**63-1 (larger ids are 404, not an overflow in the
  database driver); `<…>` text segments are cleaned like query values;
- a JSON body nested deeper than `MAX_JSON_DEPTH` is a 400, not a RecursionError;
- a body beyond the limit is refused also when it comes chunked (no Content-Length), where
  Werkzeug would silently cut it at the limit.

Views parse ids with `parse_id`/`optional_id` (`request.args.get("before", type=parse_id)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, overload

from flask import Flask, Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter, UnicodeConverter
from werkzeug.wsgi import LimitedStream

from webapp.validation import MAX_ID, clean_text

MAX_JSON_DEPTH = 32  # the API's deepest body is 3 levels; websms's notifications 2


class CleanMultiDict(ImmutableMultiDict[str, Any]):
    """Query string and form values with control characters removed (uploads stay as they are)."""

    def __init__(self, mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        if mapping is None:
            super().__init__()
            return
        pairs = mapping.items(multi=True) if isinstance(mapping, ImmutableMultiDict) else mapping
        if isinstance(pairs, Mapping):
            pairs = pairs.items()
        super().__init__(
            (clean_text(key), clean_text(value) if isinstance(value, str) else value)
            for key, value in pairs
        )


class AppRequest(Request):
    """Flask's request with cleaned parameters and a body limit that holds for chunked bodies."""

    parameter_storage_class = CleanMultiDict

    @overload
    def get_data(
        self, cache: bool = True, as_text: Literal[False] = False, parse_form_data: bool = False
    ) -> bytes: ...
    @overload
    def get_data(
        self, cache: bool = True, as_text: Literal[True] = ..., parse_form_data: bool = False
    ) -> str: ...
    def get_data(
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> bytes | str:
        """The body (Werkzeug's), refused when a chunked body reached the limit."""
        data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        self._refuse_cut_body()
        return data.decode(errors="replace") if as_text else data

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self._refuse_cut_body()

    def _refuse_cut_body(self) -> None:
        """Werkzeug stops reading a body without Content-Length at the limit and hands on what
        it has: asking for one byte more raises RequestEntityTooLarge (413) instead, so a cut
        body is never taken for the whole one. (A chunked body of exactly the limit is refused.)"""
        stream = self.stream
        if (
            isinstance(stream, LimitedStream)
            and stream.is_exhausted
            and self.content_length is None
        ):
            stream.read(1)


class AppJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading bodies of sane depth with their strings cleaned."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        return _cleaned(value, MAX_JSON_DEPTH)


def _cleaned(value: Any, depth: int) -> Any:
    """`value` with its strings cleaned; ValueError when nested deeper than `depth`."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, (dict, list)):
        return value
    if depth == 0:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, list):
        return [_cleaned(item, depth - 1) for item in value]
    return {clean_text(key): _cleaned(item, depth - 1) for key, item in value.items()}


class IdConverter(IntegerConverter):
    """`<int:…>`: a record id, 1 … 2**63-1; anything else does not match (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class TextConverter(UnicodeConverter):
    """`<…>`/`<string:…>`: a path segment, cleaned like query values."""

    def to_python(self, value: str) -> str:
        return clean_text(value)


def init_app(app: Flask) -> None:
    """Put the rules in place; before any blueprint adds its routes (converters bind then)."""
    app.request_class = AppRequest
    app.json = AppJSONProvider(app)
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["default"] = TextConverter
    app.url_map.converters["string"] = TextConverter

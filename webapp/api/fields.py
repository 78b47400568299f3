"""The field kinds of the JSON API, in the manner of Jasmin's one field table and one validator.

A request or answer object is a table of these (`webapp.api.rules`). Each field checks a value
of a request (`parse`: the value as taken, or a 422 ApiError with the field's message) and
describes itself in the OpenAPI document (`schema`), so the check and the document cannot
disagree. Messages are catalog msgids (`N_`); `where` ("body", "messages[3]") prefixes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from webapp.api.errors import N_, api_error, validation_error
from webapp.validation import MAX_ID, parse_id

NON_BLANK = "\\S"  # OpenAPI pattern: at least one character that is not white space
TOO_LONG = N_("„%(field)s“ darf höchstens %(n)d Zeichen lang sein.")


@dataclass(frozen=True, kw_only=True)
class Field:
    """What every kind has: a description for the document and whether null is allowed."""

    description: str | None = None
    nullable: bool = False

    def schema(self) -> dict[str, Any]:
        """The field's OpenAPI 3.0 schema."""
        schema = self._schema()
        if self.nullable:
            schema["nullable"] = True
        if self.description:
            schema["description"] = self.description
        return schema

    def reference(self) -> dict[str, Any]:
        """The schema where another object or a list holds this field."""
        return self.schema()

    def _schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, value: Any, where: str = "", name: str = "") -> Any:
        """`value` as the API takes it; a 422 ApiError with this field's message otherwise.
        `name` is the field's name in the message."""
        raise TypeError(f"{type(self).__name__} is not read from requests")


@dataclass(frozen=True, kw_only=True)
class Text(Field):
    """A string; `non_blank`: not only white space (a missing one is refused too). `message`
    is the text for a value that breaks a rule, `too_long` (if given) for one too long."""

    max_length: int | None = None
    non_blank: bool = False
    format: str | None = None
    message: str = TOO_LONG
    too_long: str | None = None

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.non_blank:
            schema |= {"minLength": 1, "pattern": NON_BLANK}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.format:
            schema["format"] = self.format
        return schema

    def parse(self, value: Any, where: str = "", name: str = "") -> str | None:
        if value is None and self.nullable:
            return None
        if not isinstance(value, str) or (self.non_blank and not value.strip()):
            raise validation_error(self.message, where, field=name, n=self.max_length)
        if self.max_length is not None and len(value) > self.max_length:
            message = self.too_long or self.message
            raise validation_error(message, where, field=name, n=self.max_length)
        return value


@dataclass(frozen=True, kw_only=True)
class Timestamp(Field):
    """A point in time, ISO 8601 / RFC 3339 with an offset ("2026-12-24T08:00:00+01:00" or
    "…Z"), taken as an aware datetime in UTC. Whether it may be used (not past, …) is the
    core's rule, not the field's."""

    message: str = N_(
        "„%(field)s“ muss ein Zeitpunkt nach ISO 8601 mit Zeitzone sein, z. B. "
        "2026-12-24T08:00:00+01:00."
    )

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def parse(self, value: Any, where: str = "", name: str = "") -> datetime | None:
        if value is None and self.nullable:
            return None
        parsed = None
        if isinstance(value, str) and 0 < len(value) <= 40:
            text = value.strip()
            try:
                # fromisoformat takes "Z" since 3.11; a time without a zone stays naive
                parsed = datetime.fromisoformat(text)
            except ValueError:
                parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise validation_error(self.message, where, field=name)
        return parsed.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class Integer(Field):
    """An integer; from a query string only ASCII digits (as ids, `validation.parse_id`)."""

    minimum: int | None = None
    maximum: int | None = None
    message: str = N_("„%(field)s“ muss eine ganze Zahl von %(min)d bis %(max)d sein.")

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema

    def parse(self, value: Any, where: str = "", name: str = "") -> int:
        low = self.minimum if self.minimum is not None else 0
        high = self.maximum if self.maximum is not None else MAX_ID
        try:
            number = parse_id(value, low)
        except ValueError:
            number = None
        if number is None or number > high:
            raise validation_error(self.message, where, field=name, min=low, max=high)
        return number


@dataclass(frozen=True, kw_only=True)
class Boolean(Field):
    def _schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, kw_only=True)
class Choice(Field):
    """One of `values` (the API's choices are all statuses, hence the message)."""

    values: tuple[str, ...]
    message: str = N_("Unbekannter Status „%(value)s“; erlaubt: %(allowed)s.")

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}

    def parse(self, value: Any, where: str = "", name: str = "") -> str:
        if value not in self.values:
            allowed = ", ".join(self.values)
            raise validation_error(self.message, where, value=value, allowed=allowed)
        return str(value)


@dataclass(frozen=True, kw_only=True)
class List(Field):
    """A list of `items`; `message` for no list or fewer than `min_items`, `too_many` (with
    the error code `too_many_code`) for more than `max_items`."""

    items: Field
    min_items: int = 0
    max_items: int | None = None
    message: str = N_("„%(field)s“ muss eine nicht leere Liste sein.")
    too_many: str | None = None
    too_many_code: str = "validation_error"

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array"}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        schema["items"] = self.items.reference()
        return schema

    def parse(self, value: Any, where: str = "", name: str = "") -> list[Any]:
        if not isinstance(value, list) or len(value) < self.min_items:
            raise validation_error(self.message, where, field=name)
        if self.max_items is not None and len(value) > self.max_items:
            message = self.too_many or self.message
            raise api_error(
                422, self.too_many_code, message, where, max=self.max_items, n=len(value)
            )
        return [self.items.parse(item, f"{name}[{i}]") for i, item in enumerate(value)]


@dataclass(frozen=True, kw_only=True)
class Object(Field):
    """A JSON object of `fields`, checked in their order. `name` makes it a component of the
    document that others refer to; `closed` refuses other fields (`unknown`)."""

    fields: dict[str, Field]
    required: tuple[str, ...] = ()
    name: str = ""
    closed: bool = False
    message: str = N_("Ein JSON-Objekt erwartet.")
    unknown: str = N_("unbekannte Felder %(fields)s.")

    def _schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        if self.closed:
            schema["additionalProperties"] = False
        if self.required:
            schema["required"] = list(self.required)
        schema["properties"] = {key: kind.reference() for key, kind in self.fields.items()}
        return schema

    def reference(self) -> dict[str, Any]:
        if self.name:
            return {"$ref": f"#/components/schemas/{self.name}"}
        return self.schema()

    def parse(self, value: Any, where: str = "", name: str = "") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise validation_error(self.message, where)
        unknown = sorted(set(value) - set(self.fields))
        if self.closed and unknown:
            raise validation_error(self.unknown, where, fields=", ".join(unknown))
        return {key: kind.parse(value.get(key), where, key) for key, kind in self.fields.items()}

"""The OpenAPI 3.0 document of the JSON API, served at /api/v1/openapi.json: the requests from
the tables the views check them with (`webapp.api.rules`), the answers from the tables here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webapp.api.fields import Boolean, Choice, Field, Integer, List, Object, Text
from webapp.api.rules import (
    IDEMPOTENCY_KEY,
    LIST_QUERY,
    MAX_BATCH,
    NEW_SMS,
    NEW_SMS_BATCH,
    SMS_ID,
    STATUSES,
)

MESSAGE = Object(
    name="Message",
    required=("id", "status", "to", "reason", "reference", "segments", "encoding"),
    fields={
        "id": Integer(),
        "status": Choice(values=STATUSES),
        "to": Text(),
        "number": Text(nullable=True, description="E.164, null when not a valid number"),
        "reason": Text(nullable=True, description="Why it failed (German)"),
        "reference": Text(nullable=True),
        "segments": Integer(),
        "encoding": Text(),
        "created_at": Text(nullable=True, format="date-time"),
        "sent_at": Text(nullable=True, format="date-time"),
        "delivered_at": Text(nullable=True, format="date-time"),
        "send_at": Text(nullable=True, format="date-time", description="Versand am"),
    },
)
QUEUE_RESULT = Object(
    name="QueueResult",
    required=("queued", "failed", "messages"),
    fields={
        "queued": Integer(description="Queued to be sent with the next run"),
        "planned": Integer(description="Waiting for their send_at"),
        "failed": Integer(),
        "messages": List(
            items=Object(
                required=("id", "status", "reason", "reference"),
                fields={
                    "id": Integer(),
                    "status": Choice(values=("queued", "planned", "failed")),
                    "reason": Text(nullable=True),
                    "reference": Text(nullable=True),
                },
            )
        ),
    },
)
MESSAGE_LIST = Object(
    name="MessageList",
    required=("messages", "next_before", "total", "total_capped"),
    fields={
        "messages": List(items=MESSAGE),
        "next_before": Integer(nullable=True),
        "total": Integer(),
        "total_capped": Boolean(),
    },
)
ERROR = Object(
    name="Error",
    required=("error",),
    fields={
        "error": Object(
            required=("code", "message_de", "message_en"),
            fields={
                "code": Text(),
                "message_de": Text(),
                "message_en": Text(),
                "retry_after": Integer(
                    description="429: seconds until the limit allows the request again "
                    "(as the Retry-After header)"
                ),
                "remaining": Integer(
                    description="429 daily_sms_limit: SMS the token may still queue today"
                ),
                "status": Choice(
                    values=STATUSES,
                    description="409 not_cancellable: the status of the SMS that was not cancelled",
                ),
            },
        )
    },
)
COMPONENTS = (NEW_SMS, NEW_SMS_BATCH, QUEUE_RESULT, MESSAGE, MESSAGE_LIST, ERROR)


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answer(description: str, body: Object = ERROR) -> dict[str, Any]:
    return {"description": description, "content": _content(body.reference())}


def _parameters(
    where: str, table: Mapping[str, Field], required: bool | None = None
) -> list[dict[str, Any]]:
    parameters = []
    for name, field in table.items():
        schema = field.schema()
        parameter: dict[str, Any] = {"name": name, "in": where}
        if required is not None:
            parameter["required"] = required
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        parameters.append({**parameter, "schema": schema})
    return parameters


def _too_many(description: str) -> dict[str, Any]:
    """The 429 answer: the JSON error and the Retry-After header."""
    return {
        **_answer(description),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    requests_limit = (
        "More requests of this token within a minute than API_REQUESTS_PER_MINUTE "
        "(code too_many_requests)"
    )
    auth_errors = {
        "401": _answer("No, unknown or revoked token"),
        "403": _answer("The token lacks the permission"),
        "429": _too_many(requests_limit),
    }
    send = {
        "operationId": "queueSms",
        "summary": f"Queue one SMS or a batch of up to {MAX_BATCH}",
        "parameters": _parameters("header", {"Idempotency-Key": IDEMPOTENCY_KEY}, False),
        "requestBody": {
            "required": True,
            "content": _content({"oneOf": [NEW_SMS.reference(), NEW_SMS_BATCH.reference()]}),
        },
        "responses": {
            "202": _answer(
                "Stored: queued, or failed with the reason (number refused)", QUEUE_RESULT
            ),
            "400": _answer("Not JSON"),
            **auth_errors,
            "409": _answer(
                "Idempotency-Key used for another request (idempotency_key_reused), "
                "or the SMS service is switched off (sms_service_off)"
            ),
            "422": _answer(
                f"Invalid input (code validation_error) or more than {MAX_BATCH} "
                "messages (code batch_too_large)"
            ),
            "429": _too_many(
                f"{requests_limit}, or the SMS of the request would exceed the token's SMS "
                "per day (API_SMS_PER_DAY; a batch counts each of its SMS; code "
                "daily_sms_limit, `remaining` says how many are left today): nothing is "
                "queued"
            ),
        },
    }
    listing = {
        "operationId": "listSms",
        "summary": "The token's SMS, newest first (keyset pages)",
        "parameters": _parameters("query", LIST_QUERY),
        "responses": {
            "200": _answer("One page", MESSAGE_LIST),
            **auth_errors,
            "422": _answer("Invalid filter"),
        },
    }
    one = {
        "operationId": "getSms",
        "summary": "One SMS of the token's Mandant",
        "parameters": _parameters("path", {"id": SMS_ID}, True),
        "responses": {
            "200": _answer("The SMS", MESSAGE),
            **auth_errors,
            "404": _answer("No such SMS (or of another Mandant)"),
        },
    }
    cancel = {
        "operationId": "cancelSms",
        "summary": "Cancel a planned SMS of the token's Mandant until a run claims it",
        "description": (
            "Planung aufheben, as in the dialogs: an SMS planned with `send_at` that no run "
            "has claimed yet ends with status `cancelled` and is never sent. An SMS queued "
            "without `send_at` is the next run's and is not cancelled (409). Idempotent: "
            "cancelling a cancelled SMS answers 200 with the same body; no Idempotency-Key "
            "needed. Needs `sms:send`."
        ),
        "parameters": _parameters("path", {"id": SMS_ID}, True),
        "responses": {
            "200": _answer("The SMS, now (or already) cancelled", MESSAGE),
            **auth_errors,
            "404": _answer("No such SMS (or of another Mandant)"),
            "409": _answer(
                "Not cancellable (code not_cancellable, `status` says its status): claimed "
                "by a run, sent, failed, … or queued without send_at"
            ),
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "SMS-Modul JSON-API",
            "version": "1.0.0",
            "description": (
                "Queue SMS, read their status and cancel planned ones. Authenticate with "
                "`Authorization: Bearer sms_…` (tokens under Administration → API-Zugänge). "
                "Errors: `{error: {code, message_de, message_en}}`. Each token may make "
                "a limited number of requests per minute and queue a limited number of SMS "
                "per calendar day; beyond them: 429 with `Retry-After`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/sms": {"post": send, "get": listing},
            "/sms/{id}": {"get": one},
            "/sms/{id}/cancel": {"post": cancel},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {component.name: component.schema() for component in COMPONENTS},
        },
    }

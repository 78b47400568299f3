"""The OpenAPI 3.0 document of the JSON API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from webapp.models import MessageStatus
from webapp.validation import MAX_ID

# 10 SMS parts of 153 GSM characters. In UCS-2 (umlauts are GSM, emoji are not) 10 parts hold
# 670 characters: a longer text gets 422, which only the encoding can tell.
MAX_TEXT = 1530


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **extra}


def openapi_document(max_batch: int) -> dict[str, Any]:
    non_blank = "\\S"
    sms = {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "text"],
        "properties": {
            "to": {
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": non_blank,
                "description": "Mobile number, national (0664 …) or international (+43 664 …).",
            },
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TEXT,
                "pattern": non_blank,
                "description": "The SMS text; the signature and the fixed text are appended. "
                "The final text may have at most 10 SMS parts (1530 GSM characters, 670 "
                "with characters outside GSM 03.38, e.g. emoji); a longer one gets 422.",
            },
            "reference": _nullable(
                "string", maxLength=64, description="Id of the record in the calling system."
            ),
        },
    }
    message = {
        "type": "object",
        "required": ["id", "status", "to", "reason", "reference", "segments", "encoding"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in MessageStatus]},
            "to": {"type": "string"},
            "number": _nullable("string", description="E.164, null when not a valid number"),
            "reason": _nullable("string", description="Why it failed (German)"),
            "reference": _nullable("string"),
            "segments": {"type": "integer"},
            "encoding": {"type": "string"},
            "created_at": _nullable("string", format="date-time"),
            "sent_at": _nullable("string", format="date-time"),
            "delivered_at": _nullable("string", format="date-time"),
        },
    }
    auth_errors = {
        "401": _error("No, unknown or revoked token"),
        "403": _error("The token lacks the permission"),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "SMS-Modul JSON-API",
            "version": "1.0.0",
            "description": (
                "Queue SMS and read their status. Authenticate with "
                "`Authorization: Bearer sms_…` (tokens under Administration → API-Zugänge). "
                "Errors: `{error: {code, message_de, message_en}}`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/sms": {
                "post": {
                    "operationId": "queueSms",
                    "summary": f"Queue one SMS or a batch of up to {max_batch}",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "A retried POST with the same key returns the "
                            "first answer; another body with the same key gets 409.",
                            "schema": {"type": "string", "maxLength": 200},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/NewSms"},
                                        {"$ref": "#/components/schemas/NewSmsBatch"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Stored: queued, or failed with the reason "
                            "(number refused)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/QueueResult"}
                                }
                            },
                        },
                        "400": _error("Not JSON"),
                        **auth_errors,
                        "409": _error(
                            "Idempotency-Key used for another request (idempotency_key_reused), "
                            "or the SMS service is switched off (sms_service_off)"
                        ),
                        "422": _error(
                            f"Invalid input (code validation_error) or more than {max_batch} "
                            "messages (code batch_too_large)"
                        ),
                    },
                },
                "get": {
                    "operationId": "listSms",
                    "summary": "The token's SMS, newest first (keyset pages)",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": [s.value for s in MessageStatus],
                            },
                        },
                        {
                            "name": "number",
                            "in": "query",
                            "description": "Start of the number (0664 12 or +4366412)",
                            "schema": {"type": "string", "maxLength": 64},
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "description": "next_before of the previous page",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "One page",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/MessageList"}
                                }
                            },
                        },
                        **auth_errors,
                        "422": _error("Invalid filter"),
                    },
                },
            },
            "/sms/{id}": {
                "get": {
                    "operationId": "getSms",
                    "summary": "One SMS of the token's Mandant",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The SMS",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Message"}
                                }
                            },
                        },
                        **auth_errors,
                        "404": _error("No such SMS (or of another Mandant)"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "NewSms": sms,
                "NewSmsBatch": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["messages"],
                    "properties": {
                        "messages": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": max_batch,
                            "items": {"$ref": "#/components/schemas/NewSms"},
                        }
                    },
                },
                "QueueResult": {
                    "type": "object",
                    "required": ["queued", "failed", "messages"],
                    "properties": {
                        "queued": {"type": "integer"},
                        "failed": {"type": "integer"},
                        "messages": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "status", "reason", "reference"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "status": {"type": "string", "enum": ["queued", "failed"]},
                                    "reason": _nullable("string"),
                                    "reference": _nullable("string"),
                                },
                            },
                        },
                    },
                },
                "Message": message,
                "MessageList": {
                    "type": "object",
                    "required": ["messages", "next_before", "total", "total_capped"],
                    "properties": {
                        "messages": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Message"},
                        },
                        "next_before": _nullable("integer"),
                        "total": {"type": "integer"},
                        "total_capped": {"type": "boolean"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message_de", "message_en"],
                            "properties": {
                                "code": {"type": "string"},
                                "message_de": {"type": "string"},
                                "message_en": {"type": "string"},
                            },
                        }
                    },
                },
            },
        },
    }

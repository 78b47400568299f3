"""The HTTP JSON API under /api/v1/ (SPEC E7, DESIGN.md): queue SMS and read their status.

Requests authenticate with `Authorization: Bearer sms_…` (tokens of /admin/api-tokens). The
routes are `@public` for the login guard and check the token themselves; answers, errors
included, are JSON: `{"error": {"code", "message_de", "message_en"}}`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.api_openapi import MAX_TEXT, openapi_document
from webapp.api_tokens import find_token
from webapp.errors import InputError, ServiceOff
from webapp.extensions import csrf, db
from webapp.models import ApiIdempotencyKey, ApiToken, Message, MessageSource, MessageStatus
from webapp.permissions import own_authentication, public
from webapp.sms.outbox import QueueItem, queue_many
from webapp.sms.search import MessageFilter, search_messages
from webapp.validation import MAX_ID, clean_text

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_BATCH = 1000
MAX_REFERENCE = 64
ITEM_FIELDS = frozenset({"to", "text", "reference"})
MAX_IDEMPOTENCY_KEY = 200
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class ApiError(Exception):
    def __init__(self, status: int, code: str, message_de: str, message_en: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code
        self.message_de, self.message_en = message_de, message_en


def error_response(status: int, code: str, message_de: str, message_en: str) -> Response:
    response = jsonify(
        {"error": {"code": code, "message_de": message_de, "message_en": message_en}}
    )
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sms-api"'
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return error_response(error.status, error.code, error.message_de, error.message_en)


def _bad_request(message_de: str, message_en: str, code: str = "validation_error") -> ApiError:
    return ApiError(422, code, message_de, message_en)


def token_required(scope: str, query: frozenset[str] = frozenset()) -> Callable:
    """Authenticate by bearer token and require `scope` ("sms:send", "sms:read"); refuse
    query parameters other than `query`, and any given twice."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            kind, _, clear = header.partition(" ")
            token = find_token(db.session, clear.strip()) if kind.lower() == "bearer" else None
            if token is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "Kein gültiger API-Token (Authorization: Bearer …).",
                    "Missing, unknown or revoked API token (Authorization: Bearer …).",
                )
            if scope not in token.scope_set:
                raise ApiError(
                    403,
                    "forbidden",
                    f"Der API-Token hat die Berechtigung „{scope}“ nicht.",
                    f"The API token lacks the permission '{scope}'.",
                )
            g.api_token = token
            unknown = sorted(set(request.args) - query)
            if unknown:
                raise _bad_request(
                    f"Unbekannte Parameter: {', '.join(unknown)}.",
                    f"Unknown parameters: {', '.join(unknown)}.",
                )
            repeated = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
            if repeated:
                raise _bad_request(
                    f"Parameter mehrfach angegeben: {', '.join(repeated)}.",
                    f"Parameters given more than once: {', '.join(repeated)}.",
                )
            return view(*args, **kwargs)

        return own_authentication(wrapped)

    return decorator


def _iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC."""
    return value.isoformat() if value is not None else None


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "status": str(message.status),
        "to": message.recipient_raw,
        "number": message.recipient,
        "reason": message.reason,
        "reference": message.source_ref,
        "segments": message.segments,
        "encoding": message.encoding,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at),
    }


def _item(raw: Any, where: str) -> QueueItem:
    if not isinstance(raw, dict):
        raise _bad_request(
            f"{where}: ein JSON-Objekt mit „to“ und „text“ erwartet.",
            f"{where}: expected a JSON object with 'to' and 'text'.",
        )
    unknown = sorted(set(raw) - ITEM_FIELDS)
    if unknown:
        raise _bad_request(
            f"{where}: unbekannte Felder {', '.join(unknown)}.",
            f"{where}: unknown fields {', '.join(unknown)}.",
        )
    # Strings arrive cleaned of NUL and lone surrogates (webapp.request_input).
    to, text, reference = raw.get("to"), raw.get("text"), raw.get("reference")
    if not isinstance(to, str) or not to.strip() or len(to) > 64:
        raise _bad_request(
            f"{where}: „to“ muss eine Mobilfunknummer (Text, höchstens 64 Zeichen) sein.",
            f"{where}: 'to' must be a mobile number (string, at most 64 characters).",
        )
    if not isinstance(text, str) or not text.strip():
        raise _bad_request(
            f"{where}: „text“ muss ein nicht leerer Text sein.",
            f"{where}: 'text' must be a non-empty string.",
        )
    if len(text) > MAX_TEXT:
        raise _bad_request(
            f"{where}: „text“ darf höchstens {MAX_TEXT} Zeichen lang sein.",
            f"{where}: 'text' must be at most {MAX_TEXT} characters long.",
        )
    if reference is not None and (not isinstance(reference, str) or len(reference) > 64):
        raise _bad_request(
            f"{where}: „reference“ muss ein Text mit höchstens 64 Zeichen sein.",
            f"{where}: 'reference' must be a string of at most 64 characters.",
        )
    return QueueItem(recipient=to, text=text, source_ref=reference or None)


def _parse_send_body() -> tuple[list[QueueItem], Any]:
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise ApiError(
            400,
            "bad_json",
            "Der Inhalt der Anfrage ist kein gültiges JSON.",
            "The request body is not valid JSON.",
        )
    if not isinstance(body, dict):
        raise _bad_request("Ein JSON-Objekt erwartet.", "Expected a JSON object.")
    if "messages" in body:
        if set(body) != {"messages"}:
            raise _bad_request(
                "Neben „messages“ sind keine weiteren Felder erlaubt.",
                "No other fields are allowed next to 'messages'.",
            )
        batch = body["messages"]
        if not isinstance(batch, list) or not batch:
            raise _bad_request(
                "„messages“ muss eine nicht leere Liste sein.",
                "'messages' must be a non-empty list.",
            )
        if len(batch) > MAX_BATCH:
            raise ApiError(
                422,
                "batch_too_large",
                f"Höchstens {MAX_BATCH} SMS pro Anfrage (geschickt: {len(batch)}).",
                f"At most {MAX_BATCH} messages per request (got {len(batch)}).",
            )
        return [_item(raw, f"messages[{i}]") for i, raw in enumerate(batch)], body
    return [_item(body, "body")], body


def _queue(items: list[QueueItem], token: ApiToken) -> list[Message]:
    try:
        return queue_many(
            db.session,
            items,
            mandant_id=token.mandant_id,
            source=MessageSource.API,
            created_by_module=f"api:{token.name}"[:40],
        )
    except ServiceOff:
        raise ApiError(
            409,
            "sms_service_off",
            "Der SMS-Service ist ausgeschaltet (globale Variable 1400 steht auf 0): es werden "
            "keine SMS aufgenommen.",
            "The SMS service is switched off (global variable 1400 is 0): no SMS are accepted.",
        ) from None
    except InputError as error:
        index, _, field = (error.field or "").partition(".")
        where = f"messages[{index}]" if index.isdigit() else "body"
        raise ApiError(
            422,
            "validation_error",
            f"{where}: {error.message}",
            f"{where}: the field '{field or index}' was refused (see message_de).",
        ) from None


def _stored_answer(row: ApiIdempotencyKey, request_hash: str) -> Response:
    if row.request_hash != request_hash:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "Dieser Idempotency-Key wurde schon für eine andere Anfrage verwendet.",
            "This Idempotency-Key was already used for a different request.",
        )
    response = Response(row.response, status=row.status_code, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/sms", methods=["POST"])
@token_required("sms:send")
def send():  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise _bad_request(
            f"Der Idempotency-Key darf höchstens {MAX_IDEMPOTENCY_KEY} Zeichen lang sein.",
            f"The Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters long.",
        )
    if key != clean_text(key):
        raise _bad_request(
            "Der Idempotency-Key darf keine Steuerzeichen enthalten.",
            "The Idempotency-Key must not contain control characters.",
        )
    items, body = _parse_send_body()
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
    if key:
        stored = db.session.scalar(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.token_id == token.id, ApiIdempotencyKey.key == key
            )
        )
        if stored is not None:
            answer = _stored_answer(stored, request_hash)
            db.session.commit()  # last_used_at
            return answer
    messages = _queue(items, token)
    payload = {
        "queued": sum(m.status is MessageStatus.QUEUED for m in messages),
        "failed": sum(m.status is MessageStatus.FAILED for m in messages),
        "messages": [
            {
                "id": m.id,
                "status": str(m.status),
                "reason": m.reason,
                "reference": m.source_ref,
            }
            for m in messages
        ],
    }
    text = json.dumps(payload, ensure_ascii=False)
    if key:
        # The unique (token, key) makes a concurrent duplicate fail here, and its messages
        # are rolled back with it: only one of them is queued.
        db.session.add(
            ApiIdempotencyKey(
                token_id=token.id,
                key=key,
                request_hash=request_hash,
                status_code=202,
                response=text,
            )
        )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        stored = db.session.scalar(
            select(ApiIdempotencyKey).where(
                ApiIdempotencyKey.token_id == token.id, ApiIdempotencyKey.key == key
            )
        )
        if not key or stored is None:
            raise
        return _stored_answer(stored, request_hash)
    return Response(text, status=202, mimetype="application/json")


@bp.route("/sms/<int:message_id>")
@token_required("sms:read")
def message(message_id: int):  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    found = db.session.get(Message, message_id) if message_id <= MAX_ID else None
    if found is None or found.mandant_id != token.mandant_id:
        raise ApiError(
            404,
            "not_found",
            "Diese SMS gibt es nicht.",
            "No such message.",
        )
    answer = jsonify(message_json(found))
    db.session.commit()
    return answer


def _int_arg(name: str, minimum: int, maximum: int = MAX_ID) -> int | None:
    if name not in request.args:
        return None
    raw = request.args[name].strip()
    value = int(raw) if re.fullmatch(r"[0-9]{1,19}", raw) else None
    if value is None or not minimum <= value <= maximum:
        raise _bad_request(
            f"„{name}“ muss eine ganze Zahl von {minimum} bis {maximum} sein.",
            f"'{name}' must be an integer from {minimum} to {maximum}.",
        )
    return value


@bp.route("/sms")
@token_required("sms:read", query=frozenset({"status", "number", "before", "limit"}))
def messages():  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    raw_status = request.args.get("status")
    try:
        status = MessageStatus(raw_status) if raw_status is not None else None
    except ValueError:
        allowed = ", ".join(s.value for s in MessageStatus)
        raise _bad_request(
            f"Unbekannter Status „{raw_status}“; erlaubt: {allowed}.",
            f"Unknown status '{raw_status}'; allowed: {allowed}.",
        ) from None
    number = request.args.get("number", "")
    if len(number) > 64:
        raise _bad_request(
            "„number“ darf höchstens 64 Zeichen lang sein.",
            "'number' must be at most 64 characters long.",
        )
    before = _int_arg("before", 1)
    limit = _int_arg("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    page = search_messages(
        db.session,
        MessageFilter(status=status, number=number),
        mandant_ids={token.mandant_id},
        before=before,
        page_size=limit,
    )
    answer = jsonify(
        {
            "messages": [message_json(m) for m in page.rows],
            "next_before": page.older,
            "total": page.total,
            "total_capped": page.total_capped,
        }
    )
    db.session.commit()
    return answer


@bp.route("/openapi.json")
@public
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(openapi_document(MAX_BATCH))

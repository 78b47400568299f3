"""The HTTP JSON API under /api/v1/ (SPEC E7, DESIGN.md): queue SMS, read their status and
cancel planned ones.

Requests authenticate with `Authorization: Bearer sms_…` (tokens of /admin/api-tokens). The
routes are `@public` for the login guard and check the token themselves; answers, errors
included, are JSON: `{"error": {"code", "message_de", "message_en"}}`. What a request may carry
is declared in `webapp.api.rules`, the stored answers to retried POSTs are
`webapp.api.idempotency`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from webapp.api import idempotency
from webapp.api.errors import N_, ApiError, api_error, in_language
from webapp.api.limits import SmsReservation, api_limits
from webapp.api.openapi import openapi_document
from webapp.api.rules import (
    DEFAULT_LIMIT,
    LIST_QUERY,
    check_parameter_names,
    parse_idempotency_key,
    parse_query,
    parse_send,
)
from webapp.api_tokens import find_token
from webapp.errors import InputError, ServiceOff
from webapp.extensions import csrf, db
from webapp.models import ApiToken, Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.permissions import own_authentication, public
from webapp.sms import planning
from webapp.sms.outbox import QueueItem, queue_many
from webapp.sms.search import MessageFilter, search_messages

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def error_response(error: ApiError) -> Response:
    response = jsonify(error.json())
    response.status_code = error.status
    response.headers.update(error.headers)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sms-api"'
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    db.session.rollback()
    return error_response(error)


def token_required(scope: str, query: Iterable[str] = ()) -> Callable:
    """Authenticate by bearer token, count the request against the token's limit per minute
    and require `scope` ("sms:send", "sms:read"); refuse query parameters other than `query`
    (a table of `webapp.api.rules`), and any given twice."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            kind, _, clear = header.partition(" ")
            token = find_token(db.session(), clear.strip()) if kind.lower() == "bearer" else None
            if token is None:
                raise api_error(
                    401, "unauthorized", N_("Kein gültiger API-Token (Authorization: Bearer …).")
                )
            api_limits().count_request(token.id)
            if scope not in token.scope_set:
                raise api_error(
                    403,
                    "forbidden",
                    N_("Der API-Token hat die Berechtigung „%(scope)s“ nicht."),
                    scope=scope,
                )
            g.api_token = token
            given = [name for name, _value in request.args.items(multi=True)]
            check_parameter_names(given, query)
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
        "send_at": _iso(message.send_at),
    }


def _queue(items: list[QueueItem], token: ApiToken) -> idempotency.Answer:
    """Queue the SMS of a POST; the answer 202 lists them (failed ones with their reason)."""
    try:
        messages = queue_many(
            db.session(),
            items,
            mandant_id=token.mandant_id,
            source=MessageSource.API,
            created_by_module=_module(token),
        )
    except ServiceOff:
        raise api_error(
            409,
            "sms_service_off",
            N_(
                "Der SMS-Service ist ausgeschaltet (globale Variable 1400 steht auf 0): es "
                "werden keine SMS aufgenommen."
            ),
        ) from None
    except InputError as error:
        # The core's message is German; the English one only names the field.
        index, _, field = (error.field or "").partition(".")
        where = f"messages[{index}]" if index.isdigit() else "body"
        refused = N_("das Feld „%(field)s“ wurde abgelehnt (siehe message_de).")
        raise ApiError(
            422,
            "validation_error",
            f"{where}: {error.message}",
            f"{where}: {in_language('en', refused, field=field or index)}",
        ) from None
    payload = {
        "queued": sum(m.status is MessageStatus.QUEUED for m in messages),
        "planned": sum(m.status is MessageStatus.PLANNED for m in messages),
        "failed": sum(m.status is MessageStatus.FAILED for m in messages),
        "messages": [
            {"id": m.id, "status": str(m.status), "reason": m.reason, "reference": m.source_ref}
            for m in messages
        ],
    }
    return idempotency.Answer(202, json.dumps(payload, ensure_ascii=False))


@bp.route("/sms", methods=["POST"])
@token_required("sms:send")
def send() -> Response:
    token: ApiToken = g.api_token
    key = parse_idempotency_key(request.headers.get("Idempotency-Key", ""))
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise api_error(400, "bad_json", N_("Der Inhalt der Anfrage ist kein gültiges JSON."))
    items = parse_send(body)
    reservations: list[SmsReservation] = []

    def queue_counted() -> idempotency.Answer:
        # Counted only when queued for real: not for a replayed answer or refused input.
        reservations.append(api_limits().take_sms(token.id, len(items)))
        return _queue(items, token)

    try:
        answer = idempotency.answer_once(db.session(), token.id, key, body, queue_counted)
        db.session.commit()
    except BaseException:
        for reservation in reservations:
            reservation.give_back()
        raise
    if answer.replayed:  # a concurrent duplicate: its SMS were rolled back
        for reservation in reservations:
            reservation.give_back()
    response = Response(answer.body, status=answer.status, mimetype="application/json")
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _module(token: ApiToken) -> str:
    """Who acted, as the SMS records it: the API and the token's name ("api:erp")."""
    return f"api:{token.name}"[:40]


def _visible_message(message_id: int, token: ApiToken) -> Message:
    """The SMS `message_id` of the token's Mandant; ApiError 404 for a missing one and, alike,
    for another Mandant's."""
    found = db.session.get(Message, message_id)  # the route takes only ids up to MAX_ID
    if found is None or found.mandant_id != token.mandant_id:
        raise api_error(404, "not_found", N_("Diese SMS gibt es nicht."))
    return found


@bp.route("/sms/<int:message_id>")
@token_required("sms:read")
def message(message_id: int) -> Response:
    found = _visible_message(message_id, g.api_token)
    answer = jsonify(message_json(found))
    db.session.commit()
    return answer


@bp.route("/sms/<int:message_id>/cancel", methods=["POST"])
@token_required("sms:send")
def cancel(message_id: int) -> Response:
    """Planung aufheben over the API: the dialogs' `planning.cancel_planned`, so only an SMS
    planned with a send_at that no run has claimed yet ends as cancelled; a plain waiting SMS
    is the next run's, as in the dialogs. Idempotent without an Idempotency-Key: a repeat
    finds it cancelled and answers the same."""
    token: ApiToken = g.api_token
    found = _visible_message(message_id, token)
    planning.cancel_planned(
        db.session(),
        message_id,
        utcnow(),
        mandant_ids={token.mandant_id},
        by=_module(token),
    )
    db.session.refresh(found)  # cancel_planned updated (and committed) behind the session
    if found.status is not MessageStatus.CANCELLED:
        error = api_error(
            409,
            "not_cancellable",
            N_(
                "SMS %(id)d kann nicht abgebrochen werden: ihr Status ist „%(current)s“. "
                "Abbrechen lässt sich nur eine mit send_at geplante SMS, solange kein Lauf "
                "sie übernommen hat."
            ),
            id=found.id,
            current=str(found.status),
        )
        error.extra["status"] = str(found.status)
        raise error
    answer = jsonify(message_json(found))
    db.session.commit()
    return answer


@bp.route("/sms")
@token_required("sms:read", query=LIST_QUERY)
def messages() -> Response:
    token: ApiToken = g.api_token
    query = parse_query(LIST_QUERY, request.args)
    page = search_messages(
        db.session(),
        MessageFilter(
            status=MessageStatus(query["status"]) if "status" in query else None,
            number=query.get("number", ""),
        ),
        mandant_ids={token.mandant_id},
        before=query.get("before"),
        page_size=query.get("limit", DEFAULT_LIMIT),
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
def openapi() -> Response:
    return jsonify(openapi_document())

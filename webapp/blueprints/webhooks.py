"""Webhooks of websms (SPEC R2.2, E2, E5): received SMS and delivery reports.

websms calls `POST /webhooks/websms/<secret>` (the full URL is shown in the Einstellungen of
Service SMS); alternatively `POST /webhooks/websms` with HTTP Basic auth, password = the secret.
The views are public for the login machinery and check the secret themselves; they are exempt
from CSRF (websms cannot send a token). Answers as websms expects (reference §5):
`{"statusCode": 2000, "statusMessage": "OK"}`; 4000 for a malformed body, 4001 for a wrong
secret (HTTP 401). A repeated notification is acknowledged and not applied twice.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from webapp.extensions import csrf, db
from webapp.permissions import own_authentication
from webapp.sms.inbound import BadNotification, handle_notification, job_for_secret

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_BODY = 1_000_000


def _answer(code: int, message: str, http_status: int):  # type: ignore[no-untyped-def]
    return jsonify({"statusCode": code, "statusMessage": message}), http_status


def _receive(secret: str):  # type: ignore[no-untyped-def]
    job = job_for_secret(db.session, secret)
    if job is None:
        return _answer(4001, "Unauthorized", 401)
    if (request.content_length or 0) > MAX_BODY:
        return _answer(4000, "Body too large", 400)
    body = request.get_json(silent=True, force=True)
    try:
        handled = handle_notification(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            db.session,
            job,
            body,
            current_app.config["DEFAULT_PHONE_REGION"],
        )
    except BadNotification as error:
        db.session.rollback()
        return _answer(4000, f"Bad notification: {error}", 400)
    except Exception:
        db.session.rollback()
        log.exception("websms webhook failed")
        return _answer(5000, "Internal error", 500)
    return _answer(2000, "OK" if not handled.duplicate else "OK (already received)", 200)


@bp.route("/websms/<secret>", methods=["POST"])
@csrf.exempt
@own_authentication
def websms(secret: str):  # type: ignore[no-untyped-def]
    return _receive(secret)


@bp.route("/websms", methods=["POST"])
@csrf.exempt
@own_authentication
def websms_basic():  # type: ignore[no-untyped-def]
    auth = request.authorization
    secret = auth.password if auth is not None and auth.type == "basic" else ""
    if not secret:
        return (
            *_answer(4001, "Unauthorized", 401),
            {"WWW-Authenticate": 'Basic realm="websms"'},
        )
    return _receive(secret or "")

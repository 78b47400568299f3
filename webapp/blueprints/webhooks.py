"""Webhooks of websms (SPEC R2.2, E2, E5): received SMS and delivery reports.

websms calls `POST /webhooks/websms` with HTTP Basic auth, password = the job's webhook secret
(the URL `https://websms:<secret>@host/webhooks/websms` is shown in the Einstellungen of Service
SMS), or the older `POST /webhooks/websms/<secret>`. The secret is stored encrypted with the
job's other secrets and compared with the decrypted one in constant time; it never reaches a log
(`hide_webhook_secret_in_logs` masks the path in the access logs). The views are public for the
login machinery and check the secret themselves; they are exempt from CSRF (websms cannot send
a token). Answers as websms expects (reference §5): `{"statusCode": 2000, "statusMessage":
"OK"}`; 4000 for a malformed body, 4001 for a wrong secret (HTTP 401, noted in the Errorlog of
Service SMS at most every 15 minutes: `inbound.log_refused_webhook`). A repeated notification
is acknowledged and not applied twice.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, jsonify, request
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.extensions import app_object, csrf, db
from webapp.jobs.queues import redis_connection
from webapp.jobs.settings import job_for_webhook_secret
from webapp.permissions import own_authentication
from webapp.sms.inbound import BadNotification, handle_notification, log_refused_webhook
from webapp.sms.metrics import UNKNOWN_TYPE, count_webhook

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_BODY = 1_000_000  # a notification is < 2 kB; websms never sends more than this
BASIC_USER = "websms"  # any user name is accepted; the password is the secret


# --- the secret stays out of logs ----------------------------------------------------------------

SECRET_IN_PATH = re.compile(r"(/webhooks/websms/)[^\s/?#\"']+")
# The access logs of the development server and gunicorn, gunicorn's error log; Flask's own
# error log ("Exception on <path>") is added when the blueprint is registered.
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


class HideWebhookSecret(logging.Filter):
    """Masks the secret of `/webhooks/websms/<secret>` in a log line (as `***`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return True  # a broken record: logging reports that itself
        masked = SECRET_IN_PATH.sub(r"\1***", message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def hide_webhook_secret_in_logs(*logger_names: str) -> None:
    """Put the mask on the access loggers and on `logger_names` (once each)."""
    for name in (*ACCESS_LOGGERS, *logger_names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideWebhookSecret) for f in logger.filters):
            logger.addFilter(HideWebhookSecret())


@bp.record_once
def _hide_secret_in_logs(state: BlueprintSetupState) -> None:
    # Flask's logger by name: `app.logger` would give it Flask's own handler (double lines).
    hide_webhook_secret_in_logs(state.app.name)


def basic_auth_url(url: str, secret: str) -> str:
    """`url` with the Basic-auth credentials websms should call it with (user:secret@host)."""
    parts = urlsplit(url)
    netloc = f"{BASIC_USER}:{secret}@{parts.netloc.rsplit('@', 1)[-1]}"
    return urlunsplit(parts._replace(netloc=netloc))


# --- the webhooks --------------------------------------------------------------------------------


def _answer(code: int, message: str, http_status: int) -> tuple[Response, int]:
    return jsonify({"statusCode": code, "statusMessage": message}), http_status


def _refused(how: str) -> tuple[Response, int]:
    """401, and the Errorlog of Service SMS says so (rate-limited): after "neu erzeugen" the
    old URL at websms is refused, and SMS would otherwise stay "Versendet" without a word."""
    try:
        log_refused_webhook(db.session(), f"{how}, Absender {request.remote_addr or '?'}")
    except Exception:  # the answer stays 401 whatever the log does
        db.session.rollback()
        log.exception("could not log a refused webhook call")
    return _answer(4001, "Unauthorized", 401)


def _receive(secret: str, how: str) -> ResponseReturnValue:
    message_type, result, answer = _handle(secret, how)
    count_webhook(redis_connection(), message_type, result)  # for /metrics
    return answer


def _handle(secret: str, how: str) -> tuple[str, str, ResponseReturnValue]:
    """The notification's messageType, what became of it (webapp.sms.metrics.WEBHOOK_RESULTS)
    and the answer."""
    # Werkzeug enforces this while it reads: a Content-Length above it, and a chunked body
    # (no Content-Length) once it has read this much, raise RequestEntityTooLarge.
    request.max_content_length = MAX_BODY
    job = job_for_webhook_secret(db.session(), secret, current_app.config["SMS_SECRET_KEY"])
    if job is None:
        return UNKNOWN_TYPE, "unauthorized", _refused(how)
    try:
        body = request.get_json(silent=True, force=True)
    except RequestEntityTooLarge:
        return UNKNOWN_TYPE, "too_large", _answer(4000, "Body too large", 413)
    message_type = body.get("messageType") if isinstance(body, dict) else None
    kind = message_type if isinstance(message_type, str) else UNKNOWN_TYPE
    try:
        handled = handle_notification(
            app_object(),
            db.session(),
            job,
            body,
            current_app.config["DEFAULT_PHONE_REGION"],
        )
    except BadNotification as error:
        db.session.rollback()
        return kind, "malformed", _answer(4000, f"Bad notification: {error}", 400)
    except Exception:
        db.session.rollback()
        log.exception("websms webhook failed")
        return kind, "error", _answer(5000, "Internal error", 500)
    if handled.duplicate:
        return kind, "duplicate", _answer(2000, "OK (already received)", 200)
    unmatched = handled.received is None and handled.message is None
    return kind, "unmatched" if unmatched else "applied", _answer(2000, "OK", 200)


@bp.route("/websms/<secret>", methods=["POST"])
@csrf.exempt
@own_authentication
def websms(secret: str) -> ResponseReturnValue:
    """The older form with the secret in the path (kept for URLs already entered at websms)."""
    return _receive(secret, "Geheimnis im Pfad falsch")


@bp.route("/websms", methods=["POST"])
@csrf.exempt
@own_authentication
def websms_basic() -> ResponseReturnValue:
    """HTTP Basic auth, password = the secret: nothing secret in the path."""
    auth = request.authorization
    secret = auth.password if auth is not None and auth.type == "basic" else ""
    if not secret:
        count_webhook(redis_connection(), UNKNOWN_TYPE, "unauthorized")
        return (
            *_refused("ohne HTTP-Basic-Anmeldung"),
            {"WWW-Authenticate": 'Basic realm="websms"'},
        )
    return _receive(secret, "HTTP-Basic-Anmeldung mit falschem Passwort")

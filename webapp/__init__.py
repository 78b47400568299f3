"""Application factory of the SMS module."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.api.errors import N_, ApiError, api_error, in_language
from webapp.config import load_config
from webapp.extensions import babel, csrf, db, htmx, limiter, migrate


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, `overrides` on top (tests)."""
    config = load_config(overrides)
    app = Flask(__name__, instance_path=config["INSTANCE_PATH"], instance_relative_config=True)
    app.config.update(config)
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Only behind the proxies the deployment names do X-Forwarded-For/-Proto tell the
        # client's address and scheme (login limit, session binding); from anyone else
        # they mean nothing.
        # Flask's documented way to wrap its WSGI app; mypy refuses assigning to a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies
        )
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    configure_logger(app)
    return app


def _select_locale() -> str:
    """The language chosen in the session; German outside requests (CLI, jobs, e-mails)."""
    if not has_request_context():
        return "de"
    wanted = session.get("lang")
    return wanted if isinstance(wanted, str) and wanted in current_app.config["LANGUAGES"] else "de"


def _select_timezone() -> str:
    """Times are shown in the installation's TIMEZONE (Flask-Babel's date formatting)."""
    return str(current_app.config["TIMEZONE"])


def register_extensions(app: Flask) -> None:
    from webapp import request_input

    request_input.init_app(app)  # first: the routes added later bind its converters
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    limiter.init_app(app)

    from webapp import login_limit, login_sessions, security_headers
    from webapp.api import limits as api_limits

    login_limit.init_app(app)
    api_limits.init_app(app)
    login_sessions.init_app(app)
    security_headers.init_app(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the web server read while the worker writes; FKs on; wait instead of failing."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def register_blueprints(app: Flask) -> None:
    from webapp.blueprints import (
        admin_api_tokens,
        admin_users,
        api,
        auth,
        compose,
        config_tables,
        contacts,
        globals_,
        inbox,
        jobs,
        main,
        messages,
        metrics,
        my_messages,
        orders,
        overview,
        quicksend,
        serien,
        texts,
        tickets,
        webhooks,
    )

    for module in (
        main,
        auth,
        admin_users,
        globals_,
        config_tables,
        messages,
        serien,
        my_messages,
        compose,
        quicksend,
        texts,
        contacts,
        orders,
        tickets,
        jobs,
        api,
        admin_api_tokens,
        inbox,
        webhooks,
        metrics,
        overview,
    ):
        app.register_blueprint(module.bp)


def register_errorhandlers(app: Flask) -> None:
    def render_error(
        status: int, reason: str | None = None, lacks_permission: bool = False
    ) -> ResponseReturnValue:
        template = "errors/_error.html" if htmx else "errors/error.html"
        return render_template(
            template, status=status, reason=reason, lacks_permission=lacks_permission
        ), status

    @app.errorhandler(403)
    def forbidden(_error: Exception) -> ResponseReturnValue:
        refusal = g.get("refusal")  # webapp.permissions: what the user lacks
        if refusal is None:
            return render_error(403, lacks_permission=True)
        return render_error(403, refusal.message, lacks_permission=not refusal.reason)

    def api_answer(error: ApiError) -> Response:
        from webapp.blueprints.api import error_response

        return error_response(error)

    @app.errorhandler(404)
    def not_found(_error: Exception) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return api_answer(api_error(404, "not_found", N_("Nicht gefunden.")))
        return render_error(404)

    @app.errorhandler(405)
    def method_not_allowed(error: HTTPException) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return api_answer(api_error(405, "method_not_allowed", N_("Methode nicht erlaubt.")))
        return error

    @app.errorhandler(413)
    def request_too_large(_error: Exception) -> ResponseReturnValue:
        from webapp.formatting import format_number

        megabytes = round((request.max_content_length or 0) / (1024 * 1024), 1)
        too_large = N_("Die Anfrage ist zu groß (höchstens %(mb)s MB).")
        if request.path.startswith("/api/"):
            return api_answer(
                ApiError(
                    413,
                    "request_too_large",
                    in_language("de", too_large, mb=format_number(megabytes, locale="de")),
                    in_language("en", too_large, mb=format_number(megabytes, locale="en")),
                )
            )
        return render_error(413, str(_l(too_large, mb=format_number(megabytes))))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        return render_error(
            400,
            str(
                _l(
                    "Das Formular ist abgelaufen oder ungültig (CSRF). "
                    "Bitte laden Sie die Seite neu und versuchen Sie es erneut."
                )
            ),
        )

    @app.errorhandler(500)
    def server_error(_error: Exception) -> ResponseReturnValue:
        db.session.rollback()
        if request.path.startswith("/api/"):
            return api_answer(api_error(500, "server_error", N_("Interner Fehler.")))
        return render_error(500)


def register_template_helpers(app: Flask) -> None:
    from webapp import formatting
    from webapp.jobs.channels import attempt_label
    from webapp.navigation import build_menu, service_notice
    from webapp.permissions import Permission, may_access
    from webapp.sms import mandant_limits, modem_reports, planning, unclear
    from webapp.sms.numbers import format_display
    from webapp.technical import explained, sentence_of

    app.jinja_env.filters["datetime"] = formatting.format_datetime
    app.jinja_env.filters["number"] = formatting.format_number
    app.jinja_env.filters["date"] = formatting.format_date
    app.jinja_env.filters["duration"] = formatting.format_duration
    app.jinja_env.filters["phone"] = format_display
    app.jinja_env.filters["explained"] = explained
    app.jinja_env.filters["sentence_of"] = sentence_of
    app.jinja_env.filters["unclear_record"] = unclear.record
    app.jinja_env.filters["held_reason"] = mandant_limits.held_reason
    app.jinja_env.filters["part_label"] = modem_reports.part_label
    app.jinja_env.filters["cancellable"] = planning.is_cancellable

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {
            "menu": build_menu,
            "may_access": may_access,
            "Permission": Permission,
            "sms_service_notice": service_notice,
            "channel_label": _channel_label,
            "attempts_of": _attempts_of,
            "attempt_label": attempt_label,
            "parts_of": _parts_of,
        }


def _channel_label(channel_id: int | None) -> str:
    """The label of a channel in the SMS detail ("Kanal 2 – GSM-Modem"), read once a request."""
    from flask import g

    from webapp.jobs.channels import channel_labels

    if channel_id is None:
        return ""
    labels = g.get("channel_labels")
    if labels is None:
        labels = g.channel_labels = channel_labels(db.session())
    return labels.get(channel_id, "")


def _attempts_of(message_id: int) -> list[Any]:
    """The attempts of one SMS, oldest first (the SMS detail, only for SMS tried more than once)."""
    from webapp.jobs.channels import attempts_of

    return list(attempts_of(db.session(), message_id))


def _parts_of(message: Any) -> list[Any]:
    """The parts of an SMS with what the modem's status reports said (the SMS detail). Read
    only for SMS with a report that were not sent through websms, and for a list in one
    query: the first call of a request reads them for every such SMS the request loaded."""
    from flask import g
    from sqlalchemy import select

    from webapp.models import Channel, Message
    from webapp.models.channels import WEBSMS
    from webapp.sms.modem_reports import report_parts

    if not message.report_status:
        return []
    cache: dict[int, list[Any]] | None = g.get("message_parts")
    if cache is not None and message.id in cache:
        return cache[message.id]
    websms = g.get("websms_channels")
    if websms is None:
        websms = g.websms_channels = set(
            db.session.scalars(select(Channel.id).where(Channel.kind == WEBSMS))
        )
    loaded = [m for m in db.session.identity_map.values() if isinstance(m, Message)]
    wanted = {
        m.id
        for m in [*loaded, message]
        if m.report_status and m.channel_id not in websms and (cache is None or m.id not in cache)
    }
    cache = g.message_parts = {**(cache or {}), **report_parts(db.session(), wanted)}
    return cache.get(message.id, [])


def register_commands(app: Flask) -> None:
    from webapp.cli import bp

    app.register_blueprint(bp)


def configure_logger(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

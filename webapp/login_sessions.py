"""Logged-in sessions: whose they are, what they are bound to, and when they end.

- A session (and a remember-me cookie) carries the user's id *and* session epoch
  (`User.get_id`); logout, a new password and deactivation raise the epoch
  (`accounts.end_sessions`), which ends every earlier session of that user at once.
- Strong session protection binds a session to the client address and browser; the address
  is `request.remote_addr`, which ProxyFix sets from X-Forwarded-For only behind the
  TRUSTED_PROXIES the deployment names (Flask-Login itself would believe anybody's header).
- After SESSION_IDLE_MINUTES without a request of the user the session ends with a message.
"""

from __future__ import annotations

import hashlib
import time

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_htmx import make_response
from flask_login import login_user, logout_user

from webapp.extensions import client_address, db, htmx, login_manager
from webapp.models import User
from webapp.validation import optional_id

SEEN = "_seen"  # session key: when the user last did something (Unix seconds)
STAMP_EVERY_SECONDS = 60  # a new stamp at most once a minute: fewer new cookies
# Sent by app.js with the requests htmx makes by itself (hx-trigger "every …"): a poll is no
# sign of a person at the screen and must not keep an idle session alive.
BACKGROUND_HEADER = "X-Background-Poll"


def session_identifier() -> str:
    """What strong session protection binds a session to: client address and browser."""
    agent = request.headers.get("User-Agent", "")
    return hashlib.sha512(f"{client_address()}|{agent}".encode()).hexdigest()


def load_user(token: str) -> User | None:
    """The user of a session or remember-me cookie ("id:epoch"), or None when the user is
    gone, inactive or has ended that session (epoch raised since)."""
    raw_id, _sep, epoch = token.partition(":")
    user_id = optional_id(raw_id)
    if user_id is None or not (epoch.isascii() and epoch.isdigit()):
        return None  # a session from before epochs, or garbage
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.session_epoch != int(epoch):
        g.session_ended = _(
            "Ihre Sitzung wurde beendet (Abmeldung, neues Passwort oder Deaktivierung). "
            "Bitte melden Sie sich erneut an."
        )
        return None
    return user


def start_session(user: User) -> None:
    """Log `user` in on this browser (after the password was checked)."""
    login_user(user)
    session[SEEN] = int(time.time())


def enforce_idle_timeout() -> None:
    """Before each request: end a session idle for longer than SESSION_IDLE_MINUTES, else
    note the activity (not for background polls)."""
    if "_user_id" not in session:
        return
    now = int(time.time())
    seen = session.get(SEEN)
    minutes = current_app.config["SESSION_IDLE_MINUTES"]
    if isinstance(seen, int) and now - seen > minutes * 60:
        logout_user()
        session.pop(SEEN, None)
        g.session_ended = _(
            "Sie waren länger als %(n)d Minuten nicht aktiv und wurden abgemeldet. "
            "Bitte melden Sie sich erneut an.",
            n=minutes,
        )
        return
    background = request.headers.get(BACKGROUND_HEADER) == "1"
    if not isinstance(seen, int) or (now - seen >= STAMP_EVERY_SECONDS and not background):
        session[SEEN] = now


def unauthorized() -> ResponseReturnValue:
    """Not logged in (or no longer): to the login page, saying why when we know."""
    flash(str(g.get("session_ended") or login_manager.login_message), "info")
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if htmx:  # a swap would put the login page into a table cell: redirect the page
        return make_response("", 401, redirect=target)
    return redirect(target)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Bitte melden Sie sich an, um diese Seite zu öffnen.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    # Flask-Login has no public setting for this; its own reads X-Forwarded-For from anyone.
    login_manager._session_identifier_generator = session_identifier
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)
    app.before_request(enforce_idle_timeout)

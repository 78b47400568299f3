"""Anmelden / Abmelden, with failed logins rate-limited per user name and per address."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from webapp.accounts import authenticate, end_sessions, normalize_username
from webapp.extensions import client_address, db
from webapp.login_limit import login_limit
from webapp.login_sessions import start_session
from webapp.navigation import local_url
from webapp.permissions import public, requires

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(
        _l("Benutzername"), validators=[DataRequired(_l("Bitte den Benutzernamen eingeben."))]
    )
    password = PasswordField(
        _l("Passwort"), validators=[DataRequired(_l("Bitte das Passwort eingeben."))]
    )


def _safe_next(target: str | None) -> str:
    return local_url(target, url_for("main.index"))


def _too_many_attempts(form: LoginForm) -> ResponseReturnValue:
    message = _(
        "Zu viele fehlgeschlagene Anmeldeversuche. Bitte warten Sie einige Minuten und "
        "versuchen Sie es dann erneut (Grenze: %(limit)s).",
        limit=current_app.config["LOGIN_RATE_LIMIT"],
    )
    return render_template("auth/login.html", form=form, blocked=message), 429


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        # Counted before the password is checked, so parallel attempts cannot outrun the
        # limit; a successful login gives its count back (only failures count).
        attempt = login_limit().reserve(
            "login-user:" + normalize_username(form.username.data or ""),
            "login-addr:" + client_address(),
        )
        if not attempt.allowed:
            return _too_many_attempts(form)
        user = authenticate(db.session(), form.username.data or "", form.password.data or "")
        if user is not None:
            attempt.give_back()
            db.session.commit()
            start_session(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = [*form.password.errors, _("Benutzername oder Passwort ist falsch.")]
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["GET", "POST"])
@requires()
def logout() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("auth/logout.html")
    # Ends this session and every other one of the user (a copied cookie included).
    end_sessions(db.session(), current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash(_("Sie wurden abgemeldet."), "info")
    return redirect(url_for("auth.login"))

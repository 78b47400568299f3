"""Benutzer, Rollen and Mandanten (administrators only)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField

from webapp import accounts
from webapp.blueprints.forms import MultiCheckboxField, save_or_show_errors
from webapp.extensions import db
from webapp.login_sessions import start_session
from webapp.models import Mandant, Role, User
from webapp.permissions import ROLE_PERMISSIONS, Permission, requires
from webapp.sms import mandant_limits

bp = Blueprint("admin_users", __name__, url_prefix="/admin")

admin_only = requires(Permission.ADMINISTRATOR)


class UserForm(FlaskForm):
    username = StringField(_l("Benutzername"))
    display_name = StringField(_l("Anzeigename"))
    email = EmailField(_l("E-Mail"))
    password = PasswordField(_l("Passwort"))
    is_administrator = BooleanField(_l("Administrator"))
    active = BooleanField(_l("Aktiv"), default=True)
    roles = MultiCheckboxField(_l("Rollen"), coerce=int)
    mandanten = MultiCheckboxField(_l("Mandanten"), coerce=int)


class RoleForm(FlaskForm):
    name = StringField(_l("Name"))
    description = TextAreaField(_l("Beschreibung"))
    permissions = MultiCheckboxField(_l("Berechtigungen"), coerce=int)


class MandantForm(FlaskForm):
    name = StringField(_l("Name"))


def _user_form(user: User | None) -> UserForm:
    form = UserForm(obj=user) if request.method == "GET" and user else UserForm()
    form.roles.choices = [
        (r.id, r.name) for r in db.session.scalars(select(Role).order_by(Role.name))
    ]
    form.mandanten.choices = [
        (m.id, m.name) for m in db.session.scalars(select(Mandant).order_by(Mandant.name))
    ]
    if request.method == "GET" and user is not None:
        form.roles.data = [r.id for r in user.roles]
        form.mandanten.data = [m.id for m in user.mandanten]
    elif request.method == "GET" and len(form.mandanten.choices) == 1:
        # The installation's only Mandant: a new user works for it unless unticked.
        form.mandanten.data = [form.mandanten.choices[0][0]]
    return form


@bp.route("/users")
@admin_only
def users() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()
    stmt = select(User).order_by(User.username)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(User.username.ilike(like), User.display_name.ilike(like), User.email.ilike(like))
        )
    rows = list(db.session.scalars(stmt))
    template = (
        "admin/_users_rows.html"
        if request.headers.get("HX-Target") == "user-rows"
        else "admin/users.html"
    )
    return render_template(template, users=rows, q=query)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_only
def user_edit(user_id: int | None = None) -> ResponseReturnValue:
    user = db.get_or_404(User, user_id) if user_id is not None else None
    form = _user_form(user)
    if form.validate_on_submit():
        data = accounts.UserInput(
            username=form.username.data or "",
            display_name=form.display_name.data or "",
            email=form.email.data or "",
            password=form.password.data or "",
            is_administrator=form.is_administrator.data,
            active=form.active.data,
            role_ids=form.roles.data or [],
            mandant_ids=form.mandanten.data or [],
        )
        me = current_user._get_current_object()
        with save_or_show_errors(form) as saving:
            saved = accounts.save_user(db.session(), data, user, actor=me)
        if saving.ok:
            if saved.id == me.id:  # a new own password ended all sessions: this one goes on
                start_session(saved)
            flash(_("Benutzer %(u)s wurde gespeichert.", u=saved.username), "success")
            return redirect(url_for("admin_users.users"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/user_form.html", form=form, user=user), status


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@admin_only
def user_set_active(user_id: int) -> ResponseReturnValue:
    user = db.get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    with save_or_show_errors() as saving:
        accounts.set_user_active(
            db.session(), user, active, actor=current_user._get_current_object()
        )
    if saving.ok:
        if active:
            flash(_("Benutzer %(u)s ist wieder aktiv.", u=user.username), "success")
        else:
            flash(_("Benutzer %(u)s wurde deaktiviert.", u=user.username), "success")
    return redirect(url_for("admin_users.users"))


@bp.route("/roles")
@admin_only
def roles() -> ResponseReturnValue:
    rows = list(db.session.scalars(select(Role).order_by(Role.name)))
    return render_template("admin/roles.html", roles=rows, Permission=Permission)


@bp.route("/roles/new", methods=["GET", "POST"])
@bp.route("/roles/<int:role_id>", methods=["GET", "POST"])
@admin_only
def role_edit(role_id: int | None = None) -> ResponseReturnValue:
    role = db.get_or_404(Role, role_id) if role_id is not None else None
    form = RoleForm(obj=role) if request.method == "GET" and role else RoleForm()
    form.permissions.choices = [(int(p), f"{int(p)} {p.label}") for p in ROLE_PERMISSIONS]
    if request.method == "GET" and role is not None:
        form.permissions.data = sorted(role.permissions)
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            saved = accounts.save_role(
                db.session(),
                form.name.data or "",
                form.permissions.data or [],
                form.description.data or "",
                role,
            )
        if saving.ok:
            flash(_("Rolle %(n)s wurde gespeichert.", n=saved.name), "success")
            return redirect(url_for("admin_users.roles"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/role_form.html", form=form, role=role), status


@bp.route("/roles/<int:role_id>/delete", methods=["POST"])
@admin_only
def role_delete(role_id: int) -> ResponseReturnValue:
    role = db.get_or_404(Role, role_id)
    name = role.name
    accounts.delete_role(db.session(), role)
    db.session.commit()
    flash(_("Rolle %(n)s wurde gelöscht.", n=name), "success")
    return redirect(url_for("admin_users.roles"))


@bp.route("/mandanten", methods=["GET", "POST"])
@admin_only
def mandanten() -> ResponseReturnValue:
    form = MandantForm()
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            saved = accounts.save_mandant(db.session(), form.name.data or "")
        if saving.ok:
            flash(_("Mandant %(n)s wurde angelegt.", n=saved.name), "success")
            return redirect(url_for("admin_users.mandanten"))
    rows = list(db.session.scalars(select(Mandant).order_by(Mandant.name)))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/mandanten.html", form=form, mandanten=rows), status


@bp.route("/mandanten/<int:mandant_id>", methods=["POST"])
@admin_only
def mandant_rename(mandant_id: int) -> ResponseReturnValue:
    """Save a Mandant's row: its name and its limits of SMS per hour and per day."""
    mandant = db.get_or_404(Mandant, mandant_id)
    with save_or_show_errors() as saving:
        accounts.save_mandant(db.session(), request.form.get("name", ""), mandant)
        if "sms_per_hour" in request.form or "sms_per_day" in request.form:
            mandant_limits.save_limits(
                db.session(),
                mandant,
                request.form.get("sms_per_hour", ""),
                request.form.get("sms_per_day", ""),
            )
    if saving.ok:
        flash(_("Mandant %(n)s wurde gespeichert.", n=mandant.name), "success")
    return redirect(url_for("admin_users.mandanten"))

"""API-Zugänge: bearer tokens of the JSON API (administrators only, SPEC E7)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField

from webapp.api_tokens import create_token, revoke_token
from webapp.blueprints.forms import MultiCheckboxField, save_or_show_errors
from webapp.extensions import db
from webapp.models import API_SCOPES, ApiToken, Mandant
from webapp.permissions import Permission, requires
from webapp.validation import optional_id

bp = Blueprint("admin_api_tokens", __name__, url_prefix="/admin")

admin_only = requires(Permission.ADMINISTRATOR)

SCOPE_LABELS = {
    "sms:send": _l("SMS versenden (sms:send)"),
    "sms:read": _l("Status von SMS lesen (sms:read)"),
}


class TokenForm(FlaskForm):
    name = StringField(_l("Name"))
    mandant = SelectField(_l("Mandant"), coerce=optional_id, validate_choice=False)
    scopes = MultiCheckboxField(_l("Berechtigungen"))


def _form() -> TokenForm:
    form = TokenForm()
    form.mandant.choices = [
        (m.id, m.name) for m in db.session.scalars(select(Mandant).order_by(Mandant.name))
    ]
    form.scopes.choices = [(scope, str(SCOPE_LABELS[scope])) for scope in API_SCOPES]
    if not form.is_submitted():
        form.scopes.data = list(API_SCOPES)
    return form


@bp.route("/api-tokens", methods=["GET", "POST"])
@admin_only
def index() -> ResponseReturnValue:
    form = _form()
    created: str | None = None
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            token, created = create_token(
                db.session(),
                name=form.name.data or "",
                mandant_id=form.mandant.data,
                scopes=form.scopes.data or [],
                created_by=current_user,
            )
        if saving.ok:
            flash(_("API-Zugang %(n)s wurde angelegt.", n=token.name), "success")
            form = _form()
            form.name.data = ""
    tokens = list(db.session.scalars(select(ApiToken).order_by(ApiToken.name)))
    status = 422 if form.errors or form.form_errors else 200
    return (
        render_template(
            "admin/api_tokens.html",
            form=form,
            tokens=tokens,
            created=created,
            scope_labels=SCOPE_LABELS,
        ),
        status,
    )


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
@admin_only
def revoke(token_id: int) -> ResponseReturnValue:
    token = db.get_or_404(ApiToken, token_id)
    revoke_token(db.session(), token)
    db.session.commit()
    flash(_("API-Zugang %(n)s wurde gesperrt.", n=token.name), "success")
    return redirect(url_for("admin_api_tokens.index"))

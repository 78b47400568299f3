"""The SMS editor's live parts, shared by "Neu", "SMS senden" and record actions (UI.md).

The counter and the number check answer htmx requests with small partials computed by the one
segment counter (webapp.sms.encoding) and the one number parser (webapp.sms.numbers).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField

from webapp.accounts import selectable_mandanten
from webapp.extensions import db
from webapp.models import SmsText, User
from webapp.permissions import requires
from webapp.sms.numbers import check_number
from webapp.sms.outbox import fixed_text, preview

bp = Blueprint("compose", __name__, url_prefix="/sms/compose")


class SmsForm(FlaskForm):
    """Number, Mandant, template and text: the fields every SMS dialog shares."""

    recipient = StringField("Mobilfunknummer")
    mandant = SelectField("Mandant", coerce=int, validate_choice=False)
    template = SelectField("SMS-Text als Vorlage", coerce=str, validate_choice=False)
    text = TextAreaField("SMS-Text")


def prepare_form(form: SmsForm, user: User) -> SmsForm:
    """Fill the choices of `form` for `user` (its Mandanten, the SMS texts)."""
    mandanten = selectable_mandanten(db.session, user)
    form.mandant.choices = [(m.id, m.name) for m in mandanten]
    if form.mandant.data is None and mandanten:
        form.mandant.data = mandanten[0].id
    texts = db.session.execute(select(SmsText.id, SmsText.name).order_by(SmsText.name)).all()
    form.template.choices = [("", "–"), *[(str(t.id), t.name) for t in texts]]
    return form


def editor_context() -> dict[str, object]:
    """What the editor macro needs besides the form."""
    return {"fixed_text": fixed_text(db.session)}


def _config(name: str) -> object:
    return current_app.config[name]


@bp.route("/counter", methods=["POST"])
@requires()
def counter():  # type: ignore[no-untyped-def]
    """Characters, segments and encoding of the final text (text + fixed text)."""
    info = preview(db.session, request.form.get("text", ""))
    return render_template(
        "compose/_counter.html", info=info, max_segments=_config("SMS_MAX_SEGMENTS")
    )


@bp.route("/number", methods=["POST"])
@requires()
def number():  # type: ignore[no-untyped-def]
    """The normalised number or what is wrong with it, as you type."""
    raw = request.form.get("recipient", "")
    parsed = (
        check_number(db.session, raw, str(_config("DEFAULT_PHONE_REGION"))) if raw.strip() else None
    )
    return render_template("compose/_number.html", parsed=parsed)

"""The SMS editor's live parts, shared by "Neu", "SMS senden" and record actions (UI.md).

The counter and the number check answer htmx requests with small partials computed by the one
segment counter (webapp.sms.encoding), the one number parser (webapp.sms.numbers) and the one
placeholder module (webapp.sms.placeholders: a placeholder nobody fills is marked, and the
outbox refuses the SMS while it is there).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, flash, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField

from webapp.accounts import missing_mandant_reason, selectable_mandanten
from webapp.errors import InputError
from webapp.extensions import db
from webapp.formatting import format_datetime
from webapp.jobs.settings import service_signature
from webapp.models import Message, MessageSource, MessageStatus, SmsText, User
from webapp.models.base import utcnow
from webapp.permissions import requires
from webapp.sms import placeholders
from webapp.sms.encoding import analyze
from webapp.sms.numbers import check_number
from webapp.sms.outbox import compose_text, fixed_text, queue_sms
from webapp.sms.planning import parse_send_at
from webapp.validation import optional_id

bp = Blueprint("compose", __name__, url_prefix="/sms/compose")


# What an editor's id prefix may look like ("quick-"): it ends up in ids and selectors.
_ID_PREFIX = re.compile(r"[a-z][a-z0-9]{0,19}-")


class SmsForm(FlaskForm):
    """Number, Mandant, template and text: the fields every SMS dialog shares."""

    recipient = StringField("Mobilfunknummer")
    mandant = SelectField("Mandant", coerce=optional_id, validate_choice=False)
    template = SelectField("SMS-Text als Vorlage", coerce=str, validate_choice=False)
    text = TextAreaField("SMS-Text")
    # Versand am: a local date and time (datetime-local), empty = send at once.
    send_at = StringField("Versand am")
    # Set by prepare_form when the user has no Mandant to send for: what an administrator must do.
    missing_mandant: str | None = None
    # Starts the id of every field and of the editor's live checks: an editor that can open
    # over another one (the SMS senden dialog over Neu) has ids of its own, so its labels,
    # descriptions and checks never point at the page's. The field names stay as they are.
    id_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self:
            field.id = f"{self.id_prefix}{field.id}"
            field.label.field_id = field.id


def editor_prefix(raw: str | None) -> str:
    """The id prefix a live check answers for (`?prefix=` of its request), "" for none."""
    return raw if raw and _ID_PREFIX.fullmatch(raw) else ""


def prepare_form(form: SmsForm, user: User) -> SmsForm:
    """Fill the choices of `form` for `user` (its Mandanten, the SMS texts); without a Mandant,
    `form.missing_mandant` says what an administrator must do (the editor shows it)."""
    mandanten = selectable_mandanten(db.session(), user)
    form.mandant.choices = [(m.id, m.name) for m in mandanten]
    if form.mandant.data is None and mandanten:
        form.mandant.data = mandanten[0].id
    form.missing_mandant = missing_mandant_reason(db.session(), user) if not mandanten else None
    texts = db.session.execute(select(SmsText.id, SmsText.name).order_by(SmsText.name)).all()
    form.template.choices = [("", "–"), *[(str(t.id), t.name) for t in texts]]
    return form


def editor_context() -> dict[str, object]:
    """What the editor macro needs besides the form: the unchangeable end of every SMS."""
    ending = [part for part in (service_signature(db.session()), fixed_text(db.session())) if part]
    return {"fixed_text": "\n".join(ending)}


def _config(name: str) -> Any:
    return current_app.config[name]


def queue_from_form(
    form: SmsForm,
    *,
    source: MessageSource,
    source_ref: str | None = None,
    mandant_id: int | None = None,
) -> Message:
    """Queue the SMS of an editor form for the current user; raises InputError to show.

    `mandant_id` overrides the form's choice (the Mandant of a record); either way it must be
    one of the user's Mandanten. "Versand am" plans it (local time, `planning.parse_send_at`).
    """
    send_at = parse_send_at(form.send_at.data, _config("TIMEZONE"), utcnow())
    return queue_sms(
        db.session(),
        recipient=form.recipient.data or "",
        text=form.text.data or "",
        mandant_id=_chosen_mandant(form, mandant_id),
        source=source,
        source_ref=source_ref,
        created_by=current_user,
        max_segments=int(_config("SMS_MAX_SEGMENTS")),
        default_region=str(_config("DEFAULT_PHONE_REGION")),
        send_at=send_at,
    )


def _chosen_mandant(form: SmsForm, record_mandant_id: int | None) -> int:
    """The Mandant of the SMS: the record's, else the one chosen in the form. The select is
    shown only when there is a choice: with a single Mandant that one is taken, and no
    message ever points at the hidden select."""
    mandanten = selectable_mandanten(db.session(), current_user)
    allowed = {m.id for m in mandanten}
    if record_mandant_id is not None:
        if record_mandant_id not in allowed:
            raise InputError(
                _(
                    "Für den Mandanten dieses Datensatzes können Sie keine SMS senden: er ist "
                    "deaktiviert oder Ihnen nicht zugeordnet."
                )
            )
        return record_mandant_id
    if form.mandant.data in allowed:
        return int(form.mandant.data)
    if not mandanten:
        raise InputError(missing_mandant_reason(db.session(), current_user) or "")
    if len(mandanten) == 1:
        return mandanten[0].id
    raise InputError(_("Bitte einen Ihrer Mandanten auswählen."), "mandant")


def flash_queued(message: Message) -> None:
    """Tell the user what became of the SMS: queued, or stored as failed and why."""
    if message.status is MessageStatus.FAILED:
        flash(
            _(
                "Die SMS wurde gespeichert, kann aber nicht versendet werden: %(reason)s",
                reason=message.reason,
            ),
            "error",
        )
    elif message.status is MessageStatus.PLANNED and message.send_at is not None:
        flash(
            _(
                "SMS ist geplant: Versand am %(when)s. Bis dahin kann die Planung aufgehoben "
                "werden.",
                when=format_datetime(message.send_at),
            ),
            "success",
        )
    else:
        flash(_("SMS wurde in die Versandliste aufgenommen."), "success")


@bp.route("/counter", methods=["POST"])
@requires()
def counter() -> ResponseReturnValue:
    """Characters, segments and encoding of the final text (text + signature + fixed text),
    the placeholders nobody fills (the SMS is refused while they are there) and the final
    text itself with them marked."""
    text = request.form.get("text", "")
    final = compose_text(db.session(), text)
    unfilled = placeholders.unfilled_placeholders(text)
    return render_template(
        "compose/_counter.html",
        info=analyze(final),
        max_segments=_config("SMS_MAX_SEGMENTS"),
        unfilled=unfilled,
        unfilled_message=placeholders.unfilled_message(unfilled) if unfilled else "",
        preview=placeholders.mark_unfilled(final) if text.strip() else [],
        prefix=editor_prefix(request.args.get("prefix")),
    )


@bp.route("/number", methods=["POST"])
@requires()
def number() -> ResponseReturnValue:
    """The normalised number or what is wrong with it, as you type."""
    raw = request.form.get("recipient", "")
    parsed = (
        check_number(db.session(), raw, str(_config("DEFAULT_PHONE_REGION")))
        if raw.strip()
        else None
    )
    return render_template(
        "compose/_number.html", parsed=parsed, prefix=editor_prefix(request.args.get("prefix"))
    )

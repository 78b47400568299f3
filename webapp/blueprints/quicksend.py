"""SMS senden: the quick form in the navigation (permission 298004, only when global 1400 is on).

Opens as a dialog (htmx) from anywhere, or as a page without JavaScript. The number comes from
the field or from a Person/Firma found by the search; `?person=ID` / `?company=ID` pre-fill it
(the "SMS senden" action of the records).
"""

from __future__ import annotations

from typing import cast

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_htmx import make_response
from flask_login import current_user
from wtforms import HiddenField

from webapp.accounts import visible_mandant_ids
from webapp.blueprints.compose import (
    SmsForm,
    editor_context,
    flash_queued,
    prepare_form,
    queue_from_form,
)
from webapp.blueprints.forms import save_or_show_errors
from webapp.extensions import db, htmx
from webapp.models import Company, MessageSource, Person
from webapp.navigation import local_url
from webapp.permissions import Permission, requires
from webapp.sms import contacts
from webapp.sms.outbox import status_label
from webapp.sms.search import live_update, parse_watch, watch
from webapp.sms.settings import sms_service_refusal
from webapp.validation import optional_id

bp = Blueprint("quicksend", __name__, url_prefix="/sms")


def service_refusal() -> str | None:
    return sms_service_refusal(db.session())


send_sms = requires(Permission.SMS_SEND, condition=service_refusal)

RECORD_KINDS: dict[str, tuple[type[Person] | type[Company], MessageSource]] = {
    "person": (Person, MessageSource.PERSON),
    "company": (Company, MessageSource.COMPANY),
}


class QuickSendForm(SmsForm):
    record_kind = HiddenField()
    record_id = HiddenField()
    # The dialog opens over any page, also over Neu with its own editor.
    id_prefix = "quick-"


def _record(kind: str | None, record_id: str | None) -> Person | Company | None:
    """The Person/Firma the SMS is for, if one was chosen and the user may see it."""
    record_key = optional_id(record_id)
    if kind not in RECORD_KINDS or record_key is None:
        return None
    model, _source = RECORD_KINDS[kind]
    # Session.get with a choice of two classes is typed as their common base class.
    record = cast(Person | Company | None, db.session.get(model, record_key))
    scope = visible_mandant_ids(current_user)
    if record is None or (scope is not None and record.mandant_id not in scope):
        abort(404)
    return record


def _back() -> str:
    """Where "Abbrechen" and a sent SMS lead without JavaScript (a local path only)."""
    return local_url(request.args.get("back"), url_for("main.index"))


def _render(
    form: QuickSendForm, record: Person | Company | None, status: int = 200
) -> ResponseReturnValue:
    template = "quicksend/_dialog.html" if htmx else "quicksend/send.html"
    return render_template(
        template,
        form=form,
        record=record,
        record_number=(
            contacts.mobile_display(record.mobile, current_app.config["DEFAULT_PHONE_REGION"])
            if record is not None and record.mobile
            else ""
        ),
        back=_back(),
        max_segments=current_app.config["SMS_MAX_SEGMENTS"],
        **editor_context(),
    ), status


@bp.route("/senden", methods=["GET", "POST"])
@send_sms
def send() -> ResponseReturnValue:
    form = prepare_form(QuickSendForm(), current_user)
    if request.method == "GET":
        for kind in RECORD_KINDS:
            if request.args.get(kind):
                form.record_kind.data, form.record_id.data = kind, request.args[kind]
    record = _record(form.record_kind.data, form.record_id.data)
    if request.method == "GET" and record is not None:
        form.recipient.data = record.mobile
        form.mandant.data = record.mandant_id
    if not form.validate_on_submit():
        return _render(form, record)
    source = RECORD_KINDS[form.record_kind.data][1] if record is not None else MessageSource.QUICK
    with save_or_show_errors(form) as saving:
        message = queue_from_form(
            form,
            source=source,
            source_ref=str(record.id) if record is not None else None,
            mandant_id=record.mandant_id if record is not None else None,
        )
    if not saving.ok:
        return _render(form, record, 422)
    flash_queued(message)
    if htmx:
        # The confirmation shows the SMS's status and follows it live (`status` below).
        body = render_template(
            "quicksend/_queued.html",
            message=message,
            live=watch([message]),
            status_label=status_label,
        )
        return make_response(body, trigger={"sms-queued": message.id})
    return redirect(_back())


@bp.route("/senden/status")
@requires(Permission.SMS_SEND)  # not the service switch: an SMS already queued goes on anyway
def status() -> ResponseReturnValue:
    """The poll of the confirmation: the status of the SMS this user queued, out of band, when
    it changed; 204 when it did not."""
    update = live_update(
        db.session(),
        parse_watch(request.args.getlist("w")),
        mandant_ids=visible_mandant_ids(current_user),
        created_by_id=current_user.id,
    )
    if update.unchanged:
        return "", 204
    return render_template("quicksend/_status_poll.html", update=update, status_label=status_label)


@bp.route("/senden/kontakte")
@send_sms
def contact_search() -> ResponseReturnValue:
    """Personen and Firmen with a mobile number whose name or number matches."""
    query = request.args.get("q", "").strip()
    found = (
        contacts.search_mobile_contacts(db.session(), visible_mandant_ids(current_user), query)
        if len(query) >= 2
        else []
    )
    return render_template("quicksend/_contacts.html", found=found, query=query)

"""Aufträge: list with Suchkriterien, the record dialog (records.py), "Auftrag versenden"
(SPEC R40–R42)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from webapp.blueprints import records
from webapp.blueprints.forms import save_or_show_errors
from webapp.blueprints.records import (
    NumberedKind,
    RecordForm,
    record_or_404,
    region,
)
from webapp.extensions import db
from webapp.formatting import to_local
from webapp.models import Company, MessageSource, Person, WorkOrder
from webapp.permissions import requires
from webapp.sms import notifications, orders
from webapp.validation import optional_id

bp = Blueprint("orders", __name__)
bp.context_processor(records.template_helpers)


class OrderForm(RecordForm):
    title = StringField(_l("Titel"))
    address = StringField(_l("Objekt / Adresse"))
    appointment = StringField(_l("Termin"))
    creditor_id = SelectField(_l("Kreditor"), coerce=optional_id, validate_choice=False)
    inspector_id = SelectField(_l("Kontrolleur"), coerce=optional_id, validate_choice=False)
    resident_id = SelectField(_l("Bestandsnehmer"), coerce=optional_id, validate_choice=False)
    description = TextAreaField(_l("Beschreibung"))


class SendForm(FlaskForm):
    inform_inspector = BooleanField(_l("Kontrolleur per SMS informieren"))
    notify_resident = BooleanField(_l("Bestandsnehmer verständigen"))


class OrderKind(NumberedKind[WorkOrder, OrderForm]):
    def prepare(self, form: OrderForm, record: WorkOrder | None) -> None:
        if request.method == "GET" and record is not None and record.appointment:
            form.appointment.data = to_local(record.appointment).strftime("%Y-%m-%dT%H:%M")

    def contact_fields(self) -> dict[str, type[Person] | type[Company]]:
        return {"creditor_id": Company, "inspector_id": Person, "resident_id": Person}

    def save(
        self, form: OrderForm, record: WorkOrder | None, allowed_mandant_ids: set[int]
    ) -> WorkOrder:
        return orders.save_order(
            db.session(),
            records.form_input(form, orders.OrderInput),
            record,
            allowed_mandant_ids=allowed_mandant_ids,
            timezone=current_app.config["TIMEZONE"],
        )


ORDER = OrderKind(
    blueprint="orders",
    key="order",
    list_key="index",
    html_id="order",
    remember="orders",
    model=WorkOrder,
    source=MessageSource.WORK_ORDER,
    label_field="number",
    title=_l("Aufträge"),
    singular=_l("Auftrag"),
    new_title=_l("Neuer Auftrag"),
    no_history=_l("Zu diesem Auftrag wurde noch keine SMS versendet."),
    form=OrderForm,
    search_label=_l("Nummer, Titel oder Adresse enthält"),
)


@bp.route("/orders")
@requires()
def index() -> ResponseReturnValue:
    return records.list_view(ORDER)


@bp.route("/orders/new", methods=["GET", "POST"])
@requires()
def order_new() -> ResponseReturnValue:
    return records.new_view(ORDER)


@bp.route("/orders/contacts")
@requires()
def order_contacts() -> ResponseReturnValue:
    return records.contacts_view(ORDER)


@bp.route("/orders/<int:record_id>")
@requires()
def order(record_id: int) -> ResponseReturnValue:
    return records.show_view(ORDER, record_id)


@bp.route("/orders/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def order_edit(record_id: int) -> ResponseReturnValue:
    return records.edit_view(ORDER, record_id)


# --- Auftrag versenden -------------------------------------------------------------------------


@bp.route("/orders/<int:record_id>/send", methods=["GET", "POST"])
@requires()
def order_send(record_id: int) -> ResponseReturnValue:
    record = record_or_404(ORDER, record_id)
    plan = notifications.order_send_plan(db.session())
    drafts = notifications.order_drafts(db.session(), record, plan)
    form = SendForm()
    if request.method == "GET":
        # A switch is on only when its SMS would go: it never promises what will not happen.
        form.inform_inspector.data = plan.inspector_default and drafts.inspector.sendable
        form.notify_resident.data = drafts.resident is not None and drafts.resident.sendable
    result = None
    error = None
    status = 200
    if form.validate_on_submit():
        with save_or_show_errors(inline=True) as saving:
            result = notifications.send_order(
                db.session(),
                record,
                inform_inspector=bool(form.inform_inspector.data),
                notify_resident=bool(form.notify_resident.data),
                created_by=current_user,
                default_region=region(),
            )
        if saving.error is not None:
            error, status = saving.error.message, 422
        else:
            flash(
                _(
                    "Auftrag %(number)s wurde versendet: %(n)d SMS in die Versandliste "
                    "aufgenommen.",
                    number=record.number,
                    n=len(result.queued),
                ),
                "success",
            )
    return render_template(
        "orders/send.html",
        record=record,
        plan=plan,
        drafts=drafts,
        form=form,
        result=result,
        error=error,
        not_by_sms=notifications.not_by_sms_reason(),
        role_label=notifications.role_label,
    ), status

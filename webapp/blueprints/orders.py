"""Aufträge: list with Suchkriterien, the record dialog, "Auftrag versenden" (SPEC R40–R42).

Records of other Mandanten answer 404, as for Personen and Firmen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from webapp.accounts import selectable_mandanten, visible_mandant_ids, visible_mandanten
from webapp.blueprints.forms import (
    HISTORY_POLLER,
    attach_error,
    history_poll,
    is_partial,
    record_history,
    record_page,
    record_saved,
)
from webapp.blueprints.lists import (
    MAX_QUERY,
    FilterForm,
    MandantFilter,
    cursor,
    render_list,
    text_filter,
)
from webapp.errors import InputError
from webapp.extensions import db
from webapp.formatting import to_local
from webapp.models import Company, Mandant, MessageSource, Person, WorkOrder
from webapp.permissions import requires
from webapp.sms import notifications, orders
from webapp.sms.contacts import mobile_display
from webapp.sms.outbox import status_label
from webapp.sms.scope import get_visible
from webapp.validation import optional_id

bp = Blueprint("orders", __name__)

HISTORY_SIZE = 20


@dataclass(frozen=True)
class RecordKind:
    """What the shared SMS-Verlauf template (contacts/_history.html) needs."""

    stem: str
    no_history: Any

    def endpoint(self, action: str = "") -> str:
        return f"{self.stem}{'_' + action if action else ''}"


KIND = RecordKind("orders.order", _l("Zu diesem Auftrag wurde noch keine SMS versendet."))


class OrderForm(FlaskForm):
    title = StringField(_l("Titel"))
    mandant_id = SelectField(_l("Mandant"), coerce=optional_id, validate_choice=False)
    address = StringField(_l("Objekt / Adresse"))
    appointment = StringField(_l("Termin"))
    creditor_id = SelectField(_l("Kreditor"), coerce=optional_id, validate_choice=False)
    inspector_id = SelectField(_l("Kontrolleur"), coerce=optional_id, validate_choice=False)
    resident_id = SelectField(_l("Bestandsnehmer"), coerce=optional_id, validate_choice=False)
    description = TextAreaField(_l("Beschreibung"))


class SendForm(FlaskForm):
    inform_inspector = BooleanField(_l("Kontrolleur per SMS informieren"))
    notify_resident = BooleanField(_l("Bestandsnehmer verständigen"))


class RecordFilterForm(FilterForm):
    """The Suchkriterien of Aufträge and Tickets: a text (what it searches: `search_label`)
    and the Mandant."""

    q = text_filter(None, maxlength=MAX_QUERY)
    mandant_id = MandantFilter(name="mandant")

    def __init__(self, search_label: Any, mandanten: Sequence[Mandant]) -> None:
        super().__init__(mandanten=mandanten)
        self.q.label.text = search_label


def _region() -> str:
    return str(current_app.config.get("DEFAULT_PHONE_REGION", "AT"))


def _scope() -> set[int] | None:
    return visible_mandant_ids(current_user)


def _order_or_404(record_id: int) -> WorkOrder:
    order = get_visible(db.session, WorkOrder, record_id, _scope())
    if order is None:
        abort(404)
    return order


@bp.context_processor
def _helpers() -> dict[str, Any]:
    region = _region()
    return {
        "mobile_display": lambda raw: mobile_display(raw, region),
        "status_label": status_label,
        "role_label": notifications.role_label,
    }


def _contact_choices(model: type[Person] | type[Company]) -> list[tuple[Any, str]]:
    choices: list[tuple[Any, str]] = [("", _("– keine Auswahl –"))]
    for record in orders.contact_choices(db.session, model, _scope()):
        choices.append((record.id, f"{record.name} ({record.mandant.name})"))
    return choices


# --- list --------------------------------------------------------------------------------------


@bp.route("/orders")
@requires()
def index():  # type: ignore[no-untyped-def]
    form = RecordFilterForm(
        _("Nummer, Titel oder Adresse enthält"), visible_mandanten(db.session, current_user)
    )
    before, after = cursor()
    query = orders.RecordQuery(form.q.data, form.mandant_id.data)
    page = orders.search_orders(db.session, _scope(), query, before=before, after=after)
    return render_list("orders", "order-results", form, page)


# --- record dialog -----------------------------------------------------------------------------


def _form(order: WorkOrder | None) -> tuple[OrderForm, list[Mandant]]:
    form = OrderForm(obj=order) if request.method == "GET" and order else OrderForm()
    if request.method == "GET" and order is not None:
        form.appointment.data = (
            to_local(order.appointment).strftime("%Y-%m-%dT%H:%M") if order.appointment else ""
        )
    choices = selectable_mandanten(db.session, current_user)
    if order is not None and order.mandant_id not in {m.id for m in choices}:
        choices = [order.mandant, *choices]
    form.mandant_id.choices = [(m.id, m.name) for m in choices]
    if order is None and len(choices) != 1:
        form.mandant_id.choices.insert(0, ("", _("– bitte wählen –")))
    if request.method == "GET" and order is None and len(choices) == 1:
        form.mandant_id.data = choices[0].id
    form.creditor_id.choices = _contact_choices(Company)
    form.inspector_id.choices = _contact_choices(Person)
    form.resident_id.choices = _contact_choices(Person)
    return form, choices


def _save(form: OrderForm, choices: list[Mandant], order: WorkOrder | None = None):  # type: ignore[no-untyped-def]
    data = orders.OrderInput(
        mandant_id=form.mandant_id.data,
        title=form.title.data or "",
        address=form.address.data or "",
        description=form.description.data or "",
        appointment=form.appointment.data or "",
        creditor_id=form.creditor_id.data,
        inspector_id=form.inspector_id.data,
        resident_id=form.resident_id.data,
    )
    try:
        saved = orders.save_order(
            db.session,
            data,
            order,
            allowed_mandant_ids={m.id for m in choices},
            timezone=current_app.config["TIMEZONE"],
        )
    except orders.RecordInputError as error:
        db.session.rollback()
        for problem in error.errors:
            attach_error(form, problem)
        return None
    db.session.commit()
    flash(_("Auftrag %(number)s wurde gespeichert.", number=saved.number), "success")
    return saved


def _context(order: WorkOrder) -> dict[str, Any]:
    return {
        "kind": KIND,
        "record": order,
        **record_history(MessageSource.WORK_ORDER, order.id, HISTORY_SIZE),
    }


@bp.route("/orders/new", methods=["GET", "POST"])
@requires()
def order_new():  # type: ignore[no-untyped-def]
    form, choices = _form(None)
    if form.validate_on_submit():
        saved = _save(form, choices)
        if saved is not None:
            return redirect(url_for("orders.order", record_id=saved.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("orders/new.html", form=form, has_mandanten=bool(choices)), status


@bp.route("/orders/<int:record_id>")
@requires()
def order(record_id: int):  # type: ignore[no-untyped-def]
    record = _order_or_404(record_id)
    if is_partial(HISTORY_POLLER):
        return history_poll(KIND, record, MessageSource.WORK_ORDER)
    context = _context(record)
    if is_partial("sms-history"):
        return render_template("contacts/_history.html", **context)
    return record_page("orders", "view", None, context)


@bp.route("/orders/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def order_edit(record_id: int):  # type: ignore[no-untyped-def]
    record = _order_or_404(record_id)
    form, choices = _form(record)
    if form.validate_on_submit():
        saved = _save(form, choices, record)
        if saved is not None:
            view_url = url_for("orders.order", record_id=saved.id)
            return record_saved("orders", view_url, _context(saved))
    status = 422 if form.errors or form.form_errors else 200
    context = {"kind": KIND, "record": record, "history": []}
    return record_page("orders", "edit", form, context, status)


# --- Auftrag versenden -------------------------------------------------------------------------


@bp.route("/orders/<int:record_id>/send", methods=["GET", "POST"])
@requires()
def order_send(record_id: int):  # type: ignore[no-untyped-def]
    record = _order_or_404(record_id)
    plan = notifications.order_send_plan(db.session)
    form = SendForm()
    if request.method == "GET":
        form.inform_inspector.data = plan.inspector_default
        form.notify_resident.data = plan.resident_offered
    result = None
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            result = notifications.send_order(
                db.session,
                record,
                inform_inspector=bool(form.inform_inspector.data),
                notify_resident=bool(form.notify_resident.data),
                created_by=current_user,
                default_region=_region(),
            )
        except InputError as problem:
            db.session.rollback()
            error = problem.message
            status = 422
        else:
            db.session.commit()
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
        form=form,
        result=result,
        error=error,
        not_by_sms=notifications.not_by_sms_reason(),
    ), status

"""Tickets: list with Suchkriterien, the record dialog, the SMS after creation (SPEC R43).

Records of other Mandanten answer 404, as for Personen and Firmen.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

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
from webapp.blueprints.lists import cursor, render_list
from webapp.blueprints.orders import RecordFilterForm, RecordKind
from webapp.extensions import db
from webapp.models import Mandant, MessageSource, Person, Ticket
from webapp.permissions import requires
from webapp.sms import notifications, orders
from webapp.sms.contacts import mobile_display
from webapp.sms.outbox import status_label
from webapp.sms.scope import get_visible
from webapp.validation import optional_id

bp = Blueprint("tickets", __name__)

HISTORY_SIZE = 20
KIND = RecordKind("tickets.ticket", _l("Zu diesem Ticket wurde noch keine SMS versendet."))


class TicketForm(FlaskForm):
    subject = StringField(_l("Betreff"))
    mandant_id = SelectField(_l("Mandant"), coerce=optional_id, validate_choice=False)
    resident_id = SelectField(_l("Bestandsnehmer"), coerce=optional_id, validate_choice=False)
    description = TextAreaField(_l("Beschreibung"))


def _region() -> str:
    return str(current_app.config.get("DEFAULT_PHONE_REGION", "AT"))


def _scope() -> set[int] | None:
    return visible_mandant_ids(current_user)


def _ticket_or_404(record_id: int) -> Ticket:
    ticket = get_visible(db.session, Ticket, record_id, _scope())
    if ticket is None:
        abort(404)
    return ticket


@bp.context_processor
def _helpers() -> dict[str, Any]:
    region = _region()
    return {
        "mobile_display": lambda raw: mobile_display(raw, region),
        "status_label": status_label,
    }


@bp.route("/tickets")
@requires()
def index():  # type: ignore[no-untyped-def]
    form = RecordFilterForm(
        _("Nummer oder Betreff enthält"), visible_mandanten(db.session, current_user)
    )
    before, after = cursor()
    query = orders.RecordQuery(form.q.data, form.mandant_id.data)
    page = orders.search_tickets(db.session, _scope(), query, before=before, after=after)
    return render_list("tickets", "ticket-results", form, page)


def _form(ticket: Ticket | None) -> tuple[TicketForm, list[Mandant]]:
    form = TicketForm(obj=ticket) if request.method == "GET" and ticket else TicketForm()
    choices = selectable_mandanten(db.session, current_user)
    if ticket is not None and ticket.mandant_id not in {m.id for m in choices}:
        choices = [ticket.mandant, *choices]
    form.mandant_id.choices = [(m.id, m.name) for m in choices]
    if ticket is None and len(choices) != 1:
        form.mandant_id.choices.insert(0, ("", _("– bitte wählen –")))
    if request.method == "GET" and ticket is None and len(choices) == 1:
        form.mandant_id.data = choices[0].id
    residents: list[tuple[Any, str]] = [("", _("– keine Auswahl –"))]
    for person in orders.contact_choices(db.session, Person, _scope()):
        residents.append((person.id, f"{person.name} ({person.mandant.name})"))
    form.resident_id.choices = residents
    return form, choices


def _save(form: TicketForm, choices: list[Mandant], ticket: Ticket | None = None):  # type: ignore[no-untyped-def]
    data = orders.TicketInput(
        mandant_id=form.mandant_id.data,
        subject=form.subject.data or "",
        description=form.description.data or "",
        resident_id=form.resident_id.data,
    )
    try:
        saved = orders.save_ticket(
            db.session, data, ticket, allowed_mandant_ids={m.id for m in choices}
        )
        if ticket is None:
            notifications.ticket_created(
                db.session, saved, created_by=current_user, default_region=_region()
            )
    except orders.RecordInputError as error:
        db.session.rollback()
        for problem in error.errors:
            attach_error(form, problem)
        return None
    db.session.commit()
    flash(_("Ticket %(number)s wurde gespeichert.", number=saved.number), "success")
    return saved


def _context(ticket: Ticket) -> dict[str, Any]:
    return {
        "kind": KIND,
        "record": ticket,
        **record_history(MessageSource.TICKET, ticket.id, HISTORY_SIZE),
    }


@bp.route("/tickets/new", methods=["GET", "POST"])
@requires()
def ticket_new():  # type: ignore[no-untyped-def]
    form, choices = _form(None)
    if form.validate_on_submit():
        saved = _save(form, choices)
        if saved is not None:
            return redirect(url_for("tickets.ticket", record_id=saved.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("tickets/new.html", form=form, has_mandanten=bool(choices)), status


@bp.route("/tickets/<int:record_id>")
@requires()
def ticket(record_id: int):  # type: ignore[no-untyped-def]
    record = _ticket_or_404(record_id)
    if is_partial(HISTORY_POLLER):
        return history_poll(KIND, record, MessageSource.TICKET)
    context = _context(record)
    if is_partial("sms-history"):
        return render_template("contacts/_history.html", **context)
    return record_page("tickets", "view", None, context)


@bp.route("/tickets/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def ticket_edit(record_id: int):  # type: ignore[no-untyped-def]
    record = _ticket_or_404(record_id)
    form, choices = _form(record)
    if form.validate_on_submit():
        saved = _save(form, choices, record)
        if saved is not None:
            view_url = url_for("tickets.ticket", record_id=saved.id)
            return record_saved("tickets", view_url, _context(saved))
    status = 422 if form.errors or form.form_errors else 200
    context = {"kind": KIND, "record": record, "history": []}
    return record_page("tickets", "edit", form, context, status)

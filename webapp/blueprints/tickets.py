"""Tickets: list with Suchkriterien and the record dialog (records.py); the SMS to the
Bestandsnehmer after creation (SPEC R43)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField, StringField, TextAreaField

from webapp.blueprints import records
from webapp.blueprints.records import NumberedKind, RecordForm, region
from webapp.extensions import db
from webapp.models import Company, MessageSource, Person, Ticket
from webapp.permissions import requires
from webapp.sms import notifications, orders
from webapp.validation import optional_id

bp = Blueprint("tickets", __name__)
bp.context_processor(records.template_helpers)


class TicketForm(RecordForm):
    subject = StringField(_l("Betreff"))
    resident_id = SelectField(_l("Bestandsnehmer"), coerce=optional_id, validate_choice=False)
    description = TextAreaField(_l("Beschreibung"))


class TicketKind(NumberedKind[Ticket, TicketForm]):
    def contact_fields(self) -> dict[str, type[Person] | type[Company]]:
        return {"resident_id": Person}

    def save(
        self, form: TicketForm, record: Ticket | None, allowed_mandant_ids: set[int]
    ) -> Ticket:
        data = records.form_input(form, orders.TicketInput)
        ticket = orders.save_ticket(
            db.session(), data, record, allowed_mandant_ids=allowed_mandant_ids
        )
        if record is None:
            notifications.ticket_created(
                db.session(), ticket, created_by=current_user, default_region=region()
            )
        return ticket


TICKET = TicketKind(
    blueprint="tickets",
    key="ticket",
    list_key="index",
    html_id="ticket",
    remember="tickets",
    model=Ticket,
    source=MessageSource.TICKET,
    label_field="number",
    title=_l("Tickets"),
    singular=_l("Ticket"),
    new_title=_l("Neues Ticket"),
    no_history=_l("Zu diesem Ticket wurde noch keine SMS versendet."),
    form=TicketForm,
    search_label=_l("Nummer oder Betreff enthält"),
)


@bp.route("/tickets")
@requires()
def index() -> ResponseReturnValue:
    return records.list_view(TICKET)


@bp.route("/tickets/new", methods=["GET", "POST"])
@requires()
def ticket_new() -> ResponseReturnValue:
    return records.new_view(TICKET)


@bp.route("/tickets/contacts")
@requires()
def ticket_contacts() -> ResponseReturnValue:
    return records.contacts_view(TICKET)


@bp.route("/tickets/<int:record_id>")
@requires()
def ticket(record_id: int) -> ResponseReturnValue:
    return records.show_view(TICKET, record_id)


@bp.route("/tickets/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def ticket_edit(record_id: int) -> ResponseReturnValue:
    return records.edit_view(TICKET, record_id)

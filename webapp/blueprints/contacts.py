"""Personen and Firmen: lists with Suchkriterien and the record dialog (records.py) with the
"SMS senden" action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, StringField, TelField

from webapp.blueprints import records
from webapp.blueprints.lists import MAX_QUERY, FilterForm, MandantFilter, choice_filter, text_filter
from webapp.blueprints.records import RecordForm, RecordKind, region
from webapp.extensions import db
from webapp.models import Company, Mandant, MessageSource, Person
from webapp.permissions import requires
from webapp.sms import contacts
from webapp.sms.contacts import ContactT
from webapp.sms.paging import KeysetPage
from webapp.sms.search import RecordSms

bp = Blueprint("contacts", __name__)
bp.context_processor(records.template_helpers)


class ContactForm(RecordForm):
    name = StringField(_l("Name"))
    mobile = TelField(_l("Mobilnummer"))
    email = EmailField(_l("E-Mail"))
    street = StringField(_l("Straße"))
    postal_code = StringField(_l("PLZ"))
    city = StringField(_l("Ort"))


class ContactFilterForm(FilterForm):
    """The Suchkriterien of Personen and Firmen."""

    name = text_filter(_l("Name enthält"), maxlength=MAX_QUERY)
    number = text_filter(
        _l("Nummer enthält"), placeholder="0664 123", inputmode="tel", maxlength=64
    )
    city = text_filter(_l("Ort enthält"), maxlength=80)
    mandant_id = MandantFilter(name="mandant")
    order = choice_filter(
        _l("Sortierung"),
        lambda: (("newest", _("Neueste zuerst")), ("name", _("Alphabetisch"))),
        contacts.parse_order,
        default="newest",
    )


@dataclass(frozen=True)
class ContactKind(RecordKind[ContactT, ContactForm, ContactFilterForm]):
    """Personen and Firmen share one shape (sms/contacts.py); `key` is also the query
    parameter of "SMS senden" for the record."""

    none_found: Any  # "Keine Personen gefunden."

    def filter_form(self, mandanten: list[Mandant]) -> ContactFilterForm:
        return ContactFilterForm(mandanten=mandanten)

    def search(
        self,
        form: ContactFilterForm,
        mandant_ids: set[int] | None,
        before: int | None,
        after: int | None,
    ) -> KeysetPage:
        return contacts.search_contacts(
            db.session(),
            self.model,
            mandant_ids,
            contacts.ContactQuery(**form.values()),
            before=before,
            after=after,
            default_region=region(),
        )

    def save(
        self, form: ContactForm, record: ContactT | None, allowed_mandant_ids: set[int]
    ) -> ContactT:
        return contacts.save_contact(
            db.session(),
            self.model,
            records.form_input(form, contacts.ContactInput),
            record,
            allowed_mandant_ids=allowed_mandant_ids,
            default_region=region(),
        )

    def context(self, record: ContactT) -> dict[str, Any]:
        return {"action": contacts.sms_action(db.session(), record, region())}

    def sms_of(self, record: ContactT) -> RecordSms:
        return contacts.record_sms(self.source, record.id, record.mobile, region())


PERSON = ContactKind(
    blueprint="contacts",
    key="person",
    list_key="persons",
    html_id="contact",
    remember="contacts-persons",
    model=Person,
    source=MessageSource.PERSON,
    label_field="name",
    title=_l("Personen"),
    singular=_l("Person"),
    new_title=_l("Neue Person"),
    no_history=_l("An diese Person wurde noch keine SMS gesendet."),
    form=ContactForm,
    none_found=_l("Keine Personen gefunden."),
)
COMPANY = ContactKind(
    blueprint="contacts",
    key="company",
    list_key="companies",
    html_id="contact",
    remember="contacts-companies",
    model=Company,
    source=MessageSource.COMPANY,
    label_field="name",
    title=_l("Firmen"),
    singular=_l("Firma"),
    new_title=_l("Neue Firma"),
    no_history=_l("An diese Firma wurde noch keine SMS gesendet."),
    form=ContactForm,
    none_found=_l("Keine Firmen gefunden."),
)


@bp.route("/persons")
@requires()
def persons() -> ResponseReturnValue:
    return records.list_view(PERSON)


@bp.route("/persons/new", methods=["GET", "POST"])
@requires()
def person_new() -> ResponseReturnValue:
    return records.new_view(PERSON)


@bp.route("/persons/<int:record_id>")
@requires()
def person(record_id: int) -> ResponseReturnValue:
    return records.show_view(PERSON, record_id)


@bp.route("/persons/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def person_edit(record_id: int) -> ResponseReturnValue:
    return records.edit_view(PERSON, record_id)


@bp.route("/companies")
@requires()
def companies() -> ResponseReturnValue:
    return records.list_view(COMPANY)


@bp.route("/companies/new", methods=["GET", "POST"])
@requires()
def company_new() -> ResponseReturnValue:
    return records.new_view(COMPANY)


@bp.route("/companies/<int:record_id>")
@requires()
def company(record_id: int) -> ResponseReturnValue:
    return records.show_view(COMPANY, record_id)


@bp.route("/companies/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def company_edit(record_id: int) -> ResponseReturnValue:
    return records.edit_view(COMPANY, record_id)

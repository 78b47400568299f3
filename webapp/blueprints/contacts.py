"""Personen and Firmen: lists with Suchkriterien, the record dialog, the "SMS senden" action.

Any logged-in user may open them, but only records of their own Mandanten (administrators: all);
a record of another Mandant answers 404, so its existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice

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
from webapp.models import Company, Mandant, MessageSource, Person
from webapp.permissions import requires
from webapp.sms import contacts
from webapp.sms.outbox import status_label
from webapp.sms.paging import KeysetPage
from webapp.sms.scope import get_visible
from webapp.validation import optional_id

bp = Blueprint("contacts", __name__)

HISTORY_SIZE = 20


@dataclass(frozen=True)
class Kind:
    """What differs between the Personen and the Firmen dialogs."""

    key: str  # "person" / "company": endpoint stem and the quick form's query parameter
    plural_key: str  # "persons" / "companies": list endpoint
    model: type[Person] | type[Company]
    source: MessageSource
    title: Any  # lazy strings
    singular: Any
    new_title: Any
    none_found: Any
    no_history: Any
    save: Callable[..., Any]
    search: Callable[..., KeysetPage]

    def endpoint(self, action: str = "") -> str:
        return f"contacts.{self.key}{'_' + action if action else ''}"

    @property
    def list_endpoint(self) -> str:
        return f"contacts.{self.plural_key}"


PERSON = Kind(
    key="person",
    plural_key="persons",
    model=Person,
    source=MessageSource.PERSON,
    title=_l("Personen"),
    singular=_l("Person"),
    new_title=_l("Neue Person"),
    none_found=_l("Keine Personen gefunden."),
    no_history=_l("Von dieser Person wurde noch keine SMS versendet."),
    save=contacts.save_person,
    search=contacts.search_persons,
)
COMPANY = Kind(
    key="company",
    plural_key="companies",
    model=Company,
    source=MessageSource.COMPANY,
    title=_l("Firmen"),
    singular=_l("Firma"),
    new_title=_l("Neue Firma"),
    none_found=_l("Keine Firmen gefunden."),
    no_history=_l("Von dieser Firma wurde noch keine SMS versendet."),
    save=contacts.save_company,
    search=contacts.search_companies,
)


class ContactForm(FlaskForm):
    name = StringField(_l("Name"))
    mandant_id = SelectField(_l("Mandant"), coerce=optional_id, validate_choice=False)
    mobile = TelField(_l("Mobilnummer"))
    email = EmailField(_l("E-Mail"))
    street = StringField(_l("Straße"))
    postal_code = StringField(_l("PLZ"))
    city = StringField(_l("Ort"))


def _region() -> str:
    return str(current_app.config.get("DEFAULT_PHONE_REGION", "AT"))


def _scope() -> set[int] | None:
    return visible_mandant_ids(current_user)


def _record_or_404(kind: Kind, record_id: int) -> Person | Company:
    record = get_visible(db.session, kind.model, record_id, _scope())
    if record is None:
        abort(404)
    return record


@bp.context_processor
def _helpers() -> dict[str, Any]:
    region = _region()
    return {
        "mobile_display": lambda raw: contacts.mobile_display(raw, region),
        "status_label": status_label,
    }


# --- list --------------------------------------------------------------------------------------


class ContactFilterForm(FilterForm):
    """The Suchkriterien of Personen and Firmen."""

    name = text_filter(_l("Name enthält"), maxlength=MAX_QUERY)
    number = text_filter(
        _l("Nummer enthält"), placeholder="0664 123", inputmode="tel", maxlength=64
    )
    city = text_filter(_l("Ort enthält"), maxlength=80)
    mandant_id = MandantFilter(name="mandant")
    order = SelectField(
        _l("Sortierung"),
        choices=[
            SelectChoice("newest", _l("Neueste zuerst")),
            SelectChoice("name", _l("Alphabetisch")),
        ],
        coerce=contacts.parse_order,
        default="newest",
    )


def _list(kind: Kind):  # type: ignore[no-untyped-def]
    form = ContactFilterForm(mandanten=visible_mandanten(db.session, current_user))
    before, after = cursor()
    query = contacts.ContactQuery(**form.values())
    page = kind.search(
        db.session, _scope(), query, before=before, after=after, default_region=_region()
    )
    return render_list("contacts", "contact-results", form, page, kind=kind)


# --- record dialog -----------------------------------------------------------------------------


def _form(kind: Kind, record: Person | Company | None) -> tuple[ContactForm, list[Mandant]]:
    form = ContactForm(obj=record) if request.method == "GET" and record else ContactForm()
    choices = selectable_mandanten(db.session, current_user)
    if record is not None and record.mandant_id not in {m.id for m in choices}:
        choices = [record.mandant, *choices]  # e.g. a Mandant deactivated since
    form.mandant_id.choices = [(m.id, m.name) for m in choices]
    if record is None and len(choices) != 1:
        form.mandant_id.choices.insert(0, ("", _("– bitte wählen –")))
    if request.method == "GET" and record is None and len(choices) == 1:
        form.mandant_id.data = choices[0].id
    return form, choices


def _input(form: ContactForm) -> contacts.ContactInput:
    return contacts.ContactInput(
        name=form.name.data or "",
        mandant_id=form.mandant_id.data,
        mobile=form.mobile.data or "",
        email=form.email.data or "",
        street=form.street.data or "",
        postal_code=form.postal_code.data or "",
        city=form.city.data or "",
    )


def _save(kind: Kind, form: ContactForm, choices: list[Mandant], record=None):  # type: ignore[no-untyped-def]
    """Save the submitted form; the saved record, or None with the errors on the form."""
    try:
        saved = kind.save(
            db.session,
            _input(form),
            record,
            allowed_mandant_ids={m.id for m in choices},
            default_region=_region(),
        )
    except contacts.ContactInputError as error:
        db.session.rollback()
        for problem in error.errors:
            attach_error(form, problem)
        return None
    except InputError as error:
        db.session.rollback()
        attach_error(form, error)
        return None
    db.session.commit()
    flash(_("%(kind)s %(name)s wurde gespeichert.", kind=kind.singular, name=saved.name), "success")
    return saved


def _record_context(kind: Kind, record: Person | Company) -> dict[str, Any]:
    return {
        "kind": kind,
        "record": record,
        "action": contacts.sms_action(db.session, record, _region()),
        **record_history(kind.source, record.id, HISTORY_SIZE),
    }


def _show(kind: Kind, record_id: int):  # type: ignore[no-untyped-def]
    record = _record_or_404(kind, record_id)
    if is_partial(HISTORY_POLLER):
        return history_poll(kind, record, kind.source)
    context = _record_context(kind, record)
    if is_partial("sms-history"):  # reloaded after "SMS senden" queued one
        return render_template("contacts/_history.html", **context)
    return record_page("contacts", "view", None, context)


def _edit(kind: Kind, record_id: int):  # type: ignore[no-untyped-def]
    record = _record_or_404(kind, record_id)
    form, choices = _form(kind, record)
    if form.validate_on_submit():
        saved = _save(kind, form, choices, record)
        if saved is not None:
            view_url = url_for(kind.endpoint(), record_id=saved.id)
            return record_saved("contacts", view_url, _record_context(kind, saved))
    status = 422 if form.errors or form.form_errors else 200
    context = {"kind": kind, "record": record, "action": None, "history": []}
    return record_page("contacts", "edit", form, context, status)


def _new(kind: Kind):  # type: ignore[no-untyped-def]
    form, choices = _form(kind, None)
    if form.validate_on_submit():
        saved = _save(kind, form, choices)
        if saved is not None:
            return redirect(url_for(kind.endpoint(), record_id=saved.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "contacts/new.html", kind=kind, form=form, has_mandanten=bool(choices)
    ), status


# --- routes ------------------------------------------------------------------------------------


@bp.route("/persons")
@requires()
def persons():  # type: ignore[no-untyped-def]
    return _list(PERSON)


@bp.route("/persons/new", methods=["GET", "POST"])
@requires()
def person_new():  # type: ignore[no-untyped-def]
    return _new(PERSON)


@bp.route("/persons/<int:record_id>")
@requires()
def person(record_id: int):  # type: ignore[no-untyped-def]
    return _show(PERSON, record_id)


@bp.route("/persons/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def person_edit(record_id: int):  # type: ignore[no-untyped-def]
    return _edit(PERSON, record_id)


@bp.route("/companies")
@requires()
def companies():  # type: ignore[no-untyped-def]
    return _list(COMPANY)


@bp.route("/companies/new", methods=["GET", "POST"])
@requires()
def company_new():  # type: ignore[no-untyped-def]
    return _new(COMPANY)


@bp.route("/companies/<int:record_id>")
@requires()
def company(record_id: int):  # type: ignore[no-untyped-def]
    return _show(COMPANY, record_id)


@bp.route("/companies/<int:record_id>/edit", methods=["GET", "POST"])
@requires()
def company_edit(record_id: int):  # type: ignore[no-untyped-def]
    return _edit(COMPANY, record_id)

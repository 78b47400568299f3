"""The record feature (UI.md "Every record dialog"): the list with Suchkriterien, Neu, and the
record dialog that opens read-only, switches to Bearbeiten in place and shows the record's
SMS-Verlauf, live. One set of views for Personen, Firmen, Aufträge and Tickets: a RecordKind
says what differs, the blueprints declare their kinds and routes.

Any logged-in user may open them, but only records of their own Mandanten (administrators:
all); a record of another Mandant answers 404, so its existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_htmx import make_response
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField

from webapp.accounts import (
    missing_mandant_reason,
    selectable_mandanten,
    visible_mandant_ids,
    visible_mandanten,
)
from webapp.blueprints.forms import is_partial, save_or_show_errors
from webapp.blueprints.lists import (
    MAX_QUERY,
    FilterForm,
    MandantFilter,
    cursor,
    render_list,
    text_filter,
)
from webapp.extensions import db, htmx
from webapp.models import Company, Mandant, MessageSource, Person, Ticket, WorkOrder
from webapp.sms.contacts import mobile_display, record_sms, sms_history
from webapp.sms.orders import RecordQuery, contact_choices, search_records
from webapp.sms.outbox import status_label
from webapp.sms.paging import KeysetPage
from webapp.sms.scope import get_visible
from webapp.sms.search import RecordSms, live_update, parse_watch, watch
from webapp.validation import optional_id

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

HISTORY_SIZE = 20  # SMS in a record's SMS-Verlauf
HISTORY_POLLER = "history-poller"  # the element that polls; its requests carry it as HX-Target
Input = TypeVar("Input", bound="DataclassInstance")


class RecordForm(FlaskForm):
    """The fields of a record dialog; every record belongs to a Mandant."""

    mandant_id = SelectField(_l("Mandant"), coerce=optional_id, validate_choice=False)


class RecordFilterForm(FilterForm):
    """The Suchkriterien of a record list with one text (Aufträge, Tickets): the text (what it
    searches in: `search_label`) and the Mandant."""

    q = text_filter(None, maxlength=MAX_QUERY)
    mandant_id = MandantFilter(name="mandant")

    def __init__(self, search_label: Any, mandanten: Sequence[Mandant]) -> None:
        super().__init__(mandanten=mandanten)
        self.q.label.text = search_label

    def query(self) -> RecordQuery:
        return RecordQuery(self.q.data or "", self.mandant_id.data)


RecordT = TypeVar("RecordT")
FormT = TypeVar("FormT", bound=RecordForm)
FilterT = TypeVar("FilterT", bound=FilterForm)
NumberedT = TypeVar("NumberedT", WorkOrder, Ticket)


@dataclass(frozen=True)
class RecordKind(Generic[RecordT, FormT, FilterT]):
    """One kind of record dialog: its names, texts, model and form. A subclass per blueprint
    says how its records are searched and saved (`filter_form`, `search`, `save`) and what
    else the dialog needs (`prepare`, `context`)."""

    blueprint: str  # "orders": endpoint prefix and template folder
    key: str  # "order": endpoints orders.order, orders.order_new, orders.order_edit
    list_key: str  # "index": the list's endpoint, orders.index
    html_id: str  # "order": the list's elements #order-search, #order-results, #orders
    remember: str  # under which the list's search bar remembers whether it is open
    model: type[RecordT]
    source: MessageSource  # of the SMS sent from a record: its SMS-Verlauf
    label_field: str  # "number" / "name": what names a record (heading, flash, data-*)
    title: Any  # lazy texts: "Aufträge"
    singular: Any  # "Auftrag"
    new_title: Any  # "Neuer Auftrag"
    no_history: Any  # "Zu diesem Auftrag wurde noch keine SMS versendet."
    form: type[FormT]

    def endpoint(self, action: str = "") -> str:
        return f"{self.blueprint}.{self.key}{'_' + action if action else ''}"

    @property
    def list_endpoint(self) -> str:
        return f"{self.blueprint}.{self.list_key}"

    def label(self, record: RecordT) -> str:
        return str(getattr(record, self.label_field))

    def filter_form(self, mandanten: list[Mandant]) -> FilterT:
        """The list's Suchkriterien, read from the request."""
        raise NotImplementedError

    def search(
        self, form: FilterT, mandant_ids: set[int] | None, before: int | None, after: int | None
    ) -> KeysetPage:
        """One page of the list."""
        raise NotImplementedError

    def prepare(self, form: FormT, record: RecordT | None) -> None:
        """Fill in what the form needs besides the Mandant (choices, values shown)."""

    def save(self, form: FormT, record: RecordT | None, allowed_mandant_ids: set[int]) -> RecordT:
        """Create (record=None) or update a record from the form; InputError with every
        problem, changing nothing."""
        raise NotImplementedError

    def context(self, record: RecordT) -> dict[str, Any]:
        """What else the read-only dialog shows (e.g. whether "SMS senden" is possible)."""
        return {}

    def contact_fields(self) -> dict[str, type[Person] | type[Company]]:
        """The form's selects of Personen/Firmen (field name → model): they offer only those of
        the chosen Mandant (the form's `_contacts.html`, refreshed when the Mandant changes)."""
        return {}

    def sms_of(self, record: Any) -> RecordSms:
        """Which SMS its SMS-Verlauf shows: those sent from it (a Person or Firma adds those
        to its number)."""
        return record_sms(self.source, record.id)


AnyKind = RecordKind[Any, Any, Any]


@dataclass(frozen=True)
class NumberedKind(RecordKind[NumberedT, FormT, RecordFilterForm]):
    """Aufträge and Tickets: numbered records, their list searched by one text."""

    search_label: Any  # what the text is looked for in: "Nummer oder Betreff enthält"

    def filter_form(self, mandanten: list[Mandant]) -> RecordFilterForm:
        return RecordFilterForm(self.search_label, mandanten)

    def search(
        self,
        form: RecordFilterForm,
        mandant_ids: set[int] | None,
        before: int | None,
        after: int | None,
    ) -> KeysetPage:
        return search_records(
            db.session(), self.model, mandant_ids, form.query(), before=before, after=after
        )


def region() -> str:
    """The region of numbers entered without country code."""
    return str(current_app.config.get("DEFAULT_PHONE_REGION", "AT"))


def scope() -> set[int] | None:
    return visible_mandant_ids(current_user)


def template_helpers() -> dict[str, Any]:
    """For the record templates (register with `bp.context_processor`)."""
    default_region = region()
    return {
        "mobile_display": lambda raw: mobile_display(raw, default_region),
        "status_label": status_label,
    }


def record_or_404(kind: AnyKind, record_id: int) -> Any:
    """The record if the user may see it; 404 otherwise."""
    record = get_visible(db.session(), kind.model, record_id, scope())
    if record is None:
        abort(404)
    return record


def form_input(form: FlaskForm, input_class: type[Input]) -> Input:
    """The core's input object (a dataclass) from the form fields of the same names; an empty
    text as ""."""
    values = {}
    for item in fields(input_class):
        value = form[item.name].data
        values[item.name] = "" if value is None and item.default == "" else value
    return input_class(**values)


def contact_options(
    model: type[Person] | type[Company], mandant_id: int | None
) -> list[tuple[Any, str]]:
    """The Personen or Firmen of the chosen Mandant a record may refer to (within the user's
    Mandanten); none before a Mandant is chosen."""
    if mandant_id is None:
        return [("", _("– zuerst einen Mandanten wählen –"))]
    options: list[tuple[Any, str]] = [("", _("– keine Auswahl –"))]
    for record in contact_choices(db.session(), model, scope(), mandant_id):
        options.append((record.id, record.name))
    return options


def _values(choices: Any) -> set[Any]:
    """The values of a select's (value, label) choices."""
    return {choice[0] for choice in choices or []}


def _fill_contacts(kind: AnyKind, form: RecordForm, *, take_out: bool = True) -> list[str]:
    """Offer in the contact selects only the Personen/Firmen of the form's Mandant. With
    `take_out` a chosen one of another Mandant is taken out (a submitted form keeps it, so
    that the save names the mismatch). The labels of the fields that lost their choice."""
    mandant_id = form.mandant_id.data
    if mandant_id not in _values(form.mandant_id.choices):
        mandant_id = None
    cleared = []
    for name, model in kind.contact_fields().items():
        select_field = form[name]
        select_field.choices = contact_options(model, mandant_id)
        offered = _values(select_field.choices)
        if take_out and select_field.data is not None and select_field.data not in offered:
            select_field.data = None
            cleared.append(str(select_field.label.text))
    return cleared


# --- views ---------------------------------------------------------------------------------------


def list_view(kind: AnyKind) -> str:
    """The list with Suchkriterien (only the results when htmx swaps them)."""
    form = kind.filter_form(visible_mandanten(db.session(), current_user))
    before, after = cursor()
    page = kind.search(form, scope(), before, after)
    return render_list(
        "records/list.html",
        f"{kind.blueprint}/_results.html",
        f"{kind.html_id}-results",
        form,
        page,
        kind=kind,
    )


def new_view(kind: AnyKind) -> ResponseReturnValue:
    """Neu: the empty form; after Speichern the new record's dialog."""
    form, choices = _form(kind, None)
    if form.validate_on_submit():
        saved = _save(kind, form, choices, None)
        if saved is not None:
            return redirect(url_for(kind.endpoint(), record_id=saved.id))
    status = 422 if form.errors or form.form_errors else 200
    missing = None if choices else missing_mandant_reason(db.session(), current_user)
    return render_template(
        "records/new.html", kind=kind, form=form, missing_mandant=missing
    ), status


def show_view(kind: AnyKind, record_id: int) -> ResponseReturnValue:
    """The read-only dialog; also its SMS-Verlauf alone (reloaded after "SMS senden" queued
    one) and the Verlauf's poll."""
    record = record_or_404(kind, record_id)
    if is_partial(HISTORY_POLLER):
        return _history_poll(kind, record)
    context = _view_context(kind, record)
    if is_partial("sms-history"):
        return render_template("records/_history.html", **context)
    return _dialog(kind, "view", None, context)


def edit_view(kind: AnyKind, record_id: int) -> ResponseReturnValue:
    """Bearbeiten (swapped in place by htmx); after Speichern back to the read-only dialog."""
    record = record_or_404(kind, record_id)
    form, choices = _form(kind, record)
    if form.validate_on_submit():
        saved = _save(kind, form, choices, record)
        if saved is not None:
            view_url = url_for(kind.endpoint(), record_id=saved.id)
            if not htmx:
                return redirect(view_url)
            body = render_template(
                f"{kind.blueprint}/_record.html",
                mode="view",
                form=None,
                **_view_context(kind, saved),
            )
            body += render_template("_flash_oob.html")
            return make_response(body, push_url=view_url)
    status = 422 if form.errors or form.form_errors else 200
    return _dialog(kind, "edit", form, {"kind": kind, "record": record, "history": []}, status)


def _dialog(
    kind: AnyKind,
    mode: str,
    form: RecordForm | None,
    context: dict[str, Any],
    status: int = 200,
) -> ResponseReturnValue:
    """The record dialog in `mode` ("view"/"edit"): only the record part when htmx swaps it,
    the whole page otherwise."""
    partial = is_partial("record")
    template = f"{kind.blueprint}/_record.html" if partial else "records/record.html"
    return render_template(template, mode=mode, form=form, **context), status


def _form(kind: AnyKind, record: Any | None) -> tuple[RecordForm, list[Mandant]]:
    form = kind.form(obj=record) if request.method == "GET" and record else kind.form()
    choices = selectable_mandanten(db.session(), current_user)
    if record is not None and record.mandant_id not in {m.id for m in choices}:
        choices = [record.mandant, *choices]  # e.g. a Mandant deactivated since
    form.mandant_id.choices = [(m.id, m.name) for m in choices]
    if record is None and len(choices) != 1:
        form.mandant_id.choices.insert(0, ("", _("– bitte wählen –")))
    if request.method == "GET" and record is None and len(choices) == 1:
        form.mandant_id.data = choices[0].id
    kind.prepare(form, record)
    _fill_contacts(kind, form, take_out=request.method == "GET")
    return form, choices


def contacts_view(kind: AnyKind) -> ResponseReturnValue:
    """The contact selects for the Mandant chosen in the form (htmx, when the Mandant
    changes): the choices still offered stay chosen, the others are taken out, and it says so."""
    form = kind.form(formdata=request.args, meta={"csrf": False})
    choices = selectable_mandanten(db.session(), current_user)
    form.mandant_id.choices = [(m.id, m.name) for m in choices]
    cleared = _fill_contacts(kind, form)
    return render_template(f"{kind.blueprint}/_contacts.html", form=form, cleared=cleared)


def _save(kind: AnyKind, form: RecordForm, choices: list[Mandant], record: Any | None) -> Any:
    """Save the submitted form; the saved record, or None with the errors on the form."""
    with save_or_show_errors(form) as saving:
        saved = kind.save(form, record, {m.id for m in choices})
    if not saving.ok:
        return None
    flash(
        _("%(kind)s %(name)s wurde gespeichert.", kind=kind.singular, name=kind.label(saved)),
        "success",
    )
    return saved


# --- the SMS-Verlauf of a record (records/_history.html), live while an SMS is not final -------


def _view_context(kind: AnyKind, record: Any) -> dict[str, Any]:
    """The read-only dialog: the record, its newest SMS (within the user's Mandanten) and what
    of them to watch live."""
    history = sms_history(db.session(), kind.sms_of(record), HISTORY_SIZE, mandant_ids=scope())
    return {
        "kind": kind,
        "record": record,
        "history": history,
        "live": watch(history),
        **kind.context(record),
    }


def _history_poll(kind: AnyKind, record: Any) -> ResponseReturnValue:
    """Answer the SMS-Verlauf's poll: the status of the watched SMS of this record that
    changed, out of band; 204 when nothing changed."""
    update = live_update(
        db.session(),
        parse_watch(request.args.getlist("w")),
        mandant_ids=scope(),
        record=kind.sms_of(record),
    )
    if update.unchanged:
        return "", 204
    return render_template("records/_history_poll.html", kind=kind, record=record, update=update)

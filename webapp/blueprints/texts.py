"""Smstexte (permission 150037): SMS text templates with placeholders.

The list with its Suchkriterien, the form with a live preview (htmx), delete; and two small
read-only endpoints for the SMS forms of other dialogs (template picker): `options` and `body`,
open only to users who may open one of those dialogs (`picker`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_htmx import make_response
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

from webapp.accounts import visible_mandant_ids
from webapp.blueprints.forms import save_or_show_errors
from webapp.errors import InputError
from webapp.extensions import db, htmx
from webapp.models import Company, Person, SmsText
from webapp.permissions import Permission, requires, serves
from webapp.sms import notifications, placeholders
from webapp.sms.encoding import analyze
from webapp.sms.outbox import fixed_text
from webapp.sms.scope import get_visible
from webapp.sms.texts import check_body, delete_text, list_texts, preview_text, save_text
from webapp.validation import parse_id

bp = Blueprint("texts", __name__, url_prefix="/admin/sms-texts")

texts_editor = requires(Permission.SMS_TEXTS)
# The template picker of the SMS editor serves "Neu" (SMS Nachrichten) and "SMS senden" (also
# from a Person or Firma): whoever may open one of them may read the texts, nobody else.
picker = serves("messages.new", "quicksend.send")

# The usage filter of the list: "" is every usage, FREE_FILTER the texts without one.
FREE_FILTER = "frei"
SORTS = {
    "name": lambda row: (row.text.name.casefold(), row.text.id),
    "usage": lambda row: (row.usage_label.casefold(), row.text.name.casefold()),
    "parts": lambda row: (row.segments or 0, row.text.name.casefold()),
    "updated": lambda row: (row.text.updated_at, row.text.id),
}


class TextForm(FlaskForm):
    name = StringField(_l("Name"))
    # Checked by the domain (save_text), which says in German what to choose.
    usage_key = SelectField(_l("Verwendung"), validate_choice=False)
    body = TextAreaField(_l("Text"))


@dataclass(frozen=True)
class TextRow:
    text: SmsText
    usage_label: str
    segments: int | None  # None: the stored body cannot be rendered (should not happen)


def _usage_filter(value: str | None) -> str | None:
    """The usage key a filter value means: None for all, "" for the free texts."""
    if not value:
        return None
    return placeholders.FREE_USAGE if value == FREE_FILTER else value


def _row(text: SmsText) -> TextRow:
    try:
        _rendered, info = preview_text(text.body)
        segments: int | None = info.segments
    except InputError:
        segments = None
    return TextRow(text, placeholders.usage_label(text.usage_key), segments)


@bp.route("/")
@texts_editor
def index() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()
    usage_value = request.args.get("usage", "")
    sort = request.args.get("sort", "name")
    descending = sort.startswith("-")
    sort_key = sort.lstrip("-")
    if sort_key not in SORTS:
        sort_key, descending = "name", False
    rows = [_row(t) for t in list_texts(db.session(), query, _usage_filter(usage_value))]
    rows.sort(key=SORTS[sort_key], reverse=descending)
    template = (
        "texts/_table.html"
        if request.headers.get("HX-Target") == "texts-table"
        else "texts/index.html"
    )
    return render_template(
        template,
        rows=rows,
        q=query,
        usage_value=usage_value,
        sort_key=sort_key,
        descending=descending,
        usages=placeholders.USAGES.values(),
        free_filter=FREE_FILTER,
    )


def _describe_char(char: str | None) -> str:
    """The character that forced Unicode, readable also when it is invisible (U+00A0)."""
    if not char:
        return ""
    if char.isprintable() and not char.isspace():
        return char
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _preview_context(body: str, usage_key: str, *, show_problem: bool = True) -> dict[str, Any]:
    """What the preview below the text area shows: rendering, counter, problem, fixed text."""
    rendered: str | None = None
    problem: str | None = None
    try:
        rendered, info = preview_text(body)
    except InputError as error:
        problem = error.message
        info = analyze(body.strip())
    if problem is None and body.strip():
        try:
            check_body(body, usage_key)
        except InputError as error:
            problem = error.message
    usage = placeholders.usage(usage_key) or placeholders.USAGES[placeholders.FREE_USAGE]
    return {
        "preview_rendered": rendered,
        "info": info,
        "capacity": info.per_segment * max(info.segments, 1),
        "unicode_char": _describe_char(info.unicode_reason),
        "preview_problem": problem if show_problem else None,
        "usage": usage,
        "fixed": fixed_text(db.session()),
    }


def _usage_choices(current: str | None) -> list[tuple[str, str]]:
    choices = [(u.key, str(u.label)) for u in placeholders.USAGES.values()]
    if current and current not in placeholders.USAGES:  # an old key: keep it visible
        choices.append((current, current))
    return choices


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<int:text_id>", methods=["GET", "POST"])
@texts_editor
def edit(text_id: int | None = None) -> ResponseReturnValue:
    text = db.get_or_404(SmsText, text_id) if text_id is not None else None
    form = TextForm(obj=text) if request.method == "GET" and text else TextForm()
    form.usage_key.choices = _usage_choices(form.usage_key.data)
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            saved = save_text(
                db.session(),
                name=form.name.data or "",
                usage_key=form.usage_key.data or "",
                body=form.body.data or "",
                changed_by=current_user.username,
                text=text,
            )
        if saving.ok:
            flash(_("SMS-Text „%(name)s“ wurde gespeichert.", name=saved.name), "success")
            return redirect(url_for("texts.index"))
    status = 422 if form.errors or form.form_errors else 200
    preview = _preview_context(
        form.body.data or "", form.usage_key.data or "", show_problem=not form.body.errors
    )
    return render_template("texts/form.html", form=form, text=text, **preview), status


@bp.route("/preview", methods=["POST"])
@texts_editor
def preview() -> ResponseReturnValue:
    """The live preview (htmx, while typing): rendering with example values and the counter."""
    body = request.form.get("body", "")
    usage_key = request.form.get("usage_key", "")
    return render_template("texts/_preview.html", oob=True, **_preview_context(body, usage_key))


@bp.route("/<int:text_id>/delete", methods=["POST"])
@texts_editor
def delete(text_id: int) -> ResponseReturnValue:
    text = db.get_or_404(SmsText, text_id)
    name = text.name
    delete_text(db.session(), text)
    db.session.commit()
    flash(_("SMS-Text „%(name)s“ wurde gelöscht.", name=name), "success")
    target = url_for("texts.index")
    if htmx:
        return make_response("", redirect=target)
    return redirect(target)


# --- for the SMS forms of other dialogs (Neu, SMS senden, records): who may open them ----------


@bp.route("/options")
@picker
def options() -> ResponseReturnValue:
    """The templates for a picker: JSON [{id, name, usage_key, body}], or <option>s for htmx.

    `?usage=auftrag_bn` (or `frei`) limits them to one usage; `?format=html` (or an htmx
    request) answers with an empty first option and one <option value=id data-body=…> each.
    """
    rows = list_texts(db.session(), usage_key=_usage_filter(request.args.get("usage")))
    if request.args.get("format") == "html" or (htmx and request.args.get("format") != "json"):
        return render_template("texts/_options.html", texts=rows)
    return jsonify(
        [{"id": t.id, "name": t.name, "usage_key": t.usage_key, "body": t.body} for t in rows]
    )


@bp.route("/<int:text_id>/body")
@picker
def body(text_id: int) -> ResponseReturnValue:
    """The text of one template as text/plain, as the SMS editor takes it: the placeholders
    the Person or Firma it goes to fills (`?person=ID` / `?company=ID`, within the user's
    Mandanten) filled in, the others left as `{…}` for the editor to mark."""
    text = db.get_or_404(SmsText, text_id)
    values: dict[str, str | None] = {}
    mandant_ids = visible_mandant_ids(current_user)
    person_id = request.args.get("person", type=parse_id)
    company_id = request.args.get("company", type=parse_id)
    record: Person | Company | None = None
    if person_id is not None:
        record = get_visible(db.session(), Person, person_id, mandant_ids)
    elif company_id is not None:
        record = get_visible(db.session(), Company, company_id, mandant_ids)
    if (person_id is not None or company_id is not None) and record is None:
        abort(404)
    if record is not None:
        values.update(notifications.contact_values(record))
    try:
        filled = placeholders.render(text.body, values, missing="keep")
    except InputError:  # a text stored before its braces were checked: as it is
        filled = text.body
    response = Response(filled, mimetype="text/plain")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response

"""Pieces shared by the dialogs: form fields, errors next to fields, list filters, htmx."""

from __future__ import annotations

from datetime import date

from flask import redirect, render_template
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import SelectMultipleField, widgets

from webapp.errors import InputError
from webapp.extensions import htmx


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (roles, Mandanten, permission numbers)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def attach_error(form: FlaskForm, error: InputError) -> None:
    """Show a domain error next to its field (or above the form when it has none)."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def is_partial(target: str) -> bool:
    """An htmx request that swaps only `target` (a history restore wants the whole page)."""
    return bool(htmx) and not htmx.history_restore_request and htmx.target == target


def filter_date(args: MultiDict[str, str], name: str, problems: list[str]) -> date | None:
    """A date filter of a list (ISO from <input type=date>); a bad one is noted in `problems`."""
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(_("Bitte ein gültiges Datum eingeben (TT.MM.JJJJ)."))
        return None


# --- record dialogs (Personen, Firmen, Aufträge, Tickets): read-only, "Bearbeiten" in place ---


def record_page(folder: str, mode: str, form: FlaskForm | None, context: dict, status: int = 200):  # type: ignore[no-untyped-def]
    """The record dialog of `folder` in `mode` ("view"/"edit"): only the record part when htmx
    swaps it, the whole page otherwise."""
    template = f"{folder}/_record.html" if is_partial("record") else f"{folder}/record.html"
    return render_template(template, mode=mode, form=form, **context), status


def record_saved(folder: str, view_url: str, context: dict):  # type: ignore[no-untyped-def]
    """After "Speichern": back to the read-only record (swapped in place, URL updated)."""
    if not htmx:
        return redirect(view_url)
    body = render_template(f"{folder}/_record.html", mode="view", form=None, **context)
    body += render_template("_flash_oob.html")
    return make_response(body, push_url=view_url)

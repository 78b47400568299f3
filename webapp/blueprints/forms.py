"""Pieces shared by the dialogs: form fields, errors next to fields, list filters, htmx."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
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

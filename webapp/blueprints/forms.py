"""Form pieces shared by the dialogs."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, widgets

from webapp.errors import InputError


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

"""Pieces shared by the dialogs: form fields, errors next to fields, list filters, htmx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from flask import flash
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, widgets

from webapp.errors import InputError
from webapp.extensions import db, htmx


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (roles, Mandanten, permission numbers)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def attach_error(form: FlaskForm, error: InputError) -> None:
    """Show every problem of a domain error next to its field (above the form when it has
    none)."""
    for problem in error.errors:
        field = getattr(form, problem.field, None) if problem.field else None
        if field is not None:
            field.errors = [*field.errors, problem.message]
        else:
            form.form_errors.append(problem.message)


@dataclass
class Saving:
    """What `save_or_show_errors` tells the view: `ok` once the change is committed, else
    the `error` with every problem."""

    ok: bool = False
    error: InputError | None = None


@contextmanager
def save_or_show_errors(form: FlaskForm | None = None, *, inline: bool = False) -> Iterator[Saving]:
    """The one way a dialog stores what the user sent: the block's changes are committed; on
    bad input (InputError) they are rolled back and every problem is shown at its field of
    `form` (as a flash message without a form; not at all with `inline`, where the view shows
    `saving.error` in its own place). Exceptions other than InputError pass on.

        with save_or_show_errors(form) as saving:
            user = accounts.save_user(db.session, data, user)
        if saving.ok:
            return redirect(...)
    """
    saving = Saving()
    try:
        yield saving
    except InputError as error:
        db.session.rollback()
        saving.error = error
        if form is not None:
            attach_error(form, error)
        elif not inline:
            for problem in error.errors:
                flash(problem.message, "error")
        return
    db.session.commit()
    saving.ok = True


def is_partial(target: str) -> bool:
    """An htmx request that swaps only `target` (a history restore wants the whole page)."""
    return bool(htmx) and not htmx.history_restore_request and htmx.target == target


def parse_filter_date(raw: str) -> date | None:
    """A date filter of a list (ISO from <input type=date>), None when empty; ValueError that
    says what to enter."""
    text = raw.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(_("Bitte ein gültiges Datum eingeben (TT.MM.JJJJ).")) from None

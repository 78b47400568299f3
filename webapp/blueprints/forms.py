"""Pieces shared by the dialogs: form fields, errors next to fields, list filters, htmx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import SelectMultipleField, widgets

from webapp.accounts import visible_mandant_ids
from webapp.errors import InputError
from webapp.extensions import db, htmx
from webapp.models import MessageSource
from webapp.sms.contacts import sms_history
from webapp.sms.search import live_update, parse_watch, watch


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


def filter_date(args: MultiDict[str, str], name: str, problems: list[str]) -> date | None:
    """`parse_filter_date` of args[name]; a bad date is noted in `problems` (lists that do not
    read their filter with a lists.FilterForm)."""
    try:
        return parse_filter_date(args.get(name, ""))
    except ValueError as error:
        problems.append(str(error))
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


# --- the SMS-Verlauf of a record (contacts/_history.html), live while an SMS is not final ------

HISTORY_POLLER = "history-poller"  # the element that polls; its requests carry it as HX-Target


def record_history(source: MessageSource, record_id: int, limit: int) -> dict[str, Any]:
    """The SMS-Verlauf of a record for the template: its newest SMS (within the user's
    Mandanten) and what of them to watch live."""
    history = sms_history(
        db.session, source, record_id, limit, mandant_ids=visible_mandant_ids(current_user)
    )
    return {"history": history, "live": watch(history)}


def history_poll(kind: Any, record: Any, source: MessageSource):  # type: ignore[no-untyped-def]
    """Answer the SMS-Verlauf's poll (the record is already checked): the status of the watched
    SMS of this record that changed, out of band; 204 when nothing changed."""
    update = live_update(
        db.session,
        parse_watch(request.args.getlist("w")),
        mandant_ids=visible_mandant_ids(current_user),
        source=source,
        source_ref=str(record.id),
    )
    if update.unchanged:
        return "", 204
    return render_template("contacts/_history_poll.html", kind=kind, record=record, update=update)

"""Serien-SMS (permission 1669; issue 17): the list of Serien, the form with its review, "Senden",
one Serie with its counts live and "Rest abbrechen". The rules: `webapp/sms/serien.py`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SearchField, SelectField, StringField, TextAreaField

from webapp.accounts import selectable_mandanten, visible_mandant_ids
from webapp.blueprints.forms import attach_error, is_partial
from webapp.blueprints.lists import cursor
from webapp.errors import InputError, ServiceOff
from webapp.extensions import db
from webapp.formatting import format_duration
from webapp.models import Series, SeriesState
from webapp.models.base import utcnow
from webapp.permissions import Permission, requires
from webapp.sms import serien
from webapp.sms.planning import parse_send_at
from webapp.sms.recipient_lists import RecipientList, read_list, read_upload
from webapp.sms.scope import get_visible
from webapp.sms.settings import sms_service_refusal
from webapp.validation import optional_id

bp = Blueprint("serien", __name__, url_prefix="/admin/sms/serien")

sms_messages = requires(Permission.SMS_MESSAGES)
POLL_SECONDS = 2  # the counts of a Serie being sent
PLANNED_POLL_SECONDS = 30  # … and of one whose SMS all wait for their planned time


class SeriesForm(FlaskForm):
    """Mandant, recipients (filters and/or a list), text."""

    mandant = SelectField(_l("Mandant"), coerce=optional_id, validate_choice=False)
    kinds = SelectField(_l("Empfänger aus"), validate_choice=False)
    name = SearchField(_l("Name enthält"))
    address = SearchField(_l("Adresse enthält"))
    role = SelectField(_l("Rolle in Aufträgen/Tickets"), validate_choice=False)
    with_mobile = BooleanField(_l("nur mit Handynummer"), default=True)
    liste = TextAreaField(_l("Liste (CSV einfügen)"))
    datei = FileField(_l("oder CSV- oder XLSX-Datei hochladen"))
    text = TextAreaField(_l("SMS-Text"))
    send_at = StringField(_l("Versand am"))


def _prepare(form: SeriesForm) -> SeriesForm:
    mandanten = selectable_mandanten(db.session(), current_user)
    form.mandant.choices = [(m.id, m.name) for m in mandanten]
    if form.mandant.data is None and mandanten:
        form.mandant.data = mandanten[0].id
    form.kinds.choices = [
        (serien.ContactKinds.NONE.value, _("keine (nur Liste)")),
        (serien.ContactKinds.PERSONS.value, _("Personen")),
        (serien.ContactKinds.COMPANIES.value, _("Firmen")),
        (serien.ContactKinds.BOTH.value, _("Personen und Firmen")),
    ]
    form.role.choices = serien.role_choices()
    return form


def _listing(form: SeriesForm) -> RecipientList | None:
    """The list of the form: an uploaded file, CSV or XLSX (its text, a workbook as CSV, then
    stands in the field, so a new review keeps it), else the pasted text, else None."""
    upload = request.files.get(form.datei.name)
    if upload is not None and upload.filename:
        listing, form.liste.data = read_upload(upload.read())
        return listing
    pasted = form.liste.data or ""
    return read_list(pasted) if pasted.strip() else None


def _input(form: SeriesForm) -> serien.SeriesInput:
    try:
        kinds = serien.ContactKinds(form.kinds.data or "")
    except ValueError:
        kinds = serien.ContactKinds.NONE
    return serien.SeriesInput(
        mandant_id=_mandant(form),
        text=form.text.data or "",
        contacts=serien.ContactFilter(
            kinds=kinds,
            name=form.name.data or "",
            address=form.address.data or "",
            role=form.role.data if form.role.data in serien.ROLES else "",
            with_mobile=bool(form.with_mobile.data),
        ),
        listing=_listing(form),
        send_at=parse_send_at(form.send_at.data, str(_config("TIMEZONE")), utcnow()),
    )


def _mandant(form: SeriesForm) -> int:
    """The Mandant chosen; with a single one, that one (its select is not shown)."""
    choices = [c[0] for c in form.mandant.choices or []]
    if form.mandant.data in choices:
        return int(form.mandant.data)
    if len(choices) == 1:
        return int(choices[0])
    raise InputError(_("Bitte einen Ihrer Mandanten auswählen."), "mandant")


def _config(name: str) -> Any:
    return current_app.config[name]


@bp.route("/")
@sms_messages
def index() -> ResponseReturnValue:
    """The Serien, newest first, with where each stands."""
    before, after = cursor()
    page = serien.series_list(
        db.session(), visible_mandant_ids(current_user), before=before, after=after
    )
    tallies = serien.counts_of(db.session(), [s.id for s in page.rows])
    template = "serien/_results.html" if is_partial("serien-results") else "serien/index.html"
    return render_template(template, page=page, tallies=tallies, counts=serien.SeriesCounts())


@bp.route("/neu", methods=["GET", "POST"])
@sms_messages
def new() -> ResponseReturnValue:
    """The form; "Prüfen" shows the review under it (nothing queued), with "Senden"."""
    form = _prepare(SeriesForm())
    result = draft = planned_at = None
    status = 200
    if form.validate_on_submit():
        try:
            series_input = _input(form)
            result = serien.review(
                db.session(),
                series_input,
                mandant_ids=visible_mandant_ids(current_user),
                max_segments=int(_config("SMS_MAX_SEGMENTS")),
                default_region=str(_config("DEFAULT_PHONE_REGION")),
            )
            draft = serien.save_review(
                db.session(),
                result,
                series_input,
                created_by=current_user,
                mandant_ids=visible_mandant_ids(current_user),
            )
            db.session.commit()
            planned_at = series_input.send_at
        except InputError as error:
            db.session.rollback()
            result = draft = None
            attach_error(form, error)
            status = 422
    elif request.method == "POST":
        status = 422
    return render_template(
        "serien/new.html",
        form=form,
        result=result,
        draft=draft,
        planned_at=planned_at,
        estimated=format_duration(int(result.estimated.total_seconds() * 1000))
        if result is not None and result.estimated is not None
        else None,
        placeholders=serien.known_placeholders(),
        service_off=sms_service_refusal(db.session()),
    ), status


@bp.route("/senden", methods=["POST"])
@sms_messages
def send() -> ResponseReturnValue:
    """Senden of a review: its SMS queued once, however often the button is pressed."""
    token = (request.form.get("token") or "").strip()
    try:
        queued = serien.confirm(
            db.session(),
            token,
            user=current_user,
            mandant_ids=visible_mandant_ids(current_user),
            max_segments=int(_config("SMS_MAX_SEGMENTS")),
            default_region=str(_config("DEFAULT_PHONE_REGION")),
        )
    except (InputError, ServiceOff) as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("serien.new"))
    db.session.commit()
    if queued.created:
        flash(
            ngettext(
                "Serien-SMS %(id)d: %(num)d SMS wurde in die Versandliste aufgenommen.",
                "Serien-SMS %(id)d: %(num)d SMS wurden in die Versandliste aufgenommen.",
                queued.series.planned,
                id=queued.series.id,
            ),
            "success",
        )
    else:
        flash(
            _("Diese Serien-SMS wurde bereits gesendet; sie wurde nicht noch einmal aufgenommen.")
        )
    return redirect(url_for("serien.show", series_id=queued.series.id))


def _series_or_404(series_id: int) -> Series:
    series = get_visible(db.session(), Series, series_id, visible_mandant_ids(current_user))
    if series is None or series.state is not SeriesState.QUEUED:
        abort(404)
    return series


@bp.route("/<int:series_id>")
@sms_messages
def show(series_id: int) -> ResponseReturnValue:
    """One Serie: who, when, text, its counts (live while it is sent), Rest abbrechen."""
    series = _series_or_404(series_id)
    return render_template(
        "serien/show.html",
        s=series,
        send_at=serien.planned_time(db.session(), series.id),
        **_counts_context(series),
    )


def _counts_context(series: Series) -> dict[str, Any]:
    counts = serien.counts(db.session(), series.id)
    return {
        "counts": counts,
        "poll_seconds": POLL_SECONDS if counts.waiting else PLANNED_POLL_SECONDS,
    }


@bp.route("/<int:series_id>/stand")
@sms_messages
def counts(series_id: int) -> ResponseReturnValue:
    """The counts of a Serie (the page's poll; it ends once nothing waits)."""
    series = _series_or_404(series_id)
    return render_template("serien/_counts.html", s=series, **_counts_context(series))


@bp.route("/<int:series_id>/abbrechen", methods=["POST"])
@sms_messages
def cancel(series_id: int) -> ResponseReturnValue:
    """Rest abbrechen: the SMS of the Serie no run has taken yet are not sent."""
    series = _series_or_404(series_id)
    cancelled = serien.cancel_rest(db.session(), series, current_user)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d wartende SMS der Serie abgebrochen.",
            "%(num)d wartende SMS der Serie abgebrochen.",
            cancelled,
        )
        if cancelled
        else _("Es wartet keine SMS der Serie mehr; nichts abgebrochen."),
        "success" if cancelled else "warning",
    )
    return redirect(url_for("serien.show", series_id=series.id))

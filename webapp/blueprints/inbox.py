"""Empfangene SMS (permission 1669): the received SMS with Suchkriterien (SPEC E5)."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.accounts import selectable_mandanten, visible_mandant_ids
from webapp.blueprints.exports import download
from webapp.blueprints.lists import (
    DateFilter,
    FilterForm,
    KeptFilter,
    MandantFilter,
    SortFilter,
    cursor,
    render_list,
    text_filter,
)
from webapp.extensions import db
from webapp.permissions import Permission, requires
from webapp.sms.export import received_export
from webapp.sms.inbox import (
    RECEIVED_DEFAULT_SORT,
    RECEIVED_SORTS,
    InboxFilter,
    search_received,
)

bp = Blueprint("inbox", __name__, url_prefix="/admin/sms")


class InboxFilterForm(FilterForm):
    """The Suchkriterien of Empfangene SMS; `id` is one SMS (the link in the forwarded e-mail)."""

    number = text_filter(_l("Nummer"), limit=40, placeholder="0664 123", inputmode="tel")
    text = text_filter(_l("Text enthält"), limit=200)
    received_from = DateFilter(_l("Empfangen ab"))
    received_to = DateFilter(_l("Empfangen bis"))
    mandant_id = MandantFilter(name="mandant")
    id = KeptFilter()
    sort = SortFilter(RECEIVED_SORTS, RECEIVED_DEFAULT_SORT)


@bp.route("/inbox")
@requires(Permission.SMS_MESSAGES)
def index() -> ResponseReturnValue:
    form = InboxFilterForm(mandanten=selectable_mandanten(db.session(), current_user))
    before, after = cursor()
    page = search_received(
        db.session(),
        InboxFilter(**form.values()),
        mandant_ids=visible_mandant_ids(current_user),
        before=before,
        after=after,
        default_region=current_app.config["DEFAULT_PHONE_REGION"],
        timezone=current_app.config["TIMEZONE"],
        sort=form.sort.data,
    )
    return render_list("inbox/index.html", "inbox/_results.html", "inbox-results", form, page)


@bp.route("/inbox/export.csv", defaults={"fmt": "csv"})
@bp.route("/inbox/export.xlsx", defaults={"fmt": "xlsx"})
@requires(Permission.SMS_MESSAGES)
def export(fmt: str) -> ResponseReturnValue:
    """The list with the filter in force, all pages, as CSV or XLSX (streamed)."""
    form = InboxFilterForm(mandanten=selectable_mandanten(db.session(), current_user))
    return download(
        received_export(
            db.session(),
            InboxFilter(**form.values()),
            mandant_ids=visible_mandant_ids(current_user),
            default_region=current_app.config["DEFAULT_PHONE_REGION"],
            timezone=current_app.config["TIMEZONE"],
            sort=form.sort.data,
        ),
        fmt,
    )

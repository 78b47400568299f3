"""Meine SMS: the SMS a user created, with their status, for every logged-in user.

Every user may create SMS (SMS senden with 298004, Neu with 1669, Auftrag versenden and new
Tickets with none), so every user sees what became of their own — without 1669, which opens
everybody's. The list is SMS Nachrichten's (search, pager, live status: `messages.search_page`,
`messages.live_answer`) limited to the SMS whose `created_by_id` is the user, within the
user's Mandanten; another user's SMS answers 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from webapp.accounts import visible_mandant_ids
from webapp.blueprints.lists import render_list
from webapp.blueprints.messages import (
    cancel_answer,
    export_answer,
    live_answer,
    search_page,
    source_labels,
)
from webapp.extensions import db
from webapp.permissions import requires
from webapp.sms import outbox
from webapp.sms.search import own_message, watch

bp = Blueprint("my_messages", __name__, url_prefix="/sms/meine")

# What the templates of SMS Nachrichten need to show Meine SMS instead.
MINE = {
    "mine": True,
    "list_endpoint": "my_messages.index",
    "live_endpoint": "my_messages.live",
    "export_endpoint": "my_messages.export",
}


@bp.route("/")
@requires()
def index() -> ResponseReturnValue:
    form, page = search_page(created_by_id=current_user.id)
    return render_list(
        "messages/mine.html",
        "messages/_results.html",
        "message-results",
        form,
        page,
        status_label=outbox.status_label,
        source_labels=source_labels(),
        live=watch(page.rows),
        **MINE,
    )


@bp.route("/live")
@requires()
def live() -> ResponseReturnValue:
    """The poll of the list and of one SMS (`messages.live_answer`), of the user's own SMS."""
    return live_answer("my_messages.live", created_by_id=current_user.id)


@bp.route("/export.csv", defaults={"fmt": "csv"})
@bp.route("/export.xlsx", defaults={"fmt": "xlsx"})
@requires()
def export(fmt: str) -> ResponseReturnValue:
    """The user's own SMS with the filter in force, as CSV or XLSX (`messages.export_answer`)."""
    return export_answer(fmt, created_by_id=current_user.id)


@bp.route("/<int:message_id>")
@requires()
def show(message_id: int) -> ResponseReturnValue:
    """One of the user's SMS with everything known about it, following its status live."""
    message = own_message(
        db.session(),
        message_id,
        created_by_id=current_user.id,
        mandant_ids=visible_mandant_ids(current_user),
    )
    if message is None:
        abort(404)
    return render_template(
        "messages/my_message.html",
        m=message,
        live=watch([message]),
        status_label=outbox.status_label,
        source_labels=source_labels(),
        **MINE,
    )


@bp.route("/<int:message_id>/cancel", methods=["POST"])
@requires()
def cancel_planning(message_id: int) -> ResponseReturnValue:
    """Planung aufheben for one of the user's own SMS (`messages.cancel_answer`)."""
    return cancel_answer(
        message_id,
        url_for("my_messages.show", message_id=message_id),
        created_by_id=current_user.id,
    )

"""Empfangene SMS (permission 1669): the received SMS with Suchkriterien (SPEC E5)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from webapp.accounts import selectable_mandanten, visible_mandant_ids
from webapp.blueprints.forms import filter_date, is_partial
from webapp.extensions import db
from webapp.permissions import Permission, requires
from webapp.sms.inbox import InboxFilter, search_received
from webapp.validation import optional_id, parse_id

bp = Blueprint("inbox", __name__, url_prefix="/admin/sms")

FILTER_KEYS = ("number", "text", "received_from", "received_to", "mandant", "id")


def _parse_filter(problems: list[str]) -> InboxFilter:
    args = request.args
    mandant = args.get("mandant", "")
    single = args.get("id", "")
    return InboxFilter(
        number=args.get("number", "").strip()[:40],
        text=args.get("text", "").strip()[:200],
        received_from=filter_date(args, "received_from", problems),
        received_to=filter_date(args, "received_to", problems),
        mandant_id=optional_id(mandant),
        id=optional_id(single),
    )


@bp.route("/inbox")
@requires(Permission.SMS_MESSAGES)
def index():  # type: ignore[no-untyped-def]
    problems: list[str] = []
    flt = _parse_filter(problems)
    page = search_received(
        db.session,
        flt,
        mandant_ids=visible_mandant_ids(current_user),
        before=request.args.get("before", type=parse_id),
        after=request.args.get("after", type=parse_id),
        default_region=current_app.config["DEFAULT_PHONE_REGION"],
        timezone=current_app.config["TIMEZONE"],
    )
    page.problems = problems
    context = {
        "page": page,
        "flt": flt,
        "mandanten": selectable_mandanten(db.session, current_user),
        "query": {k: v for k, v in request.args.items() if k in FILTER_KEYS and v},
    }
    if is_partial("inbox-results"):
        return render_template("inbox/_results.html", **context)
    return render_template("inbox/index.html", **context)

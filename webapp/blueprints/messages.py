"""SMS Nachrichten (permission 1669): the list with Suchkriterien, Neu, Erneut versenden."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from webapp.accounts import selectable_mandanten, visible_mandant_ids
from webapp.blueprints.compose import (
    SmsForm,
    editor_context,
    flash_queued,
    prepare_form,
    queue_from_form,
)
from webapp.blueprints.forms import attach_error, filter_date, is_partial
from webapp.errors import InputError, ServiceOff
from webapp.extensions import db
from webapp.models import MessageSource, MessageStatus
from webapp.permissions import Permission, requires
from webapp.sms import outbox
from webapp.sms.inbox import reply_counts
from webapp.sms.search import (
    MessageFilter,
    count_messages,
    live_update,
    parse_watch,
    search_messages,
    watch,
)
from webapp.sms.settings import sms_service_refusal
from webapp.validation import optional_id, parse_id

bp = Blueprint("messages", __name__, url_prefix="/admin/sms")

sms_messages = requires(Permission.SMS_MESSAGES)


def _member(enum_class, raw: str):  # type: ignore[no-untyped-def]
    """The member with value `raw`, or None for "" and unknown values (a hand-edited URL)."""
    try:
        return enum_class(raw) if raw else None
    except ValueError:
        return None


def _parse_filter(problems: list[str]) -> MessageFilter:
    args = request.args
    status = args.get("status", "")
    source = args.get("source", "")
    mandant = args.get("mandant", "")
    return MessageFilter(
        status=_member(MessageStatus, status),
        number=args.get("number", "").strip()[:40],
        text=args.get("text", "").strip()[:200],
        created_from=filter_date(args, "created_from", problems),
        created_to=filter_date(args, "created_to", problems),
        mandant_id=optional_id(mandant),
        source=_member(MessageSource, source),
    )


def _query() -> dict[str, str]:
    """The list's filter as URL parameters (empty ones left out): for the pager and the poll."""
    return {k: v for k, v in request.args.items() if k not in ("before", "after", "w") and v}


def _source_labels() -> dict[str, str]:
    return {
        MessageSource.MANUAL: _("SMS Nachrichten – Neu"),
        MessageSource.QUICK: _("SMS senden"),
        MessageSource.PERSON: _("Person"),
        MessageSource.COMPANY: _("Firma"),
        MessageSource.WORK_ORDER: _("Auftrag"),
        MessageSource.TICKET: _("Ticket"),
        MessageSource.API: _("Schnittstelle (API)"),
        MessageSource.RESEND: _("Erneut versendet"),
    }


@bp.route("/")
@sms_messages
def index():  # type: ignore[no-untyped-def]
    problems: list[str] = []
    flt = _parse_filter(problems)
    page = search_messages(
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
        "statuses": list(MessageStatus),
        "status_label": outbox.status_label,
        "sources": _source_labels(),
        "mandanten": selectable_mandanten(db.session, current_user),
        "query": _query(),
        "replies": reply_counts(db.session, [m.id for m in page.rows]),
        "live": watch(page.rows),
        "service_off": sms_service_refusal(db.session),
    }
    if is_partial("message-results"):
        return render_template("messages/_results.html", **context)
    return render_template("messages/index.html", **context)


@bp.route("/live")
@sms_messages
def live():  # type: ignore[no-untyped-def]
    """The list's poll: of the rows it watches (`w`), only those that changed — status, details
    and time, out of band — and the count; 204 when nothing changed."""
    mandant_ids = visible_mandant_ids(current_user)
    update = live_update(
        db.session, parse_watch(request.args.getlist("w")), mandant_ids=mandant_ids
    )
    if update.unchanged:
        return "", 204
    count = None
    if update.changed:  # a row that changed may have left the filter (e.g. status Wartet)
        count = count_messages(
            db.session,
            _parse_filter([]),
            mandant_ids=mandant_ids,
            default_region=current_app.config["DEFAULT_PHONE_REGION"],
            timezone=current_app.config["TIMEZONE"],
        )
    return render_template(
        "messages/_poll.html",
        update=update,
        count=count,
        query=_query(),
        status_label=outbox.status_label,
    )


@bp.route("/new", methods=["GET", "POST"])
@sms_messages
def new():  # type: ignore[no-untyped-def]
    form = prepare_form(SmsForm(), current_user)
    if form.validate_on_submit():
        try:
            message = queue_from_form(form, source=MessageSource.MANUAL)
        except InputError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash_queued(message)
            return redirect(url_for("messages.index"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "messages/new.html",
        form=form,
        max_segments=current_app.config["SMS_MAX_SEGMENTS"],
        **editor_context(),
    ), status


@bp.route("/resend", methods=["POST"])
@sms_messages
def resend():  # type: ignore[no-untyped-def]
    """Erneut versenden: copy the selected messages into new queued ones."""
    ids = [i for raw in request.form.getlist("ids") if (i := optional_id(raw))]
    back = url_for("messages.index", **_back_query())
    if not ids:
        flash(_("Bitte zuerst SMS in der Liste auswählen."), "error")
        return redirect(back)
    try:
        result = outbox.resend(
            db.session,
            ids,
            created_by=current_user,
            mandant_ids=visible_mandant_ids(current_user),
            default_region=current_app.config["DEFAULT_PHONE_REGION"],
        )
    except ServiceOff as off:
        db.session.rollback()
        flash(off.message, "error")
        return redirect(back)
    db.session.commit()
    if result.copies:
        flash(
            ngettext(
                "%(num)d SMS wurde kopiert und erneut in die Versandliste aufgenommen.",
                "%(num)d SMS wurden kopiert und erneut in die Versandliste aufgenommen.",
                len(result.copies),
            ),
            "success",
        )
    for message_id, reason in result.refused:
        flash(_("SMS %(id)d nicht kopiert: %(reason)s", id=message_id, reason=reason), "error")
    return redirect(back)


def _back_query() -> dict[str, str]:
    """The list's filter as it was when the bulk action was sent."""
    keys = ("status", "number", "text", "created_from", "created_to", "mandant", "source")
    return {k: v for k in keys if (v := request.form.get(k, ""))}

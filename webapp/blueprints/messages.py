"""SMS Nachrichten (permission 1669): the list with Suchkriterien, Neu, Erneut versenden, one
SMS opened, and the Unklar worklist (decisions of `webapp/sms/unclear.py`).

The list's search, live poll and export (`search_page`, `live_answer`, `export_answer`) serve
Meine SMS (`blueprints/my_messages.py`) too, limited to the user's own SMS.
"""

from __future__ import annotations

from dataclasses import replace

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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
from webapp.blueprints.exports import download
from webapp.blueprints.forms import save_or_show_errors
from webapp.blueprints.lists import (
    DateFilter,
    FilterForm,
    IdFilter,
    MandantFilter,
    SortFilter,
    choice_filter,
    cursor,
    member_of,
    render_list,
    text_filter,
)
from webapp.errors import ServiceOff
from webapp.extensions import db
from webapp.models import Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.permissions import Permission, requires
from webapp.sms import outbox, planning, unclear
from webapp.sms.export import message_export
from webapp.sms.inbox import reply_counts
from webapp.sms.paging import KeysetPage
from webapp.sms.scope import get_visible
from webapp.sms.search import (
    MESSAGE_DEFAULT_SORT,
    MESSAGE_SORTS,
    MessageFilter,
    UnclearFilter,
    count_messages,
    live_update,
    parse_watch,
    search_messages,
    watch,
)
from webapp.sms.settings import sms_service_refusal
from webapp.validation import optional_id

bp = Blueprint("messages", __name__, url_prefix="/admin/sms")

sms_messages = requires(Permission.SMS_MESSAGES)


class MessageFilterForm(FilterForm):
    """The Suchkriterien of SMS Nachrichten."""

    status = choice_filter(
        _l("Status"),
        lambda: ((s.value, outbox.status_label(s)) for s in MessageStatus),
        member_of(MessageStatus),
    )
    number = text_filter(_l("Nummer"), limit=40, placeholder="0664 123", inputmode="tel")
    text = text_filter(_l("Text enthält"), limit=200)
    reason = text_filter(_l("Grund beginnt mit"), limit=200)
    created_from = DateFilter(_l("Erstellt ab"))
    created_to = DateFilter(_l("Erstellt bis"))
    mandant_id = MandantFilter(name="mandant")
    source = choice_filter(
        _l("Herkunft"), lambda: source_labels().items(), member_of(MessageSource)
    )
    unclear = choice_filter(
        _l("Unklar"), lambda: unclear_labels().items(), member_of(UnclearFilter)
    )
    series = IdFilter(_l("Serie"))
    sort = SortFilter(MESSAGE_SORTS, MESSAGE_DEFAULT_SORT)


def unclear_labels() -> dict[str, str]:
    """The choices of the criterion Unklar (the worklist)."""
    return {
        UnclearFilter.OPEN: _("bitte prüfen (offen)"),
        UnclearFilter.CONFIRMED_SENT: _("als versendet bestätigt"),
        UnclearFilter.RESENT: _("erneut versendet"),
    }


def source_labels() -> dict[str, str]:
    """Herkunft: where an SMS came from, as the users name it."""
    return {
        MessageSource.MANUAL: _("SMS Nachrichten – Neu"),
        MessageSource.QUICK: _("SMS senden"),
        MessageSource.PERSON: _("Person"),
        MessageSource.COMPANY: _("Firma"),
        MessageSource.WORK_ORDER: _("Auftrag"),
        MessageSource.TICKET: _("Ticket"),
        MessageSource.API: _("Schnittstelle (API)"),
        MessageSource.RESEND: _("Erneut versendet"),
        MessageSource.SERIES: _("Serien-SMS"),
    }


def search_page(created_by_id: int | None = None) -> tuple[MessageFilterForm, KeysetPage]:
    """The Suchkriterien of the request and the page they ask for, within the user's
    Mandanten; only the SMS `created_by_id` created when given (Meine SMS)."""
    form = MessageFilterForm(mandanten=selectable_mandanten(db.session(), current_user))
    before, after = cursor()
    page = search_messages(
        db.session(),
        MessageFilter(**form.values()),
        mandant_ids=visible_mandant_ids(current_user),
        before=before,
        after=after,
        default_region=current_app.config["DEFAULT_PHONE_REGION"],
        timezone=current_app.config["TIMEZONE"],
        created_by_id=created_by_id,
        sort=form.sort.data,
    )
    return form, page


def live_answer(live_endpoint: str, created_by_id: int | None = None) -> ResponseReturnValue:
    """A list's poll: of the SMS it watches (`w`), only those that changed — status, details
    and time, out of band — and the count (unless `count=0`: a page without one); 204 when
    nothing changed. Only the SMS `created_by_id` created when given (Meine SMS)."""
    mandant_ids = visible_mandant_ids(current_user)
    update = live_update(
        db.session(),
        parse_watch(request.args.getlist("w")),
        mandant_ids=mandant_ids,
        created_by_id=created_by_id,
    )
    if update.unchanged:
        return "", 204
    count = None
    # A row that changed may have left the filter (e.g. status Wartet).
    if update.changed and request.args.get("count") != "0":
        count = count_messages(
            db.session(),
            MessageFilter(**MessageFilterForm().values()),
            mandant_ids=mandant_ids,
            default_region=current_app.config["DEFAULT_PHONE_REGION"],
            timezone=current_app.config["TIMEZONE"],
            created_by_id=created_by_id,
        )
    params = MessageFilterForm().params
    if request.args.get("count") == "0":
        params["count"] = "0"
    return render_template(
        "messages/_poll.html",
        mine=created_by_id is not None,
        update=update,
        count=count,
        params=params,
        status_label=outbox.status_label,
        live_endpoint=live_endpoint,
    )


@bp.route("/")
@sms_messages
def index() -> ResponseReturnValue:
    form, page = search_page()
    return render_list(
        "messages/index.html",
        "messages/_results.html",
        "message-results",
        form,
        page,
        status_label=outbox.status_label,
        replies=reply_counts(db.session(), [m.id for m in page.rows]),
        live=watch(page.rows),
        service_off=sms_service_refusal(db.session()),
        unclear_open=unclear.count_open(db.session(), visible_mandant_ids(current_user)),
        is_open=unclear.is_open,
    )


@bp.route("/<int:message_id>")
@sms_messages
def show(message_id: int) -> ResponseReturnValue:
    """One SMS with everything known about it (its decision when it was Unklar), following
    its status live; "als versendet bestätigen" and "erneut versenden" while it is Unklar."""
    message = get_visible(db.session(), Message, message_id, visible_mandant_ids(current_user))
    if message is None:
        abort(404)
    return render_template(
        "messages/my_message.html",
        m=message,
        live=watch([message]),
        status_label=outbox.status_label,
        source_labels=source_labels(),
        service_off=sms_service_refusal(db.session()),
        is_open=unclear.is_open,
        mine=False,
        list_endpoint="messages.index",
        live_endpoint="messages.live",
    )


def export_answer(fmt: str, created_by_id: int | None = None) -> Response:
    """The list with the filter of the request, all pages, as CSV or XLSX (streamed), within
    the user's Mandanten; only the SMS `created_by_id` created when given (Meine SMS)."""
    form = MessageFilterForm(mandanten=selectable_mandanten(db.session(), current_user))
    export = message_export(
        db.session(),
        MessageFilter(**form.values()),
        mandant_ids=visible_mandant_ids(current_user),
        default_region=current_app.config["DEFAULT_PHONE_REGION"],
        timezone=current_app.config["TIMEZONE"],
        created_by_id=created_by_id,
        sort=form.sort.data,
    )
    if created_by_id is not None:
        export = replace(export, title=_("Meine SMS"), stem="meine-sms")
    return download(export, fmt)


@bp.route("/export.csv", defaults={"fmt": "csv"})
@bp.route("/export.xlsx", defaults={"fmt": "xlsx"})
@sms_messages
def export(fmt: str) -> ResponseReturnValue:
    """The list with the filter in force, all pages, as CSV or XLSX (`export_answer`)."""
    return export_answer(fmt)


@bp.route("/live")
@sms_messages
def live() -> ResponseReturnValue:
    """The list's poll (`live_answer`)."""
    return live_answer("messages.live")


@bp.route("/new", methods=["GET", "POST"])
@sms_messages
def new() -> ResponseReturnValue:
    form = prepare_form(SmsForm(), current_user)
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            message = queue_from_form(form, source=MessageSource.MANUAL)
        if saving.ok:
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
def resend() -> ResponseReturnValue:
    """Erneut versenden: copy the selected messages into new queued ones."""
    ids = [i for raw in request.form.getlist("ids") if (i := optional_id(raw))]
    # The list's filter as it was when the bulk action was sent.
    back = url_for("messages.index", **MessageFilterForm(request.form).params)
    if not ids:
        flash(_("Bitte zuerst SMS in der Liste auswählen."), "error")
        return redirect(back)
    try:
        result = outbox.resend(
            db.session(),
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


# --- Versand am -----------------------------------------------------------------------------------


def cancel_answer(
    message_id: int, back: str, created_by_id: int | None = None
) -> ResponseReturnValue:
    """Planung aufheben for one SMS of the user's Mandanten (of `created_by_id` when given:
    Meine SMS): flash what happened and return to `back`."""
    done = planning.cancel_planned(
        db.session(),
        message_id,
        utcnow(),
        mandant_ids=visible_mandant_ids(current_user),
        created_by_id=created_by_id,
        by=current_user.label,
    )
    if done:
        flash(
            _(
                "Die Planung von SMS %(id)d ist aufgehoben: sie wird nicht versendet.",
                id=message_id,
            ),
            "success",
        )
    else:
        flash(
            _(
                "Die Planung von SMS %(id)d kann nicht aufgehoben werden: sie ist nicht (mehr) "
                "geplant – der Versand hat schon begonnen, oder sie wurde schon aufgehoben.",
                id=message_id,
            ),
            "error",
        )
    return redirect(back)


@bp.route("/<int:message_id>/cancel", methods=["POST"])
@sms_messages
def cancel_planning(message_id: int) -> ResponseReturnValue:
    """Planung aufheben (from its row or from the SMS opened)."""
    return cancel_answer(message_id, _decision_back(message_id))


# --- the Unklar worklist -------------------------------------------------------------------------

UNCLEAR_ACTIONS = ("confirm_sent", "resend")


def _decision_back(message_id: int | None = None) -> str:
    """Where a decision returns: the SMS it was made in, or the list with its filter as it was
    when the form was sent."""
    if message_id is not None and request.form.get("back") == "show":
        return url_for("messages.show", message_id=message_id)
    return url_for("messages.index", **MessageFilterForm(request.form).params)


def _decide(action: str, ids: list[int]) -> None:
    """Run the decision `action` on `ids` for the current user and flash what it did."""
    mandant_ids = visible_mandant_ids(current_user)
    try:
        if action == "resend":
            result = unclear.resend_unclear(
                db.session(),
                ids,
                decided_by=current_user,
                mandant_ids=mandant_ids,
                default_region=current_app.config["DEFAULT_PHONE_REGION"],
            )
        else:
            result = unclear.confirm_sent(
                db.session(), ids, decided_by=current_user, mandant_ids=mandant_ids
            )
    except ServiceOff as off:
        db.session.rollback()
        flash(off.message, "error")
        return
    db.session.commit()
    if result.decided and action == "resend":
        copies = ", ".join(f"#{copy.id}" for copy in result.copies.values())
        flash(
            ngettext(
                "%(num)d unklare SMS erneut versendet: die Kopie (%(copies)s) wartet auf Versand.",
                "%(num)d unklare SMS erneut versendet: die Kopien (%(copies)s) warten auf Versand.",
                len(result.decided),
                copies=copies,
            ),
            "success",
        )
    elif result.decided:
        flash(
            ngettext(
                "%(num)d unklare SMS als versendet bestätigt.",
                "%(num)d unklare SMS als versendet bestätigt.",
                len(result.decided),
            ),
            "success",
        )
    for message_id, reason in result.refused:
        flash(_("SMS %(id)d nicht geändert: %(reason)s", id=message_id, reason=reason), "error")


@bp.route("/<int:message_id>/confirm-sent", methods=["POST"])
@sms_messages
def confirm_sent(message_id: int) -> ResponseReturnValue:
    """Als versendet bestätigen, for one Unklar SMS (from its row or from the SMS opened)."""
    _decide("confirm_sent", [message_id])
    return redirect(_decision_back(message_id))


@bp.route("/<int:message_id>/resend-unclear", methods=["POST"])
@sms_messages
def resend_unclear(message_id: int) -> ResponseReturnValue:
    """Erneut versenden, for one Unklar SMS: exactly one copy, however often it is sent."""
    _decide("resend", [message_id])
    return redirect(_decision_back(message_id))


@bp.route("/unclear", methods=["POST"])
@sms_messages
def decide_unclear() -> ResponseReturnValue:
    """A decision for the ticked Unklar SMS: first a confirmation that says how many and
    what will happen; with `confirmed` the decision itself."""
    ids = [i for raw in request.form.getlist("ids") if (i := optional_id(raw))]
    action = request.form.get("action", "")
    back = _decision_back()
    if action not in UNCLEAR_ACTIONS:
        flash(_("Bitte „Als versendet bestätigen“ oder „Erneut versenden“ wählen."), "error")
        return redirect(back)
    if not ids:
        flash(_("Bitte zuerst SMS in der Liste auswählen."), "error")
        return redirect(back)
    if request.form.get("confirmed") == "1":
        _decide(action, ids)
        return redirect(back)
    proposal = unclear.propose(db.session(), ids, mandant_ids=visible_mandant_ids(current_user))
    return render_template(
        "messages/unclear_confirm.html",
        action=action,
        proposal=proposal,
        params=MessageFilterForm(request.form).params,
        back=back,
        service_off=sms_service_refusal(db.session()) if action == "resend" else None,
        status_label=outbox.status_label,
    )

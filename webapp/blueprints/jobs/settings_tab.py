"""The tab "Einstellungen": view, edit, a new webhook secret, Verbindung testen."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.blueprints.forms import save_or_show_errors
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import (
    admin_only,
    job_or_404,
    render_tab,
    secret_key,
    tab_saved,
)
from webapp.blueprints.jobs.forms import (
    channel_form,
    sender_type_choices,
    settings_form,
    submitted_channel,
    submitted_settings,
)
from webapp.blueprints.jobs.progress import dead_after
from webapp.blueprints.webhooks import basic_auth_url
from webapp.errors import InputError
from webapp.extensions import db, htmx
from webapp.jobs.channels import (
    channel_or_none,
    channel_states,
    move_channel,
    new_channel,
    save_channel_fields,
    set_enabled,
)
from webapp.jobs.connection_test import test_connection
from webapp.jobs.runs import latest_run, run_is_live
from webapp.jobs.settings import (
    Variant,
    callback_url,
    channel_settings,
    read_settings,
    set_webhook_secret,
)
from webapp.jobs.settings import webhook_secret as stored_webhook_secret
from webapp.jobs.settings_tab import save_settings
from webapp.models import Channel, Job
from webapp.models.base import utcnow
from webapp.technical import with_details

log = logging.getLogger(__name__)


def _tab_values(job: Job) -> dict[str, Any]:
    secret = stored_webhook_secret(job, secret_key())
    return {
        "stored": read_settings(job),
        "channels": channel_states(job),
        "variants": list(Variant),
        # Basic auth first: nothing secret in the path, so nothing in any access log.
        "webhook_url": basic_auth_url(url_for("webhooks.websms_basic", _external=True), secret)
        if secret
        else "",
        "webhook_path_url": url_for("webhooks.websms", secret=secret, _external=True)
        if secret
        else "",
        "callback_url": callback_url(job, secret_key()),
        "sender_type_labels": dict(sender_type_choices()),
    }


@bp.route("/<int:job_id>/settings")
@admin_only
def settings(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    return render_tab(record, "settings", **_tab_values(record))


@bp.route("/<int:job_id>/settings/edit", methods=["GET", "POST"])
@admin_only
def settings_edit(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    form = settings_form(record)
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            save_settings(
                db.session(), record, submitted_settings(form), current_user.username, secret_key()
            )
        if saving.ok:
            message = _("Die Einstellungen wurden gespeichert.")
            return tab_saved(record, "settings", message, **_tab_values(record))
    status = 422 if form.errors or form.form_errors else 200
    return render_tab(record, "settings", "edit", status, form=form, **_tab_values(record))


@bp.route("/<int:job_id>/settings/webhook-secret", methods=["POST"])
@admin_only
def webhook_secret(job_id: int) -> ResponseReturnValue:
    """Button "neu erzeugen": a new webhook secret (the old webhook URL stops working)."""
    record = job_or_404(job_id)
    with save_or_show_errors() as saving:
        set_webhook_secret(record, secret_key())
        record.updated_by = current_user.username
    if saving.ok:
        flash(
            _(
                "Eine neue Webhook-URL wurde erzeugt; die bisherige gilt nicht mehr. Bitte tragen "
                "Sie die neue jetzt im websms-Kundenportal ein (Weiterleitung für empfangene SMS "
                "und URL für Zustellberichte)."
            ),
            "success",
        )
    return redirect(url_for("jobs.settings", job_id=record.id))


@bp.route("/<int:job_id>/settings/test", methods=["POST"])
@admin_only
def settings_test(job_id: int) -> ResponseReturnValue:
    """Verbindung testen: the stored settings, live (modem: AT, SIM, signal; websms: test)."""
    record = job_or_404(job_id)
    busy = run_is_live(latest_run(db.session(), record), dead_after())
    if busy and read_settings(record).variant is Variant.MODEM:
        ok, answer = False, _("Das Modem ist gerade durch einen Lauf belegt. Bitte danach testen.")
    else:
        try:
            ok, answer = test_connection(record, secret_key())
        except Exception as error:  # the answer is shown; a bug must not become a 500 here
            log.exception("connection test of job %s failed", record.id)
            problem = _("Der Test ist an einem Programmfehler gescheitert; er steht im Protokoll.")
            ok, answer = False, with_details(problem, repr(error))
    if not htmx:
        heading = _("Verbindung in Ordnung") if ok else _("Verbindung fehlgeschlagen")
        flash(f"{heading}: {answer}", "success" if ok else "error")
        return redirect(url_for("jobs.settings", job_id=record.id))
    return render_template("jobs/_test_result.html", ok=ok, answer=answer, tested_at=utcnow())


# --- Kanäle ---------------------------------------------------------------------------------------


def _channel_or_404(job: Job, channel_id: int) -> Channel:
    channel = channel_or_none(job, channel_id)
    if channel is None:
        abort(404)
    return channel


@bp.route("/<int:job_id>/channels/add", methods=["POST"])
@admin_only
def channel_add(job_id: int) -> ResponseReturnValue:
    """Kanal hinzufügen: a channel of the chosen Variante, switched off, opened for editing."""
    record = job_or_404(job_id)
    with save_or_show_errors() as saving:
        channel = new_channel(
            db.session(), record, request.form.get("variant", ""), current_user.username
        )
    if not saving.ok:
        return redirect(url_for("jobs.settings", job_id=record.id))
    return redirect(url_for("jobs.channel_edit", job_id=record.id, channel_id=channel.id))


@bp.route("/<int:job_id>/channels/<int:channel_id>", methods=["POST"])
@admin_only
def channel_action(job_id: int, channel_id: int) -> ResponseReturnValue:
    """nach oben, nach unten, aktivieren, deaktivieren; answers with the list (htmx)."""
    record = job_or_404(job_id)
    channel = _channel_or_404(record, channel_id)
    action = request.form.get("action", "")
    session = db.session()
    problem = ""
    try:
        if action in ("up", "down"):
            move_channel(session, record, channel, action == "up", current_user.username)
        elif action in ("enable", "disable"):
            set_enabled(session, record, channel, action == "enable", current_user.username)
        else:
            problem = _(
                "Unbekannte Aktion „%(action)s“: möglich sind nach oben, nach unten, "
                "aktivieren und deaktivieren.",
                action=action[:40],
            )
        if not problem:
            session.commit()
    except InputError as error:
        session.rollback()
        problem = error.message
    if not htmx:
        if problem:
            flash(problem, "error")
        return redirect(url_for("jobs.settings", job_id=record.id))
    answer = render_template(
        "jobs/_channels.html",
        job=record,
        channels=channel_states(record),
        variants=list(Variant),
        channel_error=problem,
    )
    return (answer, 422) if problem else answer


@bp.route("/<int:job_id>/channels/<int:channel_id>/edit", methods=["GET", "POST"])
@admin_only
def channel_edit(job_id: int, channel_id: int) -> ResponseReturnValue:
    """A channel's own form: name, parallel, routing rules and its transport settings."""
    record = job_or_404(job_id)
    channel = _channel_or_404(record, channel_id)
    form = channel_form(record, channel)
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            session = db.session()
            save_settings(
                session,
                record,
                submitted_settings(form),
                current_user.username,
                secret_key(),
                channel=channel,
            )
            save_channel_fields(
                session, record, channel, submitted_channel(form), current_user.username
            )
        if saving.ok:
            flash(_("Kanal %(n)d wurde gespeichert.", n=channel.position), "success")
            return redirect(url_for("jobs.settings", job_id=record.id))
    status = 422 if form.errors or form.form_errors else 200
    values = {**_tab_values(record), "stored": channel_settings(record, channel)}
    return render_tab(record, "settings", "channel", status, form=form, channel=channel, **values)

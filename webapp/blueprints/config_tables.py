"""Konfigurationstabellen: the list of tables and table 93001 SMS_HANDYVORWAHLEN."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp.blueprints.forms import save_or_show_errors
from webapp.errors import InputError
from webapp.extensions import db, htmx
from webapp.models import MobilePrefix
from webapp.permissions import Permission, requires
from webapp.sms import prefixes
from webapp.validation import parse_id

bp = Blueprint("config_tables", __name__, url_prefix="/admin/config")

prefix_editor = requires(Permission.MOBILE_PREFIXES)


@bp.route("/")
@prefix_editor
def index() -> ResponseReturnValue:
    tables = [(prefixes.TABLE_NUMBER, prefixes.TABLE_NAME, "config_tables.prefixes")]
    return render_template("config/index.html", tables=tables)


def _render_prefixes(
    error: InputError | None = None,
    entered: dict[str, Any] | None = None,
    edit_id: int | None = None,
) -> ResponseReturnValue:
    rows = prefixes.list_prefixes(db.session())
    status = 422 if error else 200
    template = "config/_prefix_table.html" if htmx else "config/prefixes.html"
    return (
        render_template(
            template,
            rows=rows,
            error=error,
            entered=entered or {},
            edit_id=edit_id,
            format_prefix=prefixes.format_prefix,
            table_number=prefixes.TABLE_NUMBER,
            table_name=prefixes.TABLE_NAME,
        ),
        status,
    )


@bp.route("/93001", methods=["GET", "POST"], endpoint="prefixes")
@prefix_editor
def prefixes_view() -> ResponseReturnValue:
    """List the prefixes; POST adds one."""
    if request.method == "POST":
        entered = {
            "prefix": request.form.get("prefix", ""),
            "description": request.form.get("description", ""),
        }
        with save_or_show_errors(inline=True) as saving:
            entry = prefixes.add_prefix(db.session(), entered["prefix"], entered["description"])
        if saving.error is not None:
            return _render_prefixes(saving.error, entered)
        flash(
            _("Vorwahl %(p)s wurde hinzugefügt.", p=prefixes.format_prefix(entry.prefix)), "success"
        )
        if not htmx:
            return redirect(url_for("config_tables.prefixes"))
    edit_id = request.args.get("edit", type=parse_id)
    return _render_prefixes(edit_id=edit_id)


@bp.route("/93001/<int:entry_id>", methods=["POST"])
@prefix_editor
def prefix_update(entry_id: int) -> ResponseReturnValue:
    entry = db.get_or_404(MobilePrefix, entry_id)
    prefix = request.form.get("prefix", "")
    description = request.form.get("description", "")
    active = request.form.get("active") == "1"
    with save_or_show_errors(inline=True) as saving:
        prefixes.update_prefix(db.session(), entry, prefix, description, active)
    if saving.error is not None:
        entered = {"prefix": prefix, "description": description, "active": active}
        return _render_prefixes(saving.error, entered, edit_id=entry_id)
    flash(_("Vorwahl %(p)s wurde gespeichert.", p=prefixes.format_prefix(entry.prefix)), "success")
    if not htmx:
        return redirect(url_for("config_tables.prefixes"))
    return _render_prefixes()


@bp.route("/93001/<int:entry_id>/delete", methods=["POST"])
@prefix_editor
def prefix_delete(entry_id: int) -> ResponseReturnValue:
    entry = db.get_or_404(MobilePrefix, entry_id)
    label = prefixes.format_prefix(entry.prefix)
    prefixes.delete_prefix(db.session(), entry)
    db.session.commit()
    flash(_("Vorwahl %(p)s wurde gelöscht.", p=label), "success")
    if not htmx:
        return redirect(url_for("config_tables.prefixes"))
    return _render_prefixes()

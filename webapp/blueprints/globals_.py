"""Globale Variablen (administrators): list and edit with validation by type."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.blueprints.forms import save_or_show_errors
from webapp.extensions import db, htmx
from webapp.models import GlobalVariable
from webapp.permissions import Permission, requires
from webapp.sms.settings import set_global

bp = Blueprint("globals", __name__, url_prefix="/admin/globals")


@bp.route("/")
@requires(Permission.ADMINISTRATOR)
def index() -> ResponseReturnValue:
    rows = list(db.session.scalars(select(GlobalVariable).order_by(GlobalVariable.number)))
    return render_template("globals/index.html", variables=rows)


@bp.route("/<int:number>", methods=["GET", "POST"])
@requires(Permission.ADMINISTRATOR)
def edit(number: int) -> ResponseReturnValue:
    """GET: the edit form (a table row for htmx, a page otherwise). POST: validate and save."""
    variable = db.get_or_404(GlobalVariable, number)
    error: str | None = None
    entered = variable.value
    if request.method == "POST":
        entered = request.form.get("value", "")
        with save_or_show_errors(inline=True) as saving:
            set_global(db.session(), number, entered, current_user.username)
        if saving.error is not None:
            error = saving.error.message
        else:
            message = _("Globale Variable %(n)d wurde gespeichert.", n=number)
            if htmx:
                return render_template("globals/_row.html", variable=variable, saved=message)
            flash(message, "success")
            return redirect(url_for("globals.index"))
    template = "globals/_edit_row.html" if htmx else "globals/edit.html"
    status = 422 if error else 200
    return render_template(template, variable=variable, entered=entered, error=error), status


@bp.route("/<int:number>/row")
@requires(Permission.ADMINISTRATOR)
def row(number: int) -> ResponseReturnValue:
    """The read-only row again (Abbrechen in the inline editor)."""
    variable = db.get_or_404(GlobalVariable, number)
    return render_template("globals/_row.html", variable=variable)

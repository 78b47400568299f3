"""`flask --app wsgi …` commands (like microblog's `cli.py`): a blueprint without a command
group of its own, registered by the factory; its commands run inside the app context."""

from __future__ import annotations

import os
import sys

import click
from flask import Blueprint, current_app
from sqlalchemy import select

from webapp import accounts
from webapp.errors import InputError
from webapp.extensions import db
from webapp.models import Job, RunStatus, User
from webapp.simulators.mailsink import mail_command
from webapp.simulators.modem import modem_command
from webapp.simulators.websms import websms_command

bp = Blueprint("cli", __name__, cli_group=None)


def _read_password(password_stdin: bool, from_environment: bool) -> str:
    """The password from standard input (--password-stdin), from ADMIN_PASSWORD (when
    `from_environment`), or asked for twice."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if from_environment and os.environ.get("ADMIN_PASSWORD"):
        return os.environ["ADMIN_PASSWORD"]
    return str(click.prompt("Passwort", hide_input=True, confirmation_prompt=True))


@bp.cli.command("create-admin")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--mandant",
    default=accounts.FIRST_MANDANT,
    show_default=True,
    help="Name of the first Mandant, made when the installation has none yet (rename it in "
    "Administration – Mandanten).",
)
def create_admin(username: str, password_stdin: bool, mandant: str) -> None:
    """Create an administrator (or make an existing user one and set its password); a new
    installation also gets its first Mandant.

    The password comes from ADMIN_PASSWORD, from standard input with --password-stdin,
    or is asked for twice.
    """
    password = _read_password(password_stdin, from_environment=True)
    existing = db.session.scalar(
        select(User).where(User.username == accounts.normalize_username(username))
    )
    try:
        first = accounts.ensure_first_mandant(db.session(), mandant)
        data = accounts.UserInput(
            username=username,
            display_name=existing.display_name if existing else "",
            email=existing.email if existing else "",
            password=password,
            is_administrator=True,
            active=True,
            role_ids=[r.id for r in existing.roles] if existing else [],
            mandant_ids=[m.id for m in existing.mandanten] if existing else [],
        )
        user = accounts.save_user(db.session(), data, existing)
        if first is not None:
            user.mandanten.append(first)
    except InputError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Administrator {user.username} ist angelegt.")
    if first is not None:
        click.echo(
            f"Mandant „{first.name}“ ist angelegt (umbenennen unter Administration – Mandanten)."
        )


@bp.cli.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for a user (asked for twice, or from standard input with
    --password-stdin); the user's sessions end."""
    user = db.session.scalar(
        select(User).where(User.username == accounts.normalize_username(username))
    )
    if user is None:
        raise click.ClickException(f"Den Benutzer {username} gibt es nicht.")
    password = _read_password(password_stdin, from_environment=False)
    try:
        accounts.reset_password(db.session(), user, password)
    except InputError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Das Passwort von {user.username} ist neu gesetzt.")
    if not user.active:
        click.echo("Der Benutzer ist deaktiviert: aktivieren unter Administration – Benutzer.")


@bp.cli.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo data; "Service SMS" then uses the local websms sandbox (WEBSMS_SIM_PORT,
    8025) and sends its delivery reports to this app (PORT, 5000)."""
    from webapp.config import run_ports
    from webapp.demo import seed_demo

    try:
        ports = run_ports()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    seed_demo(db.session(), current_app.config["SMS_SECRET_KEY"], ports)
    db.session.commit()
    click.echo("Demodaten angelegt.")


@bp.cli.group("sim")
def sim() -> None:
    """The simulators: a GSM modem behind an NPort (TCP) and the websms API (HTTP)."""


sim.add_command(modem_command)
sim.add_command(websms_command)
sim.add_command(mail_command)


@bp.cli.command("rebuild-overview")
def rebuild_overview_command() -> None:
    """Recompute the Übersicht's daily roll-up from all SMS and runs (after a restore, or to
    fill days before the upgrade; the runs of "Service SMS" keep the last 30 days current)."""
    from webapp.models.base import utcnow
    from webapp.sms.overview import rebuild

    days = rebuild(db.session(), utcnow(), current_app.config["TIMEZONE"])
    click.echo(f"Übersicht neu berechnet: {days} Tage.")


@bp.cli.command("prune")
def prune_command() -> None:
    """Delete old job runs, Errorlog entries, idempotency keys and webhook notificationIds now
    (the retention of JOB_RUN_KEEP_DAYS, ERRORLOG_KEEP_DAYS, API_IDEMPOTENCY_DAYS,
    WEBHOOK_NOTIFICATION_KEEP_DAYS); "Service SMS" does the same once a day by itself."""
    from webapp.jobs.housekeeping import prune
    from webapp.models.base import utcnow

    counts = prune(db.session(), utcnow())
    for table, count in counts.items():
        click.echo(f"{table}: {count} gelöscht")


@bp.cli.command("run-job")
@click.argument("job_id", type=int, default=0)
def run_job_command(job_id: int) -> None:
    """Run a job once in this process (default: "Service SMS") and print its result."""
    from webapp.jobs.registry import service_job
    from webapp.jobs.runner import execute_job
    from webapp.jobs.worker import job_app

    job = db.session.get(Job, job_id) if job_id else service_job(db.session())
    if job is None:
        raise click.ClickException("Diesen Job gibt es nicht.")
    run = execute_job(job_app(), job.id)
    if run is None:
        raise click.ClickException("Der Job läuft bereits.")
    click.echo(f"Lauf {run.id}: {run.status} – {run.sent} versendet, {run.failed} Fehler.")
    if run.status == RunStatus.STOPPED:  # asked to stop (SIGTERM): not an error
        click.echo(run.error)
    elif run.error:
        raise click.ClickException(run.error)


@bp.cli.command("tick")
def tick_command() -> None:
    """Run one scheduler tick now: queue the due jobs."""
    from webapp.jobs.tick import enqueue_due_jobs, record_tick
    from webapp.jobs.worker import job_app

    app = job_app()
    queued = enqueue_due_jobs(app, db.session(), record_tick(app))
    click.echo(f"In die Warteschlange gestellt: {queued or 'nichts'}")

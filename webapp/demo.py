"""Demo data for `make run`: Mandanten, roles, a switched-on SMS service. Idempotent."""

from __future__ import annotations

import dataclasses
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import accounts
from webapp.blueprints.webhooks import basic_auth_url
from webapp.config import RunPorts
from webapp.jobs.registry import service_job
from webapp.jobs.settings import WebsmsAuth, read_settings, set_webhook_secret, webhook_secret
from webapp.jobs.settings_tab import SettingsInput, save_settings, settings_input
from webapp.models import Job, Mandant, Role, ScheduleKind, SmsText, User
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms.contacts import seed_demo_contacts
from webapp.sms.settings import GlobalNumber, get_global, set_global
from webapp.sms.texts import save_text

DEMO_MANDANTEN = ("Hausverwaltung Wien", "Hausverwaltung Graz")
DEMO_ROLES: dict[str, tuple[str, set[int]]] = {
    "Sachbearbeitung": (
        "SMS senden und die SMS-Liste sehen",
        {Permission.SMS_SEND, Permission.SMS_MESSAGES},
    ),
    "SMS-Verwaltung": (
        "Alles rund um SMS: Liste, Texte, Handyvorwahlen, SMS senden",
        {
            Permission.SMS_SEND,
            Permission.SMS_MESSAGES,
            Permission.SMS_TEXTS,
            Permission.MOBILE_PREFIXES,
        },
    ),
}


DEMO_TEXTS: list[tuple[str, str, str]] = [
    (
        "Auftrag an Kreditor",
        "auftrag_kreditor",
        "Neuer Auftrag {auftrag.nummer}: {auftrag.titel}, {objekt.adresse}. Termin: "
        "{auftrag.termin}.",
    ),
    (
        "Ticket erstellt",
        "ticket_bn_erstellt",
        "Ihre Meldung wurde als Ticket {ticket.nummer} aufgenommen. Wir melden uns.",
    ),
    (
        "Auftrag an Kontrolleur",
        "auftrag_kontrolleur",
        "Auftrag {auftrag.nummer} an {auftrag.kreditor} vergeben: {auftrag.titel}, "
        "{objekt.adresse}. Bitte kontrollieren.",
    ),
    (
        "Bestandsnehmer verständigen",
        "auftrag_bn",
        "Sehr geehrte/r {person.name}, {auftrag.kreditor} kommt wegen „{auftrag.titel}“ "
        "am {auftrag.termin}.",
    ),
    ("Rückruf erbeten", "", "Bitte rufen Sie uns zurück. Danke!"),
]


# The demo's websms sandbox (`flask sim websms`, started by `make run` on RunPorts.websms).
DEMO_WEBSMS_TOKEN = "demo-token"
DEMO_ADMIN_MAIL = "it@hausverwaltung-demo.at"
DEMO_ERROR_MAIL = "sms-fehler@hausverwaltung-demo.at"
# Who saved the demo's Einstellungen of "Service SMS" (no user name can be this: it has a
# blank): a job whose last change is still the demo's follows the ports of each start.
# "demo" is what earlier versions wrote.
DEMO_ACTOR = "make run"
DEMO_ACTORS = (DEMO_ACTOR, "demo")


def demo_job_input(job: Job, secret_key: str, ports: RunPorts) -> SettingsInput:
    """Einstellungen of "Service SMS" for the demo: Variante 2 against the local websms
    sandbox, delivery reports to this app's webhook (Basic auth with the job's webhook secret),
    so the sandbox's reports arrive and the demo's SMS become Zugestellt."""
    hook = webhook_secret(job, secret_key) or set_webhook_secret(job, secret_key)
    callback = basic_auth_url(f"http://127.0.0.1:{ports.web}/webhooks/websms", hook)
    sandbox = f"http://127.0.0.1:{ports.websms}"
    if job.updated_by in DEMO_ACTORS:  # set up by an earlier start: keep it, only the ports move
        return dataclasses.replace(
            settings_input(job, secret_key),
            websms_base_url=sandbox,
            websms_callback_url=callback,
        )
    return SettingsInput(
        variant="2",
        websms_base_url=sandbox,
        websms_auth=WebsmsAuth.TOKEN,
        websms_access_token=DEMO_WEBSMS_TOKEN,
        websms_signature="",
        websms_callback_url=callback,
    )


def configure_demo_job(session: Session, secret_key: str, ports: RunPorts) -> None:
    """Point "Service SMS" at the local websms sandbox with delivery reports to this app and
    run it every minute. A job someone configured is left alone; one the demo set up follows
    the ports of this start."""
    job = service_job(session)
    if job is None:
        return
    ours = job.updated_by in DEMO_ACTORS
    if not ours and (job.active or read_settings(job).stored_secrets):
        return
    save_settings(session, job, demo_job_input(job, secret_key, ports), DEMO_ACTOR, secret_key)
    if ours:
        return
    job.active = True
    job.failure_email = DEMO_ADMIN_MAIL
    job.schedule_kind = ScheduleKind.MINUTES
    job.interval_minutes = 1
    job.next_run_at = utcnow()  # the first tick runs it


def seed_demo(session: Session, secret_key: str = "", ports: RunPorts | None = None) -> None:
    """Create the demo Mandanten, roles, SMS texts and contacts (once); SMS service on; with a
    secret key, also "Service SMS" against the local websms sandbox on `ports`."""
    for name in DEMO_MANDANTEN:
        if session.scalar(select(Mandant).where(Mandant.name == name)) is None:
            accounts.save_mandant(session, name)
    for name, (description, permissions) in DEMO_ROLES.items():
        if session.scalar(select(Role).where(Role.name == name)) is None:
            accounts.save_role(session, name, {int(p) for p in permissions}, description)
    set_global(session, GlobalNumber.SMS_SERVICE_AVAILABLE, "1", "demo")
    if not get_global(session, GlobalNumber.SMS_ERROR_EMAIL):
        set_global(session, GlobalNumber.SMS_ERROR_EMAIL, DEMO_ERROR_MAIL, "demo")
    for name, usage, body in DEMO_TEXTS:
        if session.scalar(select(SmsText).where(SmsText.name == name)) is None:
            save_text(session, name=name, usage_key=usage, body=body, changed_by="demo")
    seed_demo_contacts(session)
    if secret_key:
        configure_demo_job(session, secret_key, ports or RunPorts())


def ensure_admin(session: Session, username: str, password: str | None) -> tuple[bool, str | None]:
    """Create the administrator `username` if missing: whether it was created now, and the
    generated password (None when `password` was given or the user exists).

    An existing user is left alone (its password is never overwritten by a restart).
    """
    if session.scalar(select(User).where(User.username == username)) is not None:
        return False, None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    mandanten = [m.id for m in session.scalars(select(Mandant))]
    accounts.save_user(
        session,
        accounts.UserInput(
            username=username,
            display_name="Administrator",
            password=password,
            is_administrator=True,
            mandant_ids=mandanten,
        ),
    )
    return True, generated

"""E-mail over SMTP (SMTP_* settings): error reports of the jobs, forwarded SMS."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import Flask

from webapp.validation import one_line

log = logging.getLogger(__name__)


def send_mail(app: Flask, to: str, subject: str, body: str) -> bool:
    """Send one plain-text e-mail; False (and a log line) when SMTP fails, never raises.

    Header values are made one line first: a sender or contact name with a line break (from a
    received SMS) must not add a header (Bcc: …) nor stop the mail."""
    to = one_line(to, 254)
    if not to:
        return False
    message = EmailMessage()
    try:
        message["From"] = one_line(app.config["SMTP_FROM"], 254)
        message["To"] = to
        message["Subject"] = one_line(subject, 200)
        message.set_content(body)
    except (ValueError, TypeError) as error:  # e.g. an address the mail library refuses
        log.error("could not build a mail to %r: %s", to, error)
        return False
    try:
        with smtplib.SMTP(app.config["SMTP_HOST"], app.config["SMTP_PORT"], timeout=10) as smtp:
            if app.config["SMTP_STARTTLS"]:
                smtp.starttls()
            if app.config["SMTP_USER"]:
                smtp.login(app.config["SMTP_USER"], app.config["SMTP_PASSWORD"])
            smtp.send_message(message)
        return True
    except (OSError, smtplib.SMTPException) as error:
        log.error("could not send mail to %s: %s", to, error)
        return False

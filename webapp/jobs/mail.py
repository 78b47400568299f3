"""E-mail over SMTP (SMTP_* settings): error reports of the jobs, forwarded SMS."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import Flask

log = logging.getLogger(__name__)


def send_mail(app: Flask, to: str, subject: str, body: str) -> bool:
    """Send one plain-text e-mail; False (and a log line) when SMTP fails, never raises."""
    if not to:
        return False
    message = EmailMessage()
    message["From"] = app.config["SMTP_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
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

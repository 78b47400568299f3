"""A local SMTP server for the demo: prints every e-mail it receives (sender, recipients,
subject, text) so error reports and forwarded SMS show up in the `make run` log, and keeps them
as .eml files under instance/mails/."""

from __future__ import annotations

import os
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import click


class PrintingHandler:
    """aiosmtpd handler: print and store each message."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        with self._lock:
            self.count += 1
            number = self.count
        click.echo(
            f"--- E-Mail {number} an {', '.join(envelope.rcpt_tos)}: {message['Subject']}\n"
            f"{text.rstrip()}\n---",
        )
        if self.folder is not None:
            # the mails hold received SMS and error reports: for the owner only
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.folder.chmod(0o700)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.folder / f"{stamp}-{number:04d}.eml"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(envelope.content)
        return "250 OK"


@click.command("mail")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8026, show_default=True, type=int)
@click.option("--folder", default=None, help="Keep every mail as .eml here.")
def mail_command(host: str, port: int, folder: str | None) -> None:
    """Lokaler SMTP-Empfänger für die Demo: zeigt jede E-Mail im Log."""
    from aiosmtpd.controller import Controller

    controller = Controller(
        PrintingHandler(Path(folder) if folder else None), hostname=host, port=port
    )
    controller.start()
    click.echo(f"SMTP-Empfänger läuft auf {host}:{port}")
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()

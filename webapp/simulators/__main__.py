"""`python -m webapp.simulators websms|modem|mail …`: the simulators as `make run` starts them.

The same commands as `flask --app wsgi sim …`, without building the app first (a simulator
needs neither the database nor the settings), so they start in a fraction of the time.
"""

from __future__ import annotations

import click

from webapp.simulators.mailsink import mail_command
from webapp.simulators.modem import modem_command
from webapp.simulators.websms import websms_command


@click.group()
def main() -> None:
    """The simulators: the websms API (HTTP), a GSM modem behind an NPort (TCP), a mail sink."""


main.add_command(websms_command)
main.add_command(modem_command)
main.add_command(mail_command)

if __name__ == "__main__":
    main(prog_name="python -m webapp.simulators")

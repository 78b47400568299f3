"""Gammu SMSD (files backend) sends and receives through the modem simulator as through a modem.

Three SMS go out through `gammu-smsd-inject` (GSM-7, Unicode, two parts); the simulator decodes
what Gammu wrote and must get the texts as given. One SMS comes in (stored on the "SIM",
announced with +CMTI); Gammu must write it into its inbox folder.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gateways.support import gateway_log, modem_device, program, started, wait_until
from webapp.simulators.modem import ModemSimulator

CONFIG = Path(__file__).with_name("gammu-smsdrc")
RECIPIENT = "+436641234567"
SENDER = "+436761234567"
GSM = "Grüße aus Wien: Ä Ö Ü ß € [x]"
UNICODE = "Привет 你好 Zürich"
LONG = "Lang " + "abcdefghij" * 25 + " Ende"


@dataclass
class Gammu:
    sim: ModemSimulator
    config: Path
    spool: Path
    inject: str

    def send(self, text: str, *options: str) -> None:
        command = [self.inject, "-c", str(self.config), "TEXT", RECIPIENT, *options, "-text", text]
        subprocess.run(command, check=True, capture_output=True, timeout=30)


@pytest.fixture
def gammu(tmp_path: Path) -> Iterator[Gammu]:
    smsd, inject = program("gammu-smsd"), program("gammu-smsd-inject")
    for folder in ("inbox", "outbox", "sent", "error"):
        (tmp_path / folder).mkdir()
    with ModemSimulator() as sim, modem_device(sim, tmp_path / "modem") as device:
        config = tmp_path / "smsdrc"
        config.write_text(CONFIG.read_text().format(spool=tmp_path, device=device))
        with started([smsd, "-c", str(config)], tmp_path / "gammu-smsd.out"):
            yield Gammu(sim, config, tmp_path, inject)


def test_gammu_smsd_sends_gsm_unicode_and_multipart_and_receives(gammu):
    gammu.send(GSM)
    gammu.send(UNICODE, "-unicode")
    gammu.send(LONG, "-len", str(len(LONG)))
    try:
        got = gammu.sim.wait_for(3, timeout=90)
    except TimeoutError:
        pytest.fail(gateway_log(gammu.spool / "smsd.log"))
    assert sorted((m.recipient, m.text, m.parts, m.encoding) for m in got) == sorted(
        [
            (RECIPIENT, GSM, 1, "GSM-7"),
            (RECIPIENT, UNICODE, 1, "UCS-2"),
            (RECIPIENT, LONG, 2, "GSM-7"),
        ]
    )
    assert sorted(p.name for p in (gammu.spool / "error").iterdir()) == []

    gammu.sim.inject_received(SENDER, "Antwort: Grüße € 😀")
    inbox = gammu.spool / "inbox"
    files = wait_until(lambda: list(inbox.iterdir()), 60, gateway_log(gammu.spool / "smsd.log"))
    assert len(files) == 1 and SENDER in files[0].name
    assert files[0].read_text(encoding="utf-8") == "Antwort: Grüße € 😀"
    wait_until(lambda: gammu.sim.stored() == {}, 30, "Gammu did not delete the SMS it read")

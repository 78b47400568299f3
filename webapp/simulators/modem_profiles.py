"""What differs between the modem types the simulator plays: one `ModemProfile` per type.

Everything a type does differently lives here as data (identity, defaults, ranges it offers,
commands it refuses, quirks), so the interpreter in `modem.py` has no per-type branches. The
quirks come from reference/gsm-modem.md §6-§7 (python-gsmmodem's recorded modems, Gammu,
smstools3) and the vendors' AT manuals; identities are plausible, not copied from one unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The character sets the interpreter can convert (27.007 §5.5); a profile offers a subset.
CHARSETS = ("GSM", "IRA", "UCS2", "8859-1")
# The message stores the simulator keeps (27.005 §3.2.2): SIM, phone memory, status reports.
MEMORIES = ("SM", "ME", "SR")


@dataclass(frozen=True)
class ModemProfile:
    """One modem type: how it identifies itself and where it departs from the standards."""

    name: str
    manufacturer: str  # AT+CGMI / AT+GMI
    model: str  # AT+CGMM / AT+GMM
    revision: str  # AT+CGMR / AT+GMR
    ati: dict[int, tuple[str, ...]]  # ATI<n> → its lines; an n not listed answers ERROR
    imei: str = "356938035643809"
    imsi: str = "232011234567890"  # MCC 232 (Austria), MNC 01
    operator: str = "A1"
    access_technology: int | None = None  # <AcT> in +COPS? (2 = UTRAN) for 3G modems
    charsets: tuple[str, ...] = ("GSM", "IRA", "UCS2")
    default_charset: str = "IRA"
    # +CPMS=?: which stores may be <mem1> (read, delete), <mem2> (write, send), <mem3> (receive)
    memories: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = (
        MEMORIES,
        ("SM", "ME"),
        ("SM", "ME"),
    )
    capacity: dict[str, int] = field(default_factory=lambda: {"SM": 30, "ME": 100, "SR": 20})
    csms_services: tuple[int, ...] = (0, 1)
    report_memory: str = "SR"  # where a status report goes with AT+CNMI <ds> 2 (+CDSI)
    csms_default: int = 0  # the message service at power-on (1: phase 2+, routing needs +CNMA)
    csms_ignored: bool = False  # AT+CSMS=<s> answered +CSMS: 1,1,1 but the service stays
    # +CNMI=?: the values each of <mode>,<mt>,<bm>,<ds>,<bfr> may take; the power-on setting
    cnmi_ranges: tuple[tuple[int, ...], ...] = ((0, 1, 2), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1))
    cnmi_default: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    battery: str = "0,100"  # +CBC: <bcs>,<bcl>[,<voltage>] (0 = powered by the battery)
    restart_urcs: tuple[str, ...] = ()  # after AT+CFUN=1,1 (and at power-on)
    # power-on (ModemSimulator.power_on): (seconds after power-on, URC); until `sim_ready_urc`
    # SIM commands answer +CME ERROR: 14 (SIM busy), until `sms_ready_urc` SMS commands ERROR
    startup: tuple[tuple[float, str], ...] = ()
    sim_ready_urc: str = "+CPIN: READY"
    sms_ready_urc: str = "SMS Ready"
    busy_after_cfun: int = 0  # commands answered +CME ERROR: 515 after AT+CFUN=1
    refused: frozenset[str] = frozenset()  # commands it knows but answers ERROR to
    accepted: frozenset[str] = frozenset()  # vendor commands it just answers OK to
    unknown_result: str = "ERROR"  # the final result for a command it does not know
    cmee_needs_pin: bool = False  # AT+CMEE refused while the SIM wants its PIN/PUK
    cpin_without_ok: bool = False  # AT+CPIN? answered without the final OK
    csmp_clears_smsc: bool = False  # AT+CSMP=… forgets the SMSC address
    cnma_timeout: float = 10.0  # seconds for AT+CNMA after a routed +CMT/+CDS (AT+CSMS=1)

    def cnmi_test(self) -> str:
        """The AT+CNMI=? answer, ranges written as (0-2) or (0,2)."""
        return "+CNMI: " + ",".join(_range(values) for values in self.cnmi_ranges)


def _range(values: tuple[int, ...]) -> str:
    if len(values) > 2 and list(values) == list(range(values[0], values[-1] + 1)):
        return f"({values[0]}-{values[-1]})"
    return "(" + ",".join(str(v) for v in values) + ")"


PROFILES: dict[str, ModemProfile] = {
    profile.name: profile
    for profile in (
        # SIMCom SIM800 (2G module): answers everything, powers up with +CMTI routing on.
        ModemProfile(
            name="simcom",
            manufacturer="SIMCOM_Ltd",
            model="SIMCOM_SIM800L",
            revision="Revision:1418B04SIM800L24",
            ati={0: ("SIM800 R14.18",), 4: ("SIM800 R14.18",)},
            imei="869170031234567",
            charsets=("GSM", "IRA", "UCS2", "8859-1"),
            cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
            cnmi_default=(2, 1, 0, 0, 0),
            battery="0,95,4123",
            restart_urcs=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
            # SIM800 series hardware design / AT manual: SMS commands only after "SMS Ready"
            startup=(
                (0.0, "RDY"),
                (1.0, "+CFUN: 1"),
                (1.5, "+CPIN: READY"),
                (6.0, "Call Ready"),
                (8.0, "SMS Ready"),
            ),
        ),
        # Siemens/Cinterion MC55i / BGS2: GSM charset by default, ^SYSSTART after a restart.
        ModemProfile(
            name="cinterion",
            manufacturer="Cinterion",
            model="MC55i",
            revision="REVISION 01.200",
            ati={
                0: ("Cinterion", "MC55i", "REVISION 01.200"),
                1: ("Cinterion", "MC55i", "REVISION 01.200", "A-REVISION 01.000.02"),
            },
            imei="351234567890128",
            default_charset="GSM",
            cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2, 3), (0, 1, 2), (1,)),
            cnmi_default=(0, 0, 0, 0, 1),
            restart_urcs=("^SYSSTART",),
        ),
        # Huawei E173 USB stick (3G): vendor URC switch ^CURC, bare "COMMAND NOT SUPPORT".
        ModemProfile(
            name="huawei",
            manufacturer="huawei",
            model="E173",
            revision="11.126.85.00.209",
            ati={
                0: (
                    "Manufacturer: huawei",
                    "Model: E173",
                    "Revision: 11.126.85.00.209",
                    "IMEI: 861234567890123",
                    "+GCAP: +CGSM,+DS,+ES",
                ),
            },
            imei="861234567890123",
            access_technology=2,
            charsets=("GSM", "IRA", "UCS2"),
            accepted=frozenset({"^CURC", "^U2DIAG"}),
            unknown_result="COMMAND NOT SUPPORT",
        ),
        # ZTE MF190 (Qualcomm): AT+CMEE refused before the PIN, AT+CSMP clears the SMSC.
        ModemProfile(
            name="zte",
            manufacturer="ZTE INCORPORATED",
            model="MF190",
            revision="BD_VDFMF190V1.0.0B01",
            ati={0: ("Manufacturer: ZTE INCORPORATED", "Model: MF190")},
            imei="358123456789014",
            access_technology=2,
            cmee_needs_pin=True,
            csmp_clears_smsc=True,
            accepted=frozenset({"+ZCDRUN", "+ZOPRT"}),
        ),
        # Wavecom Fastrack M1306B: +CPIN? without OK, busy after CFUN=1, no AT+CGMR.
        ModemProfile(
            name="wavecom",
            manufacturer="WAVECOM MODEM",
            model="MULTIBAND  900E  1800",
            revision="",
            ati={0: ("WAVECOM MODEM", "MULTIBAND  900E  1800"), 3: ("R7.46.0.201010140902",)},
            imei="012345678901237",
            memories=(("SM", "BM", "SR"), ("SM",), ("SM",)),
            capacity={"SM": 50, "BM": 20, "SR": 20},
            cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1, 2), (0, 1)),
            restart_urcs=("+WIND: 13",),
            busy_after_cfun=2,
            refused=frozenset({"+CGMR", "+GMR"}),
            cpin_without_ok=True,
        ),
    )
}

DEFAULT_PROFILE = "simcom"

"""Simulators that speak the real protocols: a GSM modem behind a Moxa NPort (TCP, AT commands)
and the websms REST API (HTTP). For the demo run, development, tests and benchmarks."""

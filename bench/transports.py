"""Messages per second of both transports against their simulators, each beside the ceiling of
a bare client loop against the same simulator in the same run. Prints JSON.

Targets: modem ≥ 300/s, websms ≥ 1,000/s, each ≥ 0.8 of its ceiling.

    .venv/bin/python bench/transports.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _modem import bench_modem
from _websms import bench_websms

TARGETS = {"modem": 300, "websms": 1000}


def main() -> None:
    figures = {"benchmark": "transports", "modem": bench_modem(), "websms": bench_websms()}
    for name, target in TARGETS.items():
        result = figures[name]
        result["target_per_second"] = target
        result["meets_target"] = result["messages_per_second"] >= target and result["ratio"] >= 0.8
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

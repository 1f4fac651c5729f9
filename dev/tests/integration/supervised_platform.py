"""``vies run``'s supervision loop (``vies_dev.platform.run_services``) over fake services, for the tests.

python supervised_platform.py '{"alpha": 41001, "beta": 41002}' <home>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vies_dev.platform import run_services
from vies_dev.service_process import ServiceProcess

HERE = Path(__file__).parent


class FakeProcess(ServiceProcess):
    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "fake_service.py")]


def main() -> int:
    ports: dict[str, int] = json.loads(sys.argv[1])
    home = Path(sys.argv[2])
    services: list[ServiceProcess] = [
        FakeProcess(name, port, {"FAKE_SERVICE": name, "FAKE_HOME": str(home)}, home / f"{name}.log")
        for name, port in ports.items()
    ]
    return run_services(services, backoff_initial=0.5, backoff_max=4.0, stable_seconds=30.0, probe_every=0.3)


if __name__ == "__main__":
    sys.exit(main())

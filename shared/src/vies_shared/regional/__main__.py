"""``python -m vies_shared.regional run|report ...``: the same commands as ``vies regional``."""

from vies_shared.regional.cli import regional_app

regional_app(prog_name="vies regional")

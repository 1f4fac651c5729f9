"""Demo data (``VIES_DEMO_DATA=true``): placeholder"""

from vies_shared.service import Runtime


async def seed(runtime: Runtime) -> None:
    """Seed demo data."""

"""Pure domain of the missions service: missions, incidents, safety checks, access rules (no I/O)."""

"""VIES missions service: in-country mission support, check-ins, incidents, security alerts and safety checks."""

"""VIES recruitment service: positions, applications, scheme eligibility, selection, engagement."""

"""Regional consumer kit: a branch keeps its region's events (view, JSON Lines file, webhook).

``vies regional run --region FR-ARA`` and ``vies regional report --region FR-ARA``
(``cli.regional_app``); see docs/REGIONAL.md.
"""

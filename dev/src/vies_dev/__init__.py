"""VIES development tools: the local stack, ``vies run``, the pytest plugin and test helpers, the event catalogue.

Installed by ``make setup`` beside the runtime kit (``vies_shared``); never in a service image.
"""

"""The demo: emulated source systems with a synthetic population, a token issuer and the gateway.

A package of its own, outside the product: ``gateway/`` never imports the emulators it is
demonstrated with. ``python -m gateway demo`` hands over to ``python -m demo``.
"""

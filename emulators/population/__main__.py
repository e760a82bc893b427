"""``python -m emulators.population``: the same as ``python -m emulators generate``."""

from emulators.population.cli import main

raise SystemExit(main())

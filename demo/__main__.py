"""``python -m demo``: the whole demo until interrupted (``python -m gateway demo`` runs this)."""

from demo.run import main

raise SystemExit(main())

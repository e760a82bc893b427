"""The synthetic population: a seeded model of people and their records in every source system.

``generate()`` writes ``register.sqlite``, ``ehr-{region}.sqlite``, ``lis.sqlite``, ``dps.sqlite``
and ``ambulance.sqlite`` (layout: ``emulators/storage.py``) plus ``ground_truth.json``
(``docs/ground-truth.md``). Everything comes from one ``random.Random(seed)`` walked in a fixed
order, so the same seed, size and day give byte-identical files. The ground truth is written
from the generator's own model of each person, never read back from the databases.

Modules: ``model`` (shapes), ``names``, ``census`` (everyone's identity and family, drawn
first), ``directory`` (organisations and staff), ``sinks`` (bulk writing and shard merging),
``base`` (shared state), one record writer per concept
(``people``, ``clinical``, ``encounters``, ``medications``, ``observations``, ``prevention``,
``laboratory``, ``ambulance``), ``generator`` (the walk), ``sharding`` (``generate``), ``cli``.
"""

from emulators.clock import today_in_almaty
from emulators.population.cli import main
from emulators.population.generator import Population
from emulators.population.sharding import generate, generate_shard, write_truth

__all__ = ["Population", "generate", "generate_shard", "main", "today_in_almaty", "write_truth"]

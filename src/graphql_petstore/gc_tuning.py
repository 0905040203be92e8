"""The garbage collector of a process that serves (`serve`'s workers).

Reference counting frees nearly everything a request allocates; CPython's
cycle collector runs besides, and now and then a full collection traverses
every object the process holds: the schema, graphql-core's documents, the
modules, SQLAlchemy's and asyncpg's state. Under a load of mutations at 32
connections (`serve --workers 1`, measured with gc.callbacks) full
collections came every few seconds and took about 80 ms each, a pause for
every request in flight, and over a third of the 6.6 % of wall time that the
collector took.

What exists once the app has started lives as long as the process:
gc.freeze() moves it out of the collector's sight, so that a full
collection traverses only what came after. Young collections are rare as
well since a request no longer leaves a reference cycle behind (its
response cycle and the transport that holds the head,
api/library_internals/uvicorn.py): under the same load they came every few
dozen requests and took 6.9 % of the CPU; now 0.1 %. The thresholds stay
CPython's: raised, they made the cycles of evicted plans wait so long that
tests/api/test_memory_bound.py's bound on memory failed.
"""

from __future__ import annotations

import gc


def after_startup() -> None:
    """Freezes what the process holds once the app has started."""
    gc.collect()  # what startup left as garbage is not kept forever
    gc.freeze()

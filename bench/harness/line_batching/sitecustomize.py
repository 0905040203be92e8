"""Put on a bench server's PYTHONPATH, with PETSTORE_BENCH_FLUSH_DELAY set:
the server's access lines then wait that many seconds to be written
together instead of line_batches.FLUSH_DELAY.

Under valgrind the server runs some 50 times slower, so in FLUSH_DELAY a
batch would hold a line or two where at full speed it holds dozens; with
the delay lengthened as much, each line pays its share of a batch's timer
and write(2) as it does at full speed (bench/metrics_instructions_bench.py).
"""

import os

from graphql_petstore.observability import line_batches

line_batches.FLUSH_DELAY = float(os.environ["PETSTORE_BENCH_FLUSH_DELAY"])

"""Parts of scale_bench.py."""

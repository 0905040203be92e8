"""subscription_bench.py's two parts: the cost of the per-event NOTIFY
(notify), and commit-to-receipt latency (latency, with its WebSocket client
processes in clients)."""

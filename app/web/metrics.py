"""Request metrics for Prometheus (prometheus-client), fed by the per-request log line
(app/web/request_log.py), and the text a scrape answers with.

Labels stay few: the Flask endpoint name (never the raw path, which carries ids) and the status
class (2xx, 3xx, 4xx, 5xx). Under gunicorn each worker counts its own requests; with
PROMETHEUS_MULTIPROC_DIR set, prometheus-client keeps the counts in files there and a scrape
adds up every worker's (`MultiProcessCollector`). The directory must be emptied at each start
(the web unit's RuntimeDirectory is)."""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# Not registered in prometheus-client's global registry: each scrape builds its own (render()).
REQUEST_SECONDS = Histogram(
    "manabi_http_request_duration_seconds", "Time to answer a request, by endpoint and status class.",
    ("endpoint", "status_class"), registry=None,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


def observe_request(endpoint: str | None, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(endpoint=endpoint or "none", status_class=f"{status // 100}xx").observe(seconds)


def render(*collectors: Collector) -> bytes:
    """The Prometheus text exposition of the request histogram (every worker's, in multiprocess
    mode) and of `collectors`, which read their values at scrape time."""
    registry = CollectorRegistry()  # no auto_describe: it would read the collectors twice
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)

"""Operations at the edge: what an operator's tools read (the Prometheus scrape, app/ops/views.py)."""

"""The demo prefecture `make run` serves: it composes every domain's demo data, so it lives at the edge."""

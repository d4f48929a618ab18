"""The app's settings with bench/urls.py: the app plus the naive reference endpoint (benchmarks only)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

"""Plumbing every app shares, and no domain: the error base, API helpers, database helpers and the
clients of outside services (WeChat, WeChat Pay). It imports no app of the project; the apps import it."""

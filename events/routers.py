from django.db import connections


class TaskEngineRouter:
    """procrastinate's schema is PostgreSQL's own (functions, triggers, enums): on SQLite (the demo)
    its migrations are recorded but run nothing, and the demo's worker runs in-process instead."""

    def allow_migrate(self, db, app_label, **hints):
        if app_label == "procrastinate" and connections[db].vendor != "postgresql":
            return False
        return None

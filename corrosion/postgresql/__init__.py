"""Django's PostgreSQL backend with every wait for the server bounded in time (see base.py)."""

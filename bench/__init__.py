"""The benchmark behind `make bench`: seed PostgreSQL, run the app under gunicorn, load it with wrk.

See BENCHMARKS.md for what is measured, against which ceiling, and what the figures were.
"""

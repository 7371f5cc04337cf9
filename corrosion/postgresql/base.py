"""Django's PostgreSQL backend, with no wait for the server left unbounded.

DATABASE_STATEMENT_TIMEOUT_SECONDS (settings: STATEMENT_TIMEOUT_SECONDS of the connection) bounds
every statement, on both sides of the wire:

- the server's statement_timeout and lock_timeout, sent in the connection's startup packet (no
  round trip), cancel a statement that runs, or waits for a lock, too long: the client gets
  QueryCanceled or LockNotAvailable, an OperationalError, and the connection stays usable;
- a deadline on every wait of the client for the server (a query, a commit, a server-side
  cursor's fetch, Django's health check) covers what the server cannot: a query that never reached
  it, an answer that never comes back (a network that drops packets without a reset, a hung host).
  TCP keepalives and tcp_user_timeout cannot tell, as long as something on the way (a proxy, a
  load balancer) keeps acknowledging. The deadline is the timeout plus a grace, so a slow statement
  is the server's to cancel; when it passes, the connection is closed, never to be used again, and
  the wait fails with an OperationalError.

Either way the request answers the 503 that any lost connection gets (corrosion.api). The cost is
well under a microsecond per wait: psycopg's own wait loop (in C) keeps the deadline. Migrations
(the schema editor below) run without the limits; close_billing_month sets its own
(corrosion.db.statement_timeout).
"""

from contextlib import contextmanager

import psycopg
from django.db import DatabaseError
from django.db.backends.postgresql import base, schema
from django.db.transaction import TransactionManagementError

# psycopg's own wait deadline (Connection.wait(timeout=...)) raises this OperationalError subclass.
from psycopg.errors import _WaitTimeout

# The client waits this much longer than the server's timeout: the server cancels a slow statement
# itself (the connection stays usable), and only a server that does not answer at all is given up on.
DEADLINE_GRACE_SECONDS = 0.5


class DatabaseSilent(psycopg.OperationalError):
    """The server did not answer within the deadline; the connection was closed."""


_wait = psycopg.Connection.wait
_WAIT_INTERVAL = _wait.__defaults__[0]  # psycopg's own (how often a wait checks for Ctrl-C)


class DeadlineConnection(psycopg.Connection):
    """psycopg's connection, whose every wait for the server gives up after `deadline` seconds."""

    deadline: float | None = None
    on_silence = None

    # Every query waits here at least once: plain calls, no super(), nothing allocated.
    def wait(self, gen, interval=_WAIT_INTERVAL, timeout=None):
        deadline = self.deadline
        if timeout is not None or deadline is None:  # a wait psycopg bounds itself, or no limit
            return _wait(self, gen, interval, timeout)
        try:
            return _wait(self, gen, interval, deadline)
        except _WaitTimeout as exc:
            # What was sent may or may not have run, and the server is silent: nothing more can be
            # said on this connection. Closing it makes Django discard it (and psycopg refuse it).
            self.pgconn.finish()
            if self.on_silence is not None:
                self.on_silence()
            raise DatabaseSilent(f"The database did not answer within {deadline:g} s.") from exc


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    """Migrations run without the request limits: a migration may rewrite or back-fill a big table
    (each says in a comment how it avoids holding long locks)."""

    def __enter__(self):
        self._unlimited = self.connection.without_time_limits()
        self._unlimited.__enter__()
        return super().__enter__()

    def __exit__(self, exc_type, exc_value, traceback):
        try:
            return super().__exit__(exc_type, exc_value, traceback)
        finally:
            self._unlimited.__exit__(exc_type, exc_value, traceback)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    # Set when a wait for the server gave up, until the next request starts (close_old_connections):
    # connecting again within the same request would only add a connect timeout to the client's wait.
    went_silent = False

    @property
    def statement_timeout_seconds(self):
        return self.settings_dict.get("STATEMENT_TIMEOUT_SECONDS") or None

    def get_connection_params(self):
        params = super().get_connection_params()
        if self.statement_timeout_seconds:
            ms = round(self.statement_timeout_seconds * 1000)
            limits = f"-c statement_timeout={ms} -c lock_timeout={ms}"
            params["options"] = f"{params['options']} {limits}" if params.get("options") else limits
        return params

    def get_new_connection(self, conn_params):
        if self.went_silent:
            raise DatabaseSilent("The database stopped answering during this request.")
        connection = super().get_new_connection(conn_params)
        # psycopg.connect() makes a plain Connection and has no hook to choose the class; this
        # subclass only bounds Connection.wait().
        connection.__class__ = DeadlineConnection
        connection.deadline = self._deadline(self.statement_timeout_seconds)
        connection.on_silence = self._silenced
        return connection

    def close_if_unusable_or_obsolete(self):
        self.went_silent = False  # a new request (or job) may try the database again
        super().close_if_unusable_or_obsolete()

    def _silenced(self):
        self.went_silent = True

    @staticmethod
    def _deadline(seconds):
        return seconds + DEADLINE_GRACE_SECONDS if seconds else None

    def _set_limits(self, seconds, *, local):
        ms = str(round(seconds * 1000)) if seconds else "0"
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, %s), set_config('lock_timeout', %s, %s)",
                [ms, local, ms, local],
            )

    @contextmanager
    def _client_deadline(self, seconds):
        connection = self.connection
        previous, connection.deadline = connection.deadline, self._deadline(seconds)
        try:
            yield
        finally:
            connection.deadline = previous

    @contextmanager
    def statement_timeout(self, seconds):
        """Within the current transaction, statements and lock waits may take `seconds` (None: no
        limit) instead of the request limit. SET LOCAL: it ends with the transaction, however it ends."""
        if not self.in_atomic_block:
            raise TransactionManagementError("statement_timeout() needs a transaction: its setting ends with it.")
        self._set_limits(seconds, local=True)
        with self._client_deadline(seconds):
            yield

    @contextmanager
    def without_time_limits(self):
        """No limit for this session's statements until the block ends (migrations, which may run
        outside a transaction: CREATE INDEX CONCURRENTLY)."""
        self._set_limits(None, local=False)
        try:
            with self._client_deadline(None):
                yield
        finally:
            try:
                self._set_limits(self.statement_timeout_seconds, local=False)
            except DatabaseError:
                self.close()  # whatever went wrong, a new connection starts with the limits

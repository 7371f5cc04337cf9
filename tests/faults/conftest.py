"""Fixtures of the modules that run the app behind the TCP proxy: each defines `proxied_app`, a
module-scoped (proxy, server) pair started with the environment it needs."""

import pytest


@pytest.fixture
def proxy(proxied_app):
    proxy = proxied_app[0]
    yield proxy
    proxy.restore()  # a test that failed while cut or frozen must not leave the next one without a database


@pytest.fixture
def server(proxied_app):
    server = proxied_app[1]
    workers = server.workers()
    yield server
    # Recovery is the app's own: the processes that served before the fault serve after it, none
    # killed for hanging.
    assert server.process.poll() is None
    assert server.workers() == workers, "a worker was replaced during the test"

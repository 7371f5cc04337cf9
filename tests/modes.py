"""Running a suite once per mode (SPEC: Test mode): see the `livemode` fixture in conftest.py."""

from hosts.services import api_key_issue


def in_mode(host_with_key, livemode, actor):
    """(host, raw key) with a key of the mode: the host's first (live) key, or a new test key."""
    host, raw_key = host_with_key
    if livemode:
        return host, raw_key
    return host, api_key_issue(host=host, name="test", livemode=False, actor=actor).raw_key

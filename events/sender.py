"""One HTTP attempt: POST the signed event to the address checked a moment ago, redirects not followed."""

from dataclasses import dataclass

import urllib3

EXCERPT_BYTES = 500


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    excerpt: str
    error: str

    @property
    def delivered(self):
        return self.status_code is not None and 200 <= self.status_code < 300


def post(target, body, headers, *, timeout):
    """Send to `target.address`, never resolving the name again: the TLS name and Host header are
    the URL's own, so certificates are checked against the name the host registered."""
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.hostname if target.port == default_port else f"{target.hostname}:{target.port}"
    if ":" in target.hostname and target.port == default_port:
        host_header = f"[{target.hostname}]"
    common = {"port": target.port, "maxsize": 1, "retries": False, "timeout": urllib3.Timeout(total=timeout)}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            server_hostname=target.hostname,
            assert_hostname=target.hostname,
            cert_reqs="CERT_REQUIRED",
            **common,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, **common)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            # Only the start of the answer is kept (and read): a receiver cannot fill our table.
            excerpt = response.read(EXCERPT_BYTES, decode_content=False).decode("utf-8", "replace")
        finally:
            response.release_conn()
        return Outcome(status_code=response.status, excerpt=excerpt, error="")
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(status_code=None, excerpt="", error=_short(exc))
    except OSError as exc:
        return Outcome(status_code=None, excerpt="", error=_short(exc))
    finally:
        pool.close()


def _short(exc):
    name = type(exc).__name__
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "Timed out."
    return f"{name}: {exc}"[:300]

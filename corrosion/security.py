"""The Content-Security-Policy header: the site's policy on pages, a closed one on everything else."""

from csp.middleware import CSPMiddleware

# JSON, CSV and static files run nothing; if one is opened as a document it may load nothing either.
NOT_A_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware for HTML pages (the admin, the API docs, any page of ours), with
    their nonces and per-view additions; every other response gets a fixed policy.

    django-csp builds the policy anew for each response: on the API, the heartbeat above all,
    a constant string costs nothing.
    """

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/html"):
            return super().process_response(request, response)
        response.setdefault("Content-Security-Policy", NOT_A_PAGE_POLICY)
        return response

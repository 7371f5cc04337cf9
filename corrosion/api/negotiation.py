"""Content negotiation: a representation the view cannot give is 406, however it was asked for."""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF answers an unknown `?format=` with a 404, as if the resource did not exist; an unknown
    `Accept` already gets 406. Both ask for a representation we do not have, so both are 406."""

    def filter_renderers(self, renderers, format):
        renderers = [renderer for renderer in renderers if renderer.format == format]
        if not renderers:
            raise exceptions.NotAcceptable()
        return renderers

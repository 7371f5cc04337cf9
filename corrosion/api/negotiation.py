"""Content negotiation: a representation the view cannot give is 406, however it was asked for."""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF answers an unknown `?format=` with a 404, as if the resource did not exist, and reads an
    empty one as no format at all; an unknown `Accept` gets 406. All three ask for a representation
    we do not have (the documented formats are named), so all three are 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if request.query_params.get(self.settings.URL_FORMAT_OVERRIDE) == "":
            raise exceptions.NotAcceptable()
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        renderers = [renderer for renderer in renderers if renderer.format == format]
        if not renderers:
            raise exceptions.NotAcceptable()
        return renderers

"""What the admin tests read from a page."""


def messages_of(response):
    """The messages a rendered admin page shows, as (level, text) pairs."""
    return [(message.level_tag, str(message)) for message in response.context["messages"]]

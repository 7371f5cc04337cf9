from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from hosts.models import Host


def host_by_email(email) -> Host | None:
    """The host whose contact e-mail is `email`, ignoring case; None when there is none.

    Anything that is not an e-mail address names no host, and is not sent to the database (a NUL,
    which PostgreSQL refuses outright, cannot be in an address).
    """
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        return None
    return Host.objects.filter(contact_email__iexact=email).first()

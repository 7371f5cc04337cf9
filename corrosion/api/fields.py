"""Input rules every API shares: text fields take strings only, and no control characters."""

import re
from collections.abc import Mapping

from rest_framework import serializers

# Unicode's control characters (C0, DEL and C1: NEL, CSI...), and lone surrogates no database stores.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same rule said to clients in the OpenAPI document, as a pattern a text field must match.
PRINTABLE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"


def no_control_characters(value):
    if CONTROL_CHARACTERS.search(value):
        raise serializers.ValidationError("Control characters are not allowed.")


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF would turn 42 into "42", which is not what a client meant."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClosedSerializer(serializers.Serializer):
    """Refuses every field it does not declare, naming each one, beside the other fields' errors.

    DRF drops unknown fields silently: a client's typo ("hostnme") would be ignored, not reported.
    """

    unknown_field_message = "Unknown field: this endpoint does not take it."

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)
        known = {field.field_name for field in self._writable_fields}
        errors = {str(name): [self.unknown_field_message] for name in data if name not in known}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = {**exc.detail, **errors}
        if errors:
            raise serializers.ValidationError(errors)
        return value

"""The format of host API keys: `crn_<key id>_<secret>` (SPEC: Data, API keys)."""

import re
import secrets
import string

KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
SECRET_ALPHABET = string.ascii_letters + string.digits
KEY_ID_LENGTH = 8
# 43 characters of 62 symbols carry 256 bits.
SECRET_LENGTH = 43

KEY_PATTERN = re.compile(r"^crn_(?P<key_id>[a-z0-9]{8})_(?P<secret>[A-Za-z0-9]{43,128})$")


def generate_key_id():
    return "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))


def generate_raw_key(key_id):
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"crn_{key_id}_{secret}"


def parse_key_id(raw_key):
    """The key id of a well-formed key, or None: malformed keys never reach the database."""
    match = KEY_PATTERN.match(raw_key)
    return match.group("key_id") if match else None

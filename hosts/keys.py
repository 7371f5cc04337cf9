"""The format of host API keys: `crn_<key id>_<secret>` live, `crn_test_<key id>_<secret>` test
(SPEC: Data, API keys; Test mode). The mode shows in the key itself, so a partner never mistakes a
sandbox key for the one that bills, and a scanner flags either as a Corrosion key."""

import re
import secrets
import string

KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
SECRET_ALPHABET = string.ascii_letters + string.digits
KEY_ID_LENGTH = 8
# 43 characters of 62 symbols carry 256 bits.
SECRET_LENGTH = 43

TEST_MARKER = "test_"
KEY_PATTERN = re.compile(r"^crn_(?P<test>test_)?(?P<key_id>[a-z0-9]{8})_(?P<secret>[A-Za-z0-9]{43,128})$")


def generate_key_id():
    return "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))


def generate_raw_key(key_id, *, livemode=True):
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"crn_{'' if livemode else TEST_MARKER}{key_id}_{secret}"


def parse_key(raw_key):
    """(key id, livemode) of a well-formed key, or None: malformed keys never reach the database."""
    match = KEY_PATTERN.match(raw_key)
    return (match.group("key_id"), match.group("test") is None) if match else None


def parse_key_id(raw_key):
    """The key id of a well-formed key, or None."""
    parsed = parse_key(raw_key)
    return parsed[0] if parsed else None

"""Secrets and names generated for each license."""

import re
import secrets

from django.utils.text import slugify

# Crockford's base32: no I, L, O or U, so a key read aloud or retyped survives.
KEY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_GROUPS = 6
KEY_GROUP_LENGTH = 5  # 6 groups x 5 characters x 5 bits = 150 bits of randomness
SUBDOMAIN_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
SUBDOMAIN_STEM_LENGTH = 40


# A test-mode license's key starts CRN-TEST- (then the same 150 random bits): a key pasted into a
# support ticket or a config file says which world it belongs to.
TEST_KEY_PREFIX = "CRN-TEST-"
# What generate_license_key makes; anything else cannot be a license key and never reaches the database.
LICENSE_KEY_PATTERN = re.compile(rf"^CRN(-TEST)?(-[{KEY_ALPHABET}]{{{KEY_GROUP_LENGTH}}}){{{KEY_GROUPS}}}$")


def generate_license_key(*, livemode=True):
    # One draw of 150 random bits, 5 per character (the alphabet has 32 symbols, so each is
    # uniform), rather than a system call per character.
    bits = secrets.randbits(KEY_GROUPS * KEY_GROUP_LENGTH * 5)
    characters = [KEY_ALPHABET[(bits >> (5 * i)) & 31] for i in range(KEY_GROUPS * KEY_GROUP_LENGTH)]
    groups = ("".join(characters[g * KEY_GROUP_LENGTH : (g + 1) * KEY_GROUP_LENGTH]) for g in range(KEY_GROUPS))
    return ("CRN-" if livemode else TEST_KEY_PREFIX) + "-".join(groups)


def generate_companion_token():
    return secrets.token_urlsafe(32)  # 256 bits


def generate_subdomain(hostname):
    """A DNS label from the hostname, with a random suffix so names are unique and not guessable."""
    stem = (
        re.sub(r"[^a-z0-9-]+", "-", slugify(re.sub(r"[._\s]+", "-", hostname)))
        .strip("-")[:SUBDOMAIN_STEM_LENGTH]
        .strip("-")
        or "server"
    )
    suffix = "".join(secrets.choice(SUBDOMAIN_SUFFIX_ALPHABET) for _ in range(6))
    return f"{stem}-{suffix}"

"""What the licensing API accepts. The views check these and the OpenAPI document states them, so
the two cannot disagree."""

SERVER_ID_MAX_LENGTH = 255
HOSTNAME_MAX_LENGTH = 255
# What the columns that keep it hold (host_licenses.customer_email, billing lines): 254, the longest
# address SMTP carries. Its lower-case form may be longer ("İ".lower() is two characters); the
# customer's user is found by it however long it is (licensing.services.customer_username).
CUSTOMER_EMAIL_MAX_LENGTH = 254
# A bulk provisioning call: all or nothing, so its size is bounded.
MAX_BULK_ITEMS = 100

# The plugin's heartbeat.
LICENSE_KEY_MAX_LENGTH = 64
PLUGIN_VERSION_MAX_LENGTH = 64
MAX_PLAYERS = 1_000_000

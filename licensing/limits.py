"""What the licensing API accepts. The views check these and the OpenAPI document states them, so
the two cannot disagree."""

SERVER_ID_MAX_LENGTH = 255
HOSTNAME_MAX_LENGTH = 255
# A customer is the Django user whose username is their lowercased e-mail, and usernames hold 150.
CUSTOMER_EMAIL_MAX_LENGTH = 150
# A bulk provisioning call: all or nothing, so its size is bounded.
MAX_BULK_ITEMS = 100

# The plugin's heartbeat.
LICENSE_KEY_MAX_LENGTH = 64
PLUGIN_VERSION_MAX_LENGTH = 64
MAX_PLAYERS = 1_000_000

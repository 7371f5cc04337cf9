"""E-mail addresses at the edges of what validates, for provisioning and PATCH: each is 201/200 or a
400 naming customer_email, never a 500."""

EDGE_ADDRESSES = [
    # Lower-case forms longer than the address: "İ".lower() is two characters.
    "İ" * 70 + "@example.com",
    "İ" * 121 + "@example.com",  # 133 characters; 254 lower-cased
    "İ" * 200 + "@example.com",  # 212 characters; 412 lower-cased, longer than the e-mail column
    "İ" * 242 + "@example.com",  # 254 characters, the most the columns hold
    "İ" * 243 + "@example.com",  # 255: over
    "a" * 242 + "@example.com",
    "a" * 243 + "@example.com",
    "A" * 150 + "@EXAMPLE.COM",
    "user@" + "x" * 63 + ".com",
    "user@" + "x" * 64 + ".com",  # a label over 63 characters
    "user@" + ".".join(["x" * 60] * 4) + ".io",
    # Unicode that Django's validator reads as ASCII letters (case-insensitive matching).
    "\u212a@example.com",  # KELVIN SIGN, lower-cased "k"
    "\u017f@example.com",  # LATIN SMALL LETTER LONG S
    "İstanbul@example.com",
    # Other Unicode.
    "\u00fc@example.com",
    "ß@example.com",
    "\u01c5@example.com",
    "user@bücher.example",
    "user@例え.テスト",
    "user@İ.com",
    "user@xn--bcher-kva.example",
    "user@пример.рф",
    "🦀@example.com",
    "user@🦀.example",
    # Quoted local parts.
    '"a b"@example.com',  # a space must be escaped
    '"a\\ b"@example.com',
    '"a\\"b"@example.com',
    '""@example.com',
    '"a@b"@example.com',
    '"a\x1bb"@example.com',  # ESC
    '"a\x0bb"@example.com',  # VT
    '"a\x7fb"@example.com',  # DEL
    '"a\x01b"@example.com',
    '"\\\x1b"@example.com',
    # Literals, odd shapes.
    "user@[127.0.0.1]",
    "user@[::1]",
    "user@[IPv6:::1]",
    "user@localhost",
    "a+tag@example.com",
    "  padded@example.com  ",
    "a..b@example.com",
    ".a@example.com",
    "a@b",
    "@example.com",
    "a@",
    "a\u2028b@example.com",
    "a\u0085b@example.com",
    "a\x00b@example.com",
]

# Must be refused, naming customer_email.
REFUSED = {
    "İ" * 243 + "@example.com",
    "a" * 243 + "@example.com",
    '"a\x1bb"@example.com',
    '"a\x0bb"@example.com',
    '"a\x7fb"@example.com',
    '"a\x01b"@example.com',
    '"\\\x1b"@example.com',
    "a\x00b@example.com",
}
# Must be accepted.
ACCEPTED = {
    "İ" * 70 + "@example.com",
    "İ" * 121 + "@example.com",
    "İ" * 200 + "@example.com",
    "İ" * 242 + "@example.com",
    "a" * 242 + "@example.com",
    "A" * 150 + "@EXAMPLE.COM",
    "user@bücher.example",
    "user@例え.テスト",
    '"a\\ b"@example.com',
    "\u212a@example.com",
}

"""Pinned SSH host keys as text: one key a line, `TYPE BASE64 [comment]` (a .pub file) or a known_hosts line
`HOSTS TYPE BASE64` (the host patterns are ignored: the key is pinned for one address). Syntax only, no
paramiko: the inventory checks it on load, `srchain.remote` turns the keys into paramiko keys."""

from __future__ import annotations


def host_key_fields(text: str) -> list[tuple[int, str, str]]:
    """(line number, key type, base64 text) of every key line; comments and blank lines skipped. A line of
    another shape raises ValueError naming its number."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        at = 0 if _key_type(words[0]) else 1
        if len(words) < at + 2 or not _key_type(words[at]):
            raise ValueError(f"line {n}: expected 'TYPE BASE64' (a .pub file) or a known_hosts line")
        out.append((n, words[at], words[at + 1]))
    return out


def _key_type(word: str) -> bool:
    return word.startswith(("ssh-", "ecdsa-sha2-", "sk-"))

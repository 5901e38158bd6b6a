"""Deterministic hashing: every simulated value is a pure function of the seed.

Python's built-in ``hash`` is salted per process for strings, so names are turned
into numbers with BLAKE2b, and numbers are scrambled with the SplitMix64 finalizer.
Worker processes and the server therefore compute the same rows.
"""

from __future__ import annotations

import hashlib

MASK64 = 0xFFFF_FFFF_FFFF_FFFF
GOLDEN = 0x9E37_79B9_7F4A_7C15
EPOCH_MULTIPLIER = 0xD6E8_FEB8_6659_FD93


def mix64(value: int) -> int:
    """Scramble a 64-bit integer (SplitMix64 finalizer): close inputs, unrelated outputs."""
    value &= MASK64
    value = ((value ^ (value >> 30)) * 0xBF58_476D_1CE4_E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D0_49BB_1331_11EB) & MASK64
    return value ^ (value >> 31)


def salt(*parts: object) -> int:
    """A stable 64-bit number for a tuple of names and numbers."""
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")

"""FF1 format-preserving encryption (NIST SP 800-38G), on the `cryptography` package's AES.

No maintained FF1 package on PyPI passes NIST's sample vectors and is kept up (pyffx is not FF1,
ff3 is FF3-1, which the 2025 draft of SP 800-38G Rev. 1 withdraws), so this is the standard's
algorithm, step for step, proven against NIST's nine FF1 samples in tests/test_ff1.py.
"""

from __future__ import annotations

import math

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class FF1:
    """FF1 over strings of `radix` symbols (`alphabet[:radix]`) with an AES key of 16, 24 or 32 bytes."""

    def __init__(self, key: bytes, radix: int = 10, alphabet: str = ALPHABET) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("FF1 needs an AES key of 16, 24 or 32 bytes")
        if not 2 <= radix <= len(alphabet):
            raise ValueError(f"radix must be between 2 and {len(alphabet)}")
        self._aes = Cipher(algorithms.AES(key), modes.ECB())
        self.radix = radix
        self.alphabet = alphabet[:radix]
        self._index = {symbol: i for i, symbol in enumerate(self.alphabet)}

    def encrypt(self, text: str, tweak: bytes = b"") -> str:
        return self._cipher(text, tweak, decrypt=False)

    def decrypt(self, text: str, tweak: bytes = b"") -> str:
        return self._cipher(text, tweak, decrypt=True)

    def _cipher(self, text: str, tweak: bytes, decrypt: bool) -> str:
        radix, n, t = self.radix, len(text), len(tweak)
        if n < 2 or radix ** n < 100:  # the standard's minimum domain (1,000,000 is ours, in formats.py)
            raise ValueError("FF1 input is too short for its radix")
        digits = [self._index[c] for c in text]  # KeyError: a symbol outside the alphabet (callers check)
        u, v = n // 2, n - n // 2
        a, b = digits[:u], digits[u:]
        b_len = math.ceil(math.ceil(v * math.log2(radix)) / 8)
        d = 4 * math.ceil(b_len / 4) + 4
        p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256]) + n.to_bytes(4, "big") + t.to_bytes(4, "big")
        rounds = range(9, -1, -1) if decrypt else range(10)
        encryptor = self._aes.encryptor()
        for i in rounds:
            source = a if decrypt else b
            q = tweak + bytes((-t - b_len - 1) % 16) + bytes([i]) + _num(source, radix).to_bytes(b_len, "big")
            r = _cbc_mac(encryptor, p + q)
            s = r
            for j in range(1, math.ceil(d / 16)):
                s += encryptor.update(_xor(r, j.to_bytes(16, "big")))
            y = int.from_bytes(s[:d], "big")
            m = u if i % 2 == 0 else v
            if decrypt:
                c = (_num(b, radix) - y) % radix ** m
                a, b = _str(c, radix, m), a
            else:
                c = (_num(a, radix) + y) % radix ** m
                a, b = b, _str(c, radix, m)
        return "".join(self.alphabet[x] for x in a + b)


def _num(digits: list[int], radix: int) -> int:
    value = 0
    for digit in digits:
        value = value * radix + digit
    return value


def _str(value: int, radix: int, length: int) -> list[int]:
    out = [0] * length
    for i in range(length - 1, -1, -1):
        value, out[i] = divmod(value, radix)
    return out


def _xor(x: bytes, y: bytes) -> bytes:
    return bytes(p ^ q for p, q in zip(x, y))


def _cbc_mac(encryptor, data: bytes) -> bytes:
    """NIST's PRF: CBC-MAC with a zero IV over whole 16-byte blocks."""
    y = bytes(16)
    for k in range(0, len(data), 16):
        y = encryptor.update(_xor(y, data[k:k + 16]))
    return y

"""FF1 (NIST SP 800-38G) against NIST's published FF1 samples 1-9 (AES-128, -192, -256; radix 10
and 36; with and without a tweak), both directions."""

from __future__ import annotations

import pytest

from tegridy_tokens.service.ff1 import FF1

K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
K192 = K128 + "EF4359D8D580AA4F"
K256 = K192 + "7F036D6F04FC6A94"
DIGITS = "0123456789"
ALNUM = "0123456789abcdefghi"

NIST_SAMPLES = [
    (K128, 10, "", DIGITS, "2433477484"),
    (K128, 10, "39383736353433323130", DIGITS, "6124200773"),
    (K128, 36, "3737373770717273373737", ALNUM, "a9tv40mll9kdu509eum"),
    (K192, 10, "", DIGITS, "2830668132"),
    (K192, 10, "39383736353433323130", DIGITS, "2496655549"),
    (K192, 36, "3737373770717273373737", ALNUM, "xbj3kv35jrawxv32ysr"),
    (K256, 10, "", DIGITS, "6657667009"),
    (K256, 10, "39383736353433323130", DIGITS, "1001623463"),
    (K256, 36, "3737373770717273373737", ALNUM, "xs8a0azh2avyalyzuwd"),
]


@pytest.mark.parametrize("key, radix, tweak, plaintext, ciphertext", NIST_SAMPLES)
def test_nist_ff1_samples(key, radix, tweak, plaintext, ciphertext):
    ff1 = FF1(bytes.fromhex(key), radix)
    assert ff1.encrypt(plaintext, bytes.fromhex(tweak)) == ciphertext
    assert ff1.decrypt(ciphertext, bytes.fromhex(tweak)) == plaintext


def test_too_short_and_bad_keys_are_refused():
    with pytest.raises(ValueError):
        FF1(bytes(15))
    with pytest.raises(ValueError):
        FF1(bytes(16)).encrypt("1")

"""Refresh tokens' shape and tag (:mod:`identity.accounts.refresh_tokens`), without the app."""
from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from identity.accounts import refresh_tokens

KEYS = {kid: ec.derive_private_key(value, ec.SECP256R1())
        for kid, value in (("k2", 0x2222), ("k1", 0x1111))}
DERIVED = refresh_tokens.derive_keys(KEYS)


def test_a_token_reads_back_as_the_session_and_generation_it_was_made_of():
    sid = secrets.token_urlsafe(24)
    token = refresh_tokens.make(DERIVED, sid, 7)
    assert token.startswith("vnidrt_k2." + sid + ".7.")
    assert refresh_tokens.read(DERIVED, token) == (sid, 7)
    assert len(token) < 100  # against about 400 characters as a JWT


def test_each_kid_has_its_own_key_derived_from_its_signing_key_alone():
    assert len(set(DERIVED.values())) == 2 and all(len(key) == 32 for key in DERIVED.values())
    assert refresh_tokens.derive_keys({"k1": KEYS["k1"]})["k1"] == DERIVED["k1"]
    # The same private key under another kid gives another key: a kid cannot be swapped.
    assert refresh_tokens.derive_keys({"k3": KEYS["k1"]})["k3"] != DERIVED["k1"]
    older = refresh_tokens.make({"k1": DERIVED["k1"]}, "session", 3)
    assert refresh_tokens.read(DERIVED, older) == ("session", 3)  # every kid reads its own
    assert refresh_tokens.read({"k2": DERIVED["k2"]}, older) is None  # a dropped kid: refused


@pytest.mark.parametrize("kid", ["", "k.1", "k 1", "k/1", "x" * 65, "ключ"])
def test_a_kid_that_no_token_could_carry_stops_the_start(kid):
    with pytest.raises(ValueError, match="kid"):
        refresh_tokens.derive_keys({kid: KEYS["k1"]})


@pytest.mark.parametrize("sid, generation", [("a.b", 1), ("", 1), ("s" * 65, 1), ("s", 0),
                                             ("s", -1)])
def test_a_session_or_generation_out_of_shape_makes_no_token(sid, generation):
    with pytest.raises(ValueError):
        refresh_tokens.make(DERIVED, sid, generation)


@given(st.text(max_size=200))
def test_reading_any_text_never_raises_and_finds_no_token(text):
    assert refresh_tokens.read(DERIVED, text) is None


@given(st.integers(min_value=0, max_value=200), st.characters(codec="ascii"))
def test_any_one_character_changed_is_refused(position, character):
    token = refresh_tokens.make(DERIVED, "AbCdEfGhIjKlMnOpQrStUvWxYz012345", 42)
    position %= len(token)
    changed = token[:position] + character + token[position + 1:]
    if changed != token:
        assert refresh_tokens.read(DERIVED, changed) is None

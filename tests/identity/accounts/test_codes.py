"""One-time SMS codes (identity.accounts.codes) against the app's Redis client.

The same tests run on the in-process stand-in (fakeredis) and on a real Redis
(``REDIS_URL``): both must give single use, five tries, purpose binding and
expiry.
"""
from __future__ import annotations

import threading
import time

import pytest

from identity.accounts import codes
from identity.accounts.errors import InvalidCode, TooManySms
from tests.flows import at_once

PAYLOAD = {"citizen_id": 7, "device_id": "device-0001"}


def start(redis, protector, purpose: str = "registration", **kwargs) -> tuple[str, str]:
    return codes.start(redis_client=redis, protector=protector, purpose=purpose,
                       payload=PAYLOAD, **kwargs)


def consume(redis, protector, ref: str, code: object, purpose: str = "registration"):
    return codes.consume(redis_client=redis, protector=protector, purpose=purpose, ref=ref,
                         code=code)


def wrong(code: str) -> str:
    """Another six-digit code than ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_new_codes_are_six_ascii_digits():
    for _ in range(200):
        code = codes.new_code()
        assert len(code) == 6 and code.isascii() and code.isdigit()


def test_right_code_gives_the_payload_once(redis, protector):
    ref, code = start(redis, protector)
    assert consume(redis, protector, ref, code) == PAYLOAD
    with pytest.raises(InvalidCode) as raised:
        consume(redis, protector, ref, code)
    assert raised.value.code == "otp.invalid"


def test_the_code_is_not_stored_in_clear(redis, protector):
    ref, code = start(redis, protector)
    held = redis.hgetall(f"verify:registration:{ref}")
    assert held and all(code.encode() not in value for value in held.values())


def test_wrong_code_does_not_consume(redis, protector):
    ref, code = start(redis, protector)
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, wrong(code))
    assert consume(redis, protector, ref, code) == PAYLOAD


@pytest.mark.parametrize("bad", [None, 123456, ["123456"], ""])
def test_codes_that_are_not_text_are_refused(redis, protector, bad):
    ref, code = start(redis, protector)
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, bad)
    assert consume(redis, protector, ref, code) == PAYLOAD


def test_unknown_and_oversized_references_are_refused(redis, protector):
    _, code = start(redis, protector)
    with pytest.raises(InvalidCode):
        consume(redis, protector, "no-such-ref", code)
    with pytest.raises(InvalidCode):
        consume(redis, protector, "x" * 65, code)


def test_four_wrong_tries_then_the_right_code_works(redis, protector):
    ref, code = start(redis, protector)
    for _ in range(codes.MAX_TRIES - 1):
        with pytest.raises(InvalidCode):
            consume(redis, protector, ref, wrong(code))
    assert consume(redis, protector, ref, code) == PAYLOAD


def test_five_wrong_tries_burn_the_code(redis, protector):
    ref, code = start(redis, protector)
    for _ in range(codes.MAX_TRIES):
        with pytest.raises(InvalidCode):
            consume(redis, protector, ref, wrong(code))
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, code)
    assert not redis.exists(f"verify:registration:{ref}")


@pytest.mark.parametrize("other", ["unlock", "device_rebind"])
def test_a_registration_code_cannot_confirm_another_purpose(redis, protector, other):
    ref, code = start(redis, protector, purpose="registration")
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, code, purpose=other)
    # Refused for the other purpose without being spent: it still confirms its own act.
    assert consume(redis, protector, ref, code, purpose="registration") == PAYLOAD


def test_an_unlock_code_cannot_confirm_a_registration(redis, protector):
    ref, code = start(redis, protector, purpose="unlock")
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, code, purpose="registration")
    assert consume(redis, protector, ref, code, purpose="unlock") == PAYLOAD


def test_a_code_is_bound_to_its_own_act(redis, protector):
    first_ref, first_code = start(redis, protector)
    second_ref, second_code = start(redis, protector)
    if first_code != second_code:  # one chance in a million they are the same
        with pytest.raises(InvalidCode):
            consume(redis, protector, second_ref, first_code)
    assert consume(redis, protector, first_ref, first_code) == PAYLOAD
    assert consume(redis, protector, second_ref, second_code) == PAYLOAD


def test_a_pending_act_lives_five_minutes(redis, protector):
    ref, _ = start(redis, protector)
    assert 0 < redis.ttl(f"verify:registration:{ref}") <= codes.CODE_TTL_SECONDS == 300


def test_an_expired_code_is_refused(redis, protector):
    # Expiry is Redis's own TTL, which time-machine cannot move (a real Redis keeps its
    # own clock), so this waits out a one-second TTL on the real clock instead.
    ref, code = start(redis, protector, ttl=1)
    time.sleep(1.2)
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, code)


def run_in_parallel(count: int, work) -> list[object]:
    """Run ``work()`` in ``count`` threads released together; each one's result or exception."""
    def call(go) -> object:
        go()
        return work()

    return at_once(*[call] * count, timeout=30)


def test_a_right_code_past_the_budget_leaves_the_act_to_the_request_about_to_win(
        redis, protector):
    # Five submissions of the right code are in flight (the tries counter says so) and one
    # of them is about to delete the key and win: a sixth must fail without deleting it.
    ref, code = start(redis, protector)
    redis.set(f"verify:registration:{ref}:tries", codes.MAX_TRIES)
    with pytest.raises(InvalidCode):
        consume(redis, protector, ref, code)
    assert redis.exists(f"verify:registration:{ref}")


@pytest.mark.parametrize("attempt", range(10))
def test_twenty_parallel_submissions_of_the_right_code_give_one_success(redis, protector,
                                                                        attempt):
    ref, code = start(redis, protector)
    results = run_in_parallel(20, lambda: consume(redis, protector, ref, code))
    successes = [r for r in results if r == PAYLOAD]
    failures = [r for r in results if isinstance(r, InvalidCode)]
    assert (len(successes), len(failures)) == (1, 19), results


def test_five_sends_per_phone_per_hour(redis, protector):
    for _ in range(codes.MAX_SENDS_PER_HOUR):
        codes.count_send(redis_client=redis, protector=protector, phone="0912345678")
    with pytest.raises(TooManySms) as raised:
        codes.count_send(redis_client=redis, protector=protector, phone="0912345678")
    assert raised.value.code == "sms.too_many"
    # Another phone has its own budget.
    codes.count_send(redis_client=redis, protector=protector, phone="0987654321")


def test_the_send_counter_lasts_an_hour_and_names_no_phone(redis, protector):
    codes.count_send(redis_client=redis, protector=protector, phone="0912345678")
    keys = [key.decode() for key in redis.scan_iter("sms:sent:*")]  # a cluster: every node
    assert len(keys) == 1 and "0912345678" not in keys[0]
    assert 3500 < redis.ttl(keys[0]) <= 3600
    # A later send does not push the window on.
    redis.expire(keys[0], 100)
    codes.count_send(redis_client=redis, protector=protector, phone="0912345678")
    assert redis.ttl(keys[0]) <= 100


def test_a_race_of_fifty_codes_compares_five_at_most(redis, protector, monkeypatch):
    """The try is counted before the code is compared: a race buys no more than five guesses."""
    ref, code = start(redis, protector)
    compared: list[str] = []
    real = codes._digest

    def counting_digest(protector: object, purpose: str, ref: str, given: str) -> str:
        compared.append(given)
        return real(protector, purpose, ref, given)

    monkeypatch.setattr(codes, "_digest", counting_digest)
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 50)] + [code]
    lock = threading.Lock()

    def one_try() -> object:
        with lock:
            guess = guesses.pop()
        return consume(redis, protector, ref, guess)

    results = run_in_parallel(50, one_try)
    assert len(compared) <= codes.MAX_TRIES
    successes = [r for r in results if r == PAYLOAD]
    # The right code wins at most once, and only if it was among the tries compared (even
    # then it may lose: a fifth wrong try burns the code first, which fails closed).
    assert len(successes) <= 1 and (not successes or code in compared)
    assert len(successes) + sum(isinstance(r, InvalidCode) for r in results) == 50

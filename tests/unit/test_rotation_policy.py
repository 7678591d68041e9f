"""The token pool's rotation policy: who takes the next prediction, and how outcomes count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base_core.errors import (
    NoTokenAvailable,
    ProviderUnavailable,
    TokenOutOfCredit,
    TokenRateLimited,
    TokenRejected,
)
from base_core.events import TokenCooledDown, TokenEnabled, TokenRetired, with_recorded
from base_core.tokens import ReplicateToken, RotationPolicy, TokenStat, TokenStats, mask_secret

T0 = datetime(2025, 11, 24, 10, 0, tzinfo=UTC)
POLICY = RotationPolicy()


def make_token(n: int, **fields) -> ReplicateToken:
    return ReplicateToken(id=f"t{n:03d}", label=f"token {n}", secret=f"r8_secret_{n:04d}_xyz", created_at=T0, **fields)


@st.composite
def token_pools(draw, min_size: int = 1, max_size: int = 8) -> list[ReplicateToken]:
    """Tokens in every state: healthy, cooling, cooled down already, retired."""
    size = draw(st.integers(min_size, max_size))
    pool = []
    for n in range(size):
        state = draw(st.sampled_from(["healthy", "cooling", "cooled", "retired"]))
        used = draw(st.none() | st.integers(0, 3600).map(lambda s: T0 - timedelta(seconds=s)))
        token = make_token(n, request_count=draw(st.integers(0, 50)), last_used_at=used)
        if state == "cooling":
            token = attrs.evolve(token, cooldown_until=T0 + timedelta(seconds=draw(st.floats(0.001, 7200))))
        elif state == "cooled":
            token = attrs.evolve(token, cooldown_until=T0 - timedelta(seconds=draw(st.integers(0, 600))))
        elif state == "retired":
            token = token.disable(T0)
            if draw(st.booleans()):
                token = attrs.evolve(token, cooldown_until=T0 + timedelta(seconds=draw(st.integers(1, 600))))
        pool.append(token)
    return pool


def healthy(pool: list[ReplicateToken]) -> list[ReplicateToken]:
    return [t for t in pool if t.is_active and (t.cooldown_until is None or t.cooldown_until <= T0)]


# --- choosing ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(token_pools())
def test_a_cooling_or_retired_token_is_never_chosen(pool: list[ReplicateToken]) -> None:
    available = healthy(pool)
    try:
        chosen = POLICY.choose(pool, T0)
    except NoTokenAvailable:
        assert available == []
    else:
        assert chosen in available
        assert chosen.is_active
        assert chosen.cooldown_until is None or chosen.cooldown_until <= T0


@settings(max_examples=300)
@given(token_pools())
def test_the_least_recently_used_healthy_token_is_chosen(pool: list[ReplicateToken]) -> None:
    available = healthy(pool)
    if not available:
        return
    chosen = POLICY.choose(pool, T0)
    never_used = [t for t in available if t.last_used_at is None]
    if never_used:
        assert chosen.last_used_at is None
    else:
        assert chosen.last_used_at == min(t.last_used_at for t in available)


@settings(max_examples=200)
@given(token_pools(), st.data())
def test_excluded_tokens_are_never_chosen(pool: list[ReplicateToken], data) -> None:
    excluded = data.draw(st.sets(st.sampled_from([t.id for t in pool])))
    try:
        chosen = POLICY.choose(pool, T0, exclude=excluded)
    except NoTokenAvailable:
        assert all(t.id in excluded for t in healthy(pool))
    else:
        assert chosen.id not in excluded


@settings(max_examples=200)
@given(st.integers(1, 6), st.integers(0, 60), st.lists(st.integers(0, 3), max_size=4))
def test_load_spreads_evenly_across_healthy_tokens(k: int, picks: int, unhealthy: list[int]) -> None:
    pool = [make_token(n) for n in range(k)]
    for n, state in enumerate(unhealthy, start=k):
        token = make_token(n)
        if state % 2:
            token = token.disable(T0)
        else:
            token = attrs.evolve(token, cooldown_until=T0 + timedelta(hours=1))
        pool.append(token)
    now = T0
    counts = {t.id: 0 for t in pool}
    for _ in range(picks):
        now += timedelta(milliseconds=1)
        token = POLICY.choose(pool, now)
        pool[pool.index(token)] = token.record_request(now)
        counts[token.id] += 1
    healthy_counts = [counts[t.id] for t in pool[:k]]
    assert sum(healthy_counts) == picks
    assert set(healthy_counts) <= {picks // k, -(-picks // k)}
    assert all(counts[t.id] == 0 for t in pool[k:])


def test_picks_at_the_same_instant_still_rotate() -> None:
    pool = [make_token(n) for n in range(3)]
    chosen = []
    for _ in range(6):
        token = POLICY.choose(pool, T0)
        pool[pool.index(token)] = token.record_request(T0)
        chosen.append(token.id)
    assert sorted(chosen) == ["t000", "t000", "t001", "t001", "t002", "t002"]


# --- when nothing can take the work -----------------------------------------------------


@settings(max_examples=300)
@given(token_pools(min_size=0))
def test_no_token_available_says_when_the_earliest_cooling_token_frees_up(pool: list[ReplicateToken]) -> None:
    nobody_healthy = {t.id for t in healthy(pool)}
    pool = [
        attrs.evolve(t, cooldown_until=T0 + timedelta(seconds=5)) if t.id in nobody_healthy else t
        for t in pool
    ]
    cooling = [t.cooldown_until for t in pool if t.is_active]
    with pytest.raises(NoTokenAvailable) as caught:
        POLICY.choose(pool, T0)
    if cooling:
        expected = (min(cooling) - T0).total_seconds()
        assert caught.value.retry_after == pytest.approx(max(expected, 1.0))
    else:
        assert caught.value.retry_after is None


@given(token_pools(min_size=0))
def test_all_retired_means_no_retry_after(pool: list[ReplicateToken]) -> None:
    pool = [token.disable(T0) for token in pool]
    with pytest.raises(NoTokenAvailable) as caught:
        POLICY.choose(pool, T0)
    assert caught.value.retry_after is None


@settings(max_examples=200)
@given(token_pools(), st.data())
def test_a_pool_with_live_tokens_always_gives_a_retry_after(pool: list[ReplicateToken], data) -> None:
    """Tokens already tried for this generation still free up; the caller learns when."""
    excluded = {t.id for t in healthy(pool)}
    excluded |= data.draw(st.sets(st.sampled_from([t.id for t in pool])))
    with pytest.raises(NoTokenAvailable) as caught:
        POLICY.choose(pool, T0, exclude=excluded)
    if any(t.is_active for t in pool):
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1.0
        cooling = [t.cooldown_until for t in pool if t.is_active and t.cooldown_until is not None]
        if cooling:
            assert caught.value.retry_after <= max((min(cooling) - T0).total_seconds(), 1.0)
    else:
        assert caught.value.retry_after is None


# --- outcomes ---------------------------------------------------------------------------


@given(st.floats(0.5, 3000, allow_nan=False))
def test_a_rate_limit_cools_the_token_for_the_announced_wait(seconds: float) -> None:
    token = make_token(1).record_failure(TokenRateLimited(retry_after=seconds), T0, POLICY)
    assert token.cooldown_until == T0 + timedelta(seconds=seconds)
    [cooled] = token.events
    assert isinstance(cooled, TokenCooledDown) and cooled.until == token.cooldown_until
    assert token.is_active and token.error_count == 1
    assert not token.is_available(T0)
    assert token.is_available(T0 + timedelta(seconds=seconds))


@given(st.sampled_from([0, -1, -30.0, None]))
def test_a_rate_limit_without_a_usable_wait_cools_for_the_default(seconds) -> None:
    token = make_token(1).record_failure(TokenRateLimited(retry_after=seconds), T0, POLICY)  # type: ignore[arg-type]
    assert token.cooldown_until == T0 + POLICY.default_retry_after


def test_a_rate_limit_wait_is_capped() -> None:
    token = make_token(1).record_failure(TokenRateLimited(retry_after=10 * 24 * 3600), T0, POLICY)
    assert token.cooldown_until == T0 + POLICY.max_retry_after


@pytest.mark.parametrize("error", [TokenRejected(401), TokenRejected(403), TokenOutOfCredit()])
def test_rejected_and_out_of_credit_tokens_are_retired(error) -> None:
    token = make_token(1).record_failure(error, T0, POLICY)
    [retired] = token.events
    assert isinstance(retired, TokenRetired) and retired.reason == token.disabled_reason
    assert not token.is_active
    assert token.disabled_reason
    assert token.error_count == 1
    assert not token.is_available(T0 + timedelta(days=365))
    token = with_recorded(token, ()).enable(T0)
    assert token.is_available(T0) and token.disabled_reason is None
    assert [type(e) for e in token.events] == [TokenEnabled]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["5xx", "ok"]), max_size=30), st.integers(1, 5))
def test_provider_failures_in_a_row_cool_the_token_down(outcomes: list[str], threshold: int) -> None:
    policy = RotationPolicy(failure_threshold=threshold)
    token = make_token(1)
    in_a_row = errors = 0
    now = T0
    for outcome in outcomes:
        now += timedelta(seconds=1)
        token = attrs.evolve(token, cooldown_until=None)
        if outcome == "ok":
            recovered = token.record_success()
            assert (recovered is None) == (in_a_row == 0)
            token = recovered or token
            in_a_row = 0
        else:
            token = token.record_failure(ProviderUnavailable(status=503), now, policy)
            errors += 1
            in_a_row += 1
            if in_a_row == threshold:
                assert token.cooldown_until == now + policy.failure_cooldown
                in_a_row = 0
            else:
                assert token.cooldown_until is None
        assert token.consecutive_failures == in_a_row
        assert token.error_count == errors
        assert token.is_active


def test_request_count_and_last_used_are_recorded() -> None:
    token = make_token(1).record_request(T0).record_request(T0 + timedelta(seconds=3))
    assert token.request_count == 2
    assert token.last_used_at == T0 + timedelta(seconds=3)


# --- what operators see -----------------------------------------------------------------


@given(st.text(max_size=80))
def test_a_masked_secret_never_shows_more_than_seven_characters(secret: str) -> None:
    masked = mask_secret(secret)
    if len(secret) < 12:
        assert masked == "*" * len(secret)
    else:
        assert masked == f"{secret[:3]}…{secret[-4:]}"
        assert len(masked) == 8
    assert secret not in masked or len(secret) == 0 or set(secret) <= {"*"}


def test_a_token_repr_does_not_show_its_secret() -> None:
    token = make_token(1)
    assert token.secret not in repr(token)


def sql_error_rate(errors: int, requests: int) -> float | None:
    """ROUND(error_count::numeric / NULLIF(request_count, 0) * 100, 2), as the seed's SQL says."""
    if requests == 0:
        return None
    exact = Fraction(errors * 100, requests)
    value = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    return float(value)


@settings(max_examples=300)
@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_error_rate_matches_the_seed_sql(errors: int, requests: int) -> None:
    token = make_token(1, error_count=min(errors, requests), request_count=requests)
    assert TokenStat.of(token).error_rate_percent == sql_error_rate(token.error_count, requests)


@pytest.mark.parametrize(("errors", "requests", "rate"), [(1, 32, 3.13), (1, 8, 12.5), (1, 3, 33.33), (2, 3, 66.67), (0, 5, 0.0)])
def test_error_rate_examples(errors: int, requests: int, rate: float) -> None:
    assert TokenStat.of(make_token(1, error_count=errors, request_count=requests)).error_rate_percent == rate


@settings(max_examples=200)
@given(token_pools(min_size=0))
def test_stats_totals_add_up(pool: list[ReplicateToken]) -> None:
    pool = [attrs.evolve(token, error_count=n % 3) for n, token in enumerate(pool)]
    stats = TokenStats.of(pool)
    assert stats.totals.total_tokens == len(pool)
    assert stats.totals.active_tokens == sum(t.is_active for t in pool)
    assert stats.totals.total_requests == sum(t.request_count for t in pool)
    assert stats.totals.total_errors == sum(t.error_count for t in pool)
    assert [s.request_count for s in stats.tokens] == sorted((t.request_count for t in pool), reverse=True)
    for stat in stats.tokens:
        assert stat.masked == mask_secret(next(t.secret for t in pool if t.id == stat.id))
        assert not hasattr(stat, "secret")

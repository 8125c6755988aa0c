//! Rate limits per client address and per company key: 429 with
//! `Retry-After`, before any work is done for the request.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::COMPANY_KEY_HEADER;

/// A sustained rate with a burst on top (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Time for one more request to be allowed.
    pub replenish_every: Duration,
    /// Requests allowed at once after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// `rate` requests per second, bursts of `burst`; a rate of 0 is no
    /// limit.
    pub fn per_second(rate: u32, burst: u32) -> Option<Self> {
        Self::per(Duration::from_secs(1), rate, burst)
    }

    /// `rate` requests per minute, bursts of `burst`; a rate of 0 is no
    /// limit.
    pub fn per_minute(rate: u32, burst: u32) -> Option<Self> {
        Self::per(Duration::from_secs(60), rate, burst)
    }

    fn per(window: Duration, rate: u32, burst: u32) -> Option<Self> {
        (rate > 0).then(|| Self {
            replenish_every: window / rate,
            burst: burst.max(1),
        })
    }

    fn quota(self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.burst)?;
        Some(Quota::with_period(self.replenish_every)?.allow_burst(burst))
    }
}

/// How often the limiters forget keys that are idle again: a flood of
/// distinct addresses must not grow memory for ever.
const HOUSEKEEPING_EVERY: u64 = 16_384;

/// The limiters of one router.
pub(crate) struct Limiters {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    seen: AtomicU64,
}

impl Limiters {
    pub(crate) fn new(per_ip: Option<RateLimit>, per_key: Option<RateLimit>) -> Option<Self> {
        let per_ip = per_ip.and_then(RateLimit::quota).map(RateLimiter::keyed);
        let per_key = per_key.and_then(RateLimit::quota).map(RateLimiter::keyed);
        if per_ip.is_none() && per_key.is_none() {
            return None;
        }
        Some(Self {
            per_ip,
            per_key,
            seen: AtomicU64::new(0),
        })
    }

    /// `Err(seconds to wait)` when the request is over a limit.
    fn check(&self, ip: Option<IpAddr>, key: Option<&str>) -> Result<(), (&'static str, u64)> {
        if self.seen.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY == HOUSEKEEPING_EVERY - 1
        {
            for limiter in self.per_ip.iter() {
                limiter.retain_recent();
            }
            for limiter in self.per_key.iter() {
                limiter.retain_recent();
            }
        }
        let clock = DefaultClock::default();
        // Whole seconds, at least one: `Retry-After: 0` would invite a
        // retry storm.
        let wait = |not_until: governor::NotUntil<_>| {
            not_until.wait_time_from(clock.now()).as_secs().max(1)
        };
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            limiter.check_key(&ip).map_err(|n| ("ip", wait(n)))?;
        }
        // A key of absurd length is no company's; it is refused later.
        if let (Some(limiter), Some(key)) = (&self.per_key, key.filter(|k| k.len() <= 64)) {
            limiter
                .check_key(&key.trim().to_owned())
                .map_err(|n| ("company_key", wait(n)))?;
        }
        Ok(())
    }
}

/// The middleware, installed only when some limit is set.
pub(crate) async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiters) = &state.limiters else {
        return next.run(req).await;
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let key = req
        .headers()
        .get(COMPANY_KEY_HEADER)
        .and_then(|v| v.to_str().ok());
    match limiters.check(ip, key) {
        Ok(()) => next.run(req).await,
        Err((which, retry_after_secs)) => {
            state.metrics.rate_limited(which);
            ApiError::RateLimited { retry_after_secs }.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_waits_at_least_a_second() {
        let limiters = Limiters::new(RateLimit::per_minute(1, 3), None).unwrap();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiters.check(Some(ip), None), Ok(()));
        }
        let (which, wait) = limiters.check(Some(ip), None).unwrap_err();
        assert_eq!(which, "ip");
        assert!(wait >= 1);
        // Another address has its own budget.
        assert_eq!(
            limiters.check(Some("10.0.0.2".parse().unwrap()), None),
            Ok(())
        );
    }

    #[test]
    fn company_keys_have_budgets_of_their_own() {
        let limiters = Limiters::new(None, RateLimit::per_minute(1, 1)).unwrap();
        assert_eq!(limiters.check(None, Some("company_a")), Ok(()));
        assert_eq!(
            limiters.check(None, Some("company_a")).unwrap_err().0,
            "company_key"
        );
        assert_eq!(limiters.check(None, Some("company_b")), Ok(()));
        // No key, no company budget to spend.
        assert_eq!(limiters.check(None, None), Ok(()));
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        assert_eq!(RateLimit::per_second(0, 10), None);
        assert!(Limiters::new(None, None).is_none());
        let zero = RateLimit {
            replenish_every: Duration::ZERO,
            burst: 1,
        };
        assert!(Limiters::new(Some(zero), None).is_none());
        let fast = RateLimit::per_second(200, 400).unwrap();
        assert_eq!(fast.replenish_every, Duration::from_millis(5));
    }
}

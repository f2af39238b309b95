//! A token bucket as a pure state machine over an injected clock.
//!
//! The bucket never reads a clock and never sleeps: every call passes `now` (seconds,
//! any epoch, as `f64`) and the caller does the waiting. That keeps it deterministic,
//! testable without real time, and usable from any event loop.
//!
//! Model: `tokens` refill at `rate` per second up to `burst`, settled lazily on each
//! call from the time of the last settlement. Decisions:
//!
//! - A `now` earlier than the last settlement counts as no elapsed time (callers on
//!   different clocks or threads may pass slightly stale times); the bucket never
//!   refills negatively and never moves its own clock backwards.
//! - [`TokenBucket::drain`] adopts a provider's rate-limit headers: `remaining` tokens
//!   now and full at `reset_at`. Until `reset_at` the refill runs at
//!   `(burst - remaining) / (reset_at - now)`, then the configured rate applies again;
//!   a refill spanning `reset_at` is computed piecewise. During the window the level is
//!   kept as a line anchored at `reset_at` (`burst - debt - (reset_at - t) * drain_rate`,
//!   where `debt` is what was taken since, net of refunds), so an untouched bucket is
//!   full at `reset_at` exactly, not merely to within rounding.
//! - A denied [`TokenBucket::try_acquire`] returns the wait computed analytically and
//!   then nudged up by a few ulps if needed, so that calling again at exactly
//!   `now + wait` (as an `f64` sum) is guaranteed to succeed. Without the nudge,
//!   rounding in `need / rate` could leave the caller a hair short and make it spin.
//!   The refill is monotone in time, so any later call succeeds too.
//!
//! We keep a token level rather than a GCRA "theoretical arrival time": the level is
//! what `drain` adopts and what `available` reports, and it handles `rate == 0` and the
//! piecewise drain schedule without special cases.
//!
//! The pure-Python twin (`tokenwire._pure.bucket`) performs the same `f64` operations
//! in the same order (no fused multiply-add), so both give bit-identical results.

use crate::error::{Error, Result};

/// A provider-imposed refill schedule, active while `until > last`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drain {
    /// Refill rate (tokens/s) until `until`.
    rate: f64,
    until: f64,
    /// Tokens taken since the drain began, net of refunds and of refill lost to the
    /// cap: the level at `until` will be `burst - debt`.
    debt: f64,
}

/// Token bucket with an injected clock. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    /// Time of the last settlement; refill is computed from here.
    last: f64,
    /// Active drain schedule; invariant: `until > last`.
    drain: Option<Drain>,
}

/// The refilled state at some time, computed without mutating the bucket.
#[derive(Debug, Clone, Copy)]
struct Settled {
    tokens: f64,
    last: f64,
    drain: Option<Drain>,
}

fn check_now(now: f64) -> Result<()> {
    if now.is_finite() {
        Ok(())
    } else {
        Err(Error::Value(format!("now must be finite, got {now:?}")))
    }
}

fn check_rate(rate: f64) -> Result<()> {
    if rate.is_finite() && rate >= 0.0 {
        Ok(())
    } else {
        Err(Error::Value(format!(
            "rate must be finite and >= 0, got {rate:?}"
        )))
    }
}

fn check_burst(burst: f64) -> Result<()> {
    if burst.is_finite() && burst > 0.0 {
        Ok(())
    } else {
        Err(Error::Value(format!(
            "burst must be finite and > 0, got {burst:?}"
        )))
    }
}

/// `x` capped at `cap`, written as a comparison so Python's twin matches exactly.
#[inline]
fn cap(x: f64, cap: f64) -> f64 {
    if x < cap {
        x
    } else {
        cap
    }
}

/// Distance from `|x|` to the next larger `f64` (Python's `math.ulp`), for finite `x`.
fn ulp(x: f64) -> f64 {
    let x = x.abs();
    let up = f64::from_bits(x.to_bits() + 1);
    if up.is_infinite() {
        x - f64::from_bits(x.to_bits() - 1)
    } else {
        up - x
    }
}

impl TokenBucket {
    /// A full bucket refilling `rate` tokens per second up to `burst`, settled at `now`.
    ///
    /// Errors with [`Error::Value`] unless `rate` is finite and `>= 0`, `burst` is
    /// finite and `> 0`, and `now` is finite.
    pub fn new(rate: f64, burst: f64, now: f64) -> Result<Self> {
        check_rate(rate)?;
        check_burst(burst)?;
        check_now(now)?;
        Ok(Self {
            rate,
            burst,
            tokens: burst,
            last: now,
            drain: None,
        })
    }

    /// The configured refill rate (tokens per second).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The capacity.
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// The state refilled up to `now` (no change if `now` is not after the last settlement).
    fn settled(&self, now: f64) -> Settled {
        let mut s = Settled {
            tokens: self.tokens,
            last: self.last,
            drain: self.drain,
        };
        if now <= self.last {
            return s;
        }
        s.last = now;
        let mut from = self.last;
        if let Some(mut d) = self.drain {
            // The level on the drain line, never below the stored level: the stored
            // level can sit an ulp above the line, and refill must be monotone in time.
            let line = if now < d.until {
                self.burst - d.debt - (d.until - now) * d.rate
            } else {
                self.burst - d.debt
            };
            if line >= self.burst {
                // Refill beyond the cap is lost; re-anchor so the line is at the cap now.
                d.debt = if now < d.until {
                    -((d.until - now) * d.rate)
                } else {
                    0.0
                };
                s.tokens = self.burst;
            } else if line > s.tokens {
                s.tokens = line;
            }
            if now < d.until {
                s.drain = Some(d);
                return s;
            }
            from = d.until;
            s.drain = None;
        }
        // A zero rate is skipped rather than multiplied so that an overflowing elapsed
        // time can never produce inf * 0 = NaN.
        if self.rate > 0.0 {
            s.tokens = cap(s.tokens + (now - from) * self.rate, self.burst);
        }
        s
    }

    fn settle(&mut self, now: f64) {
        let s = self.settled(now);
        self.tokens = s.tokens;
        self.last = s.last;
        self.drain = s.drain;
    }

    /// Seconds from `self.last` until `tokens` are available, from the settled state
    /// (`self.tokens < tokens`). Analytic; may be a few ulps short (see `try_acquire`).
    fn wait_for(&self, tokens: f64) -> f64 {
        let mut level = self.tokens;
        let mut offset = 0.0;
        if let Some(d) = self.drain {
            let span = d.until - self.last;
            let reach = self.burst - d.debt;
            if reach >= tokens {
                if d.rate > 0.0 {
                    // On the line: burst - debt - (until - t) * rate >= tokens.
                    let wait = span - (reach - tokens) / d.rate;
                    return if wait > 0.0 { wait } else { 0.0 };
                }
                // A flat line already at `reach`: the stored level is a rounding hair
                // below it and any later instant suffices (the caller nudges from 0).
                return 0.0;
            }
            if reach > level {
                level = reach;
            }
            offset = span;
        }
        if self.rate > 0.0 {
            offset + (tokens - level) / self.rate
        } else {
            f64::INFINITY
        }
    }

    /// Take `tokens` if available and return `0.0`; otherwise take nothing and return
    /// the seconds to wait until they will be (`inf` if they never will at the current
    /// rates). A call at `now + wait` or later then succeeds, barring other calls between.
    ///
    /// Errors with [`Error::Value`] if `tokens` is negative, above `burst` (it could
    /// never be granted) or not finite, or `now` is not finite.
    pub fn try_acquire(&mut self, tokens: f64, now: f64) -> Result<f64> {
        if !(tokens.is_finite() && tokens >= 0.0 && tokens <= self.burst) {
            return Err(Error::Value(format!(
                "tokens must be finite and between 0 and burst ({:?}), got {tokens:?}",
                self.burst
            )));
        }
        check_now(now)?;
        self.settle(now);
        if self.tokens >= tokens {
            self.tokens -= tokens;
            if let Some(d) = self.drain.as_mut() {
                d.debt += tokens;
            }
            return Ok(0.0);
        }
        // `self.last` is `now` unless `now` was stale; measure the wait from `now`,
        // which is what the caller will add it to.
        let mut wait = self.wait_for(tokens) + (self.last - now);
        // Rounding in the division and in the caller's `now + wait` can leave the level
        // a hair short of `tokens` at that instant. Step up (doubling, so this ends in a
        // few iterations) until the exact sum the caller will compute suffices. This
        // also guarantees a denial never returns 0.0.
        if wait.is_finite() {
            let mut step = ulp(if now.abs() > wait { now.abs() } else { wait });
            while wait.is_finite() && self.settled(now + wait).tokens < tokens {
                wait += step;
                step *= 2.0;
            }
        }
        Ok(wait)
    }

    /// Change the refill rate (and, if given, the burst) from `now` on. The refill up to
    /// `now` is settled at the old rate first; a lower burst caps the current tokens. An
    /// active [`drain`](Self::drain) schedule keeps its rate until its `reset_at`.
    pub fn set_rate(&mut self, rate: f64, now: f64, burst: Option<f64>) -> Result<()> {
        check_rate(rate)?;
        if let Some(b) = burst {
            check_burst(b)?;
        }
        check_now(now)?;
        self.settle(now);
        self.rate = rate;
        if let Some(b) = burst {
            if let Some(d) = self.drain.as_mut() {
                // Keep the drain line where it is: the level it reaches at `reset_at`
                // does not jump with the burst (the new cap still applies to it).
                d.debt += b - self.burst;
            }
            self.burst = b;
            self.tokens = cap(self.tokens, b);
        }
        Ok(())
    }

    /// Adopt the provider's view: `remaining` tokens (clamped to `0..=burst`) now, and
    /// full at `reset_at`. Until `reset_at` the refill rate is
    /// `(burst - remaining) / (reset_at - now)`; after it, the configured rate. If
    /// `reset_at <= now` the tokens are set and the configured rate applies. A `now`
    /// earlier than the last settlement is taken as the last settlement time.
    pub fn drain(&mut self, remaining: f64, reset_at: f64, now: f64) -> Result<()> {
        if !remaining.is_finite() {
            return Err(Error::Value(format!(
                "remaining must be finite, got {remaining:?}"
            )));
        }
        if !reset_at.is_finite() {
            return Err(Error::Value(format!(
                "reset_at must be finite, got {reset_at:?}"
            )));
        }
        check_now(now)?;
        self.settle(now);
        self.tokens = if remaining < 0.0 {
            0.0
        } else {
            cap(remaining, self.burst)
        };
        self.drain = if reset_at > self.last {
            let rate = (self.burst - self.tokens) / (reset_at - self.last);
            Some(Drain {
                rate,
                until: reset_at,
                debt: 0.0,
            })
        } else {
            None
        };
        Ok(())
    }

    /// Give back `tokens` (an over-estimate corrected from the usage), capped at burst.
    ///
    /// Errors with [`Error::Value`] if `tokens` is negative or not finite.
    pub fn refund(&mut self, tokens: f64, now: f64) -> Result<()> {
        if !(tokens.is_finite() && tokens >= 0.0) {
            return Err(Error::Value(format!(
                "tokens must be finite and >= 0, got {tokens:?}"
            )));
        }
        check_now(now)?;
        self.settle(now);
        let before = self.tokens;
        self.tokens = cap(before + tokens, self.burst);
        if let Some(d) = self.drain.as_mut() {
            d.debt -= self.tokens - before;
        }
        Ok(())
    }

    /// The tokens available at `now`, without taking any (and without settling).
    pub fn available(&self, now: f64) -> Result<f64> {
        check_now(now)?;
        Ok(self.settled(now).tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket::new(rate, burst, 0.0).unwrap()
    }

    #[test]
    fn starts_full_and_grants_burst() {
        let mut b = bucket(2.0, 10.0);
        assert_eq!(b.available(0.0).unwrap(), 10.0);
        assert_eq!(b.try_acquire(10.0, 0.0).unwrap(), 0.0);
        assert_eq!(b.available(0.0).unwrap(), 0.0);
    }

    #[test]
    fn exact_wait_then_success() {
        let mut b = bucket(2.0, 10.0);
        b.try_acquire(10.0, 0.0).unwrap();
        assert_eq!(b.try_acquire(4.0, 0.0).unwrap(), 2.0);
        assert_eq!(b.try_acquire(4.0, 1.0).unwrap(), 1.0);
        assert_eq!(b.try_acquire(4.0, 2.0).unwrap(), 0.0);
        assert_eq!(b.available(2.0).unwrap(), 0.0);
    }

    #[test]
    fn refill_is_capped() {
        let mut b = bucket(2.0, 10.0);
        b.try_acquire(6.0, 0.0).unwrap();
        assert_eq!(b.available(1.0).unwrap(), 6.0);
        assert_eq!(b.available(1000.0).unwrap(), 10.0);
    }

    #[test]
    fn stale_now_is_no_elapsed_time() {
        let mut b = bucket(1.0, 10.0);
        b.try_acquire(10.0, 5.0).unwrap();
        assert_eq!(b.available(3.0).unwrap(), 0.0);
        // Measured from the caller's (stale) now: 2 s to catch up plus 1 s to refill.
        assert_eq!(b.try_acquire(1.0, 3.0).unwrap(), 3.0);
        assert_eq!(b.available(6.0).unwrap(), 1.0);
    }

    #[test]
    fn zero_rate_never_refills() {
        let mut b = bucket(0.0, 3.0);
        assert_eq!(b.try_acquire(3.0, 0.0).unwrap(), 0.0);
        assert_eq!(b.try_acquire(1.0, 1e9).unwrap(), f64::INFINITY);
    }

    #[test]
    fn set_rate_settles_at_old_rate() {
        let mut b = bucket(1.0, 10.0);
        b.try_acquire(10.0, 0.0).unwrap();
        b.set_rate(3.0, 2.0, None).unwrap();
        assert_eq!(b.available(2.0).unwrap(), 2.0);
        assert_eq!(b.available(3.0).unwrap(), 5.0);
        b.set_rate(1.0, 3.0, Some(4.0)).unwrap();
        assert_eq!(b.burst(), 4.0);
        assert_eq!(b.available(3.0).unwrap(), 4.0);
    }

    #[test]
    fn drain_refills_to_full_at_reset_then_configured_rate() {
        let mut b = bucket(1.0, 10.0);
        b.drain(2.0, 4.0, 0.0).unwrap();
        assert_eq!(b.available(0.0).unwrap(), 2.0);
        assert_eq!(b.available(1.0).unwrap(), 4.0);
        assert_eq!(b.available(4.0).unwrap(), 10.0);
        b.try_acquire(10.0, 4.0).unwrap();
        assert_eq!(b.available(5.0).unwrap(), 1.0);
    }

    #[test]
    fn drain_is_full_exactly_at_reset_for_inexact_values() {
        // With a plain fixed-rate refill, the last two end an ulp short of full.
        for &(remaining, reset_at, now) in
            &[(1.0, 0.7, 0.1), (4.26, 92.612, 5.61), (0.21, 16.445, 1.79)]
        {
            let mut b = TokenBucket::new(0.5, 10.0, 0.0).unwrap();
            b.drain(remaining, reset_at, now).unwrap();
            assert_eq!(b.available(now).unwrap(), remaining);
            // Settling on the way must not disturb the end point.
            b.available((now + reset_at) / 2.0).unwrap();
            b.try_acquire(10.0, (now + reset_at) / 2.0).unwrap();
            assert_eq!(b.available(reset_at).unwrap(), 10.0);
            assert_eq!(b.try_acquire(10.0, reset_at).unwrap(), 0.0);
        }
    }

    #[test]
    fn takes_during_drain_carry_to_reset() {
        let mut b = bucket(1.0, 10.0);
        b.drain(2.0, 4.0, 0.0).unwrap();
        assert_eq!(b.try_acquire(3.0, 1.0).unwrap(), 0.0); // 4 - 3 = 1 left
        assert_eq!(b.available(2.0).unwrap(), 3.0);
        b.refund(1.0, 2.0).unwrap();
        assert_eq!(b.available(4.0).unwrap(), 8.0);
        assert_eq!(b.available(5.0).unwrap(), 9.0);
    }

    #[test]
    fn drain_refill_lost_to_the_cap_stays_lost() {
        let mut b = bucket(1.0, 10.0);
        b.drain(8.0, 4.0, 0.0).unwrap(); // 0.5/s until t=4
        b.refund(5.0, 0.0).unwrap(); // capped at 10
        assert_eq!(b.available(2.0).unwrap(), 10.0);
        b.try_acquire(6.0, 2.0).unwrap(); // 4 left, 0.5/s for 2 s
        assert_eq!(b.available(4.0).unwrap(), 5.0);
        assert_eq!(b.available(6.0).unwrap(), 7.0);
    }

    #[test]
    fn burst_change_during_drain_keeps_the_line() {
        let mut b = bucket(1.0, 10.0);
        b.drain(2.0, 4.0, 0.0).unwrap(); // 2/s until t=4
        b.set_rate(1.0, 1.0, Some(20.0)).unwrap();
        assert_eq!(b.available(1.0).unwrap(), 4.0);
        assert_eq!(b.available(4.0).unwrap(), 10.0);
        assert_eq!(b.available(5.0).unwrap(), 11.0);
        b.set_rate(1.0, 5.0, Some(3.0)).unwrap();
        assert_eq!(b.available(5.0).unwrap(), 3.0);
    }

    #[test]
    fn drain_wait_spans_reset() {
        let mut b = bucket(1.0, 10.0);
        b.drain(0.0, 5.0, 0.0).unwrap(); // 2 tokens/s until t=5
        b.try_acquire(8.0, 4.0).unwrap(); // 8 - 8 = 0 left at t=4
                                          // 2 tokens by t=5 at 2/s, then 3 more at 1/s.
        assert_eq!(b.try_acquire(5.0, 4.0).unwrap(), 4.0);
        assert_eq!(b.available(8.0).unwrap(), 5.0);
    }

    #[test]
    fn drain_in_the_past_keeps_configured_rate() {
        let mut b = bucket(1.0, 10.0);
        b.drain(3.0, -1.0, 0.0).unwrap();
        assert_eq!(b.available(2.0).unwrap(), 5.0);
        b.drain(-5.0, 0.0, 2.0).unwrap();
        assert_eq!(b.available(2.0).unwrap(), 0.0);
        b.drain(50.0, 0.0, 2.0).unwrap();
        assert_eq!(b.available(2.0).unwrap(), 10.0);
    }

    #[test]
    fn refund_is_capped() {
        let mut b = bucket(1.0, 10.0);
        b.try_acquire(4.0, 0.0).unwrap();
        b.refund(3.0, 0.0).unwrap();
        assert_eq!(b.available(0.0).unwrap(), 9.0);
        b.refund(3.0, 0.0).unwrap();
        assert_eq!(b.available(0.0).unwrap(), 10.0);
    }

    #[test]
    fn wait_is_sufficient_under_rounding() {
        // 1/3 and 0.1 are inexact; the returned wait must still work at now + wait.
        let mut b = bucket(3.0, 1.0);
        b.try_acquire(1.0, 0.1).unwrap();
        let wait = b.try_acquire(0.7, 0.1).unwrap();
        assert!(wait > 0.0);
        assert_eq!(b.try_acquire(0.7, 0.1 + wait).unwrap(), 0.0);
    }

    #[test]
    fn denial_never_returns_zero() {
        let mut b = TokenBucket::new(1e300, 1.0, 1e6).unwrap();
        b.try_acquire(1.0, 1e6).unwrap();
        let wait = b.try_acquire(1e-300, 1e6).unwrap();
        assert!(wait > 0.0);
        assert_eq!(b.try_acquire(1e-300, 1e6 + wait).unwrap(), 0.0);
    }

    #[test]
    fn invalid_arguments() {
        assert!(TokenBucket::new(-1.0, 1.0, 0.0).is_err());
        assert!(TokenBucket::new(f64::NAN, 1.0, 0.0).is_err());
        assert!(TokenBucket::new(f64::INFINITY, 1.0, 0.0).is_err());
        assert!(TokenBucket::new(1.0, 0.0, 0.0).is_err());
        assert!(TokenBucket::new(1.0, f64::INFINITY, 0.0).is_err());
        assert!(TokenBucket::new(1.0, 1.0, f64::NAN).is_err());
        let mut b = bucket(1.0, 2.0);
        assert!(b.try_acquire(3.0, 0.0).is_err());
        assert!(b.try_acquire(-1.0, 0.0).is_err());
        assert!(b.try_acquire(f64::NAN, 0.0).is_err());
        assert!(b.refund(-1.0, 0.0).is_err());
        assert!(b.set_rate(1.0, 0.0, Some(-1.0)).is_err());
        assert!(b.drain(f64::NAN, 1.0, 0.0).is_err());
        assert!(b.drain(1.0, f64::INFINITY, 0.0).is_err());
        // Failed calls change nothing.
        assert_eq!(b, bucket(1.0, 2.0));
    }

    #[test]
    fn ulp_matches_definition() {
        assert_eq!(ulp(1.0), f64::EPSILON);
        assert_eq!(ulp(-1.0), f64::EPSILON);
        assert_eq!(ulp(0.0), f64::from_bits(1));
        assert_eq!(
            ulp(f64::MAX),
            f64::MAX - f64::from_bits(f64::MAX.to_bits() - 1)
        );
    }
}

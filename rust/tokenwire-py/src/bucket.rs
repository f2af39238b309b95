//! `TokenBucket`: the Python face of `tokenwire_core::bucket::TokenBucket`.
//!
//! Conversion only; the state machine and its validation live in the core.

use pyo3::prelude::*;
use pyo3::types::PyFloat;
use tokenwire_core::bucket::TokenBucket as CoreBucket;

use crate::errors::CoreError;

/// A token bucket as a pure state machine over an injected clock (seconds, float).
///
/// `rate` tokens per second refill up to `burst`; the bucket starts full. It never
/// reads a clock or sleeps: the caller passes `now` and does the waiting.
#[pyclass(module = "tokenwire._native")]
pub struct TokenBucket {
    inner: CoreBucket,
}

#[pymethods]
impl TokenBucket {
    #[new]
    #[pyo3(signature = (rate, burst, now = 0.0))]
    fn new(rate: f64, burst: f64, now: f64) -> Result<Self, CoreError> {
        Ok(Self {
            inner: CoreBucket::new(rate, burst, now)?,
        })
    }

    /// Take `tokens` if available and return 0.0; otherwise take nothing and return the
    /// seconds to wait until they will be (`inf` if never at the current rates).
    fn try_acquire(&mut self, tokens: f64, now: f64) -> Result<f64, CoreError> {
        Ok(self.inner.try_acquire(tokens, now)?)
    }

    /// Change the refill rate (and optionally the burst) from `now` on.
    #[pyo3(signature = (rate, now, burst = None))]
    fn set_rate(&mut self, rate: f64, now: f64, burst: Option<f64>) -> Result<(), CoreError> {
        Ok(self.inner.set_rate(rate, now, burst)?)
    }

    /// Adopt the provider's view: `remaining` tokens now, full again at `reset_at`.
    fn drain(&mut self, remaining: f64, reset_at: f64, now: f64) -> Result<(), CoreError> {
        Ok(self.inner.drain(remaining, reset_at, now)?)
    }

    /// Give back tokens (an over-estimate corrected from the usage), capped at burst.
    fn refund(&mut self, tokens: f64, now: f64) -> Result<(), CoreError> {
        Ok(self.inner.refund(tokens, now)?)
    }

    /// The tokens available at `now`, without taking any.
    fn available(&self, now: f64) -> Result<f64, CoreError> {
        Ok(self.inner.available(now)?)
    }

    /// The configured refill rate (tokens per second).
    #[getter]
    fn rate(&self) -> f64 {
        self.inner.rate()
    }

    /// The capacity.
    #[getter]
    fn burst(&self) -> f64 {
        self.inner.burst()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // Python's float repr, so both backends print the same text.
        Ok(format!(
            "TokenBucket(rate={}, burst={})",
            PyFloat::new(py, self.inner.rate()).repr()?,
            PyFloat::new(py, self.inner.burst()).repr()?
        ))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TokenBucket>()
}

//! The core's error type. The binding maps each variant once to the exception
//! classes of `tokenwire.errors`; provider errors carry the provider's own type
//! string so the Python side owns the one mapping from type to exception class.

use std::fmt;

/// Errors raised by the core state machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Malformed or oversized stream framing. `offset` is the absolute byte offset
    /// in the stream (bytes fed so far) where the problem was detected.
    StreamDecode { message: String, offset: u64 },
    /// Invalid JSON fed to the incremental parser; `offset` counts characters fed.
    JsonStream { message: String, offset: u64 },
    /// An error reported by the provider inside the stream (`{"error": …}`,
    /// Anthropic `event: error`, Responses `response.failed`, …).
    Provider {
        /// The provider's message, verbatim.
        message: String,
        /// The provider's error type (`overloaded_error`, `rate_limit_exceeded`,
        /// `RESOURCE_EXHAUSTED`, …) when it gives one.
        error_type: Option<String>,
        /// The provider's error code (string form) when it gives one.
        code: Option<String>,
        /// A numeric HTTP-like status carried in the payload (Gemini's `code`).
        status: Option<u16>,
    },
    /// A caller error: unknown dialect, bad argument.
    Value(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::StreamDecode { message, offset } => write!(f, "{message} (at byte {offset})"),
            Error::JsonStream { message, offset } => write!(f, "{message} (at offset {offset})"),
            Error::Provider { message, .. } => f.write_str(message),
            Error::Value(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

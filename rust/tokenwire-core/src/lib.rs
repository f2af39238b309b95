//! tokenwire-core: the byte-level streaming core of tokenwire, with no Python in it.
//!
//! Everything here is a synchronous state machine driven chunk by chunk from the
//! Python layer (which owns the event loop). The `tokenwire-py` crate only converts
//! these types to Python objects.
//!
//! Modules:
//! - [`sse`]: WHATWG event-stream decoder (zero allocation once its buffers are warm).
//! - [`json_stream`]: incremental JSON parser for tool-call arguments.
//! - [`jscan`]: a zero-copy JSON field scanner used by the dialects.
//! - [`dialects`] + [`processor`]: provider stream dialects turning raw bytes into [`StreamToken`]s.
//! - [`eventstream`]: AWS event-stream framing (Bedrock), CRC-checked, zero-copy.
//! - [`bucket`]: token-bucket state machine with an injected clock.

pub mod bucket;
pub mod dialects;
pub mod error;
pub mod eventstream;
pub mod jscan;
pub mod json_stream;
pub mod processor;
pub mod sse;
pub mod stream_token;
pub mod tokens;

pub use error::{Error, Result};
pub use stream_token::{StreamToken, Usage};

//! `tokenwire._native`: PyO3 bindings of `tokenwire-core`.
//!
//! This crate only converts between core types and Python objects and registers
//! classes; all parsing logic lives in `tokenwire-core`. No tokio runtime is started:
//! native objects are synchronous state machines driven from Python's event loop.

use pyo3::prelude::*;

mod bucket;
mod count;
mod errors;
mod eventstream;
mod json_stream;
mod processor;
mod sse;
mod tokens;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    tokens::register(m)?;
    sse::register(m)?;
    json_stream::register(m)?;
    processor::register(m)?;
    eventstream::register(m)?;
    bucket::register(m)?;
    count::register(m)?;
    Ok(())
}

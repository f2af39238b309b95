//! `StreamProcessor` and `DIALECTS`: the Python face of `tokenwire_core::processor`.
//!
//! Conversion only: framing, dialect logic and error deferral all live in the core;
//! this wrapper turns chunks into `&[u8]`, core tokens into token objects and core
//! errors into `tokenwire.errors` exceptions.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use tokenwire_core::processor::{
    Envelope, ProcessorOptions, StreamProcessor as CoreProcessor, DIALECTS,
};
use tokenwire_core::sse::DEFAULT_MAX_EVENT_BYTES;
use tokenwire_core::StreamToken;

use crate::errors::CoreError;
use crate::tokens::tokens_to_list;

/// Raw provider stream bytes in, normalized tokens out, in one pass.
#[pyclass(module = "tokenwire._native")]
pub struct StreamProcessor {
    inner: CoreProcessor,
    /// Reused token buffer (drained into each returned list).
    out: Vec<StreamToken>,
}

/// The bytes of a `bytes`, `bytearray` or other buffer object; `str` is refused.
fn chunk_bytes(chunk: &Bound<'_, PyAny>) -> PyResult<PyBackedBytes> {
    if let Ok(bytes) = chunk.cast::<PyBytes>() {
        return Ok(PyBackedBytes::from(bytes.clone()));
    }
    if let Ok(array) = chunk.cast::<PyByteArray>() {
        // Copied: the bytearray could be resized while we hold its buffer.
        return Ok(PyBackedBytes::from(array.clone()));
    }
    if chunk.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "StreamProcessor.feed() expects bytes, not str",
        ));
    }
    // memoryview and other buffers (the limited API has no buffer access on 3.9).
    let bytes = chunk.py().get_type::<PyBytes>().call1((chunk,))?;
    Ok(PyBackedBytes::from(bytes.cast_into::<PyBytes>()?))
}

#[pymethods]
impl StreamProcessor {
    #[new]
    #[pyo3(signature = (dialect, *, coalesce = true, max_event_bytes = DEFAULT_MAX_EVENT_BYTES as i128, think_tags = false, invoke_model = None, envelope = None))]
    #[pyo3(
        text_signature = "(dialect, *, coalesce=True, max_event_bytes=16777216, think_tags=False, invoke_model=None, envelope=None)"
    )]
    fn new(
        dialect: &Bound<'_, PyAny>,
        // Exactly `bool` (a `TypeError` otherwise), as the pure twin checks.
        coalesce: bool,
        max_event_bytes: i128,
        think_tags: bool,
        invoke_model: Option<&str>,
        envelope: Option<&str>,
    ) -> PyResult<Self> {
        // The message quotes the argument with Python's own repr() (exactly as the pure
        // twin does); a non-str dialect is simply an unknown one.
        let name = dialect
            .cast::<PyString>()
            .ok()
            .and_then(|s| s.to_cow().ok());
        let Some(name) = name.filter(|n| DIALECTS.contains(&n.as_ref())) else {
            return Err(PyValueError::new_err(format!(
                "unknown dialect {}; expected one of: {}",
                dialect.repr()?,
                DIALECTS.join(", ")
            )));
        };
        if max_event_bytes < 1 {
            return Err(PyValueError::new_err(format!(
                "max_event_bytes must be a positive integer, got {max_event_bytes}"
            )));
        }
        // A bound above the address space is no bound at all.
        let max_event_bytes = usize::try_from(max_event_bytes).unwrap_or(usize::MAX);
        let envelope = Envelope::from_option(envelope).map_err(CoreError::from)?;
        let inner = CoreProcessor::with_invoke_model(
            &name,
            ProcessorOptions {
                coalesce,
                max_event_bytes,
                think_tags,
                envelope,
            },
            invoke_model,
        )
        .map_err(CoreError::from)?;
        Ok(StreamProcessor {
            inner,
            out: Vec::new(),
        })
    }

    /// The dialect name.
    #[getter]
    fn dialect(&self) -> &'static str {
        self.inner.dialect()
    }

    /// True once the stream's terminal marker has been seen.
    #[getter]
    fn done(&self) -> bool {
        self.inner.done()
    }

    /// Decode `chunk` and return the tokens it completed.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let bytes = chunk_bytes(chunk)?;
        self.out.clear();
        self.inner
            .feed(&bytes, &mut self.out)
            .map_err(CoreError::from)?;
        tokens_to_list(py, &mut self.out)
    }

    /// End of input: the remaining tokens (e.g. a pending `Usage`).
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.out.clear();
        self.inner.finish(&mut self.out).map_err(CoreError::from)?;
        tokens_to_list(py, &mut self.out)
    }

    fn __repr__(&self) -> String {
        format!(
            "StreamProcessor('{}', done={})",
            self.inner.dialect(),
            if self.inner.done() { "True" } else { "False" }
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DIALECTS", PyTuple::new(m.py(), DIALECTS)?)?;
    m.add_class::<StreamProcessor>()?;
    Ok(())
}

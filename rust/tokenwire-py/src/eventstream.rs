//! `EventStreamDecoder`: the Python face of `tokenwire_core::eventstream`.
//!
//! Conversion only: messages become `(headers, payload)` tuples, header values the
//! Python types botocore's parser uses (bool, int, bytes, str).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use tokenwire_core::eventstream::{EventStreamDecoder as CoreDecoder, HeaderValue};
use tokenwire_core::sse::DEFAULT_MAX_EVENT_BYTES;

use crate::errors::CoreError;

/// Incremental AWS event-stream decoder (CRC-checked).
#[pyclass(module = "tokenwire._native")]
pub struct EventStreamDecoder {
    inner: CoreDecoder,
}

fn header_value<'py>(py: Python<'py>, v: HeaderValue<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        HeaderValue::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        HeaderValue::Byte(n) => n.into_pyobject(py)?.into_any(),
        HeaderValue::Short(n) => n.into_pyobject(py)?.into_any(),
        HeaderValue::Integer(n) => n.into_pyobject(py)?.into_any(),
        HeaderValue::Long(n) | HeaderValue::Timestamp(n) => n.into_pyobject(py)?.into_any(),
        HeaderValue::Bytes(b) => PyBytes::new(py, b).into_any(),
        HeaderValue::Uuid(b) => PyBytes::new(py, &b).into_any(),
        HeaderValue::String(s) => s.into_pyobject(py)?.into_any(),
    })
}

#[pymethods]
impl EventStreamDecoder {
    #[new]
    #[pyo3(signature = (max_message_bytes = DEFAULT_MAX_EVENT_BYTES as i128))]
    fn new(max_message_bytes: i128) -> PyResult<Self> {
        if max_message_bytes < 1 {
            return Err(PyValueError::new_err(format!(
                "max_message_bytes must be a positive integer, got {max_message_bytes}"
            )));
        }
        let max = usize::try_from(max_message_bytes).unwrap_or(usize::MAX);
        Ok(EventStreamDecoder {
            inner: CoreDecoder::new(max),
        })
    }

    /// Decode `chunk`; returns the `(headers, payload)` of every message it completed.
    fn feed<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        let mut conversion: PyResult<()> = Ok(());
        let result = self.inner.feed(chunk, |m| {
            let convert = || -> PyResult<()> {
                let headers = PyDict::new(py);
                for h in m.headers().flatten() {
                    headers.set_item(h.name, header_value(py, h.value)?)?;
                }
                let item = PyTuple::new(
                    py,
                    [headers.into_any(), PyBytes::new(py, m.payload).into_any()],
                )?;
                out.append(item)
            };
            if conversion.is_ok() {
                conversion = convert();
            }
            Ok(())
        });
        conversion?;
        result.map_err(CoreError::from)?;
        Ok(out)
    }

    /// End of input: raises `StreamDecodeError` if a partial message is buffered.
    fn finish(&self) -> Result<(), CoreError> {
        Ok(self.inner.finish()?)
    }

    /// True while a partial message is buffered.
    #[getter]
    fn pending(&self) -> bool {
        self.inner.has_pending()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EventStreamDecoder>()?;
    Ok(())
}

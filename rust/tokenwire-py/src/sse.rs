//! `ServerSentEvent` and `SSEDecoder`: Python faces of `tokenwire_core::sse`.
//!
//! Events keep their fields as Python `str` objects, built once when the event is
//! dispatched (the common `"message"` type is an interned string), so attribute access
//! costs nothing and no intermediate Rust `String` is made.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};
use tokenwire_core::sse::{SseDecoder, SseEvent, DEFAULT_MAX_EVENT_BYTES};
use tokenwire_core::Error;

use crate::errors::CoreError;

/// One dispatched server-sent event.
#[pyclass(frozen, module = "tokenwire._native")]
pub struct ServerSentEvent {
    event: Py<PyString>,
    data: Py<PyString>,
    id: Option<Py<PyString>>,
    retry: Option<u64>,
}

impl ServerSentEvent {
    fn from_core(py: Python<'_>, ev: SseEvent<'_>) -> Self {
        let event = if ev.event == "message" {
            intern!(py, "message").clone().unbind()
        } else {
            PyString::new(py, ev.event).unbind()
        };
        ServerSentEvent {
            event,
            data: PyString::new(py, ev.data).unbind(),
            id: ev.id.map(|id| PyString::new(py, id).unbind()),
            retry: ev.retry,
        }
    }

    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [
                self.event.bind(py).clone().into_any(),
                self.data.bind(py).clone().into_any(),
                self.id
                    .as_ref()
                    .map(|id| id.bind(py).clone())
                    .into_bound_py_any(py)?,
                self.retry.into_bound_py_any(py)?,
            ],
        )
    }
}

#[pymethods]
impl ServerSentEvent {
    #[new]
    #[pyo3(signature = (event = String::from("message"), data = String::new(), id = None, retry = None))]
    #[pyo3(text_signature = "(event='message', data='', id=None, retry=None)")]
    fn new(
        py: Python<'_>,
        event: String,
        data: String,
        id: Option<String>,
        retry: Option<u64>,
    ) -> Self {
        ServerSentEvent {
            event: PyString::new(py, &event).unbind(),
            data: PyString::new(py, &data).unbind(),
            id: id.map(|id| PyString::new(py, &id).unbind()),
            retry,
        }
    }

    /// The event type (`"message"` when the block had no `event` field).
    #[getter]
    fn event(&self, py: Python<'_>) -> Py<PyString> {
        self.event.clone_ref(py)
    }

    /// The data lines joined with `"\n"`.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyString> {
        self.data.clone_ref(py)
    }

    /// The last event ID in effect, or `None` until an `id` field has been seen.
    #[getter]
    fn id(&self, py: Python<'_>) -> Option<Py<PyString>> {
        self.id.as_ref().map(|id| id.clone_ref(py))
    }

    /// The reconnection time (ms) set by this event's block, if any.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// `json.loads(self.data)`.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import(intern!(py, "json"))?
            .getattr(intern!(py, "loads"))?
            .call1((self.data.bind(py),))
    }

    fn __eq__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match other.cast::<ServerSentEvent>() {
            Ok(other) => self
                .fields(py)?
                .eq(other.get().fields(py)?)?
                .into_bound_py_any(py),
            Err(_) => Ok(py.NotImplemented().into_bound(py)),
        }
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.fields(py)?.hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let fields = self.fields(py)?;
        let mut reprs = Vec::with_capacity(4);
        for item in fields.iter() {
            reprs.push(item.repr()?.to_string());
        }
        Ok(format!(
            "ServerSentEvent(event={}, data={}, id={}, retry={})",
            reprs[0], reprs[1], reprs[2], reprs[3]
        ))
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        Ok((slf.get_type().into_any(), slf.get().fields(slf.py())?))
    }
}

/// WHATWG "parsing an event stream", incrementally, over byte chunks.
#[pyclass(module = "tokenwire._native")]
pub struct SSEDecoder {
    inner: SseDecoder,
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
            "SSEDecoder.feed() expects bytes, not str",
        ));
    }
    // memoryview and other buffers: `bytes(obj)` (the limited API has no buffer access on 3.9).
    let bytes = chunk.py().get_type::<PyBytes>().call1((chunk,))?;
    Ok(PyBackedBytes::from(bytes.cast_into::<PyBytes>()?))
}

#[pymethods]
impl SSEDecoder {
    #[new]
    #[pyo3(signature = (max_event_bytes = DEFAULT_MAX_EVENT_BYTES as i128))]
    #[pyo3(text_signature = "(max_event_bytes=16777216)")]
    fn new(max_event_bytes: i128) -> PyResult<Self> {
        if max_event_bytes < 1 {
            return Err(PyValueError::new_err(format!(
                "max_event_bytes must be a positive integer, got {max_event_bytes}"
            )));
        }
        // A bound above the address space is no bound at all.
        let max = usize::try_from(max_event_bytes).unwrap_or(usize::MAX);
        Ok(SSEDecoder {
            inner: SseDecoder::with_max_event_bytes(max),
        })
    }

    /// Decode `chunk` and return the events it completed.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let events = PyList::empty(py);
        self.feed_into(py, chunk, &events)?;
        Ok(events)
    }

    /// Decode `chunk`, appending the events it completes to `events`; the events
    /// completed before a `StreamDecodeError` are in `events` when it propagates.
    fn feed_into<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
        events: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        let events = events.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!(
                "SSEDecoder.feed_into() expects a list, not {}",
                events
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let bytes = chunk_bytes(chunk)?;
        let mut py_err: Option<PyErr> = None;
        let result = self.inner.feed(&bytes, |ev| {
            let appended = Bound::new(py, ServerSentEvent::from_core(py, ev))
                .and_then(|obj| events.append(obj));
            appended.map_err(|err| {
                py_err = Some(err);
                Error::Value(
                    "SSEDecoder failed earlier: a Python error occurred while building an event"
                        .into(),
                )
            })
        });
        if let Some(err) = py_err {
            return Err(err);
        }
        result.map_err(CoreError::from)?;
        Ok(())
    }

    /// Whether the stream stopped inside an event: a partial line or data fields no
    /// blank line has dispatched (an `event`/`id`/`retry` field alone does not count).
    #[getter]
    fn has_partial_event(&self) -> bool {
        self.inner.has_partial_event()
    }

    /// End of stream: an unterminated final event is discarded (the spec's rule), so this
    /// always returns `[]`; the per-stream state is reset (not `last_event_id`/`retry`).
    fn flush<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyList> {
        self.inner.flush();
        PyList::empty(py)
    }

    /// The last event ID buffer; `None` until an `id` field has been seen.
    #[getter]
    fn last_event_id(&self) -> Option<&str> {
        self.inner.last_event_id()
    }

    /// The reconnection time (ms) most recently set by a valid `retry` field.
    #[getter]
    fn retry(&self) -> Option<u64> {
        self.inner.retry()
    }

    /// Bytes fed since the stream started (construction or the last `flush()`).
    #[getter]
    fn bytes_fed(&self) -> u64 {
        self.inner.bytes_fed()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_MAX_EVENT_BYTES", DEFAULT_MAX_EVENT_BYTES)?;
    m.add_class::<ServerSentEvent>()?;
    m.add_class::<SSEDecoder>()?;
    Ok(())
}

//! The one mapping from core errors to the exception classes of `tokenwire.errors`.
//!
//! The orphan rule forbids `From<core::Error> for PyErr` here, so core errors pass
//! through the [`CoreError`] newtype: binding functions return `Result<T, CoreError>`
//! and `?` converts core results. Provider errors are built by
//! `tokenwire.errors.stream_error`, so native and pure raise identical exceptions.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use tokenwire_core::Error;

pub struct CoreError(pub Error);

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        CoreError(e)
    }
}

fn build(py: Python<'_>, e: Error) -> PyResult<PyErr> {
    let errors = py.import("tokenwire.errors")?;
    let err = match e {
        Error::StreamDecode { message, offset } => PyErr::from_value(
            errors
                .getattr("StreamDecodeError")?
                .call1((message, offset))?,
        ),
        Error::JsonStream { message, offset } => PyErr::from_value(
            errors
                .getattr("JSONStreamError")?
                .call1((message, offset))?,
        ),
        Error::Provider {
            message,
            error_type,
            code,
            status,
        } => {
            let args = PyTuple::new(
                py,
                [
                    message.into_pyobject(py)?.into_any(),
                    error_type.into_pyobject(py)?.into_any(),
                    code.into_pyobject(py)?.into_any(),
                    status.into_pyobject(py)?.into_any(),
                ],
            )?;
            PyErr::from_value(errors.getattr("stream_error")?.call1(args)?)
        }
        Error::Value(message) => PyValueError::new_err(message),
    };
    Ok(err)
}

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> Self {
        Python::attach(|py| build(py, e.0).unwrap_or_else(|import_err| import_err))
    }
}

//! `count_tokens` / `encode`: the Python face of `tokenwire_core::tokens`.
//!
//! Conversion only, plus the one thing the core leaves to its host: reading the
//! ranks file. It is package data next to this extension
//! (`tokenwire/data/<encoding>.tiktoken`), read on the first call for an encoding and
//! handed to the core, which keeps the built encoding for the life of the process.
//! Importing the module reads nothing.
//!
//! Text with lone surrogates (not valid UTF-8) is repaired as tiktoken repairs it:
//! a round trip through UTF-16 with `surrogatepass`/`replace`, which joins a
//! well-ordered surrogate pair into its code point and turns a lone surrogate into
//! U+FFFD. The BPE runs with the GIL released for long texts.

use std::borrow::Cow;
use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyUnicodeEncodeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyList, PyString, PyTuple};
use tokenwire_core::tokens::{self, Encoding};

use crate::errors::CoreError;

/// Texts at least this long (UTF-8 bytes) are encoded with the GIL released; below
/// it, releasing and re-taking the GIL costs more than other threads gain.
const DETACH_BYTES: usize = 4096;

/// The encoding named `name`, loading its ranks on first use.
fn load_encoding(py: Python<'_>, name: &str) -> PyResult<&'static Encoding> {
    if let Some(loaded) = tokens::loaded_encoding(name).map_err(CoreError)? {
        return Ok(loaded);
    }
    let file = tokens::ranks_file_name(name).map_err(CoreError)?;
    let module_file: PathBuf = py
        .import("tokenwire._native")?
        .getattr("__file__")?
        .extract()?;
    let path = module_file
        .parent()
        .unwrap_or(&module_file)
        .join("data")
        .join(file);
    let bytes = std::fs::read(&path).map_err(|e| {
        PyOSError::new_err(format!(
            "cannot read the {name} ranks file {}: {e}",
            path.display()
        ))
    })?;
    // The GIL is held while building, so concurrent first calls do not build twice.
    Ok(tokens::install_encoding(name, &bytes).map_err(CoreError)?)
}

/// `text` as UTF-8, with lone surrogates repaired as tiktoken does.
fn utf8(text: &Bound<'_, PyString>) -> PyResult<PyBackedStr> {
    match PyBackedStr::try_from(text.clone()) {
        Ok(s) => Ok(s),
        Err(err) if err.is_instance_of::<PyUnicodeEncodeError>(text.py()) => {
            let repaired = text
                .call_method1("encode", ("utf-16", "surrogatepass"))?
                .call_method1("decode", ("utf-16", "replace"))?
                .cast_into::<PyString>()?;
            PyBackedStr::try_from(repaired)
        }
        Err(err) => Err(err),
    }
}

fn run<T: Send>(py: Python<'_>, text: &str, f: impl FnOnce(&str) -> T + Send) -> T {
    if text.len() >= DETACH_BYTES {
        py.detach(|| f(text))
    } else {
        f(text)
    }
}

/// The number of tokens in `text` under `encoding` (special-token strings such as
/// `"<|endoftext|>"` count as plain text).
#[pyfunction]
#[pyo3(signature = (text, encoding = Cow::Borrowed(tokens::O200K_BASE)), text_signature = "(text, encoding='o200k_base')")]
fn count_tokens(
    py: Python<'_>,
    text: &Bound<'_, PyString>,
    encoding: Cow<'_, str>,
) -> PyResult<usize> {
    let enc = load_encoding(py, &encoding)?;
    let text = utf8(text)?;
    Ok(run(py, &text, |t| enc.count(t)).map_err(CoreError)?)
}

/// The token ids of `text` under `encoding` (tiktoken's `encode_ordinary`).
#[pyfunction]
#[pyo3(signature = (text, encoding = Cow::Borrowed(tokens::O200K_BASE)), text_signature = "(text, encoding='o200k_base')")]
fn encode<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyString>,
    encoding: Cow<'_, str>,
) -> PyResult<Bound<'py, PyList>> {
    let enc = load_encoding(py, &encoding)?;
    let text = utf8(text)?;
    let ids = run(py, &text, |t| enc.encode(t)).map_err(CoreError)?;
    PyList::new(py, ids)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add("ENCODINGS", PyTuple::new(m.py(), tokens::ENCODINGS)?)?;
    Ok(())
}

//! Native stream token classes (frozen, comparable, hashable, pattern-matchable)
//! and the conversion from core tokens.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};
use tokenwire_core::{StreamToken, Usage as CoreUsage};

/// Python's `repr` of a str: the pure twin formats with `{!r}`, and matching Python's
/// escaping rules (every non-printable code point per the Unicode database) by hand
/// would need its tables, so the interpreter does it.
fn str_repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_cow()?.into_owned())
}

fn opt_repr(py: Python<'_>, v: &Option<String>) -> PyResult<String> {
    match v {
        Some(s) => str_repr(py, s),
        None => Ok("None".to_string()),
    }
}

/// What `__reduce__` returns: the class and its constructor arguments.
type Reduced<'py, Args> = PyResult<(Bound<'py, PyAny>, Args)>;

macro_rules! text_token {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(frozen, eq, hash, module = "tokenwire._native")]
        #[derive(PartialEq, Eq, Hash)]
        pub struct $name {
            #[pyo3(get)]
            pub text: String,
        }

        #[pymethods]
        impl $name {
            #[new]
            fn new(text: String) -> Self {
                Self { text }
            }
            #[classattr]
            fn kind() -> &'static str {
                $kind
            }
            #[classattr]
            fn __match_args__() -> (&'static str,) {
                ("text",)
            }
            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                Ok(format!(
                    "{}(text={})",
                    stringify!($name),
                    str_repr(py, &self.text)?
                ))
            }
            fn __reduce__<'py>(slf: &Bound<'py, Self>) -> Reduced<'py, (String,)> {
                Ok((slf.get_type().into_any(), (slf.get().text.clone(),)))
            }
        }
    };
}

text_token!(TextDelta, "text", "A fragment of the answer text.");
text_token!(
    ReasoningDelta,
    "reasoning",
    "A fragment of the model's reasoning (thinking) text."
);

/// A fragment of a tool call: `id`/`name` on the first fragment, argument JSON text after.
#[pyclass(frozen, eq, hash, module = "tokenwire._native")]
#[derive(PartialEq, Eq, Hash)]
pub struct ToolCallDelta {
    #[pyo3(get)]
    pub index: u32,
    #[pyo3(get)]
    pub id: Option<String>,
    #[pyo3(get)]
    pub name: Option<String>,
    #[pyo3(get)]
    pub arguments: String,
}

#[pymethods]
impl ToolCallDelta {
    #[new]
    #[pyo3(signature = (index, id=None, name=None, arguments=String::new()),
           text_signature = "(index, id=None, name=None, arguments='')")]
    fn new(index: u32, id: Option<String>, name: Option<String>, arguments: String) -> Self {
        Self {
            index,
            id,
            name,
            arguments,
        }
    }
    #[classattr]
    fn kind() -> &'static str {
        "tool_call"
    }
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str, &'static str) {
        ("index", "id", "name", "arguments")
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ToolCallDelta(index={}, id={}, name={}, arguments={})",
            self.index,
            opt_repr(py, &self.id)?,
            opt_repr(py, &self.name)?,
            str_repr(py, &self.arguments)?
        ))
    }
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> Reduced<'py, (u32, Option<String>, Option<String>, String)> {
        let s = slf.get();
        Ok((
            slf.get_type().into_any(),
            (s.index, s.id.clone(), s.name.clone(), s.arguments.clone()),
        ))
    }
}

/// Token usage for the whole response (emitted once per stream), and the cost the
/// provider reported, when it reports one.
#[pyclass(frozen, module = "tokenwire._native")]
pub struct Usage {
    #[pyo3(get)]
    pub input_tokens: u64,
    #[pyo3(get)]
    pub output_tokens: u64,
    #[pyo3(get)]
    pub cache_read_tokens: u64,
    #[pyo3(get)]
    pub cache_write_tokens: u64,
    #[pyo3(get)]
    pub reasoning_tokens: u64,
    #[pyo3(get)]
    pub cost: Option<f64>,
}

impl Usage {
    fn counts(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
        )
    }
}

#[pymethods]
impl Usage {
    #[new]
    #[pyo3(signature = (input_tokens=0, output_tokens=0, cache_read_tokens=0, cache_write_tokens=0, reasoning_tokens=0, *, cost=None))]
    fn new(
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_write_tokens: u64,
        reasoning_tokens: u64,
        cost: Option<f64>,
    ) -> Self {
        Self {
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            reasoning_tokens,
            cost,
        }
    }
    #[classattr]
    fn kind() -> &'static str {
        "usage"
    }
    #[classattr]
    fn __match_args__() -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        )
    }
    /// Equal when every count and the cost are (`cost` compares as floats do: NaN
    /// never equals, `0.0 == -0.0`).
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(other) = other.cast::<Usage>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let equal = self.counts() == other.counts() && self.cost == other.cost;
        let result = match op {
            CompareOp::Eq => equal,
            CompareOp::Ne => !equal,
            _ => return Ok(py.NotImplemented()),
        };
        Ok(result.into_pyobject(py)?.to_owned().into_any().unbind())
    }
    fn __hash__(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.counts().hash(&mut hasher);
        // Equal costs hash alike: `0.0 == -0.0`, so both hash as `0.0`.
        self.cost
            .map(|c| if c == 0.0 { 0 } else { c.to_bits() })
            .hash(&mut hasher);
        hasher.finish()
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut out = format!(
            "Usage(input_tokens={}, output_tokens={}, cache_read_tokens={}, cache_write_tokens={}, reasoning_tokens={}",
            self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens, self.reasoning_tokens
        );
        if let Some(cost) = self.cost {
            // Python's float repr (shortest round-trip, `1e-05` style), as the pure twin prints.
            out.push_str(", cost=");
            out.push_str(&PyFloat::new(py, cost).repr()?.to_cow()?);
        }
        out.push(')');
        Ok(out)
    }
    /// The class and the counts; with a cost, the class with `cost` bound (it is
    /// keyword-only), so pickles of cost-less usages stay as they were.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> Reduced<'py, (u64, u64, u64, u64, u64)> {
        let py = slf.py();
        let s = slf.get();
        let cls = slf.get_type().into_any();
        let callable = match s.cost {
            None => cls,
            Some(cost) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("cost", cost)?;
                py.import("functools")?
                    .getattr("partial")?
                    .call((cls,), Some(&kwargs))?
            }
        };
        Ok((callable, s.counts()))
    }
}

/// A source the answer cites (web search, grounding, Perplexity citations).
#[pyclass(frozen, eq, hash, module = "tokenwire._native")]
#[derive(PartialEq, Eq, Hash)]
pub struct Citation {
    #[pyo3(get)]
    pub url: String,
    #[pyo3(get)]
    pub title: Option<String>,
}

#[pymethods]
impl Citation {
    #[new]
    #[pyo3(signature = (url, title=None))]
    fn new(url: String, title: Option<String>) -> Self {
        Self { url, title }
    }
    #[classattr]
    fn kind() -> &'static str {
        "citation"
    }
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("url", "title")
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Citation(url={}, title={})",
            str_repr(py, &self.url)?,
            opt_repr(py, &self.title)?
        ))
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> Reduced<'py, (String, Option<String>)> {
        let s = slf.get();
        Ok((slf.get_type().into_any(), (s.url.clone(), s.title.clone())))
    }
}

/// The provider's finish / stop reason, verbatim.
#[pyclass(frozen, eq, hash, module = "tokenwire._native")]
#[derive(PartialEq, Eq, Hash)]
pub struct Finish {
    #[pyo3(get)]
    pub reason: String,
}

#[pymethods]
impl Finish {
    #[new]
    fn new(reason: String) -> Self {
        Self { reason }
    }
    #[classattr]
    fn kind() -> &'static str {
        "finish"
    }
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("reason",)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Finish(reason={})", str_repr(py, &self.reason)?))
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> Reduced<'py, (String,)> {
        Ok((slf.get_type().into_any(), (slf.get().reason.clone(),)))
    }
}

/// Convert one core token to its Python object.
pub fn token_to_py(py: Python<'_>, token: StreamToken) -> PyResult<Py<PyAny>> {
    Ok(match token {
        StreamToken::Text(text) => Py::new(py, TextDelta { text })?.into_any(),
        StreamToken::Reasoning(text) => Py::new(py, ReasoningDelta { text })?.into_any(),
        StreamToken::ToolCall {
            index,
            id,
            name,
            arguments,
        } => Py::new(
            py,
            ToolCallDelta {
                index,
                id,
                name,
                arguments,
            },
        )?
        .into_any(),
        StreamToken::Usage(CoreUsage {
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            reasoning_tokens,
            cost,
        }) => Py::new(
            py,
            Usage {
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_write_tokens,
                reasoning_tokens,
                cost,
            },
        )?
        .into_any(),
        StreamToken::Citation { url, title } => Py::new(py, Citation { url, title })?.into_any(),
        StreamToken::Finish(reason) => Py::new(py, Finish { reason })?.into_any(),
    })
}

/// Convert a batch of core tokens (drained from `tokens`) to a Python list.
pub fn tokens_to_list<'py>(
    py: Python<'py>,
    tokens: &mut Vec<StreamToken>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for token in tokens.drain(..) {
        list.append(token_to_py(py, token)?)?;
    }
    Ok(list)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextDelta>()?;
    m.add_class::<ReasoningDelta>()?;
    m.add_class::<ToolCallDelta>()?;
    m.add_class::<Usage>()?;
    m.add_class::<Citation>()?;
    m.add_class::<Finish>()?;
    Ok(())
}

//! `JsonStreamParser`: conversion between `tokenwire_core::json_stream` and Python.
//!
//! Text crosses the boundary as generalized UTF-8 (`"surrogatepass"`) both ways, so
//! strings with lone surrogates round-trip exactly like `json.loads`.
//!
//! `value()` walks the core's arena and returns new Python containers at every level on
//! every call: the caller owns what it gets and may mutate it without affecting later
//! calls. Work is saved across calls where that is unobservable, since complete nodes
//! never change:
//!
//! - complete immutable leaves (strings, numbers) and object keys are converted once and
//!   the same objects are reused (a reused key also brings its cached hash);
//! - a closed container is built once as a private *template*, never handed out; each
//!   call returns a copy: a C-level list slice / dict copy, with the nested containers
//!   replaced by their own copies, which costs far less than rebuilding item by item;
//! - the string still being read is converted incrementally: the previous call's `str`
//!   plus the newly decoded text (`PyUnicode_Append`, which grows the old object in place
//!   only when nothing else references it).
//!
//! The cache holds about one Python object per node once `value()` has been called.

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use tokenwire_core::json_stream::{Item, JsonStreamParser as CoreParser, NodeId};

use crate::errors::CoreError;

/// Incremental JSON for tool-call arguments that arrive in fragments.
#[pyclass(module = "tokenwire._native")]
pub struct JsonStreamParser {
    inner: CoreParser,
    cache: Cache,
}

/// `text` (generalized UTF-8) as a Python `str`; lone surrogates decode as themselves.
fn decode<'py>(py: Python<'py>, text: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: pointer and length describe `text`, which outlives the call; the errors
    // name is a NUL-terminated literal; the result is a new reference or NULL with an
    // exception set, which `from_owned_ptr_or_err` turns into `Err`.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeUTF8(
                text.as_ptr().cast(),
                text.len() as ffi::Py_ssize_t,
                c"surrogatepass".as_ptr(),
            ),
        )
    }
}

/// `s` as generalized UTF-8 bytes (lone surrogates included).
fn encode<'py>(s: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyBytes>> {
    // SAFETY: `s` is a live str; both names are NUL-terminated literals; the result is a
    // new reference to a bytes object (UTF-8 encoding always returns bytes) or NULL with
    // an exception set.
    unsafe {
        let ptr = ffi::PyUnicode_AsEncodedString(
            s.as_ptr(),
            c"utf-8".as_ptr(),
            c"surrogatepass".as_ptr(),
        );
        Ok(Bound::from_owned_ptr_or_err(s.py(), ptr)?.cast_into_unchecked())
    }
}

/// Integers of up to 18 digits fit an `i64`; longer ones go through Python's `int()`,
/// which also applies Python's integer string conversion limit exactly like `json.loads`.
const I64_SAFE_DIGITS: usize = 18;

/// A completed leaf (not a container) as a Python object.
fn convert_leaf<'py>(py: Python<'py>, item: Item<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match item {
        Item::Null => py.None().into_bound(py),
        Item::Bool(v) => v.into_pyobject(py)?.to_owned().into_any(),
        Item::Int(text) => {
            let digits = text.len() - usize::from(text.starts_with('-'));
            match text.parse::<i64>() {
                Ok(v) if digits <= I64_SAFE_DIGITS => v.into_pyobject(py)?.into_any(),
                _ => py.get_type::<PyInt>().call1((text,))?,
            }
        }
        Item::Float(text) => {
            // Rust's and Python's decimal-to-double conversions are both correctly
            // rounded, so they agree on every input.
            let v: f64 = text
                .parse()
                .map_err(|_| PyValueError::new_err(format!("invalid number {text:?}")))?;
            PyFloat::new(py, v).into_any()
        }
        Item::Str { text, .. } => decode(py, text)?,
        Item::Array { .. } | Item::Object { .. } => {
            return Err(PyValueError::new_err("containers are not leaves"));
        }
    })
}

/// Conversions kept across `value()` calls, by node id (nodes never change once complete).
#[derive(Default)]
struct Cache {
    /// Complete nodes: immutable leaves, shared as they are, and closed containers as
    /// private *templates*: Python containers never handed out, only copied.
    done: Vec<Option<Py<PyAny>>>,
    keys: Vec<Option<Py<PyString>>>,
    /// The string being read: its node, how many bytes of its text were converted, and
    /// the `str` they made.
    open_str: Option<(NodeId, usize, Py<PyString>)>,
}

/// `head + tail` as a new reference, reusing `head`'s memory when CPython allows it.
fn append<'py>(
    head: Bound<'py, PyString>,
    tail: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyString>> {
    let py = head.py();
    let mut ptr = head.into_ptr();
    // SAFETY: `ptr` is an owned reference to a str and `tail` a live str.
    // `PyUnicode_Append` consumes that reference and stores a new one in `ptr` (or NULL
    // with an exception set). It resizes in place only when nothing else references the
    // string (refcount 1, not interned, hash not computed), so a `str` already handed to
    // Python code never changes.
    unsafe {
        ffi::PyUnicode_Append(&mut ptr, tail.as_ptr());
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

/// A new container with the same items as `container` (a list or a dict).
fn shallow_copy<'py>(container: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match container.cast::<PyList>() {
        Ok(list) => Ok(list.get_slice(0, list.len()).into_any()),
        Err(_) => Ok(container.cast::<PyDict>()?.copy()?.into_any()),
    }
}

/// Containers created empty and still to be filled: the object and its node.
type Todo<'py> = Vec<(Bound<'py, PyAny>, NodeId)>;

impl Cache {
    /// Converts leaf `id` (not in `done`), caching the result when it is complete.
    fn leaf<'py>(
        &mut self,
        py: Python<'py>,
        id: NodeId,
        item: Item<'_>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let slot = id as usize;
        let Item::Str { text, complete } = item else {
            let obj = convert_leaf(py, item)?;
            self.done[slot] = Some(obj.clone().unbind());
            return Ok(obj);
        };
        // A string grows fragment by fragment, always by whole code points: convert only
        // the new bytes. Generalized UTF-8 decodes piecewise exactly as in one piece.
        let obj = match self.open_str.take() {
            Some((open, converted, head)) if open == id && converted <= text.len() => {
                let head = head.into_bound(py);
                if converted == text.len() {
                    head
                } else {
                    append(head, &decode(py, &text[converted..])?)?
                }
            }
            _ => {
                // SAFETY: decoding UTF-8 always returns a str.
                unsafe { decode(py, text)?.cast_into_unchecked::<PyString>() }
            }
        };
        if complete {
            self.done[slot] = Some(obj.clone().into_any().unbind());
        } else {
            self.open_str = Some((id, text.len(), obj.clone().unbind()));
        }
        Ok(obj.into_any())
    }

    fn key<'py>(
        &mut self,
        py: Python<'py>,
        parser: &CoreParser,
        id: NodeId,
    ) -> PyResult<Bound<'py, PyString>> {
        let slot = id as usize;
        if let Some(key) = &self.keys[slot] {
            return Ok(key.bind(py).clone());
        }
        // SAFETY: decoding UTF-8 always returns a str.
        let key = unsafe { decode(py, parser.key(id))?.cast_into_unchecked::<PyString>() };
        self.keys[slot] = Some(key.clone().unbind());
        Ok(key)
    }

    /// The object for child `id` of a container being filled.
    ///
    /// In a tree handed to the caller (`private` is `None`) a closed container is a copy
    /// of its template and an open one a new container queued on `todo`. In a template
    /// (`private` is the list of containers created for it), a closed container with a
    /// template *is* that template (templates may share each other, as they are never
    /// handed out) and one without is created, queued and recorded to become a template.
    /// Containers are attached to their parent before they are filled, which keeps the
    /// walk iterative.
    fn child<'py>(
        &mut self,
        py: Python<'py>,
        parser: &CoreParser,
        id: NodeId,
        todo: &mut Todo<'py>,
        private: Option<&mut Vec<(Bound<'py, PyAny>, NodeId)>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !parser.is_container(id) {
            if let Some(obj) = &self.done[id as usize] {
                return Ok(obj.bind(py).clone());
            }
            return self.leaf(py, id, parser.item(id));
        }
        let (object, complete) = match parser.item(id) {
            Item::Object { complete, .. } => (true, complete),
            Item::Array { complete, .. } => (false, complete),
            item => return self.leaf(py, id, item),
        };
        match private {
            None if complete => return self.copy_closed(py, parser, id),
            Some(_) if complete => {
                if let Some(template) = &self.done[id as usize] {
                    return Ok(template.bind(py).clone());
                }
            }
            _ => {}
        }
        let container = if object {
            PyDict::new(py).into_any()
        } else {
            PyList::empty(py).into_any()
        };
        todo.push((container.clone(), id));
        if let Some(created) = private {
            created.push((container.clone(), id));
        }
        Ok(container)
    }

    /// Fills the queued containers (and those their children queue).
    fn fill<'py>(
        &mut self,
        py: Python<'py>,
        parser: &CoreParser,
        todo: &mut Todo<'py>,
        mut private: Option<&mut Vec<(Bound<'py, PyAny>, NodeId)>>,
    ) -> PyResult<()> {
        while let Some((container, id)) = todo.pop() {
            let mut child = parser.first_child(id);
            if let Ok(list) = container.cast::<PyList>() {
                while let Some(c) = child {
                    list.append(self.child(py, parser, c, todo, private.as_deref_mut())?)?;
                    child = parser.next_sibling(c);
                }
            } else {
                let dict = container.cast::<PyDict>()?;
                while let Some(c) = child {
                    // Later duplicates replace the value and keep the first position, as
                    // `json.loads` (which builds a dict from the pairs) does.
                    let key = self.key(py, parser, c)?;
                    dict.set_item(
                        key,
                        self.child(py, parser, c, todo, private.as_deref_mut())?,
                    )?;
                    child = parser.next_sibling(c);
                }
            }
        }
        Ok(())
    }

    /// The template of closed container `id`, built (with those of its closed
    /// descendants) on first use.
    fn template<'py>(
        &mut self,
        py: Python<'py>,
        parser: &CoreParser,
        id: NodeId,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(template) = &self.done[id as usize] {
            return Ok(template.bind(py).clone());
        }
        let mut todo = Vec::new();
        let mut created = Vec::new();
        let template = self.child(py, parser, id, &mut todo, Some(&mut created))?;
        self.fill(py, parser, &mut todo, Some(&mut created))?;
        // Only now are the new containers complete.
        for (container, node) in created {
            self.done[node as usize] = Some(container.unbind());
        }
        Ok(template)
    }

    /// A copy of closed container `id` for the caller: new containers at every level,
    /// immutable leaves shared. Copying a template (C-level list slice / dict copy) and
    /// then replacing its nested containers with their copies is much cheaper than
    /// rebuilding it item by item.
    fn copy_closed<'py>(
        &mut self,
        py: Python<'py>,
        parser: &CoreParser,
        id: NodeId,
    ) -> PyResult<Bound<'py, PyAny>> {
        let top = shallow_copy(&self.template(py, parser, id)?)?;
        let mut todo = vec![(top.clone(), id)];
        while let Some((copy, node)) = todo.pop() {
            let list = copy.cast::<PyList>().ok();
            // A dict with as many entries as members has no duplicate keys: every nested
            // container in it is the one to replace, no identity check needed.
            let duplicates = match parser.item(node) {
                Item::Object { len, .. } => copy.len()? != len,
                _ => false,
            };
            let mut child = parser.first_child(node);
            let mut index = 0;
            while let Some(c) = child {
                if parser.is_container(c) {
                    let template = self.template(py, parser, c)?;
                    let nested = shallow_copy(&template)?;
                    if let Some(list) = list {
                        list.set_item(index, &nested)?;
                        todo.push((nested, c));
                    } else {
                        let dict = copy.cast::<PyDict>()?;
                        let key = self.key(py, parser, c)?;
                        // With duplicate keys only the last member's value is in the dict.
                        if !duplicates || dict.get_item(&key)?.is_some_and(|v| v.is(&template)) {
                            dict.set_item(key, &nested)?;
                            todo.push((nested, c));
                        }
                    }
                }
                index += 1;
                child = parser.next_sibling(c);
            }
        }
        Ok(top)
    }

    /// The parser's partial value as new Python containers (`None` before any value).
    fn build<'py>(&mut self, py: Python<'py>, parser: &CoreParser) -> PyResult<Bound<'py, PyAny>> {
        let Some(root) = parser.root() else {
            return Ok(py.None().into_bound(py));
        };
        let count = parser.node_count();
        self.done.resize_with(count, || None);
        self.keys.resize_with(count, || None);
        let mut todo = Vec::new();
        let value = self.child(py, parser, root, &mut todo, None)?;
        self.fill(py, parser, &mut todo, None)?;
        Ok(value)
    }
}

#[pymethods]
impl JsonStreamParser {
    #[new]
    #[pyo3(signature = (max_depth = 512))]
    fn new(max_depth: i64) -> PyResult<Self> {
        let max_depth = usize::try_from(max_depth)
            .map_err(|_| PyValueError::new_err("max_depth must be >= 0"))?;
        Ok(JsonStreamParser {
            inner: CoreParser::new(max_depth),
            cache: Cache::default(),
        })
    }

    /// Parse the next fragment of the document.
    fn feed(&mut self, fragment: &Bound<'_, PyString>) -> PyResult<()> {
        let bytes = encode(fragment)?;
        self.inner
            .feed_bytes(bytes.as_bytes())
            .map_err(CoreError::from)?;
        Ok(())
    }

    /// The best partial value of the input so far (a new object on every call).
    fn value<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cache.build(py, &self.inner)
    }

    /// True once one whole top-level value has been read.
    fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// End of input: completes a trailing top-level number and returns the value.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.inner.finish().map_err(CoreError::from)?;
        self.cache.build(py, &self.inner)
    }

    /// Characters fed so far (after an error: the offset of the offending character).
    #[getter]
    fn offset(&self) -> u64 {
        self.inner.offset()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<JsonStreamParser>()
}

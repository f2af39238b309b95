//! Shared input layout of the fuzz targets: `[header, n, size_1 .. size_n, body…]`.
//! The body is cut into chunks whose lengths cycle through `1 + size_k` (one chunk
//! when `n` is 0), so one input exercises both a whole feed and a chunked feed.

/// The header byte, the body, and the body's chunking.
pub struct Input<'a> {
    pub header: u8,
    pub body: &'a [u8],
    pub chunks: Vec<&'a [u8]>,
}

pub fn split(data: &[u8]) -> Option<Input<'_>> {
    let (&header, rest) = data.split_first()?;
    let (&n, rest) = rest.split_first()?;
    let n = usize::from(n % 8);
    if rest.len() < n {
        return None;
    }
    let (sizes, body) = rest.split_at(n);
    let mut chunks = Vec::new();
    if sizes.is_empty() {
        chunks.push(body);
    } else {
        let mut pos = 0;
        for &size in sizes.iter().cycle() {
            if pos >= body.len() {
                break;
            }
            let end = (pos + 1 + usize::from(size)).min(body.len());
            chunks.push(&body[pos..end]);
            pos = end;
        }
    }
    Some(Input {
        header,
        body,
        chunks,
    })
}

//! Normalized stream tokens: what every dialect produces.

/// Token usage as reported by the provider, normalized.
///
/// `input_tokens` is what the provider reports as input: for OpenAI-style APIs it
/// includes cached tokens, for Anthropic-style APIs it excludes them. The catalog's
/// cost function knows each convention.
///
/// `cost` is the cost in USD the provider itself reported (OpenRouter, Vercel AI
/// Gateway), when it reports one; the dialects only set finite, non-negative values
/// (never `-0.0`). Being a float, it makes the type (and [`StreamToken`]) `PartialEq`
/// only.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost: Option<f64>,
}

/// One normalized token of a provider stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamToken {
    Text(String),
    Reasoning(String),
    /// A tool-call fragment. `id` and `name` arrive on the first fragment of a call,
    /// `arguments` is a fragment of the JSON argument text (possibly empty).
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Usage(Usage),
    Citation {
        url: String,
        title: Option<String>,
    },
    Finish(String),
}

impl StreamToken {
    /// The `kind` string exposed to Python.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamToken::Text(_) => "text",
            StreamToken::Reasoning(_) => "reasoning",
            StreamToken::ToolCall { .. } => "tool_call",
            StreamToken::Usage(_) => "usage",
            StreamToken::Citation { .. } => "citation",
            StreamToken::Finish(_) => "finish",
        }
    }
}

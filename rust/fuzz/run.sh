#!/usr/bin/env bash
# Bounded fuzzing of tokenwire-core with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   rust/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET ...]
#
# Targets: sse_decoder, json_stream, stream_processor (all by default); 60 s each by
# default. Exits non-zero if any target finds a crash (the reproducer is saved under
# rust/fuzz/artifacts/<target>/; replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir rust/fuzz <target> <file>`).
#
# cargo-fuzz passes nightly-only `-Z` flags to rustc. On the stable toolchain this
# script sets RUSTC_BOOTSTRAP=1, which unlocks them; set FUZZ_TOOLCHAIN=nightly to use
# a nightly toolchain instead. cargo-fuzz itself is installed if missing.
#
# Corpora live in rust/fuzz/corpus/<target>/ (git-ignored) and grow across runs; a few
# synthetic seeds are written on first use. When the recorded provider streams are
# checked out next to the project (../shared/fixtures/recorded), they are used as
# extra read-only seeds for stream_processor (never copied).
set -euo pipefail

seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(sse_decoder json_stream stream_processor)
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$fuzz_dir/../.." && pwd)"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

toolchain=()
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    toolchain=("+$FUZZ_TOOLCHAIN")
else
    export RUSTC_BOOTSTRAP=1
fi

# Write a seed file: seed <target> <name> <header byte (octal escape)> <body...>
# Layout of every input: [header, n, size_1..size_n, body] (see fuzz_targets/common.rs);
# seeds use n = 0 or a few sizes so both whole and chunked feeding start out covered.
seed() {
    local file="$fuzz_dir/corpus/$1/seed-$2"
    mkdir -p "$fuzz_dir/corpus/$1"
    printf "%b" "$3" >"$file"
    shift 3
    printf "%s" "$*" >>"$file"
}

write_seeds() {
    local nl=$'\n'
    seed sse_decoder basic '\000\003\001\007\040' "data: {\"a\":1}${nl}${nl}event: x${nl}data: y${nl}id: 7${nl}retry: 10${nl}: c${nl}${nl}"
    seed sse_decoder crlf '\001\002\000\005' $'\xef\xbb\xbfdata: a\r\ndata: b\r\n\r\ndata: c\r\r'
    seed json_stream object '\001\003\002\011\000' '{"a":[1,-2.5e3,true,null,"\u00e9\ud83d\ude00"],"b":{"c":"x\"y"}}'
    seed json_stream scalar '\000\000' ' "tail\n" '
    # Header byte: dialect = header % 5 (openai-chat, openai-responses, anthropic, gemini, ndjson).
    seed stream_processor openai_chat '\000\002\020\100' \
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"r\",\"content\":\"hi\",\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1},\"citations\":[\"https://a\"]}${nl}${nl}data: [DONE]${nl}${nl}"
    seed stream_processor openai_responses '\001\001\030' \
        "event: response.output_text.delta${nl}data: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}${nl}${nl}data: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc\",\"call_id\":\"c\",\"name\":\"f\"}}${nl}${nl}data: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc\",\"delta\":\"{}\"}${nl}${nl}data: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"usage\":{\"input_tokens\":2,\"output_tokens\":1}}}${nl}${nl}"
    seed stream_processor anthropic '\002\000' \
        "event: message_start${nl}data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}${nl}${nl}data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}${nl}${nl}data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"t\"}}${nl}${nl}data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\"}}${nl}${nl}data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}${nl}${nl}data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}${nl}${nl}data: {\"type\":\"message_stop\"}${nl}${nl}"
    seed stream_processor gemini '\003\001\077' \
        $'data: {"candidates":[{"content":{"parts":[{"text":"a"},{"functionCall":{"name":"f","willContinue":true}}]}}]}\r\n\r\ndata: {"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a[0].b","stringValue":"x","willContinue":true}],"willContinue":true}}]}}]}\r\n\r\ndata: {"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.c","numberValue":1.50}]}}]},"finishReason":"STOP","groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://u"}}]}}],"usageMetadata":{"promptTokenCount":4}}\r\n\r\n'
    seed stream_processor ndjson '\004\000' \
        "{\"message\":{\"thinking\":\"t\",\"content\":\"a\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"x\":[1.0]}}}]}}${nl}{\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":1,\"eval_count\":2}${nl}"
}

write_seeds

work="$fuzz_dir/target/run-sh"
mkdir -p "$work"
cat "$fuzz_dir/dict/json.dict" "$fuzz_dir/dict/stream.dict" >"$work/stream_processor.dict"
cp "$fuzz_dir/dict/stream.dict" "$work/sse_decoder.dict"
cp "$fuzz_dir/dict/json.dict" "$work/json_stream.dict"

failed=()
for target in "${targets[@]}"; do
    corpus=("$fuzz_dir/corpus/$target")
    mkdir -p "${corpus[0]}"
    if [ "$target" = stream_processor ]; then
        for dir in "$root"/../shared/fixtures/recorded/vercel-ai/*/; do
            [ -d "$dir" ] && corpus+=("$dir")
        done
    fi
    echo "== $target: ${seconds}s" >&2
    if ! cargo ${toolchain[@]+"${toolchain[@]}"} fuzz run --fuzz-dir "$fuzz_dir" --release --debug-assertions "$target" "${corpus[@]}" -- \
        -max_total_time="$seconds" -dict="$work/$target.dict" -max_len=8192 -timeout=10 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "run.sh: crashes found in: ${failed[*]} (see rust/fuzz/artifacts/)" >&2
    exit 1
fi
echo "run.sh: no crash in ${targets[*]} (${seconds}s each)" >&2

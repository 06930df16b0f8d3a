#!/usr/bin/env python3
"""librecurrentgemma from Python with ctypes only (no extra packages).

    python3 examples/python/generate.py [model-dir] [prompt] [max_tokens]

Defaults: the demo model (RecurrentGemma.Cli/demo), "ROMEO:", 48 tokens. The library is found at
$RGEMMA_LIB or artifacts/linux-x64/lib/librecurrentgemma.so (scripts/publish.sh builds it).
Streams greedy text, then shows the state API: saves the session after the prompt, restores the bytes into a new
session, and checks that it continues with exactly the same tokens. Exits non-zero on any error or mismatch.
"""
import ctypes as C
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.environ.get("RGEMMA_LIB", os.path.join(ROOT, "artifacts", "linux-x64", "lib", "librecurrentgemma.so"))


class SamplingParams(C.Structure):
    _fields_ = [("size", C.c_uint32), ("temperature", C.c_float), ("top_k", C.c_int32), ("top_p", C.c_float),
                ("min_p", C.c_float), ("repeat_penalty", C.c_float), ("presence_penalty", C.c_float),
                ("max_tokens", C.c_int32), ("seed", C.c_uint64)]


class Usage(C.Structure):
    _fields_ = [("prompt_tokens", C.c_int32), ("generated_tokens", C.c_int32), ("stop_reason", C.c_int32),
                ("prefill_seconds", C.c_double), ("decode_seconds", C.c_double)]


TOKEN_CALLBACK = C.CFUNCTYPE(C.c_int32, C.c_int32, C.c_char_p, C.c_size_t, C.c_void_p)

lib = C.CDLL(LIB)
lib.rg_version.restype = C.c_char_p
lib.rg_last_error.restype = C.c_char_p
lib.rg_model_load.argtypes = [C.c_char_p, C.c_int32, C.POINTER(C.c_void_p)]
lib.rg_model_free.argtypes = [C.c_void_p]
lib.rg_sampling_params_init.argtypes = [C.POINTER(SamplingParams)]
lib.rg_session_create.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
lib.rg_session_free.argtypes = [C.c_void_p]
lib.rg_tokenize.argtypes = [C.c_void_p, C.c_char_p, C.c_int32, C.POINTER(C.c_int32), C.c_size_t, C.POINTER(C.c_size_t)]
lib.rg_generate.argtypes = [C.c_void_p, C.POINTER(C.c_int32), C.c_size_t, C.POINTER(SamplingParams), TOKEN_CALLBACK,
                            C.c_void_p, C.POINTER(Usage)]
lib.rg_generate_text.argtypes = [C.c_void_p, C.c_char_p, C.POINTER(SamplingParams), TOKEN_CALLBACK, C.c_void_p,
                                 C.POINTER(Usage)]
lib.rg_session_save.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t, C.POINTER(C.c_size_t)]
lib.rg_session_restore.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t]


def check(status, what):
    if status != 0:
        raise RuntimeError(f"{what}: status {status}: {lib.rg_last_error().decode()}")


def generate(session, ids, params, on_token):
    usage = Usage()
    array = (C.c_int32 * len(ids))(*ids)
    check(lib.rg_generate(session, array, len(ids), C.byref(params), TOKEN_CALLBACK(on_token), None, C.byref(usage)), "rg_generate")
    return usage


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "RecurrentGemma.Cli", "demo")
    prompt = sys.argv[2] if len(sys.argv) > 2 else "ROMEO:"
    max_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 48
    print(f"librecurrentgemma {lib.rg_version().decode()}", file=sys.stderr)

    # Errors come back as a status and a message, never a crash.
    bad = C.c_void_p()
    status = lib.rg_model_load(b"/nonexistent/model", 0, C.byref(bad))
    assert status == 2 and not bad.value, status
    print(f"(expected error) {lib.rg_last_error().decode()}", file=sys.stderr)

    model = C.c_void_p()
    check(lib.rg_model_load(model_dir.encode(), 0, C.byref(model)), "rg_model_load")
    params = SamplingParams()
    check(lib.rg_sampling_params_init(C.byref(params)), "rg_sampling_params_init")
    params.max_tokens = max_tokens

    # Text in, streamed text out.
    session = C.c_void_p()
    check(lib.rg_session_create(model, C.byref(session)), "rg_session_create")
    count = C.c_size_t()
    check(lib.rg_tokenize(model, prompt.encode(), 1, None, 0, C.byref(count)), "rg_tokenize (size)")
    ids = (C.c_int32 * count.value)()
    check(lib.rg_tokenize(model, prompt.encode(), 1, ids, count.value, C.byref(count)), "rg_tokenize")

    # Save the state after the prompt (max_tokens 0: prefill only), then generate.
    prefill_only = SamplingParams()
    lib.rg_sampling_params_init(C.byref(prefill_only))
    prefill_only.max_tokens = 0
    generate(session, list(ids), prefill_only, lambda *_: 0)
    size = C.c_size_t()
    check(lib.rg_session_save(session, None, 0, C.byref(size)), "rg_session_save (size)")
    snapshot = (C.c_uint8 * size.value)()
    check(lib.rg_session_save(session, snapshot, size.value, C.byref(size)), "rg_session_save")

    first = []

    def stream(token_id, text, length, _):
        first.append(token_id)
        sys.stdout.write(C.string_at(text, length).decode("utf-8"))
        sys.stdout.flush()
        return 0

    sys.stdout.write(prompt)
    usage = generate(session, [], params, stream)
    print()
    print(f"[{usage.generated_tokens} tokens, stop reason {usage.stop_reason}, state {size.value} bytes]", file=sys.stderr)

    # Restore the saved bytes into a fresh session: it must continue with the very same tokens.
    restored = C.c_void_p()
    check(lib.rg_session_create(model, C.byref(restored)), "rg_session_create")
    check(lib.rg_session_restore(restored, snapshot, size.value), "rg_session_restore")
    second = []
    generate(restored, [], params, lambda token_id, *_: second.append(token_id) or 0)
    if first != second:
        print(f"MISMATCH after restore: {first} vs {second}", file=sys.stderr)
        return 1
    print(f"restored session continued identically ({len(second)} tokens)", file=sys.stderr)

    check(lib.rg_model_free(model), "rg_model_free")   # frees both sessions too
    return 0


if __name__ == "__main__":
    sys.exit(main())

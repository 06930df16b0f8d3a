/*
 * recurrentgemma.h: the C ABI of librecurrentgemma, the RecurrentGemma (Griffin) CPU inference engine built as a
 * NativeAOT shared library (dotnet publish RecurrentGemma.Native -c Release -r linux-x64 | linux-arm64).
 *
 * Conventions
 *   Errors     Every function that can fail returns rg_status: RG_OK (0) or an error code. After an error,
 *              rg_last_error() gives a one-line message naming the function, the parameter and what was expected.
 *              No exception or signal ever crosses this boundary; pointers, sizes and handles are validated on entry
 *              (a NULL, freed or never-issued handle is RG_ERROR_INVALID_ARGUMENT, not a crash).
 *   Strings    All text in and out is UTF-8. Input strings are NUL-terminated and must be valid UTF-8
 *              (RG_ERROR_INVALID_ARGUMENT otherwise). Output text is NUL-terminated; lengths exclude the NUL.
 *   Ownership  Handles (rg_model, rg_session) are owned by the caller from creation until the matching *_free.
 *              rg_model_free also frees every session of that model. Buffers are always the caller's; the library
 *              keeps no pointer to them after the call returns. Strings returned by rg_version / rg_last_error
 *              belong to the library (do not free).
 *   Sizes      Functions that fill a caller buffer take (buffer, capacity, out_size). *out_size always receives the
 *              size needed. A NULL buffer only queries the size (RG_OK); a buffer that is too small gives
 *              RG_ERROR_BUFFER_TOO_SMALL and is left untouched.
 *   Threads    A model may be used from many threads at once. A session may be used by one thread at a time.
 *              Generation on different sessions of one model from different threads runs concurrently and is
 *              batched together by the engine (continuous batching); each session gets exactly what it would alone.
 *              The token callback runs on the thread that called rg_generate*. rg_last_error is per thread.
 *              Do not free a model while another thread is inside a call on it or on one of its sessions.
 */
#ifndef RECURRENTGEMMA_H
#define RECURRENTGEMMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rg_status {
    RG_OK = 0,
    RG_ERROR_INVALID_ARGUMENT = 1, /* NULL or invalid pointer/handle, bad size, invalid UTF-8, bad sampling parameter */
    RG_ERROR_MODEL = 2,            /* model directory, config.json or safetensors missing, unreadable or invalid */
    RG_ERROR_TOKENIZER = 3,        /* no tokenizer.model beside the model, or it cannot encode/decode the input */
    RG_ERROR_TOKEN = 4,            /* a token id outside the vocabulary, or a prompt over the length limit */
    RG_ERROR_BUFFER_TOO_SMALL = 5, /* the caller's buffer cannot hold the result; *out_size says how much is needed */
    RG_ERROR_SNAPSHOT = 6,         /* a state buffer is damaged, truncated, of another version or of another model */
    RG_ERROR_INTERNAL = 99         /* a bug: please report it with rg_last_error() */
} rg_status;

typedef enum rg_stop_reason {
    RG_STOP_MAX_TOKENS = 0,  /* params.max_tokens reached */
    RG_STOP_EOS = 1,         /* the model produced <eos> (not passed to the callback) */
    RG_STOP_END_OF_TURN = 2, /* the model produced <end_of_turn> (not passed to the callback) */
    RG_STOP_STRING = 3,      /* reserved for stop strings */
    RG_STOP_CALLBACK = 4     /* the token callback returned non-zero; the session (and generated_tokens) may include
                                a few tokens the engine produced before it saw the stop */
} rg_stop_reason;

/* The weight format a model is held in (rg_model_options.weights). */
typedef enum rg_weights {
    RG_WEIGHTS_AS_STORED = 0, /* bf16 for a Hugging Face checkpoint; a packed folder's own format */
    RG_WEIGHTS_BF16 = 1,      /* 16 bits a weight */
    RG_WEIGHTS_Q8 = 2,        /* int8, one bf16 scale per 32 weights: 8.5 bits (quantized at load from bf16/f16/f32) */
    RG_WEIGHTS_Q4 = 3         /* 4-bit, one bf16 scale per 32 weights: 4.5 bits */
} rg_weights;

/* How to load a model. Always start from rg_model_options_init (threads 0, weights as stored), then change fields. */
typedef struct rg_model_options {
    uint32_t size;    /* sizeof(rg_model_options), set by rg_model_options_init */
    int32_t threads;  /* 0 = one per processor */
    int32_t weights;  /* rg_weights */
} rg_model_options;

/* Opaque handles. */
typedef struct rg_model rg_model;
typedef struct rg_session rg_session;

/* How to pick each token. Always start from rg_sampling_params_init (greedy, max_tokens 256), then change fields. */
typedef struct rg_sampling_params {
    uint32_t size;            /* sizeof(rg_sampling_params), set by rg_sampling_params_init */
    float temperature;        /* 0 = greedy; else logits / temperature */
    int32_t top_k;            /* keep the k most likely tokens; 0 = off */
    float top_p;              /* nucleus: smallest set reaching probability p, in (0, 1]; 1 = off */
    float min_p;              /* drop tokens below min_p x the top probability, in [0, 1); 0 = off */
    float repeat_penalty;     /* > 0; 1 = off (the same name as rgemma --repeat-penalty and --batch-file) */
    float presence_penalty;   /* finite; 0 = off */
    int32_t max_tokens;       /* >= 0 */
    uint64_t seed;            /* same seed, parameters and model: same tokens */
} rg_sampling_params;

/* What one generate call did. */
typedef struct rg_usage {
    int32_t prompt_tokens;
    int32_t generated_tokens;
    int32_t stop_reason; /* rg_stop_reason */
    double prefill_seconds;
    double decode_seconds;
} rg_usage;

/*
 * Called once per generated token, on the calling thread: its id and the text it completes (UTF-8, NUL-terminated,
 * valid only during the call; "" while a multi-byte character is incomplete, and always "" for a model without a
 * tokenizer). A last call with token_id -1 may carry text held back to the end. Return 0 to continue, non-zero to
 * stop generation (the usage then says RG_STOP_CALLBACK).
 */
typedef int32_t (*rg_token_callback)(int32_t token_id, const char *text, size_t text_len, void *user_data);

/* Library version, e.g. "1.0.0". Owned by the library. */
const char *rg_version(void);

/* The message of this thread's last failed call ("" if none). Owned by the library; valid until this thread's next
 * failing call. */
const char *rg_last_error(void);

/* Fills *params with the defaults (greedy, max_tokens 256, seed 0) and its size. */
rg_status rg_sampling_params_init(rg_sampling_params *params);

/* Loads a Hugging Face checkpoint directory (config.json, *.safetensors, optional tokenizer.model), or
 * "random:2b" / "random:9b" for synthetic weights. threads: 0 = one per processor. On error *out_model is NULL. */
rg_status rg_model_load(const char *path, int32_t threads, rg_model **out_model);

/* Fills *options with the defaults and its size. */
rg_status rg_model_options_init(rg_model_options *options);

/* rg_model_load with options (threads, weight format). A packed folder from 'rgemma convert' loads in place; asking
 * it for another format is RG_ERROR_MODEL. On error *out_model is NULL. */
rg_status rg_model_load_ex(const char *path, const rg_model_options *options, rg_model **out_model);

/* Frees the model and all its sessions. NULL is allowed (no-op). */
rg_status rg_model_free(rg_model *model);

rg_status rg_model_vocab_size(const rg_model *model, int32_t *out_size);

/* Text to token ids (add_bos != 0: start with <bos>). Size convention: ids may be NULL to query *out_count. */
rg_status rg_tokenize(rg_model *model, const char *text, int32_t add_bos, int32_t *ids, size_t capacity, size_t *out_count);

/* Token ids to text (control tokens dropped). capacity counts the NUL; *out_size excludes it. */
rg_status rg_detokenize(rg_model *model, const int32_t *ids, size_t count, char *buffer, size_t capacity, size_t *out_size);

/* A new conversation (empty state). */
rg_status rg_session_create(rg_model *model, rg_session **out_session);

/* A new session that is an exact copy of this one: one prompt prefix, many continuations, no re-prefill. */
rg_status rg_session_fork(rg_session *session, rg_session **out_session);

/* NULL is allowed (no-op). */
rg_status rg_session_free(rg_session *session);

/* Back to an empty conversation. */
rg_status rg_session_reset(rg_session *session);

/* Tokens consumed so far (prompt and generated). */
rg_status rg_session_position(rg_session *session, int32_t *out_position);

/*
 * Feeds prompt_ids (may be empty to continue), then samples up to params->max_tokens tokens, stopping early at <eos>
 * or <end_of_turn>. Each call continues the session where the previous one stopped. params NULL = defaults; callback
 * may be NULL; out_usage may be NULL.
 */
rg_status rg_generate(rg_session *session, const int32_t *prompt_ids, size_t prompt_count, const rg_sampling_params *params,
                      rg_token_callback callback, void *user_data, rg_usage *out_usage);

/* Same, from text: encoded with the model's tokenizer, with <bos> when the session is empty. */
rg_status rg_generate_text(rg_session *session, const char *prompt, const rg_sampling_params *params,
                           rg_token_callback callback, void *user_data, rg_usage *out_usage);

/* The session's complete state (recurrent and conv state, attention window, position, token history, last logits)
 * as a versioned, checksummed byte string: the same format as rgemma chat's /save files. Size convention. */
rg_status rg_session_save(rg_session *session, uint8_t *buffer, size_t capacity, size_t *out_size);

/* Replaces the session's state with saved bytes; generation then continues bit-identically. Damaged, truncated,
 * other-version or other-model bytes are refused with RG_ERROR_SNAPSHOT and leave the session unchanged. */
rg_status rg_session_restore(rg_session *session, const uint8_t *buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* RECURRENTGEMMA_H */

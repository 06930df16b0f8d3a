/*
 * generate.c: the smallest complete program on librecurrentgemma.
 *
 *   generate <model-dir> "<prompt text>" [max_tokens]      text in, text out (needs tokenizer.model in model-dir)
 *   generate <model-dir> --ids 2,651,1234 [max_tokens]     token ids in, greedy ids out (any checkpoint)
 *
 * Greedy unless RG_TEMPERATURE is set in the environment (then sampled with seed 1).
 * Build: examples/c/build.sh (links build/native/<rid>/librecurrentgemma.so, which dotnet publish produced).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recurrentgemma.h"

static int32_t print_text(int32_t token_id, const char *text, size_t text_len, void *user_data) {
    (void)token_id;
    (void)user_data;
    fwrite(text, 1, text_len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop generation */
}

static int32_t print_id(int32_t token_id, const char *text, size_t text_len, void *user_data) {
    (void)text;
    (void)text_len;
    int *count = user_data;
    if (token_id >= 0) printf("%s%d", (*count)++ ? "," : "", token_id);
    return 0;
}

static int fail(const char *what, rg_status status) {
    fprintf(stderr, "generate: %s failed (status %d): %s\n", what, (int)status, rg_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[2], "--ids") == 0 && argc < 4)) {
        fprintf(stderr, "usage: %s <model-dir> \"<prompt>\" [max_tokens]\n       %s <model-dir> --ids 2,651,1234 [max_tokens]\n", argv[0], argv[0]);
        return 2;
    }
    int by_ids = strcmp(argv[2], "--ids") == 0;
    const char *max_arg = argc > (by_ids ? 4 : 3) ? argv[by_ids ? 4 : 3] : NULL;

    rg_model *model = NULL;
    rg_status s = rg_model_load(argv[1], 0, &model);
    if (s != RG_OK) return fail("rg_model_load", s);

    rg_session *session = NULL;
    if ((s = rg_session_create(model, &session)) != RG_OK) return fail("rg_session_create", s);

    rg_sampling_params params;
    rg_sampling_params_init(&params);
    if (max_arg) params.max_tokens = atoi(max_arg);
    if (getenv("RG_TEMPERATURE")) {
        params.temperature = (float)atof(getenv("RG_TEMPERATURE"));
        params.seed = 1;
    }

    rg_usage usage;
    if (by_ids) {
        int32_t ids[4096];
        size_t n = 0;
        for (char *p = argv[3]; *p && n < 4096; n++) {
            ids[n] = (int32_t)strtol(p, &p, 10);
            if (*p == ',') p++;
        }
        int count = 0;
        printf("generated_ids: ");
        s = rg_generate(session, ids, n, &params, print_id, &count, &usage);
        printf("\n");
        if (s != RG_OK) return fail("rg_generate", s);
    } else {
        printf("%s", argv[2]);
        s = rg_generate_text(session, argv[2], &params, print_text, NULL, &usage);
        printf("\n");
        if (s != RG_OK) return fail("rg_generate_text", s);
    }
    fprintf(stderr, "[%d prompt tokens, %d generated, stop reason %d, %.1f tok/s]\n", usage.prompt_tokens,
            usage.generated_tokens, usage.stop_reason, usage.decode_seconds > 0 ? usage.generated_tokens / usage.decode_seconds : 0.0);

    rg_session_free(session);
    rg_model_free(model);
    return 0;
}

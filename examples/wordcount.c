/*
 * wordcount — the classic: final counts of the whitespace-separated,
 * lower-cased words of a text file.
 *
 *   spate run build/examples/wordcount.so [--parallelism N] -- --input FILE --output DIR [--rate N]
 *
 * --rate N: the file source emits at most N records per second (a run can be
 * interrupted part-way).
 *
 * Output: part files in DIR, one "word<TAB>count" line per word (any order).
 * The job runs in AUTOMATIC runtime mode, so on a bounded file it executes
 * as a batch job and the keyed sum emits only each word's final count.
 */
#include <spate/spate.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static int tokenize(void *ctx, const spate_row_t *line, spate_collector_t *out)
{
    (void)ctx;
    spate_str_t s = spate_row_get_string(line, 0);
    char small[256];
    size_t i = 0;
    while (i < s.len) {
        while (i < s.len && isspace((unsigned char)s.ptr[i])) i++;
        size_t start = i;
        while (i < s.len && !isspace((unsigned char)s.ptr[i])) i++;
        size_t n = i - start;
        if (n == 0) break;
        char *word = n <= sizeof small ? small : malloc(n);
        if (!word) return spate_out_fail(out, "out of memory for a word of %zu bytes", n);
        for (size_t k = 0; k < n; k++) word[k] = (char)tolower((unsigned char)s.ptr[start + k]);
        spate_out_set_string(out, 0, word, n);
        if (word != small) free(word);
        spate_out_set_bigint(out, 1, 1);
        int rc = spate_out_emit(out);
        if (rc) return rc;
    }
    return SPATE_OK;
}

int spate_job_main(spate_env_t *env, int argc, char **argv)
{
    const char *in = spate_arg(argc, argv, "--input"), *out = spate_arg(argc, argv, "--output");
    if (!in || !out) {
        fprintf(stderr, "usage: wordcount.so --input FILE --output DIR [--rate N]\n");
        return SPATE_EINVAL;
    }
    spate_env_set_config(env, "execution.runtime-mode", "AUTOMATIC");
    spate_schema_t *words_schema = spate_schema_of("word STRING NOT NULL, n BIGINT NOT NULL");
    const char *rate = spate_arg(argc, argv, "--rate"); /* lines per second, to interrupt a run part-way */
    spate_stream_t *lines =
        spate_env_add_source(env, spate_file_text_source_rate(in, rate ? atoll(rate) : 0), "lines");
    spate_stream_t *words = spate_stream_flat_map(lines, "tokenize", tokenize, NULL, words_schema);
    spate_stream_t *counts = spate_keyed_sum(spate_stream_key_by_field(words, "word"), "n");
    spate_file_sink_options_t opts;
    spate_file_sink_options_init(&opts);
    opts.format = SPATE_FORMAT_TEXT;
    opts.delimiter = '\t';
    spate_stream_sink(counts, spate_file_sink(out, &opts), "counts");
    spate_schema_release(words_schema);
    return SPATE_OK;
}

/*
 * test_util.h — sources and sinks for runtime and API tests, built on the
 * connector interface so tests control exactly what flows:
 *
 *   seq source     rows (k BIGINT, v BIGINT) for v = 0..n-1, k = v % keys,
 *                  split across subtasks (subtask i emits v ≡ i mod p);
 *                  n = 0 means unbounded; optional event time = v.
 *   capture sink   appends every row, formatted "subtask|csv", to a
 *                  shared, mutex-protected list; can sleep per batch (slow sink)
 *                  and record the checkpoint barriers it sees.
 */
#ifndef SPATE_TEST_UTIL_H
#define SPATE_TEST_UTIL_H

#include <pthread.h>

#include "connectors/connector.h"

typedef struct tu_seq_opts {
    int64_t n;    /* rows in all; 0 = unbounded */
    int64_t keys; /* k = v % keys (keys > 0) */
    bool parallel;
    bool event_time; /* event timestamp = v */
    int rows_per_poll;
} tu_seq_opts_t;
spate_source_t *tu_seq_source(const tu_seq_opts_t *o);

typedef struct tu_capture {
    pthread_mutex_t mu;
    char **rows;
    size_t n, cap;
    int sleep_ms_per_batch;
    int64_t batches;
    bool record_barriers; /* add "subtask|BARRIER id" rows when a checkpoint barrier arrives */
    bool finished;
} tu_capture_t;
void tu_capture_init(tu_capture_t *c);
void tu_capture_fini(tu_capture_t *c);
/* Sorts the captured rows and joins them with '\n' (caller frees). With strip_subtask, drops "N|". */
char *tu_capture_sorted(tu_capture_t *c, bool strip_subtask);
spate_sink_t *tu_capture_sink(tu_capture_t *c);

/* Reads a whole file (caller frees), NULL if missing. */
char *tu_read_file(const char *path);
/* Concatenates the non-hidden files of a directory in name order (caller frees). */
char *tu_read_dir(const char *dir);
/* Sorts the lines of text (in place: returns a new string; caller frees). */
char *tu_sort_lines(const char *text);
/* A new temporary directory (caller frees the path; tu_rm_rf removes it). */
char *tu_mkdtemp(void);
void tu_rm_rf(const char *path);

#endif

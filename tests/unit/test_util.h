/*
 * test_util.h — sources and sinks for runtime and API tests, built on the
 * connector interface so tests control exactly what flows:
 *
 *   seq source     rows (k BIGINT, v BIGINT) for v = 0..n-1, k = v % keys,
 *                  split across subtasks (subtask i emits v ≡ i mod p);
 *                  n = 0 means unbounded; optional event time = v; optional
 *                  gate (a counter other parts of the test advance: the
 *                  rows wait until it reaches a value).
 *   capture sink   appends every row, formatted "subtask|csv", to a
 *                  shared, mutex-protected list; can sleep per batch (slow sink)
 *                  and record the checkpoint barriers it sees.
 *
 * For connector tests: a harness that drives a source's vtable the way the
 * runtime does (tu_drain into a tu_got_t), temporary directories as cmocka
 * setup/teardown, and file reading.  Helpers that check something fail the
 * cmocka test.
 */
#ifndef SPATE_TEST_UTIL_H
#define SPATE_TEST_UTIL_H

#include <pthread.h>
#include <stdatomic.h>

#include <spate/window.h>

#include "connectors/connector.h"
#include "runtime/runtime.h"
#include "state/operator_state.h"

typedef struct tu_seq_opts {
    int64_t n;    /* rows in all; 0 = unbounded */
    int64_t keys; /* k = v % keys (keys > 0) */
    bool parallel;
    bool event_time; /* event timestamp = v */
    int rows_per_poll;
    const atomic_llong *gate; /* if set: emit nothing (idle) until *gate >= gate_at (borrowed) */
    long long gate_at;
} tu_seq_opts_t;
spate_source_t *tu_seq_source(const tu_seq_opts_t *o);
/* A source that never emits and never ends (schema "k BIGINT, v BIGINT"); not parallel. */
spate_source_t *tu_idle_source(void);

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

/* ---- driving a source as the runtime does ---- */

/* What a source emitted (the batches are references: tu_got_free releases them) and how its polls went.
 * Zero it before the first use; several drains may add to one. */
typedef struct tu_got {
    sp_batch_t **b;
    size_t n, rows;
    uint32_t max_batch;               /* largest batch */
    int polls, idle;                  /* polls, and those that returned SP_FLOW_IDLE */
    bool ended;                       /* a poll returned SP_FLOW_END */
    int64_t min_wait_ms, max_wait_ms; /* *wait_ms over the IDLE polls */
    int64_t longest_poll_ns;
    int64_t elapsed_ns; /* of the last drain: from after open to the end of polling */
    int64_t skipped;    /* vt->skipped at close, when the source has it */
} tu_got_t;

/* Collector sink appending each batch to the tu_got_t `target` (the batch reference passes to it). */
int tu_collect(void *target, sp_batch_t *b);
void tu_got_free(tu_got_t *g);
/* Row i counted over all batches (borrowed from g); fails the test when out of range. */
spate_row_t tu_row_at(const tu_got_t *g, size_t i);

typedef struct tu_drain_opts {
    int subtask, parallelism; /* the subtask opened (parallelism 0: 1) */
    int max_polls;            /* stop after this many polls (0: no limit) */
    int64_t max_ms;           /* stop polling once this much time has passed since open (0: no limit) */
    /* checkpointed positions: restore these bytes after open (NULL: none); after poll number
     * snapshot_at (> 0) take the reader's position into *snapshot (caller frees) and the rows
     * read by then into *snapshot_rows */
    const uint8_t *restore;
    size_t restore_len;
    int snapshot_at;
    uint8_t **snapshot;
    size_t *snapshot_len, *snapshot_rows;
} tu_drain_opts_t;

/*
 * Opens `src` as subtask o->subtask of o->parallelism (o NULL: 0 of 1, no
 * limits) and polls it until SP_FLOW_END, a failure or a limit of o, then
 * closes it.  After every poll — also a failing one, so that the rows read
 * before it count — the collector is flushed into g; on SP_FLOW_IDLE the
 * harness asserts 0 <= *wait_ms <= 100 and sleeps that long.  Returns
 * SPATE_OK or the failure of open or poll (message in err).
 */
int tu_drain(const spate_source_t *src, const tu_drain_opts_t *o, tu_got_t *g, sp_error_t *err);

/* Restores operator instance `inst` (vtable vt) as subtask `index` of `parallelism` from the
 * snapshots (containers from vt->snapshot) of `nold` old instances, as a checkpoint restore does
 * (key-group range of max parallelism 128). Returns vt->restore's result. */
int tu_op_restore(const sp_op_vtable_t *vt, void *inst, const sp_opstate_bytes_t *old, int nold, int index,
                  int parallelism);

/* A new environment whose jobs do not restart when they fail (restart-strategy.type none): for
 * tests that check how a job fails (the default with checkpointing restarts, as in Flink). */
spate_env_t *tu_env_create(void);

/* Fails the test unless s holds exactly the text want. */
void tu_assert_str(spate_str_t s, const char *want);
/* Collector sink keeping the one batch it gets in *(sp_batch_t **)target (for building a batch). */
int tu_keep_batch(void *target, sp_batch_t *b);

/* ---- files ---- */

/* cmocka setup / teardown: *state = the path (char *) of a new temporary directory, which the
 * teardown removes with everything in it. */
int tu_setup_tmpdir(void **state);
int tu_teardown_tmpdir(void **state);
/* Reads a whole file (caller frees), NULL if missing; fails the test on a short read. */
char *tu_read_file(const char *path);
/* The same, also giving the length (len may be NULL). */
char *tu_read_file_len(const char *path, size_t *len);
/* Concatenates the non-hidden files of a directory in name order (caller frees). */
char *tu_read_dir(const char *dir);
/* Sorts the lines of text (in place: returns a new string; caller frees). */
char *tu_sort_lines(const char *text);
/* A new temporary directory (caller frees the path; tu_rm_rf removes it). */
char *tu_mkdtemp(void);
void tu_rm_rf(const char *path);

/* Asserts row i of a equals row j of b (same schema): NULLs, values bit-exact, kind, event time. */
void tu_assert_rows_equal(const sp_batch_t *a, uint32_t i, const sp_batch_t *b, uint32_t j);

/* Counting rows per key and window: an aggregate with an int64 accumulator whose emit writes
 * (key field 0, window start, window end, count); merge adds (session windows).  Tests replace
 * .add to inject failures or count calls. */
spate_aggregate_function_t tu_window_count(void);

#endif

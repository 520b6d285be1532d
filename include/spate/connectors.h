/*
 * spate/connectors.h — built-in sources and sinks.
 *
 * Constructors return a new source/sink whose ownership passes to the
 * environment when added (spate_env_add_source, spate_stream_sink), or NULL
 * with spate_last_error() set.  Paths are checked when the job starts; a
 * missing file fails the job with a message naming the path.
 */
#ifndef SPATE_CONNECTORS_H
#define SPATE_CONNECTORS_H

#include "datastream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a source does with a malformed record. */
typedef enum spate_error_policy {
    SPATE_ON_ERROR_FAIL = 0, /* fail the job with "path:line: problem" */
    SPATE_ON_ERROR_SKIP = 1  /* skip the record and count it (spate_job_records_skipped) */
} spate_error_policy_t;

/* Destroys a source or sink that was never handed to an environment. */
void spate_source_destroy(spate_source_t *source);
void spate_sink_destroy(spate_sink_t *sink);
const spate_schema_t *spate_source_schema(const spate_source_t *source);

/* ---- sources ---- */

/* In-memory rows, each given as one CSV line in the schema's field order
 * (delimiter ',', RFC 4180 quotes; empty field = NULL, "" = empty string).
 * Rows are parsed here: a bad row gives NULL with spate_last_error() naming
 * its 1-based number ("collection source: row 3: ...").  Bounded;
 * parallelism 1. Rows are copied. */
spate_source_t *spate_collection_source(const spate_schema_t *schema, const char *const *csv_rows, size_t n);

/* Text lines of a file (schema "line STRING"), without the line terminator ("\n" or "\r\n");
 * an empty line is the empty string.  Bounded; parallelism 1. */
spate_source_t *spate_file_text_source(const char *path);
/* The same, emitting at most lines_per_second lines per second (0 = unlimited). */
spate_source_t *spate_file_text_source_rate(const char *path, int64_t lines_per_second);

typedef struct spate_csv_options {
    char delimiter;                /* default ',' */
    bool skip_header;              /* skip the first line */
    spate_error_policy_t on_error; /* default SPATE_ON_ERROR_FAIL */
    int64_t rows_per_second;       /* 0 = unlimited */
    int timestamp_field;           /* >= 0: that BIGINT/TIMESTAMP field is the event time; -1: none */
} spate_csv_options_t;
void spate_csv_options_init(spate_csv_options_t *opts);
/* CSV file with a schema (RFC 4180 quoting: quoted fields may hold the delimiter, "" and newlines).
 * An empty unquoted field is NULL, a quoted empty field ("") the empty string; blank lines are ignored.
 * Malformed records (field count, unparsable value, NULL in a NOT NULL field, unterminated quote)
 * follow opts->on_error.  Bounded; parallelism 1. opts may be NULL (defaults). */
spate_source_t *spate_file_csv_source(const char *path, const spate_schema_t *schema,
                                      const spate_csv_options_t *opts);

/* Text lines read from a TCP socket (schema "line STRING"); ends when the peer closes. Parallelism 1. */
spate_source_t *spate_socket_text_source(const char *host, int port);

/*
 * Data generator, as Flink's datagen connector.  Per field, "sequence"
 * (start..end inclusive) or "random" (numbers in [min, max], strings of
 * `length` chars).  A subtask ends when its share of number_of_rows or any
 * of its sequence ranges is used up (as Flink); with neither the source is
 * unbounded.  Parallel: subtask i of p makes number_of_rows / p rows (the
 * first number_of_rows % p one more) and owns a disjoint contiguous part of
 * every sequence; rows_per_second is split evenly.  Deterministic for a
 * given (seed, subtask), except random DATE/TIMESTAMP fields without a
 * range, which are today/now as in Flink.  Defaults and the exact split:
 * src/connectors/datagen.c.
 */
typedef enum spate_datagen_kind { SPATE_DATAGEN_RANDOM = 0, SPATE_DATAGEN_SEQUENCE = 1 } spate_datagen_kind_t;
/* A zeroed struct (or spate_datagen_field_init) is "random with the type's default range". */
typedef struct spate_datagen_field {
    spate_datagen_kind_t kind;
    int64_t start, end; /* sequence bounds (inclusive); not for BOOLEAN */
    double min, max;    /* random bounds (INT/BIGINT/DOUBLE/DECIMAL values, DATE days, TIMESTAMP ms);
                           min == max == 0: the type's default range */
    int length;         /* random VARCHAR/BYTES length (0 = default 10) */
    double null_rate;   /* probability of NULL (random fields of nullable columns only) */
} spate_datagen_field_t;
void spate_datagen_field_init(spate_datagen_field_t *field);
typedef struct spate_datagen_options {
    int64_t rows_per_second; /* total over all subtasks; 0 = unlimited (Flink's default is 10000) */
    int64_t number_of_rows;  /* total over all subtasks; 0 = unbounded (unless a sequence bounds it) */
    uint64_t seed;           /* random streams derive from (seed, subtask index) */
    /* NULL = random for every field; else one per schema field (copied) */
    const spate_datagen_field_t *fields;
} spate_datagen_options_t;
void spate_datagen_options_init(spate_datagen_options_t *opts);
spate_source_t *spate_datagen_source(const spate_schema_t *schema, const spate_datagen_options_t *opts);

/* Nexmark generator (../shared/reference/nexmark.md).  `which` picks the
 * stream: persons, auctions or bids (each with its own flat schema, event
 * time = dateTime), or all events in one wide schema ("event_type INT" then
 * the person_*, auction_* and bid_* columns, NULL where not applicable). */
typedef enum spate_nexmark_stream {
    SPATE_NEXMARK_ALL = 0,
    SPATE_NEXMARK_PERSONS,
    SPATE_NEXMARK_AUCTIONS,
    SPATE_NEXMARK_BIDS
} spate_nexmark_stream_t;
typedef struct spate_nexmark_options {
    uint64_t events_num;           /* events.num: total over all subtasks; 0 = unbounded */
    uint64_t first_event_rate;     /* first-event.rate, events per event-time second (10000) */
    int64_t base_time_ms;          /* event time of the first event; 0 = wall clock at start */
    int64_t max_events_per_second; /* wall-clock emission limit per job, 0 = as fast as possible */
    uint64_t seed;
} spate_nexmark_options_t;
void spate_nexmark_options_init(spate_nexmark_options_t *opts);
spate_source_t *spate_nexmark_source(const spate_nexmark_options_t *opts, spate_nexmark_stream_t which);

/* ---- sinks ---- */

typedef struct spate_print_options {
    bool to_stderr;     /* print to stderr instead of stdout */
    const char *prefix; /* "prefix:" before each line, as Flink's print(prefix) */
} spate_print_options_t;
/* Prints rows as Flink's print sink does, one line per row:
 *   "+I[f1, f2, ...]"          parallelism 1, no prefix
 *   "prefix> +I[...]"          parallelism 1, with a prefix
 *   "2> +I[...]"               parallelism > 1 (1-based subtask number)
 *   "prefix:2> +I[...]"        both
 * Row kinds +I, -U, +U, -D; NULL prints as "null".  Each batch is written
 * with one fwrite, so lines of parallel subtasks never mix. opts may be NULL. */
spate_sink_t *spate_print_sink(const spate_print_options_t *opts);

typedef enum spate_file_format {
    SPATE_FORMAT_CSV = 0, /* RFC 4180, delimiter configurable */
    SPATE_FORMAT_TEXT = 1 /* fields joined by the delimiter, no quoting (default delimiter TAB) */
} spate_file_format_t;
typedef struct spate_file_sink_options {
    spate_file_format_t format;
    char delimiter; /* 0 = format's default (',' for CSV, '\t' for TEXT) */
    int64_t
        rolling_max_bytes; /* roll to a new part file once a part reaches this size (0 = default 128 MiB) */
} spate_file_sink_options_t;
void spate_file_sink_options_init(spate_file_sink_options_t *opts);
/*
 * Exactly-once part files in directory `path` (created if missing, with its
 * parents), as Flink's FileSink.  Subtask s writes its rows into hidden
 * in-progress files ".part-<s>-<n>.inprogress.<16 hex digits>"; a part is
 * rolled (closed, n + 1) after the row that brings it to rolling_max_bytes,
 * so a part never splits a row.  At a checkpoint barrier the open part is
 * fsynced and closed: it is pending, still hidden.  When that checkpoint
 * completes, every pending part is renamed to its visible name
 * "part-<s>-<n>" and the directory fsynced.  End of input (and so BATCH
 * mode, and a job without checkpoints) commits the final parts the same
 * way.  After a crash and a restore, the parts of the restored checkpoint
 * are committed and the subtask's other in-progress files deleted, so the
 * visible files hold every row exactly once.  Readers must ignore names
 * starting with '.'.
 * One line per row; NULL is an empty field; the row kind is not written.
 * opts may be NULL.  It is a two-phase-commit sink (below).
 */
spate_sink_t *spate_file_sink(const char *path, const spate_file_sink_options_t *opts);

/* ---- two-phase-commit sinks (Flink's TwoPhaseCommitSinkFunction) ----
 *
 * A sink that writes into transactions and publishes a transaction only
 * when the checkpoint that covers its rows has completed.  Per parallel
 * subtask, on the subtask's thread, Spate calls:
 *
 *   open               once; makes the writer (per-subtask state)
 *   begin_transaction  before the first row after open, a restore or a
 *                      pre-commit (so a transaction is never empty of calls
 *                      to write; a checkpoint with no rows has none)
 *   write              rows of the current transaction (borrowed for the call)
 *   pre_commit         at checkpoint barrier `checkpoint_id`, after every row
 *                      before it: make the current transaction durable but
 *                      unpublished (flush, fsync) and describe it with
 *                      spate_txn_append: bytes that the checkpoint stores and
 *                      that are enough to commit or abort it in another
 *                      process (e.g. which hidden files to publish).  The
 *                      transaction is no longer current.  An empty
 *                      description means there is nothing to commit.
 *   commit             once checkpoint n is complete, for every transaction
 *                      pre-committed at a barrier <= n, in order; also at
 *                      end of input for every transaction and the final one
 *                      (pre-committed first); and after a restore, for
 *                      every transaction in the checkpoint, by subtask
 *                      (old subtask index mod new parallelism), before any
 *                      row.  Must be idempotent: a restored transaction may
 *                      have been committed already, so committing it again
 *                      succeeds and changes nothing.
 *   abort              discards a transaction: with txn NULL (len 0) the
 *                      current one (close after a failure or cancel, when no
 *                      end of input came), else a pre-committed one given by
 *                      its description.  Idempotent; aborting a committed
 *                      transaction does nothing.
 *   recover            optional; after a restore, once every restored
 *                      transaction was committed: pending[0..n) are their
 *                      descriptions (every pre-committed transaction of
 *                      every subtask in the checkpoint).  Clean up what the
 *                      failed run left: data of transactions that were never
 *                      pre-committed (e.g. in-progress files of this subtask
 *                      no listed transaction names).
 *   close              releases the writer, also after a failure.
 *
 * A call returns SPATE_OK or fails the job with spate_sink_fail(c, ...);
 * a failed job restarts from its latest checkpoint.  Transactions that
 * were pre-committed but not committed when a job fails are neither
 * committed nor aborted by that run: the restore commits them.
 */
typedef struct spate_sink_context spate_sink_context_t; /* borrowed for the call */
typedef struct spate_txn spate_txn_t;                   /* a pre-commit's description, being written */
/* The subtask the call runs for. */
const spate_task_info_t *spate_sink_context_task(const spate_sink_context_t *c);
/* Records a failure (code < 0, message) and returns code: `return spate_sink_fail(c, SPATE_EIO, ...)`. */
int spate_sink_fail(spate_sink_context_t *c, int code, const char *fmt, ...) SPATE_PRINTF(3, 4);
/* Appends len bytes (copied) to the description of the transaction being pre-committed. */
void spate_txn_append(spate_txn_t *txn, const void *bytes, size_t len);

typedef struct spate_twophase_sink_function {
    const char *kind;           /* shown in plans (copied); NULL = "twophase" */
    void *ctx;                  /* given to open; shared by every subtask (read-only there) */
    void (*destroy)(void *ctx); /* optional: frees ctx with the sink */
    int (*open)(void *ctx, spate_sink_context_t *c, void **writer);
    int (*begin_transaction)(void *writer, spate_sink_context_t *c);
    int (*write)(void *writer, const spate_row_t *rows, size_t n, spate_sink_context_t *c);
    int (*pre_commit)(void *writer, int64_t checkpoint_id, spate_txn_t *txn, spate_sink_context_t *c);
    int (*commit)(void *writer, const void *txn, size_t len, spate_sink_context_t *c);
    int (*abort)(void *writer, const void *txn, size_t len, spate_sink_context_t *c);
    int (*recover)(void *writer, const void *const *pending, const size_t *lens, size_t n,
                   spate_sink_context_t *c);
    void (*close)(void *writer);
} spate_twophase_sink_function_t;
/* A sink over fn (copied; fn->ctx passes to the sink, which calls fn->destroy on it when destroyed,
 * also when this call fails).  Every member but kind, destroy and recover is required: NULL
 * otherwise, with spate_last_error() naming the missing one. */
spate_sink_t *spate_twophase_sink(const spate_twophase_sink_function_t *fn);

/* Discards every row (counts them). */
spate_sink_t *spate_blackhole_sink(void);

#ifdef __cplusplus
}
#endif
#endif

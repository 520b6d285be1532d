/*
 * task.h — execution graph internals shared by job.c (building, starting,
 * stopping) and task.c (the mailbox loop of one task, outputs, writers).
 * Private to src/runtime.
 */
#ifndef SP_TASK_H
#define SP_TASK_H

#include "connectors/connector.h"
#include "runtime/barrier.h"
#include "runtime/channel.h"
#include "runtime/restart.h"

typedef struct sp_task sp_task_t;
typedef struct sp_opinst sp_opinst_t;

/* A writer: the partitioner of one edge in one producer subtask, with its channels. */
typedef struct sp_writer {
    sp_part_kind_t kind;
    int nch;
    sp_channel_t **ch; /* by downstream subtask (all-to-all kinds) or the few targets (forward, rescale) */
    uint32_t rr;       /* round-robin position */
    sp_key_selector_t key;
    int max_parallelism;
    spate_key_t keybuf;
    spate_partition_fn custom_fn;
    void *custom_ctx;
    sp_batch_t **scatter; /* per target, rows being gathered (hash/custom) */
    /* hash/custom, per batch: each row's target; the rows by target, in their order (sel), and
     * where each target's rows start in sel (start, nch + 1 entries); the key bytes of a BIGINT key
     * read from its column (key_field, for batches of key_schema; 16 bytes a row) */
    uint32_t *target, *sel, *start;
    uint8_t *keys;
    uint32_t cap;    /* rows target, sel and keys have room for */
    uint16_t *owner; /* hash: each key group's target (max_parallelism of them), made at first use */
    const spate_schema_t *key_schema;
    int key_field;
    sp_task_t *task;
} sp_writer_t;

struct sp_output {
    sp_task_t *task;
    sp_opinst_t **chained; /* chained downstream operators */
    int *chained_input;
    int *chained_tag; /* 0: the main output; > 0: a side output (rows sent with sp_output_push_side) */
    int nchained;
    sp_writer_t **writers;
    int *writer_tag;
    int nwriters;
};

struct sp_opinst {
    const sp_node_t *node;
    const sp_op_vtable_t *vt; /* NULL for the source pseudo-operator */
    void *inst;
    bool opened;
    sp_op_ctx_t ctx;
    sp_output_t out;
};

typedef struct sp_input {
    sp_channel_t *ch;
    int input;
    int64_t watermark;
    bool ended;
    bool idle;    /* the channel's producer declared itself idle */
    bool aligned; /* counts in the minimum: not idle, and caught up with the task's watermark */
    /* priority barriers that overtook data on this channel: barrier ov[i].id is delivered once ov[i].left
     * more elements were read (oldest first) */
    struct sp_overtaken {
        int64_t id;
        uint32_t left;
    } * ov;
    int nov, capov;
} sp_input_t;

/* A mail: work another thread asks the task to do on its own thread. */
typedef struct sp_mail {
    void (*fn)(sp_task_t *t, int64_t arg);
    int64_t arg;
    struct sp_mail *next;
} sp_mail_t;

typedef struct sp_mailbox {
    pthread_mutex_t mu;
    sp_mail_t *head, *tail;
} sp_mailbox_t;

struct sp_task {
    _Alignas(SP_CACHE_LINE) sp_job_t *job; /* tasks of a chain sit in one array: no shared lines */
    int chain, subtask, parallelism;
    pthread_t thread;
    bool started;
    sp_opinst_t *ops; /* ops[0] is the chain head; topological order */
    int nops;
    /* source chains */
    spate_source_t *source;
    void *reader;
    spate_collector_t src_out;
    bool src_out_init;
    sp_source_ctx_t sctx;
    /* input gate */
    sp_input_t *inputs;
    int ninputs, nended;
    int64_t watermark;
    bool idle;             /* every input channel is idle, and the chain was told so */
    bool finishing;        /* in chain_finish: forwarded watermarks are held back */
    sp_barrier_t barriers; /* input tasks: checkpoint barrier alignment over the input channels */
    bool barriers_init;
    struct sp_inflight *inflight; /* unaligned checkpoints being recorded (inflight.h), oldest first */
    bool priority_barriers;       /* barriers go out ahead of queued data (unaligned, no aligned timeout) */
    sp_notifier_t notifier;
    sp_mailbox_t mailbox;
    int mail_rc;     /* failure of a mail's work, reported by the loop */
    bool final_done; /* the job's final checkpoint completed (checkpointing.c) */
    /* stop-with-savepoint: a source after its savepoint barrier emits nothing more (SUSPENDED), or
     * ends its input (ENDED, with --drain); an input task delivered the maximum watermark early */
    enum { SP_SRC_RUNNING, SP_SRC_SUSPENDED, SP_SRC_ENDED } src_state;
    bool drained;
    bool done; /* ended: sp_job_task_done ran (under the job's lock) */
    sp_error_t error;
    const sp_node_t *failed_node; /* the operator whose call failed first */
};

/* ---- the job (job.c) ---- */
typedef struct sp_chain {
    int *nodes; /* topological order */
    int nnodes;
    int parallelism;
    sp_task_t *tasks;
} sp_chain_t;

struct spate_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    spate_job_status_t status;
    char *error;
    int error_code;
    int running; /* tasks not yet done */
    bool joined;
    const sp_graph_t *g;
    const sp_config_t *config;
    int *par;      /* resolved parallelism per node */
    int *chain_of; /* node -> chain */
    int *pos_in_chain;
    sp_chain_t *chains;
    int nchains;
    sp_channel_t **channels;
    int nchannels, cap_channels;
    sp_writer_t **writers;
    int nwriters, cap_writers;
    int max_parallelism;
    bool batch_mode;
    atomic_llong skipped;
    atomic_bool draining;        /* stop-with-savepoint --drain: the maximum watermark goes ahead */
    atomic_llong aligned_only;   /* the savepoint's checkpoint id: aligned, however unaligned is set */
    bool stopped_with_savepoint; /* the stop ends the job FINISHED, not CANCELED */
    bool dry_restore;            /* sp_job_dry_restore: the tasks end after their restore */
    const spate_clock_t *clock;
    struct sp_job_ckpt *ckpt; /* checkpointing (checkpointing.c); NULL when off */
    /* restarts (job.c): a supervisor thread replaces a failed attempt's tasks with new ones */
    sp_edge_t *edges; /* resolved, for every attempt */
    char *name;
    sp_restart_t restart;
    bool restarts; /* a supervisor runs */
    pthread_t supervisor;
    bool restart_pending; /* the attempt failed and is stopping: a new one follows */
    bool cancel_requested;
    bool done; /* final status set, every task thread joined */
    int64_t restart_delay_ms;
    int attempt;
};

/* job.c: the parallelism node n runs at, with `def` the job's default (parallelism.default). */
int sp_node_parallelism(const sp_node_t *n, int def);
/* Runs one task to completion on the calling thread (task.c). */
void *sp_task_main(void *task);
void sp_mailbox_init(sp_mailbox_t *m);
/* Frees mails never run. */
void sp_mailbox_fini(sp_mailbox_t *m);
/* Queues fn(t, arg) to run on t's thread and wakes it. Safe from any thread. */
void sp_task_post(sp_task_t *t, void (*fn)(sp_task_t *t, int64_t arg), int64_t arg);
/* Mail: a source task emits checkpoint barrier `id` after the rows it has emitted. */
void sp_task_mail_barrier(sp_task_t *t, int64_t id);
/* Mail: the same for stop-with-savepoint `id`: afterwards the source emits nothing more; with the
 * job draining, the maximum watermark goes first and the source's input ends after the barrier. */
void sp_task_mail_stop_barrier(sp_task_t *t, int64_t id);
/* Mail: checkpoint `id` was given up (coordinator abort or timeout): an input task stops aligning it
 * and every older one (blocked channels are read again) and ignores its barriers from now on. */
void sp_task_mail_abort_checkpoint(sp_task_t *t, int64_t id);
/* job.c: fails the running job with `message` (first failure wins) and stops its tasks. */
void sp_job_fail(sp_job_t *job, int code, const char *message);
/* job.c: report the end of a task (rc = its outcome). */
void sp_job_task_done(sp_job_t *job, sp_task_t *t, int rc);
bool sp_job_stopping(const sp_job_t *job);
/* Injects stop-with-savepoint barrier `id` at every source task (sp_task_mail_stop_barrier). */
int sp_job_trigger_stop_barrier(sp_job_t *job, int64_t id);
/* Stop-with-savepoint done: stops every task; the job ends FINISHED, with no restart. */
void sp_job_finish_stopped(sp_job_t *job);
/* Adds to the job's count of skipped malformed records. */
void sp_job_add_skipped(sp_job_t *job, int64_t n);
atomic_bool *sp_job_stop_flag(sp_job_t *job);

#endif

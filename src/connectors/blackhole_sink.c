/*
 * blackhole_sink.c — spate_blackhole_sink: discards every row, as Flink's
 * blackhole connector; for benchmarks and for jobs run for their side
 * effects.  write() only adds the batch's row count: O(1) per batch, it
 * never looks at a row.
 *
 * Thread-safety: the spec is empty; a writer belongs to its task thread.
 */
#include "connectors/connector.h"

typedef struct blackhole_writer {
    int64_t rows;    /* rows received by this subtask */
    int64_t batches; /* batches received by this subtask */
} blackhole_writer_t;

static int blackhole_open(const void *spec, const spate_task_info_t *info, sp_error_t *err, void **writer)
{
    SP_UNUSED(spec);
    SP_UNUSED(info);
    SP_UNUSED(err);
    *writer = sp_xcalloc(1, sizeof(blackhole_writer_t));
    return SPATE_OK;
}

static int blackhole_write(void *writer, const sp_batch_t *batch, sp_error_t *err)
{
    SP_UNUSED(err);
    blackhole_writer_t *w = writer;
    w->rows += batch->count;
    w->batches++;
    return SPATE_OK;
}

static int blackhole_finish(void *writer, sp_error_t *err)
{
    SP_UNUSED(writer);
    SP_UNUSED(err);
    return SPATE_OK;
}

static void blackhole_close(void *writer)
{
    free(writer);
}

static const sp_sink_vtable_t blackhole_vtable = {
    .kind = "blackhole",
    .open = blackhole_open,
    .write = blackhole_write,
    .finish = blackhole_finish,
    .close = blackhole_close,
    .destroy = NULL,
};

spate_sink_t *spate_blackhole_sink(void)
{
    return sp_sink_new(&blackhole_vtable, NULL);
}

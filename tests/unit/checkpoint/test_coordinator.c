/*
 * test_coordinator.c — the checkpoint coordinator against a real store in a
 * temp directory and a model job (hooks that record what they are told):
 * completion once every subtask acknowledged (metadata on disk with the
 * handles), declines and timeouts aborting, tolerable failures, periodic
 * triggers and the min pause on a manual clock, max concurrent checkpoints,
 * subsumed checkpoints, and statistics.
 */
#include "test_main.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint/coordinator.h"
#include "test_util.h"

typedef struct model {
    pthread_mutex_t mu;
    uint64_t triggered[64], completed[64], aborted[64];
    int ntriggered, ncompleted, naborted;
    char why[512], fail_why[512];
    int failed;
} model_t;

static int on_trigger(void *ctx, uint64_t id)
{
    model_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    m->triggered[m->ntriggered++ % 64] = id;
    pthread_mutex_unlock(&m->mu);
    return SPATE_OK;
}

static void on_complete(void *ctx, uint64_t id)
{
    model_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    m->completed[m->ncompleted++ % 64] = id;
    pthread_mutex_unlock(&m->mu);
}

static void on_abort(void *ctx, uint64_t id, const char *why)
{
    model_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    m->aborted[m->naborted++ % 64] = id;
    snprintf(m->why, sizeof m->why, "%s", why);
    pthread_mutex_unlock(&m->mu);
}

static void on_fail_job(void *ctx, const char *why)
{
    model_t *m = ctx;
    pthread_mutex_lock(&m->mu);
    m->failed++;
    snprintf(m->fail_why, sizeof m->fail_why, "%s", why);
    pthread_mutex_unlock(&m->mu);
}

static int count_of(model_t *m, const int *n)
{
    pthread_mutex_lock(&m->mu);
    int v = *n;
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* Waits (at most 3 s) until *n reaches want. */
static int wait_count(model_t *m, const int *n, int want)
{
    for (int i = 0; i < 300 && count_of(m, n) < want; i++) sp_sleep_ms(10);
    return count_of(m, n);
}

/* A job "wc" with operators source (1 subtask) and count (2 subtasks), its store and a coordinator. */
typedef struct fixture {
    char *dir;
    sp_ckpt_storage_t *storage;
    sp_ckpt_store_t *store;
    sp_ckpt_coord_t *coord;
    spate_clock_t *clock;
    model_t model;
} fixture_t;

static void setup(fixture_t *f, const sp_ckpt_coord_opts_t *opts, bool start)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->model.mu, NULL);
    f->dir = tu_mkdtemp();
    f->storage = sp_ckpt_local_storage_create();
    uint8_t job_id[SP_CKPT_JOB_ID_LEN];
    for (int i = 0; i < SP_CKPT_JOB_ID_LEN; i++) job_id[i] = (uint8_t)(i * 7 + 1);
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_store_create(f->storage, f->dir, job_id, 2, &f->store, &err), SPATE_OK);
    sp_ckpt_meta_t t;
    sp_ckpt_meta_init(&t);
    memcpy(t.job_id, job_id, sizeof t.job_id);
    sp_ckpt_meta_set_job_name(&t, "wc");
    t.max_parallelism = 128;
    sp_ckpt_meta_add_operator(&t, "src", "Source", 1, 128);
    sp_ckpt_meta_add_operator(&t, "count", "Count", 2, 128);
    f->clock = spate_manual_clock_create(1000000);
    sp_ckpt_coord_hooks_t hooks = { .ctx = &f->model,
                                    .trigger = on_trigger,
                                    .complete = on_complete,
                                    .abort = on_abort,
                                    .fail_job = on_fail_job };
    f->coord = sp_ckpt_coord_create(opts, &t, f->store, f->clock, &hooks);
    sp_ckpt_meta_fini(&t);
    if (start) assert_int_equal(sp_ckpt_coord_start(f->coord, &err), SPATE_OK);
}

static void teardown(fixture_t *f)
{
    sp_ckpt_coord_destroy(f->coord);
    sp_ckpt_store_destroy(f->store);
    sp_ckpt_storage_destroy(f->storage);
    spate_clock_destroy(f->clock);
    tu_rm_rf(f->dir);
    free(f->dir);
    pthread_mutex_destroy(&f->model.mu);
}

/* Acknowledges checkpoint id from every subtask, each with one inline operator-state handle of 3 bytes. */
static void ack_all(fixture_t *f, uint64_t id)
{
    uint8_t bytes[3] = { 1, 2, 3 };
    sp_ckpt_handle_t h = {
        .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_INLINE, .length = 3, .data = bytes
    };
    sp_ckpt_ack_info_t info = { .alignment_ms = 7 };
    assert_true(sp_ckpt_coord_ack(f->coord, id, 0, 0, &h, 1, &info));
    assert_true(sp_ckpt_coord_ack(f->coord, id, 1, 0, &h, 1, NULL));
    assert_true(sp_ckpt_coord_ack(f->coord, id, 1, 1, &h, 1, NULL));
}

static bool chk_exists(fixture_t *f, uint64_t id, const char *file)
{
    char *d = sp_ckpt_store_chk_dir(f->store, id);
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", d, file ? "/" : "", file ? file : "");
    free(d);
    struct stat sb;
    return stat(path, &sb) == 0;
}

static const sp_ckpt_coord_opts_t manual_opts = { .interval_ms = 0, .timeout_ms = 0, .max_concurrent = 1 };

static void a_checkpoint_completes_when_every_subtask_acknowledged(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f, &manual_opts, false);
    uint64_t id = 0;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &id, &err), SPATE_OK);
    assert_true(id >= 1);
    assert_int_equal(f.model.ntriggered, 1);
    assert_true(f.model.triggered[0] == id);
    assert_true(chk_exists(&f, id, NULL));
    assert_false(chk_exists(&f, id, "_metadata"));
    uint8_t b = 9;
    sp_ckpt_handle_t h = {
        .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_INLINE, .length = 1, .data = &b
    };
    assert_true(sp_ckpt_coord_ack(f.coord, id, 1, 1, &h, 1, NULL));
    assert_false(sp_ckpt_coord_ack(f.coord, id, 1, 1, &h, 1, NULL)); /* twice: ignored */
    assert_false(sp_ckpt_coord_ack(f.coord, id, 1, 2, &h, 1, NULL)); /* no such subtask */
    assert_false(sp_ckpt_coord_ack(f.coord, id + 5, 0, 0, &h, 1, NULL));
    assert_true(sp_ckpt_coord_ack(f.coord, id, 0, 0, &h, 1, NULL));
    assert_int_equal(f.model.ncompleted, 0);
    assert_false(chk_exists(&f, id, "_metadata"));
    assert_true(sp_ckpt_coord_ack(f.coord, id, 1, 0, &h, 1, NULL));
    assert_int_equal(f.model.ncompleted, 1);
    assert_true(f.model.completed[0] == id);
    assert_true(chk_exists(&f, id, "_metadata"));
    assert_true(sp_ckpt_coord_latest(f.coord) == id);
    /* the metadata on disk holds every handle under its operator and subtask */
    sp_ckpt_found_t found;
    char *d = sp_ckpt_store_chk_dir(f.store, id);
    assert_int_equal(sp_ckpt_resolve(f.storage, d, &found, &err), SPATE_OK);
    free(d);
    assert_string_equal(found.meta.job_name, "wc");
    assert_int_equal(found.meta.nops, 2);
    assert_int_equal(found.meta.ops[1]->subtasks[1].nhandles, 1);
    assert_int_equal(found.meta.ops[1]->subtasks[1].handles[0].data[0], 9);
    sp_ckpt_found_fini(&found);
    sp_ckpt_stats_t s;
    assert_int_equal(sp_ckpt_coord_stats_count(f.coord), 1);
    assert_true(sp_ckpt_coord_stats_at(f.coord, 0, &s));
    assert_int_equal(s.status, SP_CKPT_COMPLETED);
    assert_int_equal(s.acks, 3);
    assert_int_equal(s.expected, 3);
    assert_int_equal(s.state_bytes, 3);
    assert_true(s.ops[0].ack_ms > 0 && s.ops[1].ack_ms > 0);
    assert_int_equal(s.ops[0].acks, 1); /* per operator: every subtask, the bytes of its handles */
    assert_int_equal(s.ops[1].acks, 2);
    assert_int_equal(s.ops[0].state_bytes, 1);
    assert_int_equal(s.ops[1].state_bytes, 2);
    free(s.ops);
    teardown(&f);
}

static void declines_abort_and_failures_in_a_row_fail_the_job(void **state)
{
    (void)state;
    sp_ckpt_coord_opts_t o = manual_opts;
    o.tolerable_failures = 1;
    fixture_t f;
    setup(&f, &o, false);
    uint64_t a, b, c, d;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &a, &err), SPATE_OK);
    sp_ckpt_coord_decline(f.coord, a, 1, 0, "disk on fire");
    assert_int_equal(f.model.naborted, 1);
    assert_string_equal(f.model.why, "declined by operator 'Count' (1): disk on fire");
    assert_false(chk_exists(&f, a, NULL)); /* the store aborted it */
    assert_int_equal(f.model.failed, 0);   /* one failure is tolerated */
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &b, &err), SPATE_OK);
    ack_all(&f, b); /* a success resets the count */
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &c, &err), SPATE_OK);
    sp_ckpt_coord_decline(f.coord, c, 0, 0, "x");
    assert_int_equal(f.model.failed, 0);
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &d, &err), SPATE_OK);
    sp_ckpt_coord_decline(f.coord, d, 0, 0, "y");
    assert_int_equal(f.model.failed, 1);
    assert_non_null(strstr(f.model.fail_why, "Exceeded checkpoint tolerable failure threshold (1)"));
    assert_true(sp_ckpt_coord_latest(f.coord) == b);
    err.code = 0;
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &d, &err), SPATE_ESTATE); /* stopped triggering */
    sp_ckpt_stats_t s;
    assert_true(sp_ckpt_coord_stats_at(f.coord, 0, &s));
    assert_int_equal(s.status, SP_CKPT_FAILED);
    assert_string_equal(s.failure, "declined by operator 'Count' (1): disk on fire");
    free(s.ops);
    teardown(&f);
}

static void pending_checkpoints_time_out_on_the_clock(void **state)
{
    (void)state;
    sp_ckpt_coord_opts_t o = manual_opts;
    o.timeout_ms = 5000;
    o.tolerable_failures = 5;
    fixture_t f;
    setup(&f, &o, true);
    uint64_t id;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &id, &err), SPATE_OK);
    spate_manual_clock_advance(f.clock, 4999);
    sp_sleep_ms(50);
    assert_int_equal(count_of(&f.model, &f.model.naborted), 0);
    spate_manual_clock_advance(f.clock, 1);
    assert_int_equal(wait_count(&f.model, &f.model.naborted, 1), 1);
    pthread_mutex_lock(&f.model.mu);
    assert_non_null(strstr(f.model.why, "expired before completing"));
    pthread_mutex_unlock(&f.model.mu);
    assert_false(sp_ckpt_coord_ack(f.coord, id, 0, 0, NULL, 0, NULL)); /* too late */
    teardown(&f);
}

static void periodic_triggers_keep_the_interval_and_the_min_pause(void **state)
{
    (void)state;
    sp_ckpt_coord_opts_t o = { .interval_ms = 1000, .min_pause_ms = 500, .max_concurrent = 3 };
    fixture_t f;
    setup(&f, &o, true);
    sp_sleep_ms(30);
    assert_int_equal(count_of(&f.model, &f.model.ntriggered), 0);
    spate_manual_clock_advance(f.clock, 1000);
    assert_int_equal(wait_count(&f.model, &f.model.ntriggered, 1), 1);
    pthread_mutex_lock(&f.model.mu);
    uint64_t first = f.model.triggered[0];
    pthread_mutex_unlock(&f.model.mu);
    /* min pause > 0: one at a time, so nothing more while the first is pending */
    spate_manual_clock_advance(f.clock, 3000);
    sp_sleep_ms(50);
    assert_int_equal(count_of(&f.model, &f.model.ntriggered), 1);
    ack_all(&f, first);
    sp_sleep_ms(50); /* the pause runs from the end of the first */
    assert_int_equal(count_of(&f.model, &f.model.ntriggered), 1);
    spate_manual_clock_advance(f.clock, 500);
    assert_int_equal(wait_count(&f.model, &f.model.ntriggered, 2), 2);
    teardown(&f);
}

static void a_newer_completed_checkpoint_subsumes_older_pending_ones(void **state)
{
    (void)state;
    sp_ckpt_coord_opts_t o = manual_opts;
    o.max_concurrent = 2;
    fixture_t f;
    setup(&f, &o, false);
    uint64_t a, b, c;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &a, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &b, &err), SPATE_OK);
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &c, &err), SPATE_ESTATE);
    assert_non_null(strstr(err.message, "pending already"));
    ack_all(&f, b);
    assert_int_equal(f.model.ncompleted, 1);
    assert_int_equal(f.model.naborted, 1);
    assert_true(f.model.aborted[0] == a);
    assert_string_equal(f.model.why, "subsumed by a newer completed checkpoint");
    assert_int_equal(f.model.failed, 0); /* subsumed is no failure */
    assert_false(chk_exists(&f, a, NULL));
    assert_true(chk_exists(&f, b, "_metadata"));
    teardown(&f);
}

static void finished_subtasks_acknowledge_with_their_final_state(void **state)
{
    (void)state;
    fixture_t f;
    setup(&f, &manual_opts, false);
    uint64_t a, b;
    sp_error_t err = { 0 };
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &a, &err), SPATE_OK);
    uint8_t fin = 42;
    sp_ckpt_handle_t h = {
        .kind = SP_CKPT_HANDLE_OPERATOR, .location = SP_CKPT_LOC_INLINE, .length = 1, .data = &fin
    };
    sp_ckpt_coord_finish(f.coord, 0, 0, &h, 1); /* the source ended: it acknowledges a, and all later ones */
    assert_true(sp_ckpt_coord_ack(f.coord, a, 1, 0, NULL, 0, NULL));
    assert_int_equal(f.model.ncompleted, 0);
    sp_ckpt_coord_finish(f.coord, 1, 1, NULL, 0);
    assert_int_equal(f.model.ncompleted, 1); /* the last one finishing completes it */
    assert_true(f.model.completed[0] == a);
    sp_ckpt_coord_finish(f.coord, 1, 0, NULL, 0);
    assert_int_equal(sp_ckpt_coord_trigger(f.coord, &b, &err), SPATE_OK); /* everything finished: at once */
    assert_int_equal(f.model.ncompleted, 2);
    sp_ckpt_found_t found;
    char *d = sp_ckpt_store_chk_dir(f.store, b);
    assert_int_equal(sp_ckpt_resolve(f.storage, d, &found, &err), SPATE_OK);
    free(d);
    assert_int_equal(found.meta.ops[0]->subtasks[0].nhandles, 1);
    assert_int_equal(found.meta.ops[0]->subtasks[0].handles[0].data[0], 42);
    sp_ckpt_found_fini(&found);
    teardown(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(finished_subtasks_acknowledge_with_their_final_state),
    cmocka_unit_test(a_checkpoint_completes_when_every_subtask_acknowledged),
    cmocka_unit_test(declines_abort_and_failures_in_a_row_fail_the_job),
    cmocka_unit_test(pending_checkpoints_time_out_on_the_clock),
    cmocka_unit_test(periodic_triggers_keep_the_interval_and_the_min_pause),
    cmocka_unit_test(a_newer_completed_checkpoint_subsumes_older_pending_ones),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "checkpoint_coordinator");
}

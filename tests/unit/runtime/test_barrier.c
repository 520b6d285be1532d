/*
 * test_barrier.c — the barrier handler (src/runtime/barrier.h) alone: which
 * channels it blocks, when it completes or aborts a checkpoint, in both
 * checkpointing modes; supersede, cancellation, end of input while
 * aligning, one channel and many, alignment statistics.
 */
#include "test_main.h"

#include <stdio.h>
#include <string.h>

#include "runtime/barrier.h"

/* The actions of the last event as text: "C3" = checkpoint 3 complete, "A2" = 2 aborted, "S4" = snapshot of
 * 4 now (unaligned), "C4u" / "A4u" = unaligned 4 complete (its in-flight data whole) / aborted;
 * space-separated. */
static const char *acts(sp_barrier_t *h)
{
    static char buf[512];
    buf[0] = '\0';
    sp_barrier_action_t a;
    while (sp_barrier_next(h, &a)) {
        size_t n = strlen(buf);
        char k = a.kind == SP_BARRIER_COMPLETE ? 'C' : a.kind == SP_BARRIER_ABORT ? 'A' : 'S';
        snprintf(buf + n, sizeof buf - n, "%s%c%lld%s", n ? " " : "", k, (long long)a.checkpoint_id,
                 a.unaligned && k != 'S' ? "u" : "");
    }
    return buf;
}

static const char *bar(sp_barrier_t *h, int c, int64_t id)
{
    sp_barrier_on_barrier(h, c, id, 0);
    return acts(h);
}

static const char *bar_at(sp_barrier_t *h, int c, int64_t id, int64_t now)
{
    sp_barrier_on_barrier(h, c, id, now);
    return acts(h);
}

static const char *tick(sp_barrier_t *h, int64_t now)
{
    sp_barrier_on_time(h, now);
    return acts(h);
}

/* The channels whose batches are in-flight data of pending checkpoint `id`, as 0/1, channel 0 first. */
static const char *recording(const sp_barrier_t *h, int64_t id)
{
    static char buf[256];
    int i = 0;
    while (i < h->npending && h->pending[i].id != id) i++;
    for (int c = 0; c < h->n && c < 255; c++)
        buf[c] = i < h->npending && sp_barrier_records(h, i, c) ? '1' : '0';
    buf[h->n < 255 ? h->n : 255] = '\0';
    return buf;
}

static const char *end(sp_barrier_t *h, int c)
{
    sp_barrier_on_end(h, c, 0);
    return acts(h);
}

static const char *cancel(sp_barrier_t *h, int64_t id)
{
    sp_barrier_on_cancel(h, id, 0);
    return acts(h);
}

/* The blocked channels as a string of 0/1, channel 0 first. */
static const char *blocked(const sp_barrier_t *h)
{
    static char buf[256];
    int n = 0;
    for (int c = 0; c < h->n && c < 255; c++) {
        buf[c] = sp_barrier_blocked(h, c) ? '1' : '0';
        n += buf[c] == '1';
    }
    buf[h->n < 255 ? h->n : 255] = '\0';
    assert_int_equal(n, h->nblocked);
    return buf;
}

static void modes_parse_any_case(void **state)
{
    (void)state;
    sp_barrier_mode_t m = SP_BARRIER_AT_LEAST_ONCE;
    assert_true(sp_barrier_parse_mode("exactly_once", &m));
    assert_int_equal(m, SP_BARRIER_EXACTLY_ONCE);
    assert_true(sp_barrier_parse_mode("At_Least_Once", &m));
    assert_int_equal(m, SP_BARRIER_AT_LEAST_ONCE);
    assert_false(sp_barrier_parse_mode("EXACTLY-ONCE", &m));
    assert_false(sp_barrier_parse_mode("", &m));
    assert_string_equal(sp_barrier_mode_name(SP_BARRIER_EXACTLY_ONCE), "EXACTLY_ONCE");
    assert_string_equal(sp_barrier_mode_name(SP_BARRIER_AT_LEAST_ONCE), "AT_LEAST_ONCE");
}

static void single_channel_passes_each_barrier_at_once(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        sp_barrier_t h;
        sp_barrier_init(&h, 1, (sp_barrier_mode_t)m);
        assert_string_equal(bar(&h, 0, 1), "C1");
        assert_string_equal(blocked(&h), "0");
        assert_string_equal(bar(&h, 0, 2), "C2");
        assert_string_equal(bar(&h, 0, 7), "C7"); /* ids need not be consecutive */
        assert_string_equal(bar(&h, 0, 7), "");   /* a repeat is ignored */
        assert_string_equal(blocked(&h), "0");
        assert_int_equal(sp_barrier_pending_count(&h), 0);
        assert_string_equal(end(&h, 0), "");
        sp_barrier_fini(&h);
    }
}

static void exactly_once_blocks_until_every_channel_delivered(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 3, SP_BARRIER_EXACTLY_ONCE);
    assert_string_equal(blocked(&h), "000");
    assert_string_equal(bar(&h, 1, 1), "");
    assert_string_equal(blocked(&h), "010");
    assert_int_equal(sp_barrier_pending_count(&h), 1);
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(blocked(&h), "110");
    assert_string_equal(bar(&h, 2, 1), "C1");
    assert_string_equal(blocked(&h), "000");
    assert_int_equal(sp_barrier_pending_count(&h), 0);
    /* the next checkpoint, in another channel order */
    assert_string_equal(bar(&h, 2, 2), "");
    assert_string_equal(bar(&h, 1, 2), "");
    assert_string_equal(blocked(&h), "011");
    assert_string_equal(bar(&h, 0, 2), "C2");
    assert_string_equal(blocked(&h), "000");
    assert_int_equal(h.last_complete.checkpoint_id, 2);
    sp_barrier_fini(&h);
}

static void at_least_once_never_blocks(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 3, SP_BARRIER_AT_LEAST_ONCE);
    assert_string_equal(bar(&h, 1, 1), "");
    assert_string_equal(blocked(&h), "000");
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(blocked(&h), "000");
    assert_string_equal(bar(&h, 2, 1), "C1");
    assert_int_equal(sp_barrier_pending_count(&h), 0);
    sp_barrier_fini(&h);
}

static void end_of_input_while_aligning_counts_as_delivered(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        sp_barrier_t h;
        /* the missing channel ends: that completes the checkpoint */
        sp_barrier_init(&h, 3, (sp_barrier_mode_t)m);
        assert_string_equal(bar(&h, 0, 1), "");
        assert_string_equal(bar(&h, 1, 1), "");
        assert_string_equal(end(&h, 2), "C1");
        assert_string_equal(blocked(&h), "000");
        /* later checkpoints need only the open channels */
        assert_string_equal(bar(&h, 1, 2), "");
        assert_string_equal(bar(&h, 0, 2), "C2");
        sp_barrier_fini(&h);

        /* a channel ends while others still have to deliver */
        sp_barrier_init(&h, 3, (sp_barrier_mode_t)m);
        assert_string_equal(bar(&h, 0, 1), "");
        assert_string_equal(end(&h, 2), "");
        assert_string_equal(blocked(&h), m == SP_BARRIER_EXACTLY_ONCE ? "100" : "000");
        assert_string_equal(bar(&h, 1, 1), "C1");
        sp_barrier_fini(&h);

        /* channels that ended before the checkpoint started */
        sp_barrier_init(&h, 3, (sp_barrier_mode_t)m);
        assert_string_equal(end(&h, 0), "");
        assert_string_equal(end(&h, 2), "");
        assert_string_equal(bar(&h, 1, 1), "C1"); /* the only open channel */
        assert_string_equal(blocked(&h), "000");
        sp_barrier_fini(&h);
    }
    /* at least once: a channel that delivered the barrier may end too; when every channel has ended
     * the checkpoint completes (before the task finishes) */
    sp_barrier_t h;
    sp_barrier_init(&h, 2, SP_BARRIER_AT_LEAST_ONCE);
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(end(&h, 0), "");
    assert_string_equal(end(&h, 1), "C1");
    sp_barrier_fini(&h);
}

static void newer_barrier_aborts_the_one_aligning(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 3, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_on_barrier(&h, 0, 1, 100);
    assert_string_equal(acts(&h), "");
    sp_barrier_count(&h, 10, 80);
    assert_string_equal(bar(&h, 1, 1), "");
    assert_string_equal(blocked(&h), "110");
    /* channel 2 skipped 1 (its upstream aborted it): 2 wins, 1 is aborted, 0 and 1 read again */
    sp_barrier_on_barrier(&h, 2, 2, 250);
    sp_barrier_action_t a;
    assert_true(sp_barrier_next(&h, &a));
    assert_int_equal(a.kind, SP_BARRIER_ABORT);
    assert_int_equal(a.checkpoint_id, 1);
    assert_int_equal(a.stats.start_ns, 100);
    assert_int_equal(a.stats.end_ns, 250);
    assert_int_equal(a.stats.batches, 1);
    assert_int_equal(a.stats.rows, 10);
    assert_int_equal(a.stats.bytes, 80);
    assert_false(sp_barrier_next(&h, &a));
    assert_string_equal(blocked(&h), "001");
    /* a late barrier of the aborted checkpoint changes nothing */
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(blocked(&h), "001");
    assert_string_equal(bar(&h, 0, 2), "");
    assert_string_equal(bar(&h, 1, 2), "C2");
    assert_string_equal(blocked(&h), "000");
    /* a channel that skips the checkpoint aligning aborts it, and its barrier starts the next */
    assert_string_equal(bar(&h, 2, 3), "");
    assert_string_equal(bar(&h, 0, 4), "A3");
    assert_string_equal(blocked(&h), "100");
    sp_barrier_fini(&h);
}

static void cancellation_aborts_and_ignores_later_barriers(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 2, SP_BARRIER_EXACTLY_ONCE);
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(blocked(&h), "10");
    assert_string_equal(cancel(&h, 1), "A1");
    assert_string_equal(blocked(&h), "00");
    assert_string_equal(bar(&h, 1, 1), ""); /* its late barrier */
    assert_string_equal(blocked(&h), "00");
    /* a cancellation before any barrier of the checkpoint arrived */
    assert_string_equal(cancel(&h, 2), "");
    assert_string_equal(bar(&h, 0, 2), "");
    assert_string_equal(blocked(&h), "00");
    assert_string_equal(bar(&h, 1, 2), "");
    /* cancelling an older checkpoint leaves the one aligning alone */
    assert_string_equal(bar(&h, 1, 3), "");
    assert_string_equal(cancel(&h, 2), "");
    assert_string_equal(blocked(&h), "01");
    assert_string_equal(bar(&h, 0, 3), "C3");
    sp_barrier_fini(&h);

    /* at least once: every pending checkpoint up to the cancelled one goes */
    sp_barrier_init(&h, 2, SP_BARRIER_AT_LEAST_ONCE);
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(bar(&h, 0, 2), "");
    assert_string_equal(bar(&h, 0, 3), "");
    assert_string_equal(cancel(&h, 2), "A1 A2");
    assert_string_equal(bar(&h, 1, 1), "");
    assert_string_equal(bar(&h, 1, 2), "");
    assert_string_equal(bar(&h, 1, 3), "C3");
    sp_barrier_fini(&h);
}

static void at_least_once_tracks_several_checkpoints(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 2, SP_BARRIER_AT_LEAST_ONCE);
    /* a fast channel runs three checkpoints ahead: none is aborted */
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(bar(&h, 0, 2), "");
    assert_string_equal(bar(&h, 0, 3), "");
    assert_int_equal(sp_barrier_pending_count(&h), 3);
    assert_string_equal(bar(&h, 1, 1), "C1");
    assert_string_equal(bar(&h, 1, 2), "C2");
    assert_string_equal(bar(&h, 1, 3), "C3");
    /* a channel that skips a checkpoint aborts it */
    assert_string_equal(bar(&h, 0, 4), "");
    assert_string_equal(bar(&h, 1, 5), "A4");
    assert_string_equal(bar(&h, 0, 5), "C5");
    /* end of the slow channel completes the newest and subsumes the older ones */
    assert_string_equal(bar(&h, 0, 6), "");
    assert_string_equal(bar(&h, 0, 7), "");
    assert_string_equal(end(&h, 1), "A6 C7");
    assert_string_equal(bar(&h, 0, 8), "C8");
    sp_barrier_fini(&h);

    /* at most SP_BARRIER_MAX_PENDING: the oldest is dropped */
    sp_barrier_init(&h, 2, SP_BARRIER_AT_LEAST_ONCE);
    for (int64_t id = 1; id <= SP_BARRIER_MAX_PENDING; id++) assert_string_equal(bar(&h, 0, id), "");
    assert_string_equal(bar(&h, 0, SP_BARRIER_MAX_PENDING + 1), "A1");
    assert_int_equal(sp_barrier_pending_count(&h), SP_BARRIER_MAX_PENDING);
    assert_string_equal(bar(&h, 1, 1), "");
    assert_string_equal(bar(&h, 1, 2), "C2");
    sp_barrier_fini(&h);
}

/* 64 channels, barriers in a scrambled order with some channels ending on the way: the checkpoint
 * completes exactly when the last open channel delivers, and only then are channels read again. */
static void many_channels(void **state)
{
    (void)state;
    enum { N = 64 };
    for (int m = 0; m < 2; m++)
        for (int64_t id = 1; id <= 3; id++) {
            sp_barrier_t h;
            sp_barrier_init(&h, N, (sp_barrier_mode_t)m);
            for (int64_t ck = 1; ck <= id; ck++) {
                int delivered = 0, ended = h.nended;
                for (int k = 0; k < N; k++) {
                    int c = (int)((k * 37 + ck * 11) % N); /* 37 is prime to 64: a permutation */
                    if (h.ended[c]) continue;
                    bool last = delivered + ended == N - 1;
                    const char *r;
                    if (ck == 2 && c % 5 == 0) { /* checkpoint 2: every fifth channel ends instead */
                        r = end(&h, c);
                        ended++;
                    } else {
                        r = bar(&h, c, ck);
                        delivered++;
                    }
                    if (!last) {
                        assert_string_equal(r, "");
                        assert_int_equal(h.nblocked, m == SP_BARRIER_EXACTLY_ONCE ? delivered : 0);
                    } else {
                        char want[16];
                        snprintf(want, sizeof want, "C%lld", (long long)ck);
                        assert_string_equal(r, want);
                        assert_int_equal(h.nblocked, 0);
                    }
                }
            }
            sp_barrier_fini(&h);
        }
}

static void statistics_cover_the_alignment(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 2, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_count(&h, 1000, 8000); /* before the alignment: not counted */
    sp_barrier_on_barrier(&h, 0, 1, 1000);
    assert_string_equal(acts(&h), "");
    sp_barrier_count(&h, 100, 800);
    sp_barrier_count(&h, 50, 400);
    sp_barrier_on_barrier(&h, 1, 1, 4000);
    sp_barrier_action_t a;
    assert_true(sp_barrier_next(&h, &a));
    assert_int_equal(a.kind, SP_BARRIER_COMPLETE);
    assert_int_equal(a.stats.checkpoint_id, 1);
    assert_int_equal(a.stats.start_ns, 1000);
    assert_int_equal(a.stats.end_ns, 4000);
    assert_int_equal(a.stats.batches, 2);
    assert_int_equal(a.stats.rows, 150);
    assert_int_equal(a.stats.bytes, 1200);
    assert_false(sp_barrier_next(&h, &a));
    assert_memory_equal(&h.last_complete, &a.stats, sizeof a.stats);
    sp_barrier_fini(&h);
}

/* Unaligned: the first barrier snapshots at once; rows of the other channels before their barrier are
 * in-flight data, rows after it are not; nothing ever blocks. */
static void unaligned_snapshots_at_the_first_barrier(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 3, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_set_unaligned(&h, true, 0);
    assert_string_equal(recording(&h, 1), "000"); /* before any barrier: nothing is in flight */
    assert_string_equal(bar(&h, 1, 1), "S1");     /* the first barrier, on channel 1: the snapshot now */
    assert_string_equal(blocked(&h), "000");      /* and channel 1 is read on */
    assert_string_equal(recording(&h, 1), "101"); /* channels 0 and 2 carry rows from before it */
    assert_int_equal(sp_barrier_deadline(&h), INT64_MAX);
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(recording(&h, 1), "001"); /* what channel 0 brings now came after the barrier */
    assert_string_equal(blocked(&h), "000");
    assert_string_equal(bar(&h, 2, 1), "C1u"); /* the in-flight data of 1 is whole */
    assert_string_equal(recording(&h, 1), "000");
    assert_int_equal(sp_barrier_pending_count(&h), 0);
    /* END counts as delivered: the recording of that channel ends */
    assert_string_equal(bar(&h, 2, 2), "S2");
    assert_string_equal(end(&h, 0), "");
    assert_string_equal(recording(&h, 2), "010");
    assert_string_equal(bar(&h, 1, 2), "C2u");
    assert_string_equal(bar(&h, 1, 3), "S3");
    assert_string_equal(end(&h, 2), "C3u"); /* ending while it records completes it */
    /* the last barrier missing is the first to come (the others ended): complete as aligned, no snapshot
     * before it, nothing in flight */
    assert_string_equal(bar(&h, 1, 4), "C4");
    sp_barrier_fini(&h);
    /* one channel: every checkpoint completes at its barrier, aligned */
    sp_barrier_init(&h, 1, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_set_unaligned(&h, true, 0);
    assert_string_equal(bar(&h, 0, 1), "C1");
    sp_barrier_fini(&h);
    /* at-least-once has no unaligned checkpoints (as Flink): the setting is ignored */
    sp_barrier_init(&h, 2, SP_BARRIER_AT_LEAST_ONCE);
    sp_barrier_set_unaligned(&h, true, 0);
    assert_false(h.unaligned);
    assert_string_equal(bar(&h, 0, 1), "");
    assert_string_equal(recording(&h, 1), "00");
    assert_string_equal(bar(&h, 1, 1), "C1");
    sp_barrier_fini(&h);
}

/* A fast channel delivers n+1 while a slow one still carries data from before n: both record. */
static void unaligned_checkpoints_record_side_by_side(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 2, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_set_unaligned(&h, true, 0);
    assert_string_equal(bar(&h, 0, 1), "S1");
    assert_string_equal(bar(&h, 0, 2), "S2");
    assert_int_equal(sp_barrier_pending_count(&h), 2);
    assert_string_equal(recording(&h, 1), "01");
    assert_string_equal(recording(&h, 2), "01");
    assert_string_equal(bar(&h, 1, 1), "C1u");
    assert_string_equal(recording(&h, 2), "01");
    assert_string_equal(bar(&h, 1, 2), "C2u");
    /* a channel skipping a checkpoint still aborts it; the coordinator's cancel aborts the others */
    assert_string_equal(bar(&h, 0, 3), "S3");
    assert_string_equal(bar(&h, 1, 4), "A3u S4");
    assert_string_equal(cancel(&h, 4), "A4u");
    assert_string_equal(recording(&h, 4), "00");
    sp_barrier_fini(&h);
}

/* aligned-checkpoint-timeout: aligned first, unaligned once the alignment lasted the timeout — by the
 * clock alone (on_time), or at a barrier or END that comes that late. */
static void aligned_checkpoint_timeout_switches_to_unaligned(void **state)
{
    (void)state;
    sp_barrier_t h;
    sp_barrier_init(&h, 3, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_set_unaligned(&h, true, 100);
    assert_int_equal(sp_barrier_deadline(&h), INT64_MAX);
    assert_string_equal(bar_at(&h, 0, 1, 1000), "");
    assert_string_equal(blocked(&h), "100"); /* aligned so far */
    assert_string_equal(recording(&h, 1), "000");
    assert_int_equal(sp_barrier_deadline(&h), 1100);
    assert_string_equal(bar_at(&h, 1, 1, 1050), "");
    assert_string_equal(blocked(&h), "110");
    assert_string_equal(tick(&h, 1099), "");
    assert_string_equal(tick(&h, 1100), "S1"); /* timed out: the snapshot now */
    assert_string_equal(blocked(&h), "000");   /* what channels 0 and 1 hold came after the barrier */
    assert_string_equal(recording(&h, 1), "001");
    assert_int_equal(sp_barrier_deadline(&h), INT64_MAX);
    assert_string_equal(tick(&h, 5000), "");
    assert_string_equal(bar_at(&h, 2, 1, 1200), "C1u");
    /* the statistics the snapshot reports: the alignment until the switch */
    assert_int_equal(h.last_complete.checkpoint_id, 1);
    assert_int_equal(h.last_complete.end_ns - h.last_complete.start_ns, 100);
    /* in time: aligned as ever */
    assert_string_equal(bar_at(&h, 0, 2, 2000), "");
    assert_string_equal(bar_at(&h, 1, 2, 2010), "");
    assert_string_equal(bar_at(&h, 2, 2, 2099), "C2");
    /* a barrier arriving late switches at once */
    assert_string_equal(bar_at(&h, 2, 3, 3000), "");
    assert_string_equal(bar_at(&h, 0, 3, 3150), "S3");
    assert_string_equal(blocked(&h), "000");
    assert_string_equal(recording(&h, 3), "010");
    assert_string_equal(bar_at(&h, 1, 3, 3160), "C3u");
    /* so does an END arriving late */
    assert_string_equal(bar_at(&h, 0, 4, 4000), "");
    assert_string_equal(end(&h, 2), ""); /* end() passes time 0: not late */
    sp_barrier_on_end(&h, 1, 4200);
    assert_string_equal(acts(&h), "C4"); /* the last one missing: complete, aligned */
    sp_barrier_fini(&h);
    /* with unaligned off the timeout means nothing */
    sp_barrier_init(&h, 2, SP_BARRIER_EXACTLY_ONCE);
    sp_barrier_set_unaligned(&h, false, 100);
    assert_string_equal(bar_at(&h, 0, 1, 0), "");
    assert_int_equal(sp_barrier_deadline(&h), INT64_MAX);
    assert_string_equal(tick(&h, 1000000), "");
    assert_string_equal(blocked(&h), "10");
    assert_string_equal(bar_at(&h, 1, 1, 1000001), "C1");
    sp_barrier_fini(&h);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(unaligned_snapshots_at_the_first_barrier),
    cmocka_unit_test(unaligned_checkpoints_record_side_by_side),
    cmocka_unit_test(aligned_checkpoint_timeout_switches_to_unaligned),
    cmocka_unit_test(modes_parse_any_case),
    cmocka_unit_test(single_channel_passes_each_barrier_at_once),
    cmocka_unit_test(exactly_once_blocks_until_every_channel_delivered),
    cmocka_unit_test(at_least_once_never_blocks),
    cmocka_unit_test(end_of_input_while_aligning_counts_as_delivered),
    cmocka_unit_test(newer_barrier_aborts_the_one_aligning),
    cmocka_unit_test(cancellation_aborts_and_ignores_later_barriers),
    cmocka_unit_test(at_least_once_tracks_several_checkpoints),
    cmocka_unit_test(many_channels),
    cmocka_unit_test(statistics_cover_the_alignment),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "runtime");
}

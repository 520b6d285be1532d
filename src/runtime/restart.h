/*
 * restart.h — restart strategies (Flink's restart-strategy.*): whether a
 * failed job restarts, and after what delay.
 *
 *   none               never (the default without checkpointing)
 *   fixed-delay        up to `attempts` restarts, each after `delay`
 *   failure-rate       restarts after `delay` while at most
 *                      `max-failures-per-interval` failures fall within the
 *                      last `failure-rate-interval`
 *   exponential-delay  the default with checkpointing (Flink >= 1.19): the
 *                      first restart after `initial-backoff`, each next one
 *                      after `backoff-multiplier` times the last, at most
 *                      `max-backoff`, each moved by up to `jitter-factor` of
 *                      itself at random; `reset-backoff-threshold` without a
 *                      failure resets the delay and the count; more than
 *                      `attempts-before-reset-backoff` restarts since the
 *                      last reset fail the job
 *
 * A plain value; no threads, no clock of its own: callers pass the time.
 */
#ifndef SP_RESTART_H
#define SP_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

typedef enum sp_restart_kind {
    SP_RESTART_NONE = 0,
    SP_RESTART_FIXED_DELAY,
    SP_RESTART_FAILURE_RATE,
    SP_RESTART_EXPONENTIAL_DELAY
} sp_restart_kind_t;

#define SP_RESTART_RATE_MAX 4096 /* failure-rate: failures remembered at most */

typedef struct sp_restart {
    sp_restart_kind_t kind;
    int64_t attempts;     /* fixed-delay; exponential-delay: attempts before reset */
    int64_t delay_ms;     /* fixed-delay, failure-rate */
    int64_t max_failures; /* failure-rate */
    int64_t interval_ms;  /* failure-rate */
    int64_t initial_ms, max_ms, reset_ms;
    double multiplier, jitter;
    /* what happened so far */
    int64_t restarts;        /* fixed-delay: in total; exponential-delay: since the last reset */
    int64_t backoff_ms;      /* exponential-delay: the last delay before jitter (0: none yet) */
    int64_t last_failure_ms; /* exponential-delay */
    int64_t *failures;       /* failure-rate: times of the recent failures, oldest first */
    int nfailures;
    uint64_t rng; /* jitter */
} sp_restart_t;

/* From the restart-strategy.* keys; `checkpointing` picks the default type when none is set. */
void sp_restart_init(sp_restart_t *r, const sp_config_t *config, bool checkpointing);
void sp_restart_fini(sp_restart_t *r);
/* A failure at now_ms: true and *delay_ms when the job may restart, false when it must fail. */
bool sp_restart_on_failure(sp_restart_t *r, int64_t now_ms, int64_t *delay_ms);
/* "fixed-delay", ... (Flink's names). */
const char *sp_restart_name(const sp_restart_t *r);
/* Why the strategy gave up, for the job's error ("restart strategy fixed-delay: 3 restarts used"). */
void sp_restart_why(const sp_restart_t *r, char *buf, size_t cap);

#endif

/* restart.c — see restart.h. */
#include "runtime/restart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void sp_restart_init(sp_restart_t *r, const sp_config_t *config, bool checkpointing)
{
    memset(r, 0, sizeof *r);
    const char *t = sp_config_get(config, "restart-strategy.type");
    if (!t || !*t)
        r->kind = checkpointing ? SP_RESTART_EXPONENTIAL_DELAY : SP_RESTART_NONE;
    else if (!strcasecmp(t, "fixed-delay") || !strcasecmp(t, "fixeddelay"))
        r->kind = SP_RESTART_FIXED_DELAY;
    else if (!strcasecmp(t, "failure-rate") || !strcasecmp(t, "failurerate"))
        r->kind = SP_RESTART_FAILURE_RATE;
    else if (!strcasecmp(t, "exponential-delay") || !strcasecmp(t, "exponentialdelay"))
        r->kind = SP_RESTART_EXPONENTIAL_DELAY;
    else
        r->kind = SP_RESTART_NONE; /* none, off, disable */
    switch (r->kind) {
    case SP_RESTART_FIXED_DELAY:
        r->attempts = sp_config_get_int(config, "restart-strategy.fixed-delay.attempts");
        r->delay_ms = sp_config_get_duration_ms(config, "restart-strategy.fixed-delay.delay");
        break;
    case SP_RESTART_FAILURE_RATE:
        r->max_failures =
            sp_config_get_int(config, "restart-strategy.failure-rate.max-failures-per-interval");
        if (r->max_failures > SP_RESTART_RATE_MAX) r->max_failures = SP_RESTART_RATE_MAX;
        r->interval_ms =
            sp_config_get_duration_ms(config, "restart-strategy.failure-rate.failure-rate-interval");
        r->delay_ms = sp_config_get_duration_ms(config, "restart-strategy.failure-rate.delay");
        r->failures = sp_xcalloc((size_t)r->max_failures + 1, sizeof *r->failures);
        break;
    case SP_RESTART_EXPONENTIAL_DELAY:
        r->initial_ms =
            sp_config_get_duration_ms(config, "restart-strategy.exponential-delay.initial-backoff");
        r->max_ms = sp_config_get_duration_ms(config, "restart-strategy.exponential-delay.max-backoff");
        r->reset_ms =
            sp_config_get_duration_ms(config, "restart-strategy.exponential-delay.reset-backoff-threshold");
        r->multiplier = sp_config_get_double(config, "restart-strategy.exponential-delay.backoff-multiplier");
        r->jitter = sp_config_get_double(config, "restart-strategy.exponential-delay.jitter-factor");
        r->attempts =
            sp_config_get_int(config, "restart-strategy.exponential-delay.attempts-before-reset-backoff");
        if (r->max_ms < r->initial_ms) r->max_ms = r->initial_ms;
        break;
    case SP_RESTART_NONE: break;
    }
    r->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)sp_clock_now(NULL);
}

void sp_restart_fini(sp_restart_t *r)
{
    free(r->failures);
    r->failures = NULL;
}

/* Uniform in [0, 1) (xorshift64*). */
static double uniform(sp_restart_t *r)
{
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (double)((r->rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

bool sp_restart_on_failure(sp_restart_t *r, int64_t now_ms, int64_t *delay_ms)
{
    switch (r->kind) {
    case SP_RESTART_NONE: return false;
    case SP_RESTART_FIXED_DELAY:
        if (r->restarts >= r->attempts) return false;
        r->restarts++;
        *delay_ms = r->delay_ms;
        return true;
    case SP_RESTART_FAILURE_RATE: {
        int kept = 0; /* forget failures older than the interval */
        for (int i = 0; i < r->nfailures; i++)
            if (now_ms - r->failures[i] < r->interval_ms) r->failures[kept++] = r->failures[i];
        r->nfailures = kept;
        if (r->nfailures >= r->max_failures) return false; /* this one would exceed the rate */
        r->failures[r->nfailures++] = now_ms;
        r->restarts++;
        *delay_ms = r->delay_ms;
        return true;
    }
    case SP_RESTART_EXPONENTIAL_DELAY: {
        if (r->backoff_ms && now_ms - r->last_failure_ms >= r->reset_ms) { /* ran long enough: start over */
            r->backoff_ms = 0;
            r->restarts = 0;
        }
        r->last_failure_ms = now_ms;
        if (r->restarts >= r->attempts) return false;
        double next = r->backoff_ms ? (double)r->backoff_ms * r->multiplier : (double)r->initial_ms;
        r->backoff_ms = next > (double)r->max_ms ? r->max_ms : (int64_t)next;
        r->restarts++;
        double d = (double)r->backoff_ms;
        if (r->jitter > 0) d += (2 * uniform(r) - 1) * r->jitter * d;
        *delay_ms = d < 0 ? 0 : (int64_t)d;
        return true;
    }
    }
    return false;
}

const char *sp_restart_name(const sp_restart_t *r)
{
    switch (r->kind) {
    case SP_RESTART_FIXED_DELAY: return "fixed-delay";
    case SP_RESTART_FAILURE_RATE: return "failure-rate";
    case SP_RESTART_EXPONENTIAL_DELAY: return "exponential-delay";
    case SP_RESTART_NONE: break;
    }
    return "none";
}

void sp_restart_why(const sp_restart_t *r, char *buf, size_t cap)
{
    switch (r->kind) {
    case SP_RESTART_NONE: snprintf(buf, cap, "restart strategy none: no restarts"); break;
    case SP_RESTART_FIXED_DELAY:
        snprintf(buf, cap, "restart strategy fixed-delay: all %lld restart attempts used",
                 (long long)r->attempts);
        break;
    case SP_RESTART_FAILURE_RATE:
        snprintf(buf, cap, "restart strategy failure-rate: more than %lld failures within %lld ms",
                 (long long)r->max_failures, (long long)r->interval_ms);
        break;
    case SP_RESTART_EXPONENTIAL_DELAY:
        snprintf(buf, cap, "restart strategy exponential-delay: all %lld restart attempts used",
                 (long long)r->attempts);
        break;
    }
}

/* config.c — see config.h. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef enum { T_INT, T_DURATION, T_ENUM, T_STRING, T_DOUBLE } key_type_t;

typedef struct key_def {
    const char *key;
    key_type_t type;
    const char *def;
    int64_t min, max;    /* T_INT bounds; T_DOUBLE: min, and max unless 0 */
    const char *choices; /* T_ENUM: "A|B|C" */
    const char *desc;
} key_def_t;

static const key_def_t KEYS[] = {
    { "parallelism.default", T_INT, "1", 1, 32768, NULL, "Default parallelism of operators." },
    { "pipeline.max-parallelism", T_INT, "128", 1, 32768, NULL,
      "Number of key groups: the upper bound for rescaling keyed state." },
    { "execution.runtime-mode", T_ENUM, "STREAMING", 0, 0, "STREAMING|BATCH|AUTOMATIC",
      "STREAMING emits results continuously; BATCH emits final results at end of input; AUTOMATIC picks "
      "BATCH "
      "when every source is bounded." },
    { "pipeline.name", T_STRING, "", 0, 0, NULL,
      "Name of the job in messages (default: the name given to execute; `spate run`: the job file's name)." },
    { "taskmanager.network.memory.buffers-per-channel", T_INT, "8", 1, 1024, NULL,
      "Batches a channel between two tasks holds before its producer is back-pressured." },
    { "pipeline.auto-watermark-interval", T_DURATION, "200 ms", 0, 0, NULL,
      "Interval of periodic watermark emission by watermark strategies (0 disables periodic emission)." },
    { "execution.checkpointing.interval", T_DURATION, "10 s", 0, 0, NULL,
      "Interval of periodic checkpoints (0 disables them; on by default in Spate)." },
    { "execution.checkpointing.timeout", T_DURATION, "10 min", 0, 0, NULL,
      "A checkpoint not complete this long after its trigger fails." },
    { "execution.checkpointing.min-pause", T_DURATION, "0 ms", 0, 0, NULL,
      "Least time between the end of one checkpoint and the trigger of the next (> 0 allows one at a "
      "time)." },
    { "execution.checkpointing.max-concurrent-checkpoints", T_INT, "1", 1, 1024, NULL,
      "Checkpoints that may be pending at once." },
    { "execution.checkpointing.tolerable-failed-checkpoints", T_INT, "0", 0, INT32_MAX, NULL,
      "Checkpoint failures in a row the job tolerates; one more fails the job." },
    { "restart-strategy.type", T_ENUM, "", 0, 0,
      "none|off|disable|fixed-delay|fixeddelay|failure-rate|failurerate|exponential-delay|exponentialdelay",
      "How a failed job restarts: not at all, after a fixed delay, within a failure rate, or after an "
      "exponentially growing delay (default: exponential-delay with checkpointing, none without)." },
    { "restart-strategy.fixed-delay.attempts", T_INT, "1", 0, INT32_MAX, NULL,
      "fixed-delay: restarts before the job fails." },
    { "restart-strategy.fixed-delay.delay", T_DURATION, "1 s", 0, 0, NULL,
      "fixed-delay: delay before each restart." },
    { "restart-strategy.failure-rate.max-failures-per-interval", T_INT, "1", 1, INT32_MAX, NULL,
      "failure-rate: failures (each restarted) within the interval before the job fails." },
    { "restart-strategy.failure-rate.failure-rate-interval", T_DURATION, "1 min", 0, 0, NULL,
      "failure-rate: the interval over which failures are counted." },
    { "restart-strategy.failure-rate.delay", T_DURATION, "1 s", 0, 0, NULL,
      "failure-rate: delay before each restart." },
    { "restart-strategy.exponential-delay.initial-backoff", T_DURATION, "1 s", 0, 0, NULL,
      "exponential-delay: delay before the first restart." },
    { "restart-strategy.exponential-delay.max-backoff", T_DURATION, "1 min", 0, 0, NULL,
      "exponential-delay: the largest delay." },
    { "restart-strategy.exponential-delay.backoff-multiplier", T_DOUBLE, "1.5", 1, 0, NULL,
      "exponential-delay: the delay grows by this factor with each failure." },
    { "restart-strategy.exponential-delay.reset-backoff-threshold", T_DURATION, "1 h", 0, 0, NULL,
      "exponential-delay: running this long without a failure resets the delay and the attempts." },
    { "restart-strategy.exponential-delay.jitter-factor", T_DOUBLE, "0.1", 0, 1, NULL,
      "exponential-delay: each delay moves by up to this fraction of itself, at random." },
    { "restart-strategy.exponential-delay.attempts-before-reset-backoff", T_INT, "2147483647", 1, INT32_MAX,
      NULL, "exponential-delay: restarts before the job fails (counted since the last reset)." },
    { "execution.savepoint.path", T_STRING, "", 0, 0, NULL,
      "Checkpoint or savepoint to restore the job from: a chk-<n> directory or its _metadata, or 'latest' "
      "(the "
      "newest complete checkpoint of the job's name in state.checkpoints.dir; none: a fresh start)." },
    { "execution.savepoint.ignore-unclaimed-state", T_ENUM, "false", 0, 0, "true|false",
      "Restore even when the checkpoint holds state of operators the job no longer has (that state is "
      "dropped)." },
    { "state.savepoints.dir", T_STRING, "", 0, 0, NULL,
      "Default directory for savepoints: <dir>/savepoint-<job id prefix>-<random>/ (no default)." },
    { "state.checkpoints.dir", T_STRING, "", 0, 0, NULL,
      "Directory for checkpoints: <dir>/<job-id>/chk-<n>/_metadata, shared/, taskowned/ (no default)." },
    { "execution.checkpointing.mode", T_ENUM, "EXACTLY_ONCE", 0, 0, "EXACTLY_ONCE|AT_LEAST_ONCE",
      "EXACTLY_ONCE aligns checkpoint barriers (a task reads no channel past a barrier until all inputs "
      "delivered it); AT_LEAST_ONCE never blocks, so records after a barrier may enter the snapshot." },
    { "execution.checkpointing.unaligned.enabled", T_ENUM, "false", 0, 0, "true|false",
      "Unaligned checkpoints (EXACTLY_ONCE only): a task snapshots at the first barrier of a checkpoint on "
      "any input, and the data still before the barrier on its other inputs is stored with the checkpoint "
      "(in-flight data) and replayed on restore." },
    { "execution.checkpointing.aligned-checkpoint-timeout", T_DURATION, "0 ms", 0, 0, NULL,
      "With unaligned checkpoints: 0 makes every checkpoint unaligned from its first barrier; above 0 a "
      "checkpoint starts aligned and a task switches it to unaligned once its alignment lasted this long." },
    { "state.checkpoints.num-retained", T_INT, "5", 1, INT32_MAX, NULL,
      "Completed checkpoints kept per job; older ones are deleted." },
};

typedef struct entry {
    const key_def_t *def;
    char *value;
} entry_t;

struct sp_config {
    entry_t e[SP_ARRAY_LEN(KEYS)];
};

static const key_def_t *find(const char *key)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(KEYS); i++)
        if (strcmp(KEYS[i].key, key) == 0) return &KEYS[i];
    return NULL;
}

sp_config_t *sp_config_create(void)
{
    sp_config_t *c = sp_xcalloc(1, sizeof *c);
    for (size_t i = 0; i < SP_ARRAY_LEN(KEYS); i++) c->e[i].def = &KEYS[i];
    return c;
}

void sp_config_destroy(sp_config_t *c)
{
    if (!c) return;
    for (size_t i = 0; i < SP_ARRAY_LEN(KEYS); i++) free(c->e[i].value);
    free(c);
}

sp_config_t *sp_config_copy(const sp_config_t *src)
{
    sp_config_t *c = sp_config_create();
    for (size_t i = 0; i < SP_ARRAY_LEN(KEYS); i++)
        if (src->e[i].value) c->e[i].value = sp_xstrdup(src->e[i].value);
    return c;
}

bool sp_parse_duration_ms(const char *s, int64_t *ms)
{
    while (isspace((unsigned char)*s)) s++;
    if (!isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno) return false;
    while (isspace((unsigned char)*end)) end++;
    static const struct {
        const char *unit;
        int64_t mul;
    } units[] = {
        { "", 1 },           { "ms", 1 },           { "milli", 1 },
        { "millis", 1 },     { "milliseconds", 1 }, { "s", 1000 },
        { "sec", 1000 },     { "secs", 1000 },      { "second", 1000 },
        { "seconds", 1000 }, { "min", 60000 },      { "mins", 60000 },
        { "minute", 60000 }, { "minutes", 60000 },  { "h", 3600000 },
        { "hour", 3600000 }, { "hours", 3600000 },  { "d", 86400000 },
        { "day", 86400000 }, { "days", 86400000 },
    };
    size_t n = strlen(end);
    while (n && isspace((unsigned char)end[n - 1])) n--;
    for (size_t i = 0; i < SP_ARRAY_LEN(units); i++) {
        if (strlen(units[i].unit) == n && strncasecmp(end, units[i].unit, n) == 0) {
            if (v > INT64_MAX / units[i].mul) return false;
            *ms = v * units[i].mul;
            return true;
        }
    }
    return false;
}

static int validate(const key_def_t *d, const char *value)
{
    switch (d->type) {
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < d->min || v > d->max)
            return sp_set_error(SPATE_ECONFIG, "config key '%s': '%s' is not an integer in %lld..%lld",
                                d->key, value, (long long)d->min, (long long)d->max);
        return SPATE_OK;
    }
    case T_DURATION: {
        int64_t ms;
        if (!sp_parse_duration_ms(value, &ms))
            return sp_set_error(SPATE_ECONFIG,
                                "config key '%s': '%s' is not a duration (e.g. '200 ms', '10 s')", d->key,
                                value);
        return SPATE_OK;
    }
    case T_ENUM: {
        const char *p = d->choices;
        size_t n = strlen(value);
        while (p && *p) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && strncasecmp(p, value, n) == 0) return SPATE_OK;
            p = bar ? bar + 1 : NULL;
        }
        return sp_set_error(SPATE_ECONFIG, "config key '%s': '%s' is not one of %s", d->key, value,
                            d->choices);
    }
    case T_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= (double)d->min) || (d->max && v > (double)d->max))
            return d->max ? sp_set_error(SPATE_ECONFIG, "config key '%s': '%s' is not a number in %lld..%lld",
                                         d->key, value, (long long)d->min, (long long)d->max)
                          : sp_set_error(SPATE_ECONFIG, "config key '%s': '%s' is not a number >= %lld",
                                         d->key, value, (long long)d->min);
        return SPATE_OK;
    }
    case T_STRING: return SPATE_OK;
    }
    return SPATE_OK;
}

int sp_config_set(sp_config_t *c, const char *key, const char *value)
{
    if (!key || !value) return sp_set_error(SPATE_ECONFIG, "config: NULL key or value");
    const key_def_t *d = find(key);
    if (!d) return sp_set_error(SPATE_ECONFIG, "unknown configuration key '%s'", key);
    int rc = validate(d, value);
    if (rc) return rc;
    entry_t *e = &c->e[d - KEYS];
    free(e->value);
    e->value = sp_xstrdup(value);
    if (d->type == T_ENUM)
        for (char *p = e->value; *p; p++) *p = (char)toupper((unsigned char)*p);
    return SPATE_OK;
}

int sp_config_set_pair(sp_config_t *c, const char *pair)
{
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair) return sp_set_error(SPATE_ECONFIG, "config: expected KEY=VALUE, got '%s'", pair);
    char *key = sp_xstrndup(pair, (size_t)(eq - pair));
    /* trim spaces around the key and value, as Flink's YAML-ish config does */
    char *k = key, *kend = key + strlen(key);
    while (isspace((unsigned char)*k)) k++;
    while (kend > k && isspace((unsigned char)kend[-1])) *--kend = '\0';
    const char *v = eq + 1;
    while (isspace((unsigned char)*v)) v++;
    int rc = sp_config_set(c, k, v);
    free(key);
    return rc;
}

const char *sp_config_get(const sp_config_t *c, const char *key)
{
    const key_def_t *d = find(key);
    if (!d) return NULL;
    const entry_t *e = &c->e[d - KEYS];
    return e->value ? e->value : d->def;
}

bool sp_config_is_set(const sp_config_t *c, const char *key)
{
    const key_def_t *d = find(key);
    return d && c->e[d - KEYS].value != NULL;
}

int64_t sp_config_get_int(const sp_config_t *c, const char *key)
{
    const char *v = sp_config_get(c, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

double sp_config_get_double(const sp_config_t *c, const char *key)
{
    const char *v = sp_config_get(c, key);
    return v ? strtod(v, NULL) : 0;
}

int64_t sp_config_get_duration_ms(const sp_config_t *c, const char *key)
{
    const char *v = sp_config_get(c, key);
    int64_t ms = 0;
    if (v) sp_parse_duration_ms(v, &ms);
    return ms;
}

bool sp_config_key_info(int i, const char **key, const char **type, const char **def, const char **desc)
{
    if (i < 0 || (size_t)i >= SP_ARRAY_LEN(KEYS)) return false;
    static const char *const tnames[] = { "int", "duration", "enum", "string", "number" };
    *key = KEYS[i].key;
    *type = KEYS[i].type == T_ENUM ? KEYS[i].choices : tnames[KEYS[i].type];
    *def = KEYS[i].def;
    *desc = KEYS[i].desc;
    return true;
}

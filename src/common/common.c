/* common.c — see common.h. */
#include "common/common.h"

#include <spate/datastream.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char last_error[SP_ERROR_MSG_MAX];

static void out_of_memory(size_t n)
{
    fprintf(stderr, "spate: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (SP_UNLIKELY(!p)) out_of_memory(n);
    return p;
}

void *sp_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (SP_UNLIKELY(!p)) out_of_memory(count * n);
    return p;
}

void *sp_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (SP_UNLIKELY(!q)) out_of_memory(n);
    return q;
}

void *sp_xcalloc_aligned(size_t size)
{
    size_t padded = (size + SP_CACHE_LINE - 1) / SP_CACHE_LINE * SP_CACHE_LINE;
    void *p = aligned_alloc(SP_CACHE_LINE, padded ? padded : SP_CACHE_LINE);
    if (SP_UNLIKELY(!p)) out_of_memory(padded);
    memset(p, 0, padded ? padded : SP_CACHE_LINE);
    return p;
}

void sp_advise_huge_pages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1), to = ((uintptr_t)p + n) & ~(huge - 1);
    if (to > from) (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    SP_UNUSED(p);
    SP_UNUSED(n);
#endif
}

struct sp_prefault {
    pthread_t thread;
    atomic_bool stop;
    int count;
    uint8_t *p[4];
    size_t n[4];
};

bool sp_populate(void *p, size_t n, const atomic_bool *stop)
{
#ifdef MADV_POPULATE_WRITE
    const size_t chunk = (size_t)32 << 20;
    long ps = sysconf(_SC_PAGESIZE);
    const size_t page = ps > 0 ? (size_t)ps : 4096;
    uintptr_t from = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1),
              to = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    for (uintptr_t at = from; at < to && !(stop && atomic_load_explicit(stop, memory_order_relaxed));
         at += chunk) {
        size_t len = to - at < chunk ? to - at : chunk;
        if (madvise((void *)at, len, MADV_POPULATE_WRITE)) return false;
    }
    return true;
#else
    (void)p;
    (void)n;
    (void)stop;
    return false;
#endif
}

static void *prefault_main(void *arg)
{
    sp_prefault_t *f = arg;
    for (int i = 0; i < f->count; i++)
        if (!sp_populate(f->p[i], f->n[i], &f->stop)) break; /* an older kernel: nothing to gain */
    return NULL;
}

sp_prefault_t *sp_prefault_start(void *const *p, const size_t *n, int count)
{
#ifdef MADV_POPULATE_WRITE
    size_t total = 0;
    for (int i = 0; i < count; i++) total += p[i] ? n[i] : 0;
    if (total < ((size_t)64 << 20) || count > 4) return NULL;
    sp_prefault_t *f = sp_xcalloc(1, sizeof *f);
    atomic_init(&f->stop, false);
    for (int i = 0; i < count; i++)
        if (p[i]) {
            f->p[f->count] = p[i];
            f->n[f->count++] = n[i];
        }
    if (pthread_create(&f->thread, NULL, prefault_main, f)) {
        free(f);
        return NULL;
    }
    return f;
#else
    (void)p;
    (void)n;
    (void)count;
    return NULL;
#endif
}

void sp_prefault_join(sp_prefault_t *f)
{
    if (!f) return;
    atomic_store_explicit(&f->stop, true, memory_order_relaxed);
    pthread_join(f->thread, NULL);
    free(f);
}

char *sp_xstrdup(const char *s)
{
    return sp_xstrndup(s, strlen(s));
}

char *sp_xstrndup(const char *s, size_t n)
{
    char *p = sp_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sp_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (SP_UNLIKELY(n < 0)) out_of_memory(strlen(fmt));
    return p;
}

int sp_set_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

void sp_clear_error(void)
{
    last_error[0] = '\0';
}

const char *spate_last_error(void)
{
    return last_error;
}

int sp_error_setv(sp_error_t *err, int code, const char *fmt, va_list ap)
{
    if (err && err->code == 0) {
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

int sp_error_set(sp_error_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

const char *spate_strerror(int code)
{
    switch (code) {
    case SPATE_OK: return "SPATE_OK: success";
    case SPATE_EINVAL: return "SPATE_EINVAL: invalid argument";
    case SPATE_ENOMEM: return "SPATE_ENOMEM: out of memory";
    case SPATE_EIO: return "SPATE_EIO: I/O error";
    case SPATE_ENOENT: return "SPATE_ENOENT: not found";
    case SPATE_EPARSE: return "SPATE_EPARSE: malformed input";
    case SPATE_EUSER: return "SPATE_EUSER: user function failed";
    case SPATE_ECANCELED: return "SPATE_ECANCELED: canceled";
    case SPATE_ESTATE: return "SPATE_ESTATE: invalid state for this call";
    case SPATE_ECONFIG: return "SPATE_ECONFIG: configuration error";
    case SPATE_EINTERNAL: return "SPATE_EINTERNAL: internal error";
    default: return "unknown status code";
    }
}

const char *spate_version(void)
{
#ifdef SPATE_VERSION_STRING
    return SPATE_VERSION_STRING;
#else
    return "0.1.0";
#endif
}

int64_t sp_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec sp_clock_deadline(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

int64_t sp_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sp_sleep_ms(int64_t ms)
{
    if (ms <= 0) return;
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t sp_clock_now(const struct spate_clock *clock)
{
    return clock ? (int64_t)atomic_load(&((struct spate_clock *)clock)->now_ms) : sp_clock_wall_ms();
}

spate_clock_t *spate_manual_clock_create(int64_t start_ms)
{
    spate_clock_t *c = sp_xcalloc(1, sizeof *c);
    atomic_init(&c->now_ms, (long long)start_ms);
    return c;
}

void spate_manual_clock_advance(spate_clock_t *c, int64_t ms)
{
    atomic_fetch_add(&c->now_ms, (long long)ms);
}

int64_t spate_clock_now(const spate_clock_t *c)
{
    return sp_clock_now(c);
}

void spate_clock_destroy(spate_clock_t *c)
{
    free(c);
}

void sp_random_bytes(void *buf, size_t n)
{
    uint8_t *b = buf;
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, n, f) : 0;
    if (f) fclose(f);
    uint64_t x = (uint64_t)sp_clock_now(NULL) ^ (uint64_t)(uintptr_t)buf;
    for (size_t i = got; i < n; i++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        b[i] = (uint8_t)(x >> 56);
    }
}

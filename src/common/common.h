/*
 * common.h — small helpers every subsystem uses: allocation that aborts on
 * exhaustion (hot paths never see NULL; see STYLE.md §7), the thread-local
 * "last error" behind spate_last_error(), error records, clocks.
 *
 * Thread-safety: everything here is safe from any thread.
 */
#ifndef SP_COMMON_H
#define SP_COMMON_H

#include <spate/common.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SP_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define SP_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define SP_UNUSED(x)    ((void)(x))
#if defined(__GNUC__)
#define SP_LIKELY(x)   __builtin_expect(!!(x), 1)
#define SP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SP_LIKELY(x)   (x)
#define SP_UNLIKELY(x) (x)
#endif

/* Allocation for hot paths and small fixed sizes: never returns NULL (aborts the
 * process with a message on exhaustion; recovery is a restart). */
void *sp_xmalloc(size_t n);
void *sp_xcalloc(size_t count, size_t n);
void *sp_xrealloc(void *p, size_t n);
/* Zeroed memory aligned to, and padded to a multiple of, SP_CACHE_LINE: for state that one
 * thread writes often, so it never shares a cache line with another thread's (false sharing
 * measured: Nexmark q2 at parallelism 2 lost 15 % per core with two generators 64 bytes apart). */
#define SP_CACHE_LINE 128 /* two 64-byte lines: the adjacent-line prefetcher pairs them */
void *sp_xcalloc_aligned(size_t size);
/* A hint that [p, p + n) (malloc'd, large) is best backed by huge pages (Linux: madvise
 * MADV_HUGEPAGE on the 2 MiB-aligned part; a no-op elsewhere or for small n).  For big tables
 * filled at random, where a 4 KiB page fault and a TLB miss per touch cost more than the work. */
void sp_advise_huge_pages(void *p, size_t n);
/* Faults in up to 4 ranges [p[i], p[i] + n[i]) (fresh, large, malloc'd) for writing, in order, on a
 * thread of its own while the caller goes on (Linux: MADV_POPULATE_WRITE, 32 MiB at a time).  The
 * kernel zeroes each page of fresh memory at its first touch; a restore that fills a big table at
 * random waits for that page by page, and a second core halves the wait.  NULL when there is
 * nothing worth a thread (under 64 MiB in all) or no thread could start.  sp_prefault_join stops
 * the thread at its next chunk and waits for it (NULL: nothing). */
typedef struct sp_prefault sp_prefault_t;
sp_prefault_t *sp_prefault_start(void *const *p, const size_t *n, int count);
void sp_prefault_join(sp_prefault_t *f);
/* The same for one range, on the caller's thread, until done or *stop (NULL: never); returns false
 * when the system cannot (no MADV_POPULATE_WRITE).  Memory already in is passed over quickly. */
bool sp_populate(void *p, size_t n, const atomic_bool *stop);
char *sp_xstrdup(const char *s);
char *sp_xstrndup(const char *s, size_t n);
char *sp_xasprintf(const char *fmt, ...) SPATE_PRINTF(1, 2);

/* Sets the calling thread's last error message (spate_last_error) and returns code. */
int sp_set_error(int code, const char *fmt, ...) SPATE_PRINTF(2, 3);
void sp_clear_error(void);

/* An error record carried with a status code: code plus message. */
#define SP_ERROR_MSG_MAX 1024
typedef struct sp_error {
    int code;
    char message[SP_ERROR_MSG_MAX];
} sp_error_t;

/* Fills err (if not yet set: the first error wins) and returns code. */
int sp_error_set(sp_error_t *err, int code, const char *fmt, ...) SPATE_PRINTF(3, 4);
int sp_error_setv(sp_error_t *err, int code, const char *fmt, va_list ap);

/* The CLOCK_MONOTONIC time `ms` milliseconds from now, for pthread_cond_timedwait on a
 * condition variable created with that clock. */
struct timespec sp_clock_deadline(int64_t ms);
/* Monotonic clock in nanoseconds / milliseconds; wall clock in milliseconds. */
int64_t sp_clock_mono_ns(void);
int64_t sp_clock_wall_ms(void);
void sp_sleep_ms(int64_t ms);

/* The processing-time clock behind spate_clock_t: wall clock, or manual (tests). */
struct spate_clock {
    atomic_llong now_ms;
};
/* Milliseconds on `clock`, or the wall clock when NULL. */
int64_t sp_clock_now(const struct spate_clock *clock);

/* Little-endian unsigned integers of `bytes` (1..8) bytes in byte buffers: the byte order of every
 * on-disk format (checkpoint metadata, state snapshots, source positions, sink transactions). */
static inline void sp_put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t sp_get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* 64-bit hash of a byte string (xxh3), inline: keyed operators hash every row's key. */
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>
static inline uint64_t sp_hash_bytes(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}
/* n unpredictable bytes (/dev/urandom; without it, the clock mixed): for ids and names, not keys. */
void sp_random_bytes(void *buf, size_t n);

#endif

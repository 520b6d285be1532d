/*
 * spate/common.h — status codes, errors and version of the Spate API.
 *
 * Every fallible call returns an int status: SPATE_OK (0) or a negative
 * SPATE_E* code; spate_strerror() names a code.  Calls that build objects
 * return NULL on failure and leave a message for spate_last_error() on the
 * calling thread.
 */
#ifndef SPATE_COMMON_H
#define SPATE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPATE_VERSION_MAJOR 0
#define SPATE_VERSION_MINOR 1
#define SPATE_VERSION_PATCH 0

#if defined(__GNUC__)
#define SPATE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPATE_PRINTF(f, a)
#endif

/* Status codes.  Keep spate_strerror() in step (src/common/common.c). */
enum {
    SPATE_OK = 0,
    SPATE_EINVAL = -1,    /* invalid argument, schema, config value */
    SPATE_ENOMEM = -2,    /* out of memory for a size-driven allocation */
    SPATE_EIO = -3,       /* I/O error (message names the path) */
    SPATE_ENOENT = -4,    /* file, key or symbol not found */
    SPATE_EPARSE = -5,    /* malformed input record or text */
    SPATE_EUSER = -6,     /* a user function reported failure */
    SPATE_ECANCELED = -7, /* the job was cancelled */
    SPATE_ESTATE = -8,    /* call not valid in the object's current state */
    SPATE_ECONFIG = -9,   /* unknown configuration key or bad value */
    SPATE_EINTERNAL = -10 /* invariant broken inside Spate (a bug) */
};

/* Static name and description of a status code ("SPATE_EIO: I/O error"). */
const char *spate_strerror(int code);

/* The message of the last failed call on this thread ("" if none).
 * Borrowed: valid until the next Spate call on the same thread. */
const char *spate_last_error(void);

/* "0.1.0" */
const char *spate_version(void);

#ifdef __cplusplus
}
#endif
#endif

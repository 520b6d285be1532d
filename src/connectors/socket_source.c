/*
 * socket_source.c — spate_socket_text_source: text lines from a TCP peer,
 * as Flink's socketTextStream (e.g. fed by `nc -lk 9999`).
 *
 * open() connects (blocking, at most CONNECT_TIMEOUT_MS) and switches the
 * socket to non-blocking.  poll() first emits complete lines already
 * buffered (at most one batch); with none, it waits in poll(2) for at most
 * WAIT_MS, reads what is there and emits the complete lines.  No data:
 * SP_FLOW_IDLE with *wait_ms = 1 (the poll itself has already waited; the
 * wait is in poll(2) rather than in the task's sleep so that a line is
 * picked up as soon as it arrives).  A partial
 * last line stays buffered until its '\n' arrives or the peer closes; when
 * the peer closes, the rest (if any) is emitted as a last line and the
 * source ends.  Lines lose their "\n" or "\r\n".
 *
 *   buf: [0 .. beg) consumed | [beg .. end) received, not yet emitted | free
 *
 * Thread-safety: the spec is immutable; a reader belongs to its task thread.
 */
#include "connectors/connector.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS            50                 /* longest wait inside one poll */
#define CONNECT_TIMEOUT_MS 10000              /* open() gives up after this */
#define READ_CHUNK         (64 * 1024)        /* initial buffer, free space kept per read */
#define MAX_LINE           (64 * 1024 * 1024) /* longest line accepted */

typedef struct socket_spec {
    char *host;
    int port;
} socket_spec_t;

typedef struct socket_reader {
    const socket_spec_t *spec;
    int fd;
    bool eof;
    char *buf;
    size_t cap, beg, end;
    size_t scan; /* bytes after beg known to hold no '\n' */
} socket_reader_t;

/* Connects to one address with a timeout; returns the fd or -1 with errno set. */
static int connect_addr(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) goto fail;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int64_t deadline = sp_clock_mono_ns() / 1000000 + timeout_ms;
    for (;;) {
        int left = (int)(deadline - sp_clock_mono_ns() / 1000000);
        if (left <= 0) {
            errno = ETIMEDOUT;
            goto fail;
        }
        int n = poll(&p, 1, left);
        if (n > 0) break;
        if (n < 0 && errno != EINTR) goto fail;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) goto fail;
    if (soerr) {
        errno = soerr;
        goto fail;
    }
    return fd;
fail : {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}
}

static int sock_open(const void *spec, const sp_source_ctx_t *ctx, void **reader)
{
    const socket_spec_t *s = spec;
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(s->host, port, &hints, &res);
    if (gai != 0)
        return sp_error_set(ctx->error, SPATE_EIO, "cannot connect to '%s:%d': %s", s->host, s->port,
                            gai_strerror(gai));
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_addr(ai, CONNECT_TIMEOUT_MS);
        if (fd < 0) err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return sp_error_set(ctx->error, SPATE_EIO, "cannot connect to '%s:%d': %s", s->host, s->port,
                            strerror(err));
    socket_reader_t *r = sp_xcalloc(1, sizeof *r);
    r->spec = s;
    r->fd = fd;
    r->cap = READ_CHUNK;
    r->buf = sp_xmalloc(r->cap);
    *reader = r;
    return SPATE_OK;
}

/* Emits the complete lines buffered (and, at EOF, the partial rest), at most one batch. */
static int emit_lines(socket_reader_t *r, const sp_source_ctx_t *ctx, int *emitted)
{
    *emitted = 0;
    while (*emitted < SP_BATCH_CAPACITY && r->beg < r->end) {
        const char *line = r->buf + r->beg;
        size_t avail = r->end - r->beg;
        const char *nl = memchr(line + r->scan, '\n', avail - r->scan);
        size_t len, used;
        if (nl) {
            len = (size_t)(nl - line);
            used = len + 1;
        } else if (r->eof) {
            len = used = avail;
        } else {
            r->scan = avail;
            break;
        }
        if (len && line[len - 1] == '\r') len--;
        spate_out_set_string(ctx->out, 0, line, len);
        int rc = spate_out_emit(ctx->out);
        if (rc != SPATE_OK) return rc;
        r->beg += used;
        r->scan = 0;
        (*emitted)++;
    }
    return SPATE_OK;
}

/* Reads what the socket holds now: returns 1 when bytes (or EOF) arrived, 0 when none, < 0 on error. */
static int read_some(socket_reader_t *r, const sp_source_ctx_t *ctx)
{
    if (r->beg > 0) {
        memmove(r->buf, r->buf + r->beg, r->end - r->beg);
        r->end -= r->beg;
        r->beg = 0;
    }
    if (r->cap - r->end < READ_CHUNK / 2) {
        if (r->end >= MAX_LINE)
            return sp_error_set(ctx->error, SPATE_EPARSE, "socket '%s:%d': line longer than %d bytes",
                                r->spec->host, r->spec->port, MAX_LINE);
        r->cap *= 2;
        r->buf = sp_xrealloc(r->buf, r->cap);
    }
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->end, r->cap - r->end, 0);
        if (n > 0) {
            r->end += (size_t)n;
            return 1;
        }
        if (n == 0) {
            r->eof = true;
            return 1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return sp_error_set(ctx->error, SPATE_EIO, "socket '%s:%d': %s", r->spec->host, r->spec->port,
                            strerror(errno));
    }
}

static int sock_poll(void *reader, const sp_source_ctx_t *ctx, int64_t *wait_ms)
{
    socket_reader_t *r = reader;
    int emitted, rc;
    if ((rc = emit_lines(r, ctx, &emitted)) != SPATE_OK) return rc;
    if (emitted) return SP_FLOW_MORE;
    if (r->eof) return SP_FLOW_END;
    rc = read_some(r, ctx);
    if (rc == 0) {
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        int n = poll(&p, 1, WAIT_MS);
        if (n < 0 && errno != EINTR)
            return sp_error_set(ctx->error, SPATE_EIO, "socket '%s:%d': poll: %s", r->spec->host,
                                r->spec->port, strerror(errno));
        if (n > 0) rc = read_some(r, ctx);
    }
    if (rc < 0) return rc;
    if ((rc = emit_lines(r, ctx, &emitted)) != SPATE_OK) return rc;
    if (emitted) return SP_FLOW_MORE;
    if (r->eof) return SP_FLOW_END;
    *wait_ms = 1; /* this poll already waited WAIT_MS: ask for the shortest sleep (0 would mean a default) */
    return SP_FLOW_IDLE;
}

static void sock_close(void *reader)
{
    socket_reader_t *r = reader;
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r);
}

static void sock_destroy(void *spec)
{
    socket_spec_t *s = spec;
    if (!s) return;
    free(s->host);
    free(s);
}

static const sp_source_vtable_t socket_vtable = {
    .kind = "socket",
    .open = sock_open,
    .poll = sock_poll,
    .close = sock_close,
    .destroy = sock_destroy,
    .skipped = NULL,
};

spate_source_t *spate_socket_text_source(const char *host, int port)
{
    if (!host || !*host) {
        sp_set_error(SPATE_EINVAL, "socket source: host is empty");
        return NULL;
    }
    if (port <= 0 || port > 65535) {
        sp_set_error(SPATE_EINVAL, "socket source: port %d is out of range 1..65535", port);
        return NULL;
    }
    spate_schema_t *schema = spate_schema_of("line STRING");
    if (!schema) return NULL;
    socket_spec_t *s = sp_xcalloc(1, sizeof *s);
    s->host = sp_xstrdup(host);
    s->port = port;
    spate_source_t *src = sp_source_new(&socket_vtable, s, schema, false, false);
    spate_schema_release(schema);
    return src;
}

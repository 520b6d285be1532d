/* test_socket_source.c — spate_socket_text_source against a peer on 127.0.0.1 run by a thread of the test. */
#include "connectors/connector.h"

#include "test_main.h"
#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- harness ---- */

static spate_str_t line_at(const tu_got_t *g, size_t i)
{
    spate_row_t r = tu_row_at(g, i);
    return spate_row_get_string(&r, 0);
}

/* ---- the peer ---- */

typedef struct peer {
    int listen_fd;
    int port;
    const char *const *chunks; /* sent in order, with pause_ms between them; then the peer closes */
    int nchunks;
    int pause_ms;
    pthread_t thread;
} peer_t;

static void *peer_main(void *arg)
{
    peer_t *p = arg;
    int fd = accept(p->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    for (int i = 0; i < p->nchunks; i++) {
        if (i) sp_sleep_ms(p->pause_ms);
        const char *c = p->chunks[i];
        size_t len = strlen(c), off = 0;
        while (off < len) {
            ssize_t n = send(fd, c + off, len - off, MSG_NOSIGNAL);
            if (n <= 0) break;
            off += (size_t)n;
        }
    }
    sp_sleep_ms(p->pause_ms);
    close(fd);
    return NULL;
}

/* Listens on 127.0.0.1, port chosen by the kernel. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void peer_start(peer_t *p)
{
    p->listen_fd = listen_any(&p->port);
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
}

static void peer_join(peer_t *p)
{
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
}

/* Polls as the runtime would, until END or failure; a source that has not ended after 10,000 polls
 * fails the test (assert g.ended). */
static const tu_drain_opts_t poll_limit = { .max_polls = 10000 };

/* ---- cases ---- */

static void reads_lines_until_peer_closes(void **state)
{
    (void)state;
    const char *chunks[] = { "hello\nwor", "ld\r\nsecond", "\n\nlast without newline" };
    peer_t p = { .chunks = chunks, .nchunks = 3, .pause_ms = 150 };
    peer_start(&p);
    spate_source_t *src = spate_socket_text_source("127.0.0.1", p.port);
    assert_non_null(src);
    assert_false(src->bounded);
    assert_false(src->parallel);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, &poll_limit, &g, &err), SPATE_OK);
    assert_true(g.ended);
    peer_join(&p);

    const char *want[] = { "hello", "world", "second", "", "last without newline" };
    assert_int_equal(g.rows, 5);
    for (int i = 0; i < 5; i++) tu_assert_str(line_at(&g, (size_t)i), want[i]);
    assert_true(g.idle > 0);                          /* pauses without data are IDLE, not busy MORE */
    assert_true(g.longest_poll_ns < 150 * 1000000LL); /* a poll never blocks long */
    tu_got_free(&g);
    spate_source_destroy(src);
}

static void burst_is_split_into_batches(void **state)
{
    (void)state;
    enum { N = 5000 };
    char *data = malloc(N * 16);
    size_t len = 0;
    for (int i = 0; i < N; i++) len += (size_t)sprintf(data + len, "line-%d\n", i);
    const char *chunks[] = { data };
    peer_t p = { .chunks = chunks, .nchunks = 1, .pause_ms = 20 };
    peer_start(&p);
    spate_source_t *src = spate_socket_text_source("localhost", p.port);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, &poll_limit, &g, &err), SPATE_OK);
    assert_true(g.ended);
    peer_join(&p);
    assert_int_equal(g.rows, N);
    assert_true(g.max_batch <= SP_BATCH_CAPACITY);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "line-%d", i);
        tu_assert_str(line_at(&g, (size_t)i), want);
    }
    tu_got_free(&g);
    spate_source_destroy(src);
    free(data);
}

static void refused_connection_names_host_and_port(void **state)
{
    (void)state;
    int port;
    int fd = listen_any(&port);
    close(fd); /* nobody listens there any more */
    spate_source_t *src = spate_socket_text_source("127.0.0.1", port);
    tu_got_t g = { 0 };
    sp_error_t err = { 0 };
    assert_int_equal(tu_drain(src, &poll_limit, &g, &err), SPATE_EIO);
    char want[128];
    snprintf(want, sizeof want, "cannot connect to '127.0.0.1:%d': Connection refused", port);
    assert_string_equal(err.message, want);
    assert_int_equal(g.polls, 0);
    tu_got_free(&g);
    spate_source_destroy(src);
}

static void constructor_checks_arguments(void **state)
{
    (void)state;
    assert_null(spate_socket_text_source("127.0.0.1", 0));
    assert_non_null(strstr(spate_last_error(), "port 0"));
    assert_null(spate_socket_text_source("127.0.0.1", 70000));
    assert_null(spate_socket_text_source(NULL, 9999));
    assert_null(spate_socket_text_source("", 9999));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(reads_lines_until_peer_closes),
    cmocka_unit_test(burst_is_split_into_batches),
    cmocka_unit_test(refused_connection_names_host_and_port),
    cmocka_unit_test(constructor_checks_arguments),
};

int main(int argc, char **argv)
{
    return sp_test_main(argc, argv, tests, sizeof tests / sizeof tests[0], "connectors_socket_source");
}

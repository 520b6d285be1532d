/* control.c — see control.h. */
#include "control.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096

struct sp_control {
    spate_job_t *job;
    char *name;
    char path[512];
    int fd;
    atomic_bool stop;
    pthread_t thread;
};

/* $SPATE_RUN_DIR, else $XDG_RUNTIME_DIR/spate, else /tmp/spate-<uid>. */
static void run_dir(char *buf, size_t cap)
{
    const char *d = getenv("SPATE_RUN_DIR"), *x = getenv("XDG_RUNTIME_DIR");
    if (d && *d)
        snprintf(buf, cap, "%s", d);
    else if (x && *x)
        snprintf(buf, cap, "%s/spate", x);
    else
        snprintf(buf, cap, "/tmp/spate-%u", (unsigned)getuid());
}

static const char *status_name(spate_job_status_t s)
{
    switch (s) {
    case SPATE_JOB_RUNNING: return "RUNNING";
    case SPATE_JOB_FINISHED: return "FINISHED";
    case SPATE_JOB_FAILED: return "FAILED";
    case SPATE_JOB_CANCELED: return "CANCELED";
    }
    return "UNKNOWN";
}

/* Reads one line (without "\n") into buf; false on EOF or error before any "\n". */
static bool read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        char *nl = memchr(buf, '\n', n);
        if (nl) {
            *nl = '\0';
            return true;
        }
    }
    buf[n] = '\0';
    return n > 0;
}

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* ---- server ---- */

/* The text after the command word (and its spaces), or NULL when there is none. */
static const char *argument(const char *line, size_t cmdlen)
{
    const char *a = line + cmdlen;
    while (*a == ' ') a++;
    return *a ? a : NULL;
}

static void serve(sp_control_t *c, int fd)
{
    char line[LINE_MAX_LEN], reply[LINE_MAX_LEN + 64], path[LINE_MAX_LEN];
    if (!read_line(fd, line, sizeof line)) return;
    if (!strcmp(line, "info")) {
        snprintf(reply, sizeof reply, "ok %ld %s %s\n", (long)getpid(), status_name(spate_job_status(c->job)),
                 c->name);
    } else if (!strncmp(line, "savepoint", 9) && (line[9] == ' ' || !line[9])) {
        int rc = spate_job_savepoint(c->job, argument(line, 9), path, sizeof path);
        if (rc == SPATE_OK) fprintf(stderr, "spate: job '%s': savepoint written to %s\n", c->name, path);
        snprintf(reply, sizeof reply, rc ? "error %s\n" : "ok %s\n", rc ? spate_last_error() : path);
    } else if (!strncmp(line, "stop ", 5) && (line[5] == '0' || line[5] == '1')) {
        bool drain = line[5] == '1';
        int rc = spate_job_stop_with_savepoint(c->job, argument(line, 6), drain, path, sizeof path);
        if (rc == SPATE_OK) fprintf(stderr, "spate: job '%s' stopped with savepoint %s\n", c->name, path);
        snprintf(reply, sizeof reply, rc ? "error %s\n" : "ok %s\n", rc ? spate_last_error() : path);
    } else if (!strcmp(line, "cancel")) {
        spate_job_cancel(c->job);
        snprintf(reply, sizeof reply, "ok\n");
    } else {
        snprintf(reply, sizeof reply, "error unknown request '%.200s'\n", line);
    }
    write_all(fd, reply);
}

static void *control_main(void *arg)
{
    sp_control_t *c = arg;
    while (!atomic_load(&c->stop)) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0) continue;
        int fd = accept(c->fd, NULL, NULL);
        if (fd < 0) continue;
        serve(c, fd);
        close(fd);
    }
    return NULL;
}

sp_control_t *sp_control_start(spate_job_t *job, const char *name, const char *path, char *err, size_t cap)
{
    sp_control_t *c = calloc(1, sizeof *c);
    c->job = job;
    c->name = strdup(name);
    c->fd = -1;
    if (path) {
        snprintf(c->path, sizeof c->path, "%s", path);
    } else {
        char dir[256];
        run_dir(dir, sizeof dir);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, cap, "cannot create '%s': %s", dir, strerror(errno));
            goto fail;
        }
        snprintf(c->path, sizeof c->path, "%s/%ld.sock", dir, (long)getpid());
    }
    if (strlen(c->path) + 1 > sizeof((struct sockaddr_un *)0)->sun_path) {
        snprintf(err, cap, "control socket path '%s' is too long", c->path);
        goto fail;
    }
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    memcpy(a.sun_path, c->path, strlen(c->path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(c->path); /* a leftover of a process that had this pid */
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(c->fd, 8) != 0) {
        snprintf(err, cap, "cannot listen on '%s': %s", c->path, strerror(errno));
        goto fail;
    }
    if (pthread_create(&c->thread, NULL, control_main, c) != 0) {
        snprintf(err, cap, "cannot start the control thread");
        unlink(c->path);
        goto fail;
    }
    return c;
fail:
    if (c->fd >= 0) close(c->fd);
    free(c->name);
    free(c);
    return NULL;
}

void sp_control_stop(sp_control_t *c)
{
    if (!c) return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    close(c->fd);
    unlink(c->path);
    free(c->name);
    free(c);
}

/* ---- client ---- */

/* One request to the socket at path; 0 ok, 1 error answer, 2 unreachable. */
static int call_path(const char *path, const char *request, char **reply)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) + 1 > sizeof a.sun_path) {
        *reply = strdup("control socket path too long");
        return 2;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        char msg[LINE_MAX_LEN];
        snprintf(msg, sizeof msg, "cannot reach a job at '%s': %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        *reply = strdup(msg);
        return 2;
    }
    char line[LINE_MAX_LEN + 2];
    snprintf(line, sizeof line, "%s\n", request);
    write_all(fd, line);
    char ans[LINE_MAX_LEN + 64];
    bool got = read_line(fd, ans, sizeof ans);
    close(fd);
    if (!got) {
        *reply = strdup("the job closed the connection without answering");
        return 2;
    }
    bool ok = !strncmp(ans, "ok", 2) && (ans[2] == ' ' || !ans[2]);
    const char *rest = ok ? ans + 2 : !strncmp(ans, "error ", 6) ? ans + 6 : ans;
    while (*rest == ' ') rest++;
    *reply = strdup(rest);
    return ok ? 0 : 1;
}

typedef struct job_entry {
    char path[512];
    long pid;
    char status[16];
    char name[LINE_MAX_LEN];
} job_entry_t;

/* The running jobs of the run dir (stale sockets of dead processes are removed). */
static int scan(job_entry_t **out)
{
    char dir[256];
    run_dir(dir, sizeof dir);
    *out = NULL;
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".sock") != 0) continue;
        job_entry_t j = { 0 };
        snprintf(j.path, sizeof j.path, "%s/%s", dir, e->d_name);
        char *reply;
        int rc = call_path(j.path, "info", &reply);
        if (rc == 0 && sscanf(reply, "%ld %15s %4095[^\n]", &j.pid, j.status, j.name) == 3) {
            *out = realloc(*out, sizeof **out * (size_t)(n + 1));
            (*out)[n++] = j;
        } else if (rc == 2) {
            long pid = atol(e->d_name);
            if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) unlink(j.path);
        }
        free(reply);
    }
    if (d) closedir(d);
    return n;
}

int sp_control_list(FILE *out)
{
    job_entry_t *jobs;
    int n = scan(&jobs);
    for (int i = 0; i < n; i++) fprintf(out, "%ld  %s  %s\n", jobs[i].pid, jobs[i].status, jobs[i].name);
    free(jobs);
    return n;
}

int sp_control_call(const char *target, const char *request, char **reply)
{
    char path[512];
    bool digits = *target != '\0';
    for (const char *p = target; *p; p++) digits &= isdigit((unsigned char)*p) != 0;
    if (strchr(target, '/')) {
        snprintf(path, sizeof path, "%s", target);
    } else if (digits) {
        char dir[256];
        run_dir(dir, sizeof dir);
        snprintf(path, sizeof path, "%s/%s.sock", dir, target);
    } else {
        job_entry_t *jobs;
        int n = scan(&jobs), found = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(jobs[i].name, target) && found++ == 0)
                snprintf(path, sizeof path, "%s", jobs[i].path);
        free(jobs);
        char msg[LINE_MAX_LEN];
        if (found != 1) {
            if (found == 0)
                snprintf(msg, sizeof msg, "no running job is named '%s' ('spate list' shows them)", target);
            else
                snprintf(msg, sizeof msg, "%d running jobs are named '%s': give a pid ('spate list')", found,
                         target);
            *reply = strdup(msg);
            return 2;
        }
    }
    return call_path(path, request, reply);
}

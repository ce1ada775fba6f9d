#define _GNU_SOURCE
#include "events.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int events_fd = -1;
static const char *program_name = "?";
static long sequence;

int events_open(const char *program, const char *path, int fd)
{
    program_name = program;
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
    }
    events_fd = fd;
    return 0;
}

void events_rename(const char *program)
{
    program_name = program;
}

static void append(struct event *e, const char *fmt, ...)
{
    va_list ap;
    if (e->len >= sizeof(e->buf))
        return;
    va_start(ap, fmt);
    int n = vsnprintf(e->buf + e->len, sizeof(e->buf) - e->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->len += (size_t)n < sizeof(e->buf) - e->len ? (size_t)n : sizeof(e->buf) - e->len - 1;
}

static void append_clock(struct event *e, const char *key, clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    append(e, ",\"%s\":%ld.%09ld", key, (long)ts.tv_sec, ts.tv_nsec);
}

/* How long this process has waited, runnable, for a CPU (µs; -1 where the kernel does
 * not say): the second field of /proc/self/schedstat. Only open, read and close: the
 * SIGPIPE handler logs events too. */
static long run_queue_wait_us(void)
{
    char text[96];
    int fd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    const char *p = text;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p != ' ')
        return -1;
    long long waited = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        waited = waited * 10 + (*p - '0');
    return (long)(waited / 1000);
}

void event_begin(struct event *e, const char *name)
{
    e->len = 0;
    append(e, "{\"seq\":%ld,\"prog\":\"%s\",\"pid\":%ld,\"event\":\"%s\"",
           ++sequence, program_name, (long)getpid(), name);
    append_clock(e, "rt", CLOCK_REALTIME);
    append_clock(e, "mono", CLOCK_MONOTONIC);
    append(e, ",\"rq_us\":%ld", run_queue_wait_us());
}

void event_int(struct event *e, const char *key, long value)
{
    append(e, ",\"%s\":%ld", key, value);
}

void event_bytes(struct event *e, const char *key, const char *data, size_t n)
{
    append(e, ",\"%s\":\"", key);
    for (size_t i = 0; i < n && e->len + 8 < sizeof(e->buf); i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '"' || c == '\\')
            append(e, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            append(e, "\\u%04x", c);
        else
            e->buf[e->len++] = (char)c;
    }
    append(e, "\"");
}

void event_str(struct event *e, const char *key, const char *value)
{
    event_bytes(e, key, value, strlen(value));
}

void event_errno(struct event *e, int err)
{
    const char *name = strerrorname_np(err);
    append(e, ",\"errno\":\"%s\"", name ? name : "?");
    event_str(e, "error", strerror(err));
}

void event_addr(struct event *e, const char *key, const struct sockaddr *sa, socklen_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    (void)len;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        append(e, ",\"%s\":\"%s:%d\"", key, host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        append(e, ",\"%s\":\"[%s]:%d\"", key, host, port);
    }
}

void event_end(struct event *e)
{
    append(e, "}\n");
    if (events_fd >= 0) {
        size_t done = 0;
        while (done < e->len) {
            ssize_t n = write(events_fd, e->buf + done, e->len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += (size_t)n;
        }
    }
}

static void begin_result(struct event *e, const char *name, int fd, long ret, int err)
{
    event_begin(e, name);
    event_int(e, "fd", fd);
    event_int(e, "ret", ret);
    if (ret < 0)
        event_errno(e, err);
}

void event_result(const char *name, int fd, long ret, int err)
{
    struct event e;
    begin_result(&e, name, fd, ret, err);
    event_end(&e);
}

void event_io(const char *name, int fd, long ret, int err, const char *data)
{
    struct event e;
    begin_result(&e, name, fd, ret, err);
    if (ret == 0)
        event_str(&e, "result", "eof");
    else if (ret > 0)
        event_bytes(&e, "data", data, (size_t)ret);
    event_end(&e);
}

/* Runs in signal context: it only formats into a local buffer and calls write(2).
 * It returns, so the interrupted send() then fails with EPIPE. */
static void on_sigpipe(int signo)
{
    int saved = errno;
    struct event e;
    static const char line[] = "received SIGPIPE (signal 13): the peer has reset the connection\n";
    event_begin(&e, "signal");
    event_int(&e, "signal", signo);
    event_str(&e, "name", "SIGPIPE");
    event_str(&e, "disposition", "handler");
    event_end(&e);
    ssize_t ignored = write(STDOUT_FILENO, line, sizeof(line) - 1);
    (void)ignored;
    errno = saved;
}

int sigpipe_setup(const char *mode)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    if (strcmp(mode, "ignore") == 0)
        sa.sa_handler = SIG_IGN;
    else if (strcmp(mode, "default") == 0)
        sa.sa_handler = SIG_DFL;
    else if (strcmp(mode, "handler") == 0)
        sa.sa_handler = on_sigpipe;
    else
        return -1;
    return sigaction(SIGPIPE, &sa, NULL);
}

int program_setup(const char *program, const char *events_path, int events_fd,
                  const char *sigpipe)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (events_open(program, events_path, events_fd) < 0) {
        fprintf(stderr, "grace%s: cannot open %s: %s\n", program, events_path, strerror(errno));
        return 2;
    }
    if (sigpipe_setup(sigpipe) < 0) {
        fprintf(stderr, "grace%s: --sigpipe must be ignore, default or handler: %s\n",
                program, sigpipe);
        return 2;
    }
    return 0;
}

void exit_with(int status)
{
    struct event e;
    fflush(stdout);
    event_begin(&e, "exit");
    event_int(&e, "status", status);
    event_end(&e);
    exit(status);
}

double parse_seconds(const char *text)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > 86400)
        return -1;
    return value;
}

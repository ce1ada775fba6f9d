/*
 * netkit-agent: runs the kit's commands on a lab host one after another, so that a run
 * costs one `docker exec` per host (each a runc start-up, about 40 ms of CPU) rather
 * than one per command.
 *
 * Requests come on standard input, each a list of NUL-terminated words:
 *     TIMEOUT_MS ARGC ARG0 ... ARG(ARGC-1)
 * The command runs with /dev/null as its input, in a process group of its own; past
 * TIMEOUT_MS the group gets SIGTERM, and SIGKILL GRACE_MS later. The reply, on
 * standard output, is one line and both outputs:
 *     STATUS TIMED_OUT STDOUT_BYTES STDERR_BYTES\n<stdout><stderr>
 * STATUS is shell-style: the exit code, or 128 + the signal that ended the command.
 * The agent ends when its input does (the kit closed its connection).
 *
 * A command may leave a process behind that holds its output open (a daemon that did not
 * redirect it): once the command has ended, what it wrote so far is the reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GRACE_MS 2000
#define MAX_WORDS 4096

struct buffer {
    char *data;
    size_t length, size;
};

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void append(struct buffer *b, const char *data, size_t n)
{
    if (b->length + n > b->size) {
        b->size = (b->length + n) * 2 + 4096;
        b->data = realloc(b->data, b->size);
        if (b->data == NULL) {
            perror("netkit-agent: realloc");
            exit(1);
        }
    }
    memcpy(b->data + b->length, data, n);
    b->length += n;
}

/* One NUL-terminated word from standard input; NULL at its end. */
static char *read_word(void)
{
    struct buffer word = {0};
    int c;
    while ((c = getchar()) != EOF && c != '\0') {
        char ch = (char)c;
        append(&word, &ch, 1);
    }
    if (c == EOF) {
        free(word.data);
        return NULL;
    }
    append(&word, "", 1);
    return word.data;
}

static void write_all(const char *data, size_t n)
{
    while (n > 0) {
        ssize_t done = write(STDOUT_FILENO, data, n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            exit(1);   /* the kit is gone */
        data += done;
        n -= (size_t)done;
    }
}

static pid_t spawn(char **argv, int out, int err)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execvp(argv[0], argv);
    fprintf(stderr, "netkit-agent: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Read what is ready on the open pipes; close a pipe at its end. */
static void drain(struct pollfd *fds, struct buffer *outputs)
{
    char chunk[65536];
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
        if (n > 0) {
            append(&outputs[i], chunk, (size_t)n);
        } else if (n == 0 || errno != EINTR) {
            close(fds[i].fd);
            fds[i].fd = -1;
        }
    }
}

static void run(char **argv, long long timeout_ms)
{
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        perror("netkit-agent: pipe");
        exit(1);
    }
    pid_t pid = spawn(argv, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    struct pollfd fds[2] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
    struct buffer outputs[2] = {{0}, {0}};
    long long deadline = now_ms() + timeout_ms, killed_at = 0;
    int status = 0, ended = 0, timed_out = 0;
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        /* A short wait while the command runs: it may end while a process it left
         * behind keeps a pipe open. */
        int ready = poll(fds, 2, ended ? 0 : 50);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready > 0)
            drain(fds, outputs);
        else if (ended)
            break;
        if (!ended && waitpid(pid, &status, WNOHANG) == pid)
            ended = 1;
        long long t = now_ms();
        if (!ended && !timed_out && t >= deadline) {
            timed_out = 1;
            killed_at = t;
            kill(-pid, SIGTERM);
        } else if (!ended && timed_out && t >= killed_at + GRACE_MS) {
            kill(-pid, SIGKILL);
            killed_at = t + 3600 * 1000LL;   /* once */
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (!ended)
        waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char header[96];
    int n = snprintf(header, sizeof header, "%d %d %zu %zu\n", code, timed_out,
                     outputs[0].length, outputs[1].length);
    write_all(header, (size_t)n);
    for (int i = 0; i < 2; i++) {
        write_all(outputs[i].data ? outputs[i].data : "", outputs[i].length);
        free(outputs[i].data);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* a write to a gone kit fails and ends the agent */
    for (;;) {
        char *timeout = read_word(), *count = timeout ? read_word() : NULL;
        if (count == NULL)
            return 0;
        int argc = atoi(count);
        if (argc < 1 || argc > MAX_WORDS) {
            fprintf(stderr, "netkit-agent: bad request (%d words)\n", argc);
            return 2;
        }
        char **argv = calloc((size_t)argc + 1, sizeof *argv);
        for (int i = 0; i < argc; i++)
            if ((argv[i] = read_word()) == NULL)
                return 2;
        run(argv, atoll(timeout));
        for (int i = 0; i < argc; i++)
            free(argv[i]);
        free(argv);
        free(timeout);
        free(count);
    }
}

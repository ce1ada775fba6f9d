/* graceclient: the lesson's interactive client. select() watches standard input
 * and the socket. The input line "close" calls close(), "shutdown" calls
 * shutdown(SHUT_WR), anything else is sent. Replies are printed as they come;
 * EOF from the server ends the program. Every call that matters is also written
 * to the event stream.
 *
 * More lines set up the kit's other experiments: "linger" sets SO_LINGER {1, 0}
 * (close() then resets the connection); "pause" stops reading the socket (replies
 * stay unread); "fork" forks a child that shares the socket and from then on reads
 * it, "child <text>" makes the child send <text>, "child exit" ends it; "probe"
 * calls getsockopt() on the socket's descriptor (still valid after shutdown(), not
 * after close()); "drain" reads the socket until it reports EOF (at most 8 reads),
 * logging each result, errors included; "linger2 N" sets TCP_LINGER2 to N seconds
 * (how long an orphan may stay in FIN-WAIT-2); "linger N" sets SO_LINGER {1, N} (close()
 * then waits up to N s for the peer to acknowledge everything, and logs "closing" when
 * it is called); "exit" ends the program without close(); "reap" waits for the forked
 * child to end and logs when it did. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "events.h"

#define MAXLINE 4096

static void usage(int status)
{
    fprintf(status == 0 ? stdout : stderr,
            "usage: graceclient [--port N] [--after-close SECONDS] [--sigpipe ignore|default|handler]\n"
            "                   [--events PATH | --events-fd N] SERVER\n");
    exit(status);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_to(const char *server, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found;
    int rc = getaddrinfo(server, port, &hints, &found);
    if (rc != 0) {
        struct event e;
        event_begin(&e, "resolve");
        event_str(&e, "host", server);
        event_str(&e, "error", gai_strerror(rc));
        event_end(&e);
        printf("cannot resolve %s: %s\n", server, gai_strerror(rc));
        exit_with(1);
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = found; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        int ret = connect(fd, ai->ai_addr, ai->ai_addrlen);
        err = errno;
        struct event e;
        event_begin(&e, "connect");
        event_int(&e, "fd", fd);
        event_int(&e, "ret", ret);
        event_addr(&e, "peer", ai->ai_addr, ai->ai_addrlen);
        if (ret == 0) {
            struct sockaddr_storage local;
            socklen_t len = sizeof(local);
            getsockname(fd, (struct sockaddr *)&local, &len);
            event_addr(&e, "local", (struct sockaddr *)&local, len);
        } else {
            event_errno(&e, err);
        }
        event_end(&e);
        if (ret == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) {
        printf("connect failed: %s\n", strerror(err));
        exit_with(1);
    }
    return fd;
}

/* Returns 1 when the socket was closed or shut down and standard input is done with. */
static int reading = 1;   /* "pause" clears it: the socket is no longer read */
static int child_commands = -1;   /* the pipe to the forked child, once there is one */
static pid_t child_pid = -1;
static int socket_fd = -1;        /* the descriptor number, kept after close() for "probe" */
static int linger_seconds = 0;    /* "linger N": close() may block, so its start is logged */

/* Split complete lines out of buf (len bytes); call handle on each; return what is left. */
static size_t take_lines(char *buf, size_t len, void (*handle)(char *line, void *arg), void *arg)
{
    char *newline;
    while ((newline = memchr(buf, '\n', len)) != NULL) {
        *newline = '\0';
        size_t used = (size_t)(newline - buf) + 1;
        handle(buf, arg);
        memmove(buf, buf + used, len - used);
        len -= used;
    }
    return len;
}

static void child_command(char *line, void *arg)
{
    int sock = *(int *)arg;
    if (strcmp(line, "exit") == 0) {
        printf("[child] exits, and with it the last holder of the socket\n");
        exit_with(0);
    }
    printf("[child] now sending %s\n", line);
    ssize_t sent = write(sock, line, strlen(line));
    int err = errno;
    event_io("write", sock, (long)sent, err, line);
    if (sent < 0)
        printf("[child] write failed: %s\n", strerror(err));
    else
        printf("[child] send bytes: %zd\n", sent);
}

/* The forked child: reads the shared socket, and sends what the parent tells it. */
static void child_loop(int sock, int commands) __attribute__((noreturn));
static void child_loop(int sock, int commands)
{
    char buf[MAXLINE + 1], pending[MAXLINE + 1];
    size_t pending_len = 0;
    events_rename("client-child");
    for (;;) {
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(sock, &readable);
        FD_SET(commands, &readable);
        if (select((sock > commands ? sock : commands) + 1, &readable, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            exit_with(1);
        }
        if (FD_ISSET(sock, &readable)) {
            ssize_t n = read(sock, buf, MAXLINE);
            int err = errno;
            event_io("read", sock, (long)n, err, buf);
            if (n <= 0) {
                printf(n == 0 ? "[child] server terminated\n" : "[child] read error: %s\n",
                       strerror(err));
                exit_with(n == 0 ? 0 : 1);
            }
            buf[n] = '\0';
            printf("[child] %s\n", buf);
        }
        if (FD_ISSET(commands, &readable)) {
            ssize_t n = read(commands, pending + pending_len, MAXLINE - pending_len);
            if (n <= 0)
                exit_with(0);   /* the parent is gone */
            pending_len = take_lines(pending, pending_len + (size_t)n, child_command, &sock);
        }
    }
}

static int handle_line(int *sock, char *line, double after_close, double *deadline)
{
    if (strcmp(line, "probe") == 0) {
        int type;
        socklen_t len = sizeof(type);
        int ret = getsockopt(socket_fd, SOL_SOCKET, SO_TYPE, &type, &len);
        event_result("getsockopt", socket_fd, ret, errno);
        printf(ret == 0 ? "getsockopt(fd %d) works: the socket is still there\n"
                        : "getsockopt(fd %d) fails: %s\n", socket_fd, strerror(errno));
        return 0;
    }
    if (strncmp(line, "child ", 6) == 0) {
        if (child_commands < 0) {
            printf("no child: 'fork' first\n");
            return 0;
        }
        char command[MAXLINE + 2];
        int len = snprintf(command, sizeof(command), "%s\n", line + 6);
        ssize_t ignored = write(child_commands, command, (size_t)len);
        (void)ignored;
        return 0;
    }
    if (strcmp(line, "reap") == 0) {
        /* Waits for the child: its end, descriptors released, is the "reaped" time. */
        int status = 0;
        pid_t ret = child_pid > 0 ? waitpid(child_pid, &status, 0) : -1;
        int err = child_pid > 0 ? errno : ECHILD;
        struct event e;
        event_begin(&e, "reaped");
        event_int(&e, "ret", ret);
        if (ret < 0)
            event_errno(&e, err);
        else
            event_int(&e, "status", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        event_end(&e);
        printf(ret < 0 ? "no child to reap\n" : "child %ld has ended\n", (long)ret);
        return 0;
    }
    if (*sock < 0) {
        printf("the connection is closed; ignoring: %s\n", line);
        return 0;
    }
    if (strcmp(line, "exit") == 0) {
        printf("exiting without close()\n");
        exit_with(0);
    }
    if (strncmp(line, "linger ", 7) == 0) {
        struct linger wait_on_close = {.l_onoff = 1, .l_linger = atoi(line + 7)};
        int ret = setsockopt(*sock, SOL_SOCKET, SO_LINGER, &wait_on_close,
                             sizeof(wait_on_close));
        event_result("linger", *sock, ret, errno);
        linger_seconds = wait_on_close.l_linger;
        printf("SO_LINGER {1, %d}: close() waits for the peer's acknowledgement\n",
               linger_seconds);
        return 0;
    }
    if (strcmp(line, "linger") == 0) {
        struct linger abort_on_close = {.l_onoff = 1, .l_linger = 0};
        int ret = setsockopt(*sock, SOL_SOCKET, SO_LINGER, &abort_on_close,
                             sizeof(abort_on_close));
        event_result("linger", *sock, ret, errno);
        printf("SO_LINGER {1, 0}: close() will reset the connection\n");
        return 0;
    }
    if (strcmp(line, "fork") == 0) {
        int pipe_fds[2];
        if (pipe(pipe_fds) < 0) {
            printf("pipe failed: %s\n", strerror(errno));
            exit_with(1);
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(pipe_fds[1]);
            child_loop(*sock, pipe_fds[0]);
        }
        close(pipe_fds[0]);
        event_result("fork", *sock, pid, errno);
        if (pid < 0)
            exit_with(1);
        child_commands = pipe_fds[1];
        child_pid = pid;
        reading = 0;   /* the child reads the socket from now on */
        printf("forked child %ld, which shares the socket\n", (long)pid);
        return 0;
    }
    if (strncmp(line, "linger2 ", 8) == 0) {
        int seconds = atoi(line + 8);
        int ret = setsockopt(*sock, IPPROTO_TCP, TCP_LINGER2, &seconds, sizeof(seconds));
        event_result("linger2", *sock, ret, errno);
        printf("TCP_LINGER2 %d s: an orphan leaves FIN-WAIT-2 after that\n", seconds);
        return 0;
    }
    if (strcmp(line, "drain") == 0) {
        char buf[MAXLINE + 1];
        for (int reads = 0; reads < 8; reads++) {
            ssize_t n = read(*sock, buf, MAXLINE);
            int err = errno;
            event_io("read", *sock, (long)n, err, buf);
            if (n > 0) {
                buf[n] = '\0';
                printf("%s\n", buf);
            } else if (n < 0) {
                printf("read error: %s\n", strerror(err));
            } else {
                printf("server terminated\n");
                break;
            }
        }
        return 0;
    }
    if (strcmp(line, "pause") == 0) {
        reading = 0;
        event_result("pause", *sock, 0, 0);
        printf("no longer reading the socket\n");
        return 0;
    }
    if (strcmp(line, "shutdown") == 0) {
        int ret = shutdown(*sock, SHUT_WR);
        event_result("shutdown", *sock, ret, errno);
        if (ret < 0) {
            printf("shutdown failed: %s\n", strerror(errno));
            exit_with(1);
        }
        return 1;
    }
    if (strcmp(line, "close") == 0) {
        int fd = *sock;
        if (linger_seconds > 0)
            event_result("closing", fd, 0, 0);
        int ret = close(fd);
        event_result("close", fd, ret, errno);
        if (ret < 0) {
            printf("close failed: %s\n", strerror(errno));
            exit_with(1);
        }
        *sock = -1;
        *deadline = now() + after_close;
        return 0;
    }
    printf("now sending %s\n", line);
    ssize_t sent = write(*sock, line, strlen(line));
    int err = errno;
    event_io("write", *sock, (long)sent, err, line);
    if (sent < 0) {
        printf("write failed: %s\n", strerror(err));
        exit_with(1);
    }
    printf("send bytes: %zd\n", sent);
    return 0;
}

int main(int argc, char **argv)
{
    const char *port = "13211", *sigpipe = "default", *events_path = NULL;
    int events_fd = -1;
    double after_close = 6.0; /* the lesson's client sleeps 6 s after close() */
    static const struct option options[] = {
        {"port", required_argument, NULL, 'p'},
        {"after-close", required_argument, NULL, 'a'},
        {"sigpipe", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'e'},
        {"events-fd", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'p': port = optarg; break;
        case 'a': after_close = parse_seconds(optarg); break;
        case 's': sigpipe = optarg; break;
        case 'e': events_path = optarg; break;
        case 'f': events_fd = atoi(optarg); break;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc - 1 || after_close < 0)
        usage(2);
    if (program_setup("client", events_path, events_fd, sigpipe) != 0)
        return 2;
    struct event e;
    event_begin(&e, "start");
    event_str(&e, "server", argv[optind]);
    event_str(&e, "port", port);
    event_end(&e);

    int sock = connect_to(argv[optind], port);
    socket_fd = sock;
    int stdin_open = 1;
    double deadline = 0;
    char input[MAXLINE + 1], reply[MAXLINE + 1];
    size_t input_len = 0;

    for (;;) {
        fd_set readable;
        FD_ZERO(&readable);
        int top = 0;
        if (stdin_open)
            FD_SET(STDIN_FILENO, &readable);
        if (sock >= 0 && reading) {
            FD_SET(sock, &readable);
            top = sock;
        }
        struct timeval wait, *timeout = NULL;
        if (sock >= 0 && !reading && !stdin_open)
            exit_with(0);   /* nothing left to wait for: exiting closes the socket */
        if (sock < 0) {
            /* After close() only the lesson's pause remains, cut short by the end of input. */
            double left = deadline - now();
            if (left <= 0 || !stdin_open)
                exit_with(0);
            wait.tv_sec = (time_t)left;
            wait.tv_usec = (suseconds_t)((left - (time_t)left) * 1e6);
            timeout = &wait;
        }
        int rc = select(top + 1, &readable, NULL, NULL, timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            printf("select failed: %s\n", strerror(errno));
            exit_with(1);
        }
        if (rc == 0)
            exit_with(0);
        if (sock >= 0 && reading && FD_ISSET(sock, &readable)) {
            ssize_t n = read(sock, reply, MAXLINE);
            int err = errno;
            event_io("read", sock, (long)n, err, reply);
            if (n < 0) {
                printf("read error: %s\n", strerror(err));
                exit_with(1);
            }
            if (n == 0) {
                printf("server terminated\n");
                exit_with(0);
            }
            reply[n] = '\0';
            printf("%s\n", reply);
        }
        if (stdin_open && FD_ISSET(STDIN_FILENO, &readable)) {
            /* read(2), not stdio: a stdio buffer would hide lines from select(). */
            ssize_t n = read(STDIN_FILENO, input + input_len, MAXLINE - input_len);
            if (n <= 0) {
                stdin_open = 0;
                event_begin(&e, "stdin");
                event_str(&e, "result", "eof");
                event_end(&e);
                if (input_len > 0) {
                    input[input_len] = '\0';
                    input_len = 0;
                    handle_line(&sock, input, after_close, &deadline);
                }
                continue;
            }
            input_len += (size_t)n;
            char *newline;
            while ((newline = memchr(input, '\n', input_len)) != NULL) {
                *newline = '\0';
                size_t used = (size_t)(newline - input) + 1;
                int done = handle_line(&sock, input, after_close, &deadline);
                memmove(input, input + used, input_len - used);
                input_len -= used;
                if (done && child_commands < 0) {
                    /* As in the lesson: after shutdown, input is no longer read (with a
                     * child, it still is: the child's commands come that way). */
                    stdin_open = 0;
                    break;
                }
                if (done)
                    reading = 0;
            }
            if (input_len == MAXLINE) {
                input[input_len] = '\0';
                input_len = 0;
                handle_line(&sock, input, after_close, &deadline);
            }
        }
    }
}

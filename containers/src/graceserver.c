/* graceserver: accepts one connection; for each message it prints what it got,
 * waits the processing time, and replies "Hi, <message>". On EOF it exits
 * without close(): the kernel closes the socket of a dying process (and sends
 * the FIN). Every call that matters is also written to the event stream.
 *
 * For the kit's other experiments: --shutdown-after-read rd|rdwr shuts the read
 * (or both) directions after the first message; --exit-after N ends the program
 * after N replies, still without close(), by exit(0), by returning from main, or
 * killed by a signal (--exit-how). --keep-going carries on after a failed write
 * (to show what the next write does); --silent reads and never replies;
 * --abort-after N sets SO_LINGER {1, 0} after N replies and closes: an RST. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "events.h"

#define MAXLINE 4096

static void usage(int status)
{
    fprintf(status == 0 ? stdout : stderr,
            "usage: graceserver [--port N] [--server-delay SECONDS] "
            "[--sigpipe ignore|default|handler] [--events PATH | --events-fd N]\n"
            "                   [--shutdown-after-read rd|rdwr] [--exit-after N "
            "[--exit-how exit|return|signal]]\n"
            "                   [--keep-going] [--silent] [--abort-after N]\n");
    exit(status);
}

static void pause_for(double seconds)
{
    struct timespec left = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

static void fail(const char *what, int err)
{
    printf("%s: %s\n", what, strerror(err));
    exit_with(1);
}

int main(int argc, char **argv)
{
    int port = 13211, events_fd = -1;
    double delay = 5.0;
    const char *sigpipe = "ignore", *events_path = NULL, *shut_after_read = NULL;
    const char *exit_how = "exit";
    int exit_after = 0, keep_going = 0, silent = 0, abort_after = 0;
    static const struct option options[] = {
        {"port", required_argument, NULL, 'p'},
        {"server-delay", required_argument, NULL, 'd'},
        {"sigpipe", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'e'},
        {"events-fd", required_argument, NULL, 'f'},
        {"shutdown-after-read", required_argument, NULL, 'r'},
        {"exit-after", required_argument, NULL, 'x'},
        {"exit-how", required_argument, NULL, 'w'},
        {"keep-going", no_argument, NULL, 'k'},
        {"silent", no_argument, NULL, 'q'},
        {"abort-after", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'd': delay = parse_seconds(optarg); break;
        case 's': sigpipe = optarg; break;
        case 'e': events_path = optarg; break;
        case 'f': events_fd = atoi(optarg); break;
        case 'r': shut_after_read = optarg; break;
        case 'x': exit_after = atoi(optarg); break;
        case 'w': exit_how = optarg; break;
        case 'k': keep_going = 1; break;
        case 'q': silent = 1; break;
        case 'b': abort_after = atoi(optarg); break;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc || port <= 0 || port > 65535 || delay < 0 || exit_after < 0
        || abort_after < 0)
        usage(2);
    if (shut_after_read && strcmp(shut_after_read, "rd") && strcmp(shut_after_read, "rdwr"))
        usage(2);
    if (strcmp(exit_how, "exit") && strcmp(exit_how, "return") && strcmp(exit_how, "signal"))
        usage(2);
    if (program_setup("server", events_path, events_fd, sigpipe) != 0)
        return 2;
    struct event e;
    event_begin(&e, "start");
    event_int(&e, "port", port);
    event_str(&e, "sigpipe", sigpipe);
    event_int(&e, "server_delay_ms", (long)(delay * 1000));
    event_end(&e);

    int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        event_result("bind", listen_fd, -1, errno);
        fail("bind failed", errno);
    }
    if (listen(listen_fd, 16) < 0) {
        event_result("listen", listen_fd, -1, errno);
        fail("listen failed", errno);
    }
    event_begin(&e, "listen");
    event_int(&e, "fd", listen_fd);
    event_int(&e, "port", port);
    event_end(&e);
    printf("listening on port %d\n", port);

    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    int conn_fd = accept(listen_fd, (struct sockaddr *)&peer, &peer_len);
    if (conn_fd < 0) {
        event_result("accept", listen_fd, -1, errno);
        fail("accept failed", errno);
    }
    struct sockaddr_storage local;
    socklen_t local_len = sizeof(local);
    getsockname(conn_fd, (struct sockaddr *)&local, &local_len);
    event_begin(&e, "accept");
    event_int(&e, "fd", conn_fd);
    event_addr(&e, "local", (struct sockaddr *)&local, local_len);
    event_addr(&e, "peer", (struct sockaddr *)&peer, peer_len);
    event_end(&e);

    char message[MAXLINE + 1], reply[MAXLINE + 16];
    int replies = 0, messages = 0, aborted_after = 0;
    for (;;) {
        ssize_t n = read(conn_fd, message, MAXLINE);
        int err = errno;
        event_io("read", conn_fd, (long)n, err, message);
        if (n < 0)
            fail("error read", err);
        if (n == 0) {
            printf("client closed\n");
            exit_with(0);
        }
        message[n] = '\0';
        printf("received %zd bytes: %s\n", n, message);
        if (shut_after_read && ++messages == 1) {
            int how = strcmp(shut_after_read, "rd") == 0 ? SHUT_RD : SHUT_RDWR;
            int ret = shutdown(conn_fd, how);
            event_begin(&e, "shutdown");
            event_int(&e, "fd", conn_fd);
            event_str(&e, "how", how == SHUT_RD ? "SHUT_RD" : "SHUT_RDWR");
            event_int(&e, "ret", ret);
            if (ret < 0)
                event_errno(&e, errno);
            event_end(&e);
            printf("shutdown(%s) = %d\n", how == SHUT_RD ? "SHUT_RD" : "SHUT_RDWR", ret);
        }

        if (silent)
            continue;
        int len = snprintf(reply, sizeof(reply), "Hi, %s", message);
        pause_for(delay);
        ssize_t sent = send(conn_fd, reply, (size_t)len, 0);
        err = errno;
        event_io("write", conn_fd, (long)sent, err, reply);
        if (sent < 0 && !keep_going)
            fail("error write", err);
        if (sent < 0)
            printf("error write: %s (going on)\n", strerror(err));
        else
            printf("send bytes: %zd\n", sent);
        if (abort_after > 0 && ++aborted_after == abort_after) {
            struct linger abort_on_close = {.l_onoff = 1, .l_linger = 0};
            int ret = setsockopt(conn_fd, SOL_SOCKET, SO_LINGER, &abort_on_close,
                                 sizeof(abort_on_close));
            event_result("linger", conn_fd, ret, errno);
            ret = close(conn_fd);
            event_result("close", conn_fd, ret, errno);
            printf("SO_LINGER {1, 0}, then close(): the connection is reset\n");
            exit_with(0);
        }
        if (exit_after > 0 && ++replies == exit_after)
            break;
    }
    /* --exit-after: end without close(); the kernel closes what the process leaves. */
    printf("ending by %s, without close()\n", exit_how);
    if (strcmp(exit_how, "signal") == 0) {
        fflush(stdout);
        event_begin(&e, "kill-self");
        event_str(&e, "signal", "SIGKILL");
        event_end(&e);
        raise(SIGKILL);
    }
    if (strcmp(exit_how, "exit") == 0)
        exit_with(0);
    event_begin(&e, "exit");
    event_int(&e, "status", 0);
    event_str(&e, "how", "return from main");
    event_end(&e);
    return 0;
}

/*
 * netkit-probe: measure what a link really delivers, over TCP.
 *
 *   netkit-probe listen PORT              accept connections one after another, read
 *                                         each to its end, then close it
 *   netkit-probe connect ADDR PORT COUNT  COUNT handshakes, each timed from connect()
 *                                         to its return (one round trip); returns
 *                                         once the listener has closed them all
 *   netkit-probe send ADDR PORT SECONDS   send as fast as possible for SECONDS, then
 *                                         shut down and wait for the peer's close:
 *                                         every byte sent has then been read
 *   netkit-probe clock                    this machine's clocks, once for each line
 *                                         read (one round trip over an open channel
 *                                         per reading: its offset to another's clock)
 *
 * connect, send and clock print one JSON line. Addresses are numeric (IPv4 or IPv6).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "netkit-probe: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct addrinfo *resolve(const char *addr, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai;
    int err = getaddrinfo(addr, port, &hints, &ai);
    if (err) {
        fprintf(stderr, "netkit-probe: %s: %s\n", addr, gai_strerror(err));
        exit(2);
    }
    return ai;
}

static _Noreturn void listen_on(const char *port)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0), on = 1, off = 0;
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port))};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (listen(fd, 128) < 0)
        die("listen");
    printf("listening on port %s\n", port);
    fflush(stdout);
    char buf[65536];
    for (;;) {
        int conn = accept(fd, NULL, NULL);
        if (conn < 0) {
            if (errno == EINTR)
                continue;
            die("accept");
        }
        while (read(conn, buf, sizeof buf) > 0)
            ;
        close(conn);
    }
}

static int connect_once(struct addrinfo *ai, double *seconds)
{
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    double start = now();
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect");
    *seconds = now() - start;
    return fd;
}

static void handshakes(struct addrinfo *ai, int count)
{
    printf("{\"connect_ms\":[");
    for (int i = 0; i < count; i++) {
        double seconds;
        int fd = connect_once(ai, &seconds);
        if (i == count - 1) {
            /* The listener takes connections in order: once it has closed the last one,
             * it has closed them all. Nothing of the probe is then left on a shaped link
             * to reach the server after its listener is gone (an RST in the next run's
             * counters). */
            char byte;
            shutdown(fd, SHUT_WR);
            while (read(fd, &byte, 1) > 0)
                ;
        }
        close(fd);
        printf("%s%.3f", i ? "," : "", seconds * 1000);
    }
    printf("]}\n");
}

static void send_for(struct addrinfo *ai, double duration)
{
    double handshake;
    int fd = connect_once(ai, &handshake);
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    unsigned long long sent = 0;
    double start = now();
    while (now() - start < duration) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n < 0)
            die("write");
        sent += (unsigned long long)n;
    }
    shutdown(fd, SHUT_WR);
    /* The peer closes once it has read everything: then every byte has crossed. */
    while (read(fd, buf, sizeof buf) > 0)
        ;
    double elapsed = now() - start;
    close(fd);
    printf("{\"bytes\":%llu,\"seconds\":%.6f,\"bits_per_second\":%.0f,\"handshake_ms\":%.3f}\n",
           sent, elapsed, (double)sent * 8 / elapsed, handshake * 1000);
}

static void print_clocks(void)
{
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    printf("{\"rt\":%lld.%09ld,\"mono\":%lld.%09ld}\n", (long long)rt.tv_sec, rt.tv_nsec,
           (long long)mono.tv_sec, mono.tv_nsec);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "clock") == 0) {
        int c;
        while ((c = getchar()) != EOF)
            if (c == '\n') {
                print_clocks();
                fflush(stdout);
            }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "listen") == 0)
        listen_on(argv[2]);
    if (argc == 5 && strcmp(argv[1], "connect") == 0) {
        handshakes(resolve(argv[2], argv[3]), atoi(argv[4]));
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "send") == 0) {
        send_for(resolve(argv[2], argv[3]), atof(argv[4]));
        return 0;
    }
    fprintf(stderr, "usage: netkit-probe listen PORT | connect ADDR PORT COUNT | "
                    "send ADDR PORT SECONDS | clock\n");
    return 2;
}

/*
 * netkit-ss: socket samples for the experiment's port, read from the kernel's
 * sock_diag netlink interface by one process (not one ss process per sample).
 *
 *   netkit-ss PORT                           one sample on standard output
 *   netkit-ss PORT INTERVAL OUTPUT [EVENTS]  a sample every INTERVAL seconds, appended
 *        to OUTPUT, until the file OUTPUT.stop appears; with EVENTS (the host's program
 *        event stream), also a sample right after each event the program logs
 *
 * Each sample is a line "### <CLOCK_REALTIME seconds>[ after <event>]" followed by a
 * line per TCP socket on PORT, as `ss -H -t -a -n -o -i -e` writes them (state, queues,
 * addresses, timer, ino, sk cookie, shutdown marks; then an indented line of tcp_info),
 * so that the kit reads both alike (kit/observe/ss.py).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_NS 10000000L          /* how often the event stream is looked at: 10 ms */

static const char *STATES[] = {
    "UNKNOWN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
    "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV",
};
static const char *TIMERS[] = {"off", "on", "keepalive", "timewait", "persist"};

static void die(const char *what)
{
    fprintf(stderr, "netkit-ss: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void address(char *out, size_t size, int family, const __be32 *raw, __be16 port,
                    int any_port)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family, raw, text, sizeof text);
    char number[8];
    if (any_port && port == 0)
        strcpy(number, "*");
    else
        snprintf(number, sizeof number, "%u", ntohs(port));
    snprintf(out, size, family == AF_INET6 ? "[%s]:%s" : "%s:%s", text, number);
}

static void print_timer(FILE *out, const struct inet_diag_msg *msg)
{
    if (msg->idiag_timer == 0 || msg->idiag_timer >= sizeof TIMERS / sizeof *TIMERS)
        return;
    unsigned ms = msg->idiag_expires;
    if (ms >= 1000)
        fprintf(out, " timer:(%s,%.3fsec,%u)", TIMERS[msg->idiag_timer], ms / 1000.0,
                msg->idiag_retrans);
    else
        fprintf(out, " timer:(%s,%ums,%u)", TIMERS[msg->idiag_timer], ms, msg->idiag_retrans);
}

static void print_info(FILE *out, const struct tcp_info *i, size_t size, const char *cong)
{
    fputs("\t", out);
    if (i->tcpi_options & TCPI_OPT_TIMESTAMPS) fputs(" ts", out);
    if (i->tcpi_options & TCPI_OPT_SACK) fputs(" sack", out);
    if (i->tcpi_options & TCPI_OPT_ECN) fputs(" ecn", out);
    if (cong) fprintf(out, " %s", cong);
    if (i->tcpi_options & TCPI_OPT_WSCALE)
        fprintf(out, " wscale:%u,%u", i->tcpi_snd_wscale, i->tcpi_rcv_wscale);
    fprintf(out, " rto:%g rtt:%g/%g ato:%g mss:%u pmtu:%u rcvmss:%u advmss:%u cwnd:%u",
            i->tcpi_rto / 1000.0, i->tcpi_rtt / 1000.0, i->tcpi_rttvar / 1000.0,
            i->tcpi_ato / 1000.0, i->tcpi_snd_mss, i->tcpi_pmtu, i->tcpi_rcv_mss,
            i->tcpi_advmss, i->tcpi_snd_cwnd);
    if (i->tcpi_snd_ssthresh < 0xFFFF)
        fprintf(out, " ssthresh:%u", i->tcpi_snd_ssthresh);
    if (size >= offsetof(struct tcp_info, tcpi_snd_wnd) + sizeof i->tcpi_snd_wnd)
        fprintf(out, " bytes_sent:%llu bytes_retrans:%llu bytes_acked:%llu "
                "bytes_received:%llu segs_out:%u segs_in:%u data_segs_out:%u "
                "data_segs_in:%u delivered:%u snd_wnd:%u",
                (unsigned long long)i->tcpi_bytes_sent,
                (unsigned long long)i->tcpi_bytes_retrans,
                (unsigned long long)i->tcpi_bytes_acked,
                (unsigned long long)i->tcpi_bytes_received, i->tcpi_segs_out,
                i->tcpi_segs_in, i->tcpi_data_segs_out, i->tcpi_data_segs_in,
                i->tcpi_delivered, i->tcpi_snd_wnd);
    if (size >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof i->tcpi_delivery_rate)
        fprintf(out, " pacing_rate %llubps delivery_rate %llubps%s",
                (unsigned long long)i->tcpi_pacing_rate * 8,
                (unsigned long long)i->tcpi_delivery_rate * 8,
                i->tcpi_delivery_rate_app_limited ? " app_limited" : "");
    fprintf(out, " lastsnd:%u lastrcv:%u lastack:%u unacked:%u retrans:%u/%u lost:%u "
            "sacked:%u rcv_space:%u rcv_ssthresh:%u minrtt:%g\n",
            i->tcpi_last_data_sent, i->tcpi_last_data_recv, i->tcpi_last_ack_recv,
            i->tcpi_unacked, i->tcpi_retransmits, i->tcpi_total_retrans, i->tcpi_lost,
            i->tcpi_sacked, i->tcpi_rcv_space, i->tcpi_rcv_ssthresh, i->tcpi_min_rtt / 1000.0);
}

static void print_socket(FILE *out, struct inet_diag_msg *msg, int length, unsigned port)
{
    unsigned sport = ntohs(msg->id.idiag_sport), dport = ntohs(msg->id.idiag_dport);
    if (sport != port && dport != port)
        return;
    const struct tcp_info *info = NULL;
    size_t info_size = 0;
    const char *cong = NULL;
    int shutdown = -1;
    struct rtattr *attr = (struct rtattr *)(msg + 1);
    int left = length - (int)NLMSG_LENGTH(sizeof *msg);
    for (; RTA_OK(attr, left); attr = RTA_NEXT(attr, left)) {
        if (attr->rta_type == INET_DIAG_INFO) {
            info = RTA_DATA(attr);
            info_size = RTA_PAYLOAD(attr);
        } else if (attr->rta_type == INET_DIAG_CONG) {
            cong = RTA_DATA(attr);
        } else if (attr->rta_type == INET_DIAG_SHUTDOWN) {
            shutdown = *(unsigned char *)RTA_DATA(attr);
        }
    }
    char local[64], peer[64];
    address(local, sizeof local, msg->idiag_family, msg->id.idiag_src, msg->id.idiag_sport, 0);
    address(peer, sizeof peer, msg->idiag_family, msg->id.idiag_dst, msg->id.idiag_dport, 1);
    const char *state = msg->idiag_state < sizeof STATES / sizeof *STATES
        ? STATES[msg->idiag_state] : "UNKNOWN";
    fprintf(out, "%s %u %u %s %s", state, msg->idiag_rqueue, msg->idiag_wqueue, local, peer);
    print_timer(out, msg);
    unsigned long long cookie = (unsigned long long)msg->id.idiag_cookie[1] << 32
        | msg->id.idiag_cookie[0];
    fprintf(out, " ino:%u sk:%llx", msg->idiag_inode, cookie);
    if (shutdown >= 0)
        fprintf(out, " %c-%c", shutdown & 1 ? '-' : '<', shutdown & 2 ? '-' : '>');
    fputc('\n', out);
    if (info && info_size >= offsetof(struct tcp_info, tcpi_rcv_space))
        print_info(out, info, info_size, cong);
}

/* One dump of the TCP sockets of one family; each on PORT is printed. */
static void dump(int nl, FILE *out, int family, unsigned port)
{
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } ask = {
        .header = {.nlmsg_len = sizeof ask, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .request = {.sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
                    .idiag_ext = 1 << (INET_DIAG_INFO - 1) | 1 << (INET_DIAG_CONG - 1),
                    .idiag_states = ~0U},
    };
    if (send(nl, &ask, sizeof ask, 0) < 0)
        die("sock_diag request");
    static char buffer[65536];
    for (;;) {
        ssize_t got = recv(nl, buffer, sizeof buffer, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            die("sock_diag answer");
        }
        struct nlmsghdr *h = (struct nlmsghdr *)buffer;
        for (int left = (int)got; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE)
                return;
            if (h->nlmsg_type == NLMSG_ERROR) {
                errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
                die("sock_diag");
            }
            print_socket(out, NLMSG_DATA(h), (int)h->nlmsg_len, port);
        }
    }
}

static void sample(int nl, FILE *out, unsigned port, const char *after)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fprintf(out, "### %lld.%06ld%s%s\n", (long long)now.tv_sec, now.tv_nsec / 1000,
            after ? " after " : "", after ? after : "");
    dump(nl, out, AF_INET, port);
    dump(nl, out, AF_INET6, port);
    fflush(out);
}

/* The names of the events logged since the last look ('"event":"write"'), each sampled
 * after; a line not yet whole waits for the next look. */
static void follow(int events, int nl, FILE *out, unsigned port)
{
    static char pending[65536];
    static size_t held;
    ssize_t got;
    while ((got = read(events, pending + held, sizeof pending - 1 - held)) > 0) {
        held += (size_t)got;
        pending[held] = '\0';
        char *line = pending, *end;
        while ((end = strchr(line, '\n')) != NULL) {
            *end = '\0';
            char *name = strstr(line, "\"event\":\"");
            if (name) {
                name += strlen("\"event\":\"");
                size_t length = strspn(name, "abcdefghijklmnopqrstuvwxyz_");
                name[length] = '\0';
                sample(nl, out, port, name);
            }
            line = end + 1;
        }
        held -= (size_t)(line - pending);
        memmove(pending, line, held);
        if (held == sizeof pending - 1)
            held = 0;    /* a line longer than the buffer is no event of ours */
    }
}

static long long ns_of(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4 && argc != 5) {
        fprintf(stderr, "usage: netkit-ss PORT [INTERVAL OUTPUT [EVENTS]]\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        die("netlink socket");
    if (argc == 2) {
        sample(nl, stdout, port, NULL);
        return 0;
    }
    long long interval = (long long)(atof(argv[2]) * 1e9);
    FILE *out = fopen(argv[3], "a");
    if (!out)
        die(argv[3]);
    char stop[4096];
    snprintf(stop, sizeof stop, "%s.stop", argv[3]);
    unlink(stop);
    int events = -1;
    if (argc == 5) {
        events = open(argv[4], O_RDONLY | O_CLOEXEC);
        if (events >= 0)
            lseek(events, 0, SEEK_END);   /* what was logged before the start is not news */
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long next = ns_of(now);
    while (access(stop, F_OK) != 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ns_of(now) >= next) {
            sample(nl, out, port, NULL);
            /* Samples start every INTERVAL, not INTERVAL + the sample's own time. */
            next += interval;
            if (next <= ns_of(now))
                next = ns_of(now) + interval;
        }
        if (events >= 0)
            follow(events, nl, out, port);
        long long wait = next - ns_of(now);
        if (wait > POLL_NS && events >= 0)
            wait = POLL_NS;
        if (wait > 0) {
            struct timespec pause = {wait / 1000000000LL, wait % 1000000000LL};
            nanosleep(&pause, NULL);
        }
    }
    unlink(stop);
    fclose(out);
    return 0;
}

/*
 * netkit-delayline: a userspace delay line for kernels without sch_netem.
 *
 * An iptables NFQUEUE rule hands each packet leaving eth0 to this program, which
 * holds it for the latency (plus jitter) and then accepts it. Within a flow (same
 * addresses, protocol and ports) packets leave in the order they came: with jitter, a
 * packet waits for the one ahead of it, as on a FIFO link. Flows are independent, so a
 * new connection never queues behind the last packets of an old one. --reorder sends a
 * share of the packets at once, ahead of the held ones (netem's meaning of
 * reordering). At most --limit packets are held; beyond that they are dropped and
 * counted, as netem's queue limit does.
 *
 *   netkit-delayline --queue N --latency-us U [--jitter-us J] [--distribution
 *       uniform|normal] [--reorder PERCENT] [--limit PACKETS] [--seed S]
 *       --pidfile FILE [--stats FILE]
 *
 * It detaches once the queue is bound, so the caller may add the NFQUEUE rule as soon
 * as it returns. SIGUSR1 writes what it did so far to --stats (one JSON line), SIGTERM
 * ends it after writing them. Lateness is measured from the moment the kernel queued the
 * packet: a delay line starved of CPU shows it there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

struct held {
    int64_t release_ns;
    uint64_t order;          /* arrival number: ties leave in arrival order */
    uint32_t id;
};

/* The last release time of each flow, in a direct-mapped table: a flow whose slot
 * another flow takes loses only its ordering, and only while both are active. */
#define FLOWS 65536
struct flow {
    uint64_t key;
    int64_t last_release_ns;
};
static struct flow flows[FLOWS];

static struct {
    int64_t latency_ns, jitter_ns;
    int normal;
    double reorder;          /* probability 0..1 */
    size_t limit;
    uint64_t rng;
} cfg = {.limit = 10000, .rng = 0x9e3779b97f4a7c15ULL};

static struct held *heap;   /* min-heap on (release_ns, order) */
static size_t count;
static uint64_t arrivals;
static struct {
    unsigned long long packets, delayed, reordered, dropped_limit, max_held, late_over_1ms;
    double delay_sum_ms;
    int64_t late_max_ns;
} stats;
static volatile sig_atomic_t stopping, dump;

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* When the kernel queued the packet, on CLOCK_MONOTONIC; now where it does not say. */
static int64_t queued_at(struct nfq_data *data)
{
    int64_t now = now_ns();
    struct timeval tv;
    if (nfq_get_timestamp(data, &tv) != 0 || tv.tv_sec == 0)
        return now;
    int64_t waited = clock_ns(CLOCK_REALTIME) - ((int64_t)tv.tv_sec * 1000000000LL +
                                                  (int64_t)tv.tv_usec * 1000);
    return waited > 0 && waited < 10000000000LL ? now - waited : now;
}

/* xorshift64*: small, fast and repeatable from --seed. */
static double uniform01(void)
{
    cfg.rng ^= cfg.rng >> 12;
    cfg.rng ^= cfg.rng << 25;
    cfg.rng ^= cfg.rng >> 27;
    return (double)((cfg.rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int64_t sample_delay(void)
{
    double offset = 0;
    if (cfg.jitter_ns) {
        if (cfg.normal) {   /* Box-Muller: jitter is the standard deviation, as in netem */
            double u1 = uniform01(), u2 = uniform01();
            if (u1 < 1e-12)
                u1 = 1e-12;
            offset = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2) * (double)cfg.jitter_ns;
        } else {            /* uniform in [-jitter, +jitter], netem's default */
            offset = (2 * uniform01() - 1) * (double)cfg.jitter_ns;
        }
    }
    int64_t delay = cfg.latency_ns + (int64_t)offset;
    return delay < 0 ? 0 : delay;
}

static int earlier(const struct held *a, const struct held *b)
{
    return a->release_ns < b->release_ns ||
           (a->release_ns == b->release_ns && a->order < b->order);
}

static void heap_push(struct held item)
{
    size_t i = count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(&item, &heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = item;
}

static struct held heap_pop(void)
{
    struct held top = heap[0], last = heap[--count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= count)
            break;
        if (child + 1 < count && earlier(&heap[child + 1], &heap[child]))
            child++;
        if (!earlier(&heap[child], &last))
            break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = last;
    return top;
}

/* FNV-1a over the addresses, protocol and ports (IPv4 and IPv6 without extension
 * headers; anything else is one flow of its own). */
static uint64_t flow_key(const unsigned char *p, int len)
{
    uint64_t hash = 1469598103934665603ULL;
    int start = 0, end = 0, proto = -1, l4 = -1;
    if (len >= 20 && (p[0] >> 4) == 4) {
        start = 12, end = 20, proto = p[9], l4 = (p[0] & 0x0f) * 4;
    } else if (len >= 40 && (p[0] >> 4) == 6) {
        start = 8, end = 40, proto = p[6], l4 = 40;
    }
    for (int i = start; i < end; i++)
        hash = (hash ^ p[i]) * 1099511628211ULL;
    hash = (hash ^ (uint64_t)(proto & 0xff)) * 1099511628211ULL;
    if ((proto == 6 || proto == 17) && l4 > 0 && len >= l4 + 4)
        for (int i = l4; i < l4 + 4; i++)
            hash = (hash ^ p[i]) * 1099511628211ULL;
    return hash;
}

static int on_packet(struct nfq_q_handle *queue, struct nfgenmsg *msg, struct nfq_data *data,
                     void *unused)
{
    (void)msg;
    (void)unused;
    struct nfqnl_msg_packet_hdr *hdr = nfq_get_msg_packet_hdr(data);
    if (!hdr)
        return 0;
    uint32_t id = ntohl(hdr->packet_id);
    stats.packets++;
    if (cfg.reorder > 0 && uniform01() < cfg.reorder) {
        stats.reordered++;
        return nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
    }
    if (count >= cfg.limit) {
        stats.dropped_limit++;
        return nfq_set_verdict(queue, id, NF_DROP, 0, NULL);
    }
    unsigned char *payload = NULL;
    int length = nfq_get_payload(data, &payload);
    uint64_t key = flow_key(payload, length < 0 ? 0 : length);
    struct flow *flow = &flows[key % FLOWS];
    int64_t arrival = queued_at(data);
    int64_t release = arrival + sample_delay();
    /* In order within the flow: never before the packet of the flow held ahead of it. */
    if (flow->key == key && release < flow->last_release_ns)
        release = flow->last_release_ns;
    flow->key = key;
    flow->last_release_ns = release;
    heap_push((struct held){release, arrivals++, id});
    if (count > stats.max_held)
        stats.max_held = count;
    stats.delayed++;
    stats.delay_sum_ms += (double)(release - arrival) / 1e6;
    return 0;
}

static void release_due(struct nfq_q_handle *queue)
{
    int64_t now = now_ns();
    while (count && heap[0].release_ns <= now) {
        struct held item = heap_pop();
        int64_t late = now - item.release_ns;
        if (late > stats.late_max_ns)
            stats.late_max_ns = late;
        if (late > 1000000)
            stats.late_over_1ms++;
        nfq_set_verdict(queue, item.id, NF_ACCEPT, 0, NULL);
    }
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        dump = 1;
    else
        stopping = 1;
}

static void write_stats(const char *path)
{
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "{\"packets\":%llu,\"delayed\":%llu,\"reordered\":%llu,\"dropped_limit\":%llu,"
               "\"max_held\":%llu,\"mean_delay_ms\":%.3f,\"late_max_ms\":%.3f,"
               "\"late_over_1ms\":%llu}\n",
            stats.packets, stats.delayed, stats.reordered, stats.dropped_limit, stats.max_held,
            stats.delayed ? stats.delay_sum_ms / (double)stats.delayed : 0.0,
            (double)stats.late_max_ns / 1e6, stats.late_over_1ms);
    fclose(f);
}

static void usage(void)
{
    fprintf(stderr, "usage: netkit-delayline --queue N --latency-us U [--jitter-us J] "
                    "[--distribution uniform|normal] [--reorder PERCENT] [--limit PACKETS] "
                    "[--seed S] --pidfile FILE [--stats FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"queue", required_argument, 0, 'q'},     {"latency-us", required_argument, 0, 'l'},
        {"jitter-us", required_argument, 0, 'j'}, {"distribution", required_argument, 0, 'd'},
        {"reorder", required_argument, 0, 'r'},   {"limit", required_argument, 0, 'L'},
        {"seed", required_argument, 0, 's'},      {"pidfile", required_argument, 0, 'p'},
        {"stats", required_argument, 0, 'S'},     {0, 0, 0, 0}};
    int queue_num = -1, opt;
    const char *pidfile = NULL, *statsfile = NULL;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'q': queue_num = atoi(optarg); break;
        case 'l': cfg.latency_ns = strtoll(optarg, NULL, 10) * 1000; break;
        case 'j': cfg.jitter_ns = strtoll(optarg, NULL, 10) * 1000; break;
        case 'd':
            if (strcmp(optarg, "normal") == 0)
                cfg.normal = 1;
            else if (strcmp(optarg, "uniform") != 0)
                usage();
            break;
        case 'r': cfg.reorder = atof(optarg) / 100.0; break;
        case 'L': cfg.limit = (size_t)strtoull(optarg, NULL, 10); break;
        case 's': cfg.rng = strtoull(optarg, NULL, 10) * 2 + 1; break;   /* never 0 */
        case 'p': pidfile = optarg; break;
        case 'S': statsfile = optarg; break;
        default: usage();
        }
    }
    if (queue_num < 0 || !pidfile || cfg.limit == 0)
        usage();
    heap = calloc(cfg.limit, sizeof *heap);
    struct nfq_handle *handle = nfq_open();
    if (!heap || !handle) {
        perror("netkit-delayline: nfq_open");
        return 1;
    }
    struct nfq_q_handle *queue = nfq_create_queue(handle, (uint16_t)queue_num, on_packet, NULL);
    if (!queue) {
        fprintf(stderr, "netkit-delayline: cannot bind NFQUEUE %d: %s\n", queue_num,
                strerror(errno));
        return 1;
    }
    /* The headers name the flow; the rest of the packet is not needed here. */
    if (nfq_set_mode(queue, NFQNL_COPY_PACKET, 64) < 0 ||
        nfq_set_queue_maxlen(queue, (uint32_t)cfg.limit + 1024) < 0) {
        perror("netkit-delayline: configuring the queue");
        return 1;
    }
    int fd = nfq_fd(handle);
    nfnl_rcvbufsiz(nfq_nfnlh(handle), 8 * 1024 * 1024);
    /* Detach once bound: the caller's NFQUEUE rule may then be added at once. */
    if (daemon(0, 0) < 0) {
        perror("netkit-delayline: daemon");
        return 1;
    }
    FILE *pf = fopen(pidfile, "w");
    if (pf) {
        fprintf(pf, "%d\n", getpid());
        fclose(pf);
    }
    /* Without SA_RESTART: a signal wakes ppoll at once. */
    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGUSR1, &action, NULL);
    char buf[65536];
    while (!stopping) {
        struct timespec timeout = {1, 0}, *wait = &timeout;
        if (count) {
            int64_t left = heap[0].release_ns - now_ns();
            if (left < 0)
                left = 0;
            timeout.tv_sec = left / 1000000000LL;
            timeout.tv_nsec = left % 1000000000LL;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int ready = ppoll(&pfd, 1, wait, NULL);
        if (ready > 0) {
            /* Drain everything waiting before releasing, without blocking. */
            for (;;) {
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n <= 0)
                    break;
                nfq_handle_packet(handle, buf, (int)n);
            }
        }
        release_due(queue);
        if (dump) {
            dump = 0;
            write_stats(statsfile);
        }
    }
    /* Let what is held go rather than drop it: the rule is gone by now. */
    while (count)
        nfq_set_verdict(queue, heap_pop().id, NF_ACCEPT, 0, NULL);
    write_stats(statsfile);
    nfq_destroy_queue(queue);
    nfq_close(handle);
    unlink(pidfile);
    return 0;
}

/*
 * loadgen: a TCP echo load generator, one thread on edge-triggered epoll.
 *
 *   loadgen --host 127.0.0.1 --port 8000 --conns 100 --size 1024 \
 *           --warmup 1 --duration 5 --mode pingpong|stream [--window BYTES]
 *
 * Each connection carries a stream of messages of --size bytes. Message k of
 * connection c is a 16-byte header (c, k) followed by bytes taken from a
 * random block at an offset derived from (c, k), so every message differs per
 * connection and per message and nothing echoed back can pass unless it is the
 * right byte at the right place. Sending and checking read straight from that
 * block: the generator copies nothing but what the kernel copies.
 *
 * pingpong is stream with a window of exactly one message: send it, wait for
 * all of it to come back, check it, send the next. stream keeps up to
 * --window bytes in flight per connection.
 *
 * One line of JSON goes to stdout; diagnostics go to stderr. Beside the
 * figures, cpu_pct is this process's CPU time over the measured interval as a
 * percentage of one core (near 100: the generator itself may be the limit),
 * and cpu_total_s its CPU time over its whole life.
 * Exit status: 0 ok, 1 usage, 2 could not connect, 3 echoed data was wrong or
 * connections were lost (the JSON line is still printed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_SIZE (1u << 20)     /* random source; offsets into it vary per message */
#define HDR_SIZE 16
#define READ_SIZE (256u * 1024)   /* one read can take a whole 100 KiB echo and more */
#define MAX_IOV 64                /* 32 messages (header + body) per sendmsg */
#define MAX_EVENTS 256
#define CONNECT_BATCH 256         /* connects in flight at once: spares the accept queue */

/* Latency histogram: log-linear, 64 sub-buckets per power of two of the value
 * in nanoseconds, so any recorded value is within 1/64 of its bucket; fixed
 * size whatever the run length. */
#define SUB_BITS 6
#define SUB_COUNT (1 << SUB_BITS)
#define HIST_BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

enum conn_state { C_IDLE, C_CONNECTING, C_OPEN, C_DEAD };

struct conn {
    int fd;
    enum conn_state state;
    uint32_t id;
    uint64_t sent;      /* bytes of the stream written so far */
    uint64_t verified;  /* bytes of the stream echoed back and checked */
    uint64_t *stamp;    /* send time of message k, at k % nstamp */
};

static struct {
    const char *host, *port;
    int conns;
    uint64_t size, window;
    double warmup, duration, connect_timeout;
    int stream;
} opt = { "127.0.0.1", NULL, 10, 64, 0, 1.0, 5.0, 10.0, 0 };

static unsigned char *block;
static unsigned char readbuf[READ_SIZE];
static uint64_t hist[HIST_BUCKETS];
static size_t nstamp;
static int measuring;
static uint64_t m_messages, m_bytes, byte_errors, disconnects;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)   /* splitmix64 finaliser */
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint32_t body_offset(uint32_t id, uint64_t k)
{
    return (uint32_t)(mix64(((uint64_t)id << 40) ^ k ^ 0x5851f42d4c957f2dull) % BLOCK_SIZE);
}

/* Headers are xored with constants so that a server echoing zeros fails even
 * on connection 0, message 0. */
static void make_header(unsigned char h[HDR_SIZE], uint32_t id, uint64_t k)
{
    uint64_t a = (uint64_t)id ^ 0x243f6a8885a308d3ull, b = k ^ 0x13198a2e03707344ull;
    memcpy(h, &a, 8);
    memcpy(h + 8, &b, 8);
}

/* The header is only used when a message has room for a body after it;
 * tiny messages are all body, which still varies per message by offset. */
static uint64_t hdr_len(void) { return opt.size > HDR_SIZE ? HDR_SIZE : 0; }

static void hist_add(uint64_t v)
{
    size_t b;
    if (v < SUB_COUNT) {
        b = (size_t)v;
    } else {
        int e = 63 - __builtin_clzll(v);
        int shift = e - SUB_BITS;
        b = (size_t)(shift + 1) * SUB_COUNT + (size_t)((v >> shift) - SUB_COUNT);
    }
    hist[b]++;
}

static double hist_value(size_t b)   /* bucket midpoint, ns */
{
    if (b < SUB_COUNT) return (double)b;
    size_t g = b / SUB_COUNT, m = b % SUB_COUNT + SUB_COUNT;
    double low = ldexp((double)m, (int)g - 1), width = ldexp(1.0, (int)g - 1);
    return low + width / 2;
}

static double hist_percentile(double p)
{
    uint64_t total = 0, seen = 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++) total += hist[b];
    if (total == 0) return 0;
    uint64_t rank = (uint64_t)ceil(p * (double)total);
    if (rank < 1) rank = 1;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank) return hist_value(b);
    }
    return 0;
}

static void conn_kill(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
}

static void lost(struct conn *c, const char *why, int err)
{
    if (disconnects++ < 5)
        fprintf(stderr, "loadgen: connection %u lost: %s%s%s\n", c->id, why,
                err ? ": " : "", err ? strerror(err) : "");
    conn_kill(c);
}

/* Write as much of the allowed window as the socket takes. Returns on EAGAIN
 * or a short write: edge-triggered EPOLLOUT reports when room comes back. */
static void conn_send(struct conn *c)
{
    const uint64_t S = opt.size, H = hdr_len();
    unsigned char hdrs[MAX_IOV / 2][HDR_SIZE];

    while (c->state == C_OPEN) {
        uint64_t limit = c->verified + opt.window;
        if (c->sent >= limit) return;
        struct iovec iov[MAX_IOV];
        int n = 0, nh = 0;
        uint64_t pos = c->sent;
        while (pos < limit && n + 2 <= MAX_IOV) {
            uint64_t k = pos / S, off = pos % S;
            uint64_t end = (k + 1) * S < limit ? (k + 1) * S : limit;
            if (off < H) {
                make_header(hdrs[nh], c->id, k);
                uint64_t len = (H < end - k * S ? H : end - k * S) - off;
                iov[n].iov_base = hdrs[nh++] + off;
                iov[n++].iov_len = len;
                pos += len;
                off += len;
            }
            if (pos < end) {
                iov[n].iov_base = block + body_offset(c->id, k) + off;
                iov[n++].iov_len = end - pos;
                pos = end;
            }
        }
        uint64_t want = pos - c->sent, t = now_ns();
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) lost(c, "send", errno);
            return;
        }
        /* stamp every message whose first byte went out in this write */
        uint64_t first = (c->sent + S - 1) / S, after = (c->sent + (uint64_t)w + S - 1) / S;
        for (uint64_t k = first; k < after; k++) c->stamp[k % nstamp] = t;
        c->sent += (uint64_t)w;
        if ((uint64_t)w < want) return;
    }
}

static uint64_t count_diff(const unsigned char *a, const unsigned char *b, uint64_t n)
{
    uint64_t d = 0;
    for (uint64_t i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* Check n echoed bytes against what was sent, message by message. */
static void conn_verify(struct conn *c, const unsigned char *p, uint64_t n, uint64_t t)
{
    const uint64_t S = opt.size, H = hdr_len();
    if (c->verified + n > c->sent) {
        /* More came back than was sent: the stream is out of step for good. */
        byte_errors += c->verified + n - c->sent;
        n = c->sent - c->verified;
        lost(c, "server echoed more bytes than were sent", 0);
    }
    while (n > 0) {
        uint64_t k = c->verified / S, off = c->verified % S, len;
        const unsigned char *want;
        unsigned char h[HDR_SIZE];
        if (off < H) {
            make_header(h, c->id, k);
            want = h + off;
            len = H - off;
        } else {
            want = block + body_offset(c->id, k) + off;
            len = S - off;
        }
        if (len > n) len = n;
        if (memcmp(p, want, len) != 0) {
            uint64_t d = count_diff(p, want, len);
            if (byte_errors == 0)
                fprintf(stderr, "loadgen: connection %u message %llu: wrong bytes at offset %llu\n",
                        c->id, (unsigned long long)k, (unsigned long long)off);
            byte_errors += d;
        }
        p += len;
        n -= len;
        c->verified += len;
        if (measuring) m_bytes += len;
        if (off + len == S && measuring) {
            m_messages++;
            hist_add(t - c->stamp[k % nstamp]);
        }
    }
}

static void conn_recv(struct conn *c)
{
    while (c->state == C_OPEN) {
        ssize_t r = recv(c->fd, readbuf, sizeof readbuf, 0);
        if (r > 0) {
            conn_verify(c, readbuf, (uint64_t)r, now_ns());
            /* A short read means the socket is drained; with edge triggering
             * the next arrival raises a new event, so skip the EAGAIN call. */
            if ((size_t)r < sizeof readbuf) return;
        } else if (r == 0) {
            lost(c, "server closed the connection", 0);
        } else if (errno == EINTR) {
            continue;
        } else {
            if (errno != EAGAIN) lost(c, "recv", errno);
            return;
        }
    }
}

static int conn_start(struct conn *c, int ep, const struct addrinfo *ai)
{
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return errno;
    int one = 1;
    /* Small messages must leave at once, not wait for the last ACK. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return e;
    }
    /* Registered once with the final mask: no epoll_ctl in the hot path. */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                              .data.u32 = c->id };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return e;
    }
    c->state = C_CONNECTING;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen --port PORT [--host 127.0.0.1] [--conns 10] [--size 64]\n"
        "               [--warmup 1] [--duration 5] [--mode pingpong|stream]\n"
        "               [--window BYTES] [--connect-timeout 10]\n");
}

static double parse_num(const char *name, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "loadgen: --%s must be a number in [%g, %g], got '%s'\n", name, lo, hi, s);
        exit(1);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host", required_argument, 0, 'h' },     { "port", required_argument, 0, 'p' },
        { "conns", required_argument, 0, 'c' },    { "size", required_argument, 0, 's' },
        { "warmup", required_argument, 0, 'w' },   { "duration", required_argument, 0, 'd' },
        { "mode", required_argument, 0, 'm' },     { "window", required_argument, 0, 'W' },
        { "connect-timeout", required_argument, 0, 'T' }, { "help", no_argument, 0, '?' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': parse_num("port", optarg, 1, 65535); opt.port = optarg; break;
        case 'c': opt.conns = (int)parse_num("conns", optarg, 1, 1000000); break;
        case 's': opt.size = (uint64_t)parse_num("size", optarg, 1, 64 << 20); break;
        case 'w': opt.warmup = parse_num("warmup", optarg, 0, 3600); break;
        case 'd': opt.duration = parse_num("duration", optarg, 0.01, 3600); break;
        case 'W': opt.window = (uint64_t)parse_num("window", optarg, 1, 1 << 30); break;
        case 'T': opt.connect_timeout = parse_num("connect-timeout", optarg, 0.01, 3600); break;
        case 'm':
            if (strcmp(optarg, "pingpong") == 0) opt.stream = 0;
            else if (strcmp(optarg, "stream") == 0) opt.stream = 1;
            else { fprintf(stderr, "loadgen: --mode must be pingpong or stream\n"); exit(1); }
            break;
        default: usage(stderr); exit(1);
        }
    }
    if (optind < argc || !opt.port) { usage(stderr); exit(1); }
    if (!opt.stream) opt.window = opt.size;
    else if (opt.window == 0) opt.window = opt.size * 4 > 256 * 1024 ? opt.size * 4 : 256 * 1024;
    if (opt.window < opt.size) opt.window = opt.size;
}

static void raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need) return;
    rl.rlim_cur = need;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) rl.rlim_max = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "loadgen: %d connections need %llu file descriptors; "
                "cannot raise RLIMIT_NOFILE: %s\n", opt.conns, (unsigned long long)need,
                strerror(errno));
        exit(2);
    }
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile((rlim_t)opt.conns + 32);

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
    int gai = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "loadgen: cannot resolve %s: %s\n", opt.host, gai_strerror(gai));
        return 2;
    }

    block = malloc(BLOCK_SIZE + opt.size);
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    nstamp = (size_t)(opt.window / opt.size) + 2;   /* messages in flight at most */
    uint64_t *stamps = calloc((size_t)opt.conns * nstamp, sizeof *stamps);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!block || !cs || !stamps || ep < 0) {
        fprintf(stderr, "loadgen: out of memory or epoll_create1 failed\n");
        return 2;
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < BLOCK_SIZE + opt.size; i++) block[i] = (unsigned char)mix64(x += i);
    for (int i = 0; i < opt.conns; i++) {
        cs[i].fd = -1;
        cs[i].id = (uint32_t)i;
        cs[i].stamp = stamps + (size_t)i * nstamp;
    }

    /* Connect phase, bounded by --connect-timeout. */
    struct epoll_event evs[MAX_EVENTS];
    int next = 0, pending = 0, open_conns = 0, connect_errors = 0, first_err = 0;
    uint64_t deadline = now_ns() + (uint64_t)(opt.connect_timeout * 1e9);
    while (open_conns + connect_errors < opt.conns) {
        while (next < opt.conns && pending < CONNECT_BATCH) {
            int e = conn_start(&cs[next], ep, ai);
            if (e) {
                if (!first_err) first_err = e;
                connect_errors++;
                cs[next].state = C_DEAD;
            } else {
                pending++;
            }
            next++;
        }
        if (pending == 0) continue;
        uint64_t t = now_ns();
        if (t >= deadline) break;
        int n = epoll_wait(ep, evs, MAX_EVENTS, (int)((deadline - t) / 1000000) + 1);
        if (n < 0 && errno != EINTR) { perror("loadgen: epoll_wait"); return 2; }
        for (int i = 0; i < n; i++) {
            struct conn *c = &cs[evs[i].data.u32];
            if (c->state != C_CONNECTING) continue;
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
            if (err == 0 && !(evs[i].events & EPOLLOUT)) continue;   /* not done yet */
            pending--;
            if (err) {
                if (!first_err) first_err = err;
                connect_errors++;
                conn_kill(c);
            } else {
                c->state = C_OPEN;
                open_conns++;
            }
        }
    }
    for (int i = 0; i < opt.conns; i++) {
        if (cs[i].state == C_CONNECTING || cs[i].state == C_IDLE) {
            if (!first_err) first_err = ETIMEDOUT;
            connect_errors++;
            conn_kill(&cs[i]);
        }
    }
    freeaddrinfo(ai);
    if (open_conns == 0) {
        fprintf(stderr, "loadgen: cannot connect to %s port %s: %s\n", opt.host, opt.port,
                strerror(first_err));
        return 2;
    }
    if (connect_errors)
        fprintf(stderr, "loadgen: %d of %d connections failed (%s); going on with %d\n",
                connect_errors, opt.conns, strerror(first_err), open_conns);

    /* Traffic: warm-up, then measurement; every wait is capped at 100 ms. */
    uint64_t start = now_ns();
    uint64_t warm_end = start + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = warm_end + (uint64_t)(opt.duration * 1e9);
    uint64_t m_start = 0;
    double cpu_start = 0;
    if (opt.warmup == 0) { measuring = 1; m_start = start; cpu_start = cpu_seconds(); }
    for (int i = 0; i < opt.conns; i++) conn_send(&cs[i]);
    uint64_t t = now_ns();
    while (t < end && open_conns > 0) {
        uint64_t until = measuring ? end : warm_end;
        int timeout = (int)((until - t + 999999) / 1000000);
        if (timeout > 100) timeout = 100;
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) { perror("loadgen: epoll_wait"); return 2; }
        t = now_ns();
        if (!measuring && t >= warm_end) {
            measuring = 1;
            m_start = t;
            cpu_start = cpu_seconds();
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = &cs[evs[i].data.u32];
            if (c->state != C_OPEN) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) conn_recv(c);
            conn_send(c);   /* room in the window, or room in the socket */
            if (c->state != C_OPEN) open_conns--;
        }
    }
    uint64_t m_end = now_ns();
    double cpu_total = cpu_seconds(), cpu = cpu_total - cpu_start;
    for (int i = 0; i < opt.conns; i++) if (cs[i].fd >= 0) close(cs[i].fd);
    close(ep);
    free(stamps);
    free(cs);
    free(block);
    if (open_conns == 0) fprintf(stderr, "loadgen: every connection was lost\n");

    double secs = measuring ? (double)(m_end - m_start) / 1e9 : 0;
    printf("{\"mode\":\"%s\",\"conns\":%d,\"size\":%llu,\"seconds\":%.3f,\"messages\":%llu,"
           "\"msgs_per_sec\":%.1f,\"mib_per_sec\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"byte_errors\":%llu,\"connect_errors\":%d,\"disconnects\":%llu,"
           "\"window\":%llu,\"cpu_pct\":%.1f,\"cpu_total_s\":%.3f}\n",
           opt.stream ? "stream" : "pingpong", opt.conns, (unsigned long long)opt.size, secs,
           (unsigned long long)m_messages, secs > 0 ? (double)m_messages / secs : 0,
           secs > 0 ? (double)m_bytes / secs / 1048576.0 : 0,
           hist_percentile(0.50) / 1000, hist_percentile(0.99) / 1000,
           (unsigned long long)byte_errors, connect_errors, (unsigned long long)disconnects,
           (unsigned long long)opt.window, secs > 0 ? 100.0 * cpu / secs : 0, cpu_total);
    fflush(stdout);
    return byte_errors || disconnects || open_conns == 0 ? 3 : 0;
}

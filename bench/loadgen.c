/*
 * loadgen: a TCP echo load generator, one thread.
 *
 *   loadgen --host 127.0.0.1 --port 8000 --conns 100 --size 1024 \
 *           --warmup 1 --duration 5 --mode pingpong|stream [--window BYTES] \
 *           [--engine auto|uring|epoll] [--marks]
 *
 * Engines. The generator must be cheaper per message than the servers it
 * measures, or it measures itself. With epoll it is not: per message it makes
 * the same two syscalls as an echo server (send and recv), and on this kind of
 * virtual machine a bare syscall costs about 1.2 us. The uring engine (the
 * default where the kernel allows it) batches every send and receive of a
 * round into one io_uring_enter, so what is left per message is the TCP work
 * itself. epoll (edge-triggered) stays as the fallback and for comparison.
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
 * and cpu_total_s its CPU time over its whole life; cpu_user_s and cpu_sys_s
 * split the measured interval's CPU time into user and system time. With
 * --marks, a line "measure start" and a line "measure end" go to stdout (and
 * are flushed) the moment the measured interval starts and ends, before the
 * JSON line: a harness can sample the server's CPU time at exactly those
 * moments, leaving out connecting, warm-up and closing.
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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_SIZE (1u << 20)     /* random source; offsets into it vary per message */
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
    const char *engine;
    int marks;
} opt = { "127.0.0.1", NULL, 10, 64, 0, 1.0, 5.0, 10.0, 0, "auto", 0 };

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
    return (uint32_t)(mix64(((uint64_t)id << 40) ^ k ^ 0x5851f42d4c957f2dull) % PATTERN_SIZE);
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

/* Lay out the next write of connection c: as much of the allowed window as
 * MAX_IOV entries describe, headers built into hdrs. Returns its length in
 * bytes (0: the window is full). */
static uint64_t build_send(const struct conn *c, struct iovec iov[MAX_IOV],
                           unsigned char hdrs[MAX_IOV / 2][HDR_SIZE], int *niov)
{
    const uint64_t S = opt.size, H = hdr_len();
    uint64_t limit = c->verified + opt.window, pos = c->sent;
    int n = 0, nh = 0;
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
    *niov = n;
    return pos - c->sent;
}

/* Stamp every message whose first byte is in the next len bytes to go. */
static void stamp_sent(struct conn *c, uint64_t len, uint64_t t)
{
    const uint64_t S = opt.size;
    uint64_t first = (c->sent + S - 1) / S, after = (c->sent + len + S - 1) / S;
    for (uint64_t k = first; k < after; k++) c->stamp[k % nstamp] = t;
}

/* epoll engine: write as much of the allowed window as the socket takes.
 * Returns on EAGAIN or a short write: edge-triggered EPOLLOUT reports when
 * room comes back. */
static void conn_send(struct conn *c)
{
    unsigned char hdrs[MAX_IOV / 2][HDR_SIZE];
    struct iovec iov[MAX_IOV];
    while (c->state == C_OPEN) {
        int n;
        uint64_t want = build_send(c, iov, hdrs, &n);
        if (want == 0) return;
        uint64_t t = now_ns();
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) lost(c, "send", errno);
            return;
        }
        stamp_sent(c, (uint64_t)w, t);
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
        "               [--window BYTES] [--connect-timeout 10]\n"
        "               [--engine auto|uring|epoll] [--marks]\n");
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
        { "connect-timeout", required_argument, 0, 'T' }, { "engine", required_argument, 0, 'e' },
        { "marks", no_argument, 0, 'M' },   { "help", no_argument, 0, '?' },
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
        case 'M': opt.marks = 1; break;
        case 'T': opt.connect_timeout = parse_num("connect-timeout", optarg, 0.01, 3600); break;
        case 'e':
            if (strcmp(optarg, "auto") && strcmp(optarg, "uring") && strcmp(optarg, "epoll")) {
                fprintf(stderr, "loadgen: --engine must be auto, uring or epoll\n");
                exit(1);
            }
            opt.engine = optarg;
            break;
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

/* This process's CPU time in seconds; *user gets the user-mode part. */
static double cpu_seconds_split(double *user)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    return *user + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* A --marks line: written and flushed at once (nothing else is buffered). */
static void mark(const char *line)
{
    if (!opt.marks) return;
    fputs(line, stdout);
    fflush(stdout);
}

/* The measured interval: warm-up ends at warm_end, measuring at end_ns. */
static uint64_t warm_end, end_ns, m_start;
static double cpu_start, cpu_user_start;

static void tick(uint64_t t)
{
    if (!measuring && t >= warm_end) {
        measuring = 1;
        m_start = t;
        cpu_start = cpu_seconds_split(&cpu_user_start);
        mark("measure start\n");
    }
}

/* Wait cap, so that the clock is looked at even when nothing arrives. */
static uint64_t wait_ns(uint64_t t)
{
    uint64_t until = measuring ? end_ns : warm_end, w = until > t ? until - t : 0;
    return w > 100000000u ? 100000000u : w;
}

static int traffic_epoll(struct conn *cs, int ep, int open_conns)
{
    struct epoll_event evs[MAX_EVENTS];
    for (int i = 0; i < opt.conns; i++) conn_send(&cs[i]);
    uint64_t t = now_ns();
    while (t < end_ns && open_conns > 0) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, (int)((wait_ns(t) + 999999) / 1000000));
        if (n < 0 && errno != EINTR) { perror("loadgen: epoll_wait"); exit(2); }
        t = now_ns();
        tick(t);
        for (int i = 0; i < n; i++) {
            struct conn *c = &cs[evs[i].data.u32];
            if (c->state != C_OPEN) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) conn_recv(c);
            conn_send(c);   /* room in the window, or room in the socket */
            if (c->state != C_OPEN) open_conns--;
        }
    }
    return open_conns;
}

/* ---- io_uring engine: raw syscalls, so the bench needs no library. ---- */

struct uring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_array, sq_mask, sq_entries, tail;
    unsigned *cq_head, *cq_tail, cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

/* What one connection keeps while its send and receive are in the kernel. */
struct uring_io {
    struct msghdr mh;
    struct iovec iov[MAX_IOV];
    unsigned char hdrs[MAX_IOV / 2][HDR_SIZE];
    int sending;
};

enum { OP_SEND = 0, OP_RECV = 1 };

static int uring_init(struct uring *u, unsigned entries)
{
    /* Task work deferred to our own io_uring_enter: completions are handled
     * in batches, without interrupting us. A kernel that has it (6.1) also
     * has what the rest needs (multishot receive, buffer rings, POLL_FIRST);
     * one that does not gets the epoll engine instead. */
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (fd < 0) return errno;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_EXT_ARG) ||
        !(p.features & IORING_FEAT_NODROP)) {
        close(fd);
        return ENOSYS;
    }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t size = sq_size > cq_size ? sq_size : cq_size;
    unsigned char *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                               fd, IORING_OFF_SQ_RING);
    void *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (ring == MAP_FAILED || sqes == MAP_FAILED) {
        int e = errno;
        close(fd);
        return e;
    }
    u->fd = fd;
    u->sq_head = (unsigned *)(ring + p.sq_off.head);
    u->sq_tail = (unsigned *)(ring + p.sq_off.tail);
    u->sq_array = (unsigned *)(ring + p.sq_off.array);
    u->sq_mask = *(unsigned *)(ring + p.sq_off.ring_mask);
    u->sq_entries = p.sq_entries;
    u->tail = *u->sq_tail;
    u->cq_head = (unsigned *)(ring + p.cq_off.head);
    u->cq_tail = (unsigned *)(ring + p.cq_off.tail);
    u->cq_mask = *(unsigned *)(ring + p.cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(ring + p.cq_off.cqes);
    u->sqes = sqes;
    return 0;
}

/* Submit what is queued and wait up to timeout for one completion (0: do
 * not wait). */
static void uring_enter(struct uring *u, uint64_t timeout)
{
    __atomic_store_n(u->sq_tail, u->tail, __ATOMIC_RELEASE);
    unsigned queued = u->tail - __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
    struct __kernel_timespec ts = { .tv_sec = (long long)(timeout / 1000000000u),
                                    .tv_nsec = (long long)(timeout % 1000000000u) };
    struct io_uring_getevents_arg arg = { .sigmask_sz = _NSIG / 8, .ts = (uint64_t)(uintptr_t)&ts };
    long r = syscall(__NR_io_uring_enter, u->fd, queued, timeout ? 1 : 0,
                     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    if (r < 0 && errno != ETIME && errno != EINTR && errno != EAGAIN && errno != EBUSY) {
        perror("loadgen: io_uring_enter");
        exit(2);
    }
}

static struct io_uring_sqe *uring_sqe(struct uring *u)
{
    if (u->tail - __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE) >= u->sq_entries)
        uring_enter(u, 0);   /* full: hand the queue to the kernel first */
    unsigned idx = u->tail & u->sq_mask;
    struct io_uring_sqe *e = &u->sqes[idx];
    memset(e, 0, sizeof *e);
    u->sq_array[idx] = idx;
    u->tail++;
    return e;
}

static struct uring ring;
static struct uring_io *uio;

/* Multishot receive: one request per connection stays armed and picks a
 * buffer from a shared ring per arrival, instead of one request per echo. */
static struct io_uring_buf_ring *bufring;
static unsigned char *bufpool;
static uint32_t nbufs, bufsize;
static uint16_t buftail;

static int bufring_init(void)
{
    nbufs = 64;
    while (nbufs < 2u * (uint32_t)opt.conns && nbufs < 32768) nbufs <<= 1;
    uint64_t want = opt.stream ? READ_SIZE : (opt.size > 4096 ? opt.size : 4096);
    uint64_t cap = (64u << 20) / nbufs;
    if (want > 65536 && !opt.stream) want = 65536;
    bufsize = (uint32_t)(want < cap ? want : cap);
    bufring = mmap(NULL, nbufs * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (bufring == MAP_FAILED) return errno;
    struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)bufring,
                                    .ring_entries = nbufs, .bgid = 0 };
    if (syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int e = errno;
        munmap(bufring, nbufs * sizeof(struct io_uring_buf));
        bufring = NULL;
        return e;
    }
    bufpool = malloc((size_t)nbufs * bufsize);
    if (!bufpool) { fprintf(stderr, "loadgen: out of memory\n"); exit(2); }
    memset(bufpool, 0, (size_t)nbufs * bufsize);   /* touched now: first-touch faults are slow */
    return 0;
}

/* Hand buffer bid back to the kernel; published by bufring_publish. */
static void bufring_put(uint16_t bid)
{
    struct io_uring_buf *b = &bufring->bufs[buftail & (nbufs - 1)];
    b->addr = (uint64_t)(uintptr_t)(bufpool + (size_t)bid * bufsize);
    b->len = bufsize;
    b->bid = bid;
    buftail++;
}

static void bufring_publish(void) { __atomic_store_n(&bufring->tail, buftail, __ATOMIC_RELEASE); }

static void uring_recv(struct conn *c)
{
    struct io_uring_sqe *e = uring_sqe(&ring);
    e->opcode = IORING_OP_RECV;
    e->fd = c->fd;
    e->flags = IOSQE_BUFFER_SELECT;
    e->buf_group = 0;
    /* The echo is not back yet when we ask: wait for it before trying. */
    e->ioprio = IORING_RECV_MULTISHOT | IORING_RECVSEND_POLL_FIRST;
    e->user_data = (uint64_t)c->id << 1 | OP_RECV;
}

/* Queue the next write of c unless one is in flight or the window is full. */
static void uring_send(struct conn *c, uint64_t t)
{
    struct uring_io *io = &uio[c->id];
    if (io->sending || c->state != C_OPEN) return;
    int n;
    uint64_t want = build_send(c, io->iov, io->hdrs, &n);
    if (want == 0) return;
    stamp_sent(c, want, t);
    io->mh = (struct msghdr){ .msg_iov = io->iov, .msg_iovlen = (size_t)n };
    struct io_uring_sqe *e = uring_sqe(&ring);
    e->opcode = IORING_OP_SENDMSG;
    e->fd = c->fd;
    e->addr = (uint64_t)(uintptr_t)&io->mh;
    e->len = 1;
    e->msg_flags = MSG_NOSIGNAL;
    e->user_data = (uint64_t)c->id << 1 | OP_SEND;
    io->sending = 1;
}

static void uring_complete(struct conn *c, int op, int res, unsigned flags, uint64_t t)
{
    struct uring_io *io = &uio[c->id];
    if (op == OP_SEND) {
        io->sending = 0;
        if (c->state != C_OPEN) return;
        if (res >= 0) c->sent += (uint64_t)res;
        else if (res != -EINTR && res != -EAGAIN) { lost(c, "send", -res); return; }
        uring_send(c, t);
        return;
    }
    const unsigned char *data = NULL;
    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        data = bufpool + (size_t)bid * bufsize;
        bufring_put(bid);   /* read below, before the kernel sees it again */
    }
    int armed = (flags & IORING_CQE_F_MORE) != 0;
    if (c->state != C_OPEN) return;
    if (res > 0) {
        conn_verify(c, data, (uint64_t)res, t);
    } else if (res == 0) {
        lost(c, "server closed the connection", 0);
    } else if (res != -EINTR && res != -EAGAIN && res != -ENOBUFS) {
        lost(c, "recv", -res);
    }
    if (c->state != C_OPEN) return;
    if (!armed) uring_recv(c);
    uring_send(c, t);   /* the echo opened the window */
}

/* Returns the connections still open, or -1 (errno set) when there is no
 * usable io_uring; nothing has been sent then. */
static int traffic_uring(struct conn *cs, int open_conns)
{
    unsigned entries = 1;
    while (entries < 2u * (unsigned)opt.conns + 16 && entries < 32768) entries <<= 1;
    int e = uring_init(&ring, entries);
    if (!e && (e = bufring_init()) != 0) close(ring.fd);
    if (e) { errno = e; return -1; }
    for (uint32_t i = 0; i < nbufs; i++) bufring_put((uint16_t)i);
    bufring_publish();
    uio = calloc((size_t)opt.conns, sizeof *uio);
    if (!uio) { fprintf(stderr, "loadgen: out of memory\n"); exit(2); }
    uint64_t t = now_ns();
    for (int i = 0; i < opt.conns; i++) {
        if (cs[i].state != C_OPEN) continue;
        uring_recv(&cs[i]);
        uring_send(&cs[i], t);
    }
    while (t < end_ns && open_conns > 0) {
        uring_enter(&ring, wait_ns(t) ? wait_ns(t) : 1);
        t = now_ns();
        tick(t);
        unsigned head = *ring.cq_head, tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *q = &ring.cqes[head & ring.cq_mask];
            struct conn *c = &cs[q->user_data >> 1];
            int was_open = c->state == C_OPEN;
            uring_complete(c, (int)(q->user_data & 1), q->res, q->flags, t);
            if (was_open && c->state != C_OPEN) open_conns--;
        }
        __atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
        bufring_publish();
    }
    /* Closing the ring cancels what is still in flight before the buffers go. */
    close(ring.fd);
    return open_conns;
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

    block = malloc(PATTERN_SIZE + opt.size);
    struct conn *cs = calloc((size_t)opt.conns, sizeof *cs);
    nstamp = (size_t)(opt.window / opt.size) + 2;   /* messages in flight at most */
    uint64_t *stamps = calloc((size_t)opt.conns * nstamp, sizeof *stamps);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!block || !cs || !stamps || ep < 0) {
        fprintf(stderr, "loadgen: out of memory or epoll_create1 failed\n");
        return 2;
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < PATTERN_SIZE + opt.size; i++) block[i] = (unsigned char)mix64(x += i);
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

    /* Traffic: warm-up, then measurement. */
    uint64_t start = now_ns();
    warm_end = start + (uint64_t)(opt.warmup * 1e9);
    end_ns = warm_end + (uint64_t)(opt.duration * 1e9);
    tick(start);
    const char *engine = "epoll";
    int left = -1;
    if (strcmp(opt.engine, "epoll") != 0) {
        left = traffic_uring(cs, open_conns);
        if (left >= 0) {
            engine = "uring";
        } else if (strcmp(opt.engine, "uring") == 0) {
            fprintf(stderr, "loadgen: io_uring unavailable: %s\n", strerror(errno));
            return 2;
        }
    }
    if (left < 0) left = traffic_epoll(cs, ep, open_conns);
    open_conns = left;
    uint64_t m_end = now_ns();
    double cpu_user_end, cpu_total = cpu_seconds_split(&cpu_user_end), cpu = cpu_total - cpu_start;
    double cpu_user = cpu_user_end - cpu_user_start;
    /* Before the connections close: closing them is work for the server too. */
    if (measuring) mark("measure end\n");
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
           "\"window\":%llu,\"cpu_pct\":%.1f,\"cpu_total_s\":%.3f,\"cpu_user_s\":%.6f,"
           "\"cpu_sys_s\":%.6f,\"engine\":\"%s\"}\n",
           opt.stream ? "stream" : "pingpong", opt.conns, (unsigned long long)opt.size, secs,
           (unsigned long long)m_messages, secs > 0 ? (double)m_messages / secs : 0,
           secs > 0 ? (double)m_bytes / secs / 1048576.0 : 0,
           hist_percentile(0.50) / 1000, hist_percentile(0.99) / 1000,
           (unsigned long long)byte_errors, connect_errors, (unsigned long long)disconnects,
           (unsigned long long)opt.window, secs > 0 ? 100.0 * cpu / secs : 0, cpu_total,
           measuring ? cpu_user : 0, measuring ? cpu - cpu_user : 0, engine);
    fflush(stdout);
    return byte_errors || disconnects || open_conns == 0 ? 3 : 0;
}

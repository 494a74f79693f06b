/*
 * echo-client: the real TCP clients of test/reliability, one thread on
 * epoll, built by the tests with `cc -O2`. Every connection sends a stream
 * of pseudo-random bytes and checks that its echo is the same stream: each
 * received byte is compared with the byte sent at that position, and an
 * FNV-1a hash of everything sent is compared with one of everything
 * received. Nothing lost, reordered, duplicated or added passes.
 *
 *   echo-client MODE HOST PORT [key=value ...]
 *
 * Modes (options in brackets, with their defaults):
 *
 *   load     conns=200 seed=1 min=1 max=1048576 lazy=0 timeout=60
 *            Each connection sends a payload of a random size (connection 0
 *            sends `min` bytes, connection 1 `max`, the rest uniform in
 *            between) in writes of random sizes, reading its echo
 *            concurrently in reads of random sizes; after its last byte it
 *            shuts down its sending side (SHUT_WR) and reads to EOF.
 *            lazy=1: a connection reads only when its send would block (and
 *            after SHUT_WR), so at SHUT_WR most of its echo is still on the
 *            way: the half-close case.
 *            resets=K: K more connections that send without reading (with a
 *            small receive buffer) until the server is mid-echo to them (some
 *            echo waits unread and their own send would block), then close
 *            with SO_LINGER 0, so the server gets RST while it is sending.
 *            While resets are pending, every load connection holds back its
 *            last byte: the resets happen while all of the load is in
 *            progress. Prints one JSON line.
 *
 *   stall    conns=1 seed=1 duration=1000 max=268435456 rcvbuf=0 timeout=60
 *            Each connection sends without ever reading, for `duration` ms
 *            (or until `max` bytes), as fast as the kernel takes them. Then
 *            prints {"event":"stalled",...} (how much went, how much echo
 *            waits unread) and waits for a line on stdin; then reads back
 *            everything it sent, checks it, half-closes, expects EOF, and
 *            prints the JSON result. (Killed with SIGKILL while it waits:
 *            the vanished-client case.)
 *
 *   hold     conns=100 timeout=20
 *            Opens `conns` connections (a connect completes in the kernel's
 *            backlog even if the server never accepts it), prints
 *            {"event":"held",...}, waits for a line on stdin, closes them
 *            all and prints the JSON result.
 *
 *   scale    conns=10000 active=500 rounds=20 maxmsg=16384 inflight=200
 *            seed=1 timeout=120
 *            Connects `conns` connections, at most `inflight` unconfirmed at
 *            a time; each is confirmed by the echo of a 16-byte ping. Prints
 *            {"event":"idle",...} and waits for a line on stdin (the test
 *            measures the server meanwhile). Then the first `active`
 *            connections each do `rounds` round trips of 1..maxmsg random
 *            bytes, at once, while the others idle. Then every connection
 *            sends a final 16-byte ping and must get its echo. Closes all,
 *            prints the JSON result.
 *
 * Exit status: 0 all checked, 1 usage or set-up error, 3 a check failed or
 * the deadline passed (the JSON line is printed anyway).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The source of every stream: a block of random bytes whose size is a prime
 * above 1 MiB; connection c's byte i is block[(start_c + i) % BLOCK]. A
 * payload of up to 1 MiB never repeats, and no buffer size lines up with the
 * period of a longer stream. */
#define BLOCK 1048583u
#define MAX_READ (256 * 1024)
#define MAX_WRITE (128 * 1024)

enum state { S_IDLE, S_CONNECTING, S_OPEN, S_DONE, S_FAILED };

struct conn {
  int fd;
  enum state state;
  uint32_t start;      /* offset of this stream in the block */
  uint64_t goal;       /* bytes to send so far (grows in scale mode) */
  uint64_t sent, recvd;
  uint64_t hash_sent, hash_recvd;
  uint64_t outstanding_at_shut; /* load: sent - recvd when SHUT_WR went */
  int shut;            /* SHUT_WR done */
  int eof;
  int events;          /* epoll interest now */
  int rounds_left;     /* scale */
  int resetter;        /* load: resets the connection mid-echo */
  int blocked;         /* resetter: its send would have blocked */
  char error[96];
};

static unsigned char *block;
static struct conn *conns;
static int nconns;
static int epfd;
static struct sockaddr_in server;
static uint64_t rng_state;
static struct timespec t0;
static double deadline_s;

/* options */
static long opt_conns = -1, opt_min = 1, opt_max = -1, opt_lazy = 0, opt_duration = 1000;
static long opt_resets = 0, opt_reset_rcvbuf = 16384;
static int resets_pending;
static long opt_rcvbuf = 0, opt_active = 500, opt_rounds = 20, opt_maxmsg = 16384, opt_inflight = 200;
static unsigned long opt_seed = 1;
static double opt_timeout = -1;

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint64_t rnd(uint64_t lo, uint64_t hi) { /* inclusive */
  return lo + splitmix(&rng_state) % (hi - lo + 1);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static void die(const char *what) {
  fprintf(stderr, "echo-client: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(struct conn *c, const char *fmt, const char *detail) {
  if (c->state == S_FAILED) return;
  c->state = S_FAILED;
  snprintf(c->error, sizeof c->error, fmt, detail);
  if (c->fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
}

static void set_interest(struct conn *c, int events) {
  if (c->fd < 0 || events == c->events) return;
  struct epoll_event ev = {.events = (uint32_t)events, .data.ptr = c};
  if (epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  c->events = events;
}

static void start_connect(struct conn *c, long rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0) {
    int v = (int)rcvbuf;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  c->fd = fd;
  c->events = 0;
  c->state = S_CONNECTING;
  if (connect(fd, (struct sockaddr *)&server, sizeof server) == 0) {
    c->state = S_OPEN;
  } else if (errno != EINPROGRESS) {
    fail(c, "connect: %s", strerror(errno));
    return;
  }
  set_interest(c, EPOLLOUT);
}

/* Sends what is due (up to goal), in writes of random sizes. Returns 1 if
 * the kernel refused (EAGAIN), 0 otherwise. */
static uint64_t send_limit(const struct conn *c) {
  /* load connections hold back their last byte while resets are pending */
  return resets_pending > 0 && !c->resetter && c->goal > 0 ? c->goal - 1 : c->goal;
}

static int do_send(struct conn *c) {
  uint64_t limit = send_limit(c);
  while (c->sent < limit) {
    uint64_t pos = (c->start + c->sent) % BLOCK;
    uint64_t n = limit - c->sent;
    uint64_t w = rnd(1, MAX_WRITE);
    if (n > w) n = w;
    if (n > BLOCK - pos) n = BLOCK - pos;
    ssize_t k = send(c->fd, block + pos, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
      if (errno == EINTR) continue;
      fail(c, "send: %s", strerror(errno));
      return 0;
    }
    c->hash_sent = fnv(c->hash_sent, block + pos, (size_t)k);
    c->sent += (uint64_t)k;
  }
  return 0;
}

static unsigned char rbuf[MAX_READ];

/* One read of a random size; checks every byte. Returns bytes read, 0 at
 * EOF, -1 on EAGAIN or failure. */
static ssize_t do_recv(struct conn *c) {
  size_t want = (size_t)rnd(1, MAX_READ);
  ssize_t k = recv(c->fd, rbuf, want, 0);
  if (k < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(c, "recv: %s", strerror(errno));
    return -1;
  }
  if (k == 0) {
    c->eof = 1;
    return 0;
  }
  if (c->recvd + (uint64_t)k > c->sent) {
    char d[64];
    snprintf(d, sizeof d, "%llu bytes back, %llu sent", (unsigned long long)(c->recvd + (uint64_t)k),
             (unsigned long long)c->sent);
    fail(c, "more echo than sent: %s", d);
    return -1;
  }
  size_t off = 0;
  while (off < (size_t)k) {
    uint64_t pos = (c->start + c->recvd + off) % BLOCK;
    size_t n = (size_t)k - off;
    if (n > BLOCK - pos) n = (size_t)(BLOCK - pos);
    if (memcmp(rbuf + off, block + pos, n) != 0) {
      size_t i = 0;
      while (rbuf[off + i] == block[pos + i]) i++;
      char d[64];
      snprintf(d, sizeof d, "at stream offset %llu", (unsigned long long)(c->recvd + off + i));
      fail(c, "wrong byte %s", d);
      return -1;
    }
    off += n;
  }
  c->hash_recvd = fnv(c->hash_recvd, rbuf, (size_t)k);
  c->recvd += (uint64_t)k;
  return k;
}

static void init_conn(struct conn *c, uint64_t goal) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->start = (uint32_t)rnd(0, BLOCK - 1);
  c->goal = goal;
  c->hash_sent = c->hash_recvd = FNV_INIT;
}

/* Handles a connect completing. Returns 0 if it failed. */
static int finish_connect(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err == EINPROGRESS) return 1;
  if (err != 0) {
    fail(c, "connect: %s", strerror(err));
    return 0;
  }
  c->state = S_OPEN;
  return 1;
}

static void wait_stdin_line(void) {
  char line[256];
  if (fgets(line, sizeof line, stdin) == NULL) {
    /* stdin closed: go on just the same */
  }
}

static void print_summary(const char *mode, double seconds) {
  uint64_t sent = 0, verified = 0;
  int ok = 0, failed = 0;
  int resets = 0;
  uint64_t reset_sent = 0;
  for (int i = 0; i < nconns; i++) {
    if (conns[i].resetter) {
      resets += conns[i].state == S_DONE;
      reset_sent += conns[i].sent;
      if (conns[i].state != S_DONE) failed++;
      continue;
    }
    sent += conns[i].sent;
    verified += conns[i].recvd;
    if (conns[i].state == S_DONE) ok++;
    else failed++;
  }
  uint64_t min_out = UINT64_MAX;
  for (int i = 0; i < nconns; i++)
    if (conns[i].shut && conns[i].outstanding_at_shut < min_out) min_out = conns[i].outstanding_at_shut;
  printf("{\"mode\":\"%s\",\"resets\":%d,\"resetSent\":%llu,\"conns\":%d,\"ok\":%d,\"failed\":%d,\"bytesSent\":%llu,\"bytesVerified\":%llu,"
         "\"minOutstandingAtShutdown\":%lld,\"seconds\":%.3f,\"failures\":[",
         mode, resets, (unsigned long long)reset_sent, nconns - (int)opt_resets, ok, failed, (unsigned long long)sent, (unsigned long long)verified,
         min_out == UINT64_MAX ? -1LL : (long long)min_out, seconds);
  int shown = 0;
  for (int i = 0; i < nconns && shown < 20; i++) {
    struct conn *c = &conns[i];
    if (c->state == S_DONE) continue;
    printf("%s{\"conn\":%d,\"state\":%d,\"sent\":%llu,\"goal\":%llu,\"recvd\":%llu,\"eof\":%d,\"error\":\"%s\"}",
           shown ? "," : "", i, (int)c->state, (unsigned long long)c->sent, (unsigned long long)c->goal,
           (unsigned long long)c->recvd, c->eof, c->error[0] ? c->error : "deadline passed");
    shown++;
  }
  printf("]}\n");
  fflush(stdout);
}

static double phase_end = 1e18; /* stall: when the sending phase ends */

static int run_loop(int (*all_done)(void), void (*on_event)(struct conn *, uint32_t)) {
  struct epoll_event evs[512];
  while (!all_done()) {
    double left = (deadline_s < phase_end ? deadline_s : phase_end) - now_s();
    if (left <= 0 && phase_end <= deadline_s) continue; /* all_done() will say so */
    if (left <= 0) return 0;
    int n = epoll_wait(epfd, evs, 512, (int)(left * 1000) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
  }
  return 1;
}

/* ---- load ---- */

static int load_done(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != S_DONE && conns[i].state != S_FAILED) return 0;
  return 1;
}

static void reset_event(struct conn *c) {
  if (do_send(c)) c->blocked = 1;
  if (c->state == S_FAILED) return;
  int unread = 0;
  ioctl(c->fd, FIONREAD, &unread);
  if (c->blocked && unread > 0) {
    /* the server has echo for us it cannot send, and we stop here */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = S_DONE;
    if (--resets_pending == 0) {
      for (int i = 0; i < nconns; i++) {
        struct conn *o = &conns[i];
        if (!o->resetter && o->state == S_OPEN && !o->shut) set_interest(o, o->events | EPOLLOUT);
      }
    }
    return;
  }
  set_interest(c, unread > 0 ? EPOLLOUT : EPOLLOUT | EPOLLIN);
}

static void load_event(struct conn *c, uint32_t ev) {
  if (c->state == S_FAILED || c->state == S_DONE) return;
  if (c->state == S_CONNECTING) {
    if (!finish_connect(c) || c->state != S_OPEN) return;
  }
  if (c->resetter) {
    reset_event(c);
    return;
  }
  int blocked = 0;
  if (!c->shut) {
    blocked = do_send(c);
    if (c->state == S_FAILED) return;
    if (c->sent == c->goal) {
      if (shutdown(c->fd, SHUT_WR) < 0) {
        fail(c, "shutdown: %s", strerror(errno));
        return;
      }
      c->shut = 1;
      c->outstanding_at_shut = c->sent - c->recvd;
    }
  }
  /* lazy: read only when sending is stuck or finished */
  if (!opt_lazy || blocked || c->shut) {
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      for (int k = 0; k < 4; k++) { /* a few reads per wake-up, not the whole buffer */
        ssize_t r = do_recv(c);
        if (r <= 0) break;
      }
      if (c->state == S_FAILED) return;
    }
  }
  if (c->eof) {
    if (c->recvd == c->goal && c->shut) {
      c->state = S_DONE;
      epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close(c->fd);
      c->fd = -1;
    } else {
      char d[64];
      snprintf(d, sizeof d, "after %llu of %llu bytes", (unsigned long long)c->recvd, (unsigned long long)c->sent);
      fail(c, "EOF %s", d);
    }
    return;
  }
  int want = 0;
  if (!c->shut && c->sent < send_limit(c)) want |= EPOLLOUT;
  if (!opt_lazy || blocked || c->shut || !(want & EPOLLOUT)) want |= EPOLLIN;
  set_interest(c, want);
}

static int mode_load(void) {
  if (opt_conns < 0) opt_conns = 200;
  if (opt_max < 0) opt_max = 1048576;
  nconns = (int)(opt_conns + opt_resets);
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) {
    uint64_t size = i == 0 ? (uint64_t)opt_min : i == 1 ? (uint64_t)opt_max : rnd((uint64_t)opt_min, (uint64_t)opt_max);
    init_conn(&conns[i], i < opt_conns ? size : 1ull << 30);
    conns[i].resetter = i >= opt_conns;
  }
  resets_pending = (int)opt_resets;
  for (int i = 0; i < nconns; i++) start_connect(&conns[i], conns[i].resetter ? opt_reset_rcvbuf : opt_rcvbuf);
  int ok = run_loop(load_done, load_event);
  print_summary(opt_lazy ? "halfclose" : "load", now_s());
  if (!ok) return 3;
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->state != S_DONE) return 3;
    if (!c->resetter && (c->hash_sent != c->hash_recvd || c->recvd != c->goal)) return 3;
  }
  return 0;
}

/* ---- stall ---- */

static int phase; /* scale: 0 connecting, 1 active round trips, 2 final pings */

static int stall_send_done(void) { return now_s() >= phase_end; }

static void stall_send_event(struct conn *c, uint32_t ev) {
  (void)ev;
  if (c->state == S_FAILED) return;
  if (c->state == S_CONNECTING && (!finish_connect(c) || c->state != S_OPEN)) return;
  do_send(c);
  if (c->state != S_FAILED) set_interest(c, EPOLLOUT);
}

static int stall_drain_done(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != S_DONE && conns[i].state != S_FAILED) return 0;
  return 1;
}

static void stall_drain_event(struct conn *c, uint32_t ev) {
  (void)ev;
  if (c->state != S_OPEN) return;
  for (int k = 0; k < 4; k++)
    if (do_recv(c) <= 0) break;
  if (c->state == S_FAILED) return;
  if (c->recvd == c->sent && !c->shut) {
    shutdown(c->fd, SHUT_WR);
    c->shut = 1;
  }
  if (c->eof) {
    if (c->recvd == c->sent) {
      c->state = S_DONE;
      epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close(c->fd);
      c->fd = -1;
    } else {
      char d[64];
      snprintf(d, sizeof d, "after %llu of %llu bytes", (unsigned long long)c->recvd, (unsigned long long)c->sent);
      fail(c, "EOF %s", d);
    }
  }
}

static int mode_stall(void) {
  if (opt_conns < 0) opt_conns = 1;
  if (opt_max < 0) opt_max = 268435456;
  nconns = (int)opt_conns;
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) init_conn(&conns[i], (uint64_t)opt_max);
  for (int i = 0; i < nconns; i++) start_connect(&conns[i], opt_rcvbuf);
  phase_end = now_s() + opt_duration / 1000.0;
  run_loop(stall_send_done, stall_send_event);
  phase_end = 1e18;
  uint64_t sent = 0, unread = 0;
  int open = 0;
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->state != S_OPEN) continue;
    open++;
    int q = 0;
    if (ioctl(c->fd, FIONREAD, &q) == 0) unread += (uint64_t)q;
    sent += c->sent;
    c->goal = c->sent;
    set_interest(c, EPOLLIN);
  }
  printf("{\"event\":\"stalled\",\"conns\":%d,\"open\":%d,\"sent\":%llu,\"unreadEcho\":%llu,\"seconds\":%.3f}\n",
         nconns, open, (unsigned long long)sent, (unsigned long long)unread, now_s());
  fflush(stdout);
  wait_stdin_line();
  deadline_s = now_s() + opt_timeout;
  int ok = run_loop(stall_drain_done, stall_drain_event);
  print_summary("stall", now_s());
  if (!ok) return 3;
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->state != S_DONE || c->hash_sent != c->hash_recvd) return 3;
  }
  return 0;
}

/* ---- hold ---- */

static int hold_done(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == S_CONNECTING) return 0;
  return 1;
}

static void hold_event(struct conn *c, uint32_t ev) {
  (void)ev;
  if (c->state != S_CONNECTING) return;
  if (finish_connect(c) && c->state == S_OPEN) set_interest(c, EPOLLIN);
}

static int mode_hold(void) {
  if (opt_conns < 0) opt_conns = 100;
  nconns = (int)opt_conns;
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) init_conn(&conns[i], 0);
  for (int i = 0; i < nconns; i++) start_connect(&conns[i], opt_rcvbuf);
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == S_OPEN) set_interest(&conns[i], EPOLLIN);
  int ok = run_loop(hold_done, hold_event);
  int open = 0;
  for (int i = 0; i < nconns; i++) open += conns[i].state == S_OPEN;
  printf("{\"event\":\"held\",\"conns\":%d,\"open\":%d}\n", nconns, open);
  fflush(stdout);
  wait_stdin_line();
  for (int i = 0; i < nconns; i++) {
    if (conns[i].fd >= 0) close(conns[i].fd);
    conns[i].fd = -1;
    if (conns[i].state == S_OPEN) conns[i].state = S_DONE;
  }
  print_summary("hold", now_s());
  return ok && open == nconns ? 0 : 3;
}

/* ---- scale ---- */

/* A connection is busy while its echo is not all back: recvd < goal. */
static int scale_busy;       /* connections with recvd < goal, or connecting */
static int scale_next;       /* next connection to open (phase 0) */
static int scale_confirmed;

static void scale_begin_message(struct conn *c, uint64_t n) {
  c->goal += n;
  scale_busy++;
  set_interest(c, EPOLLIN | EPOLLOUT);
}

static void scale_open_more(void) {
  while (scale_next < nconns && scale_busy < opt_inflight) {
    struct conn *c = &conns[scale_next++];
    start_connect(c, opt_rcvbuf);
    if (c->state == S_FAILED) continue;
    scale_busy++;
    c->goal = 16;
  }
}

static int scale_done(void) { return scale_busy == 0 && (phase != 0 || scale_next == nconns); }

static void scale_event(struct conn *c, uint32_t ev) {
  if (c->state == S_FAILED) return;
  if (c->state == S_CONNECTING) {
    if (!finish_connect(c)) {
      scale_busy--;
      if (phase == 0) scale_open_more();
      return;
    }
    if (c->state != S_OPEN) return;
  }
  if (c->sent < c->goal) {
    do_send(c);
    if (c->state == S_FAILED) {
      scale_busy--;
      if (phase == 0) scale_open_more();
      return;
    }
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    for (int k = 0; k < 4 && c->recvd < c->sent; k++)
      if (do_recv(c) <= 0) break;
    if (c->state == S_FAILED) {
      scale_busy--;
      if (phase == 0) scale_open_more();
      return;
    }
    if (c->eof) {
      char d[64];
      snprintf(d, sizeof d, "after %llu of %llu bytes", (unsigned long long)c->recvd, (unsigned long long)c->goal);
      fail(c, "EOF %s", d);
      scale_busy--;
      if (phase == 0) scale_open_more();
      return;
    }
  }
  if (c->recvd == c->goal) {
    scale_busy--;
    if (phase == 0) {
      scale_confirmed++;
      set_interest(c, EPOLLIN); /* idle: an unexpected byte or EOF shows up as a failure */
      scale_open_more();
    } else if (phase == 1 && c->rounds_left > 0) {
      c->rounds_left--;
      scale_begin_message(c, rnd(1, (uint64_t)opt_maxmsg));
    } else {
      set_interest(c, EPOLLIN);
    }
    return;
  }
  set_interest(c, c->sent < c->goal ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int mode_scale(void) {
  if (opt_conns < 0) opt_conns = 10000;
  nconns = (int)opt_conns;
  if (opt_active > nconns) opt_active = nconns;
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) init_conn(&conns[i], 0);
  phase = 0;
  scale_open_more();
  int ok = run_loop(scale_done, scale_event);
  int open = 0;
  for (int i = 0; i < nconns; i++) open += conns[i].state == S_OPEN;
  printf("{\"event\":\"idle\",\"conns\":%d,\"open\":%d,\"seconds\":%.3f}\n", nconns, open, now_s());
  fflush(stdout);
  if (!ok) {
    print_summary("scale", now_s());
    return 3;
  }
  wait_stdin_line();
  deadline_s = now_s() + opt_timeout;
  double t1 = now_s();
  phase = 1;
  for (int i = 0; i < opt_active; i++) {
    struct conn *c = &conns[i];
    if (c->state != S_OPEN) continue;
    c->rounds_left = (int)opt_rounds - 1;
    scale_begin_message(c, rnd(1, (uint64_t)opt_maxmsg));
  }
  ok = run_loop(scale_done, scale_event);
  double t2 = now_s();
  phase = 2;
  for (int i = 0; ok && i < nconns; i++)
    if (conns[i].state == S_OPEN) scale_begin_message(&conns[i], 16);
  if (ok) ok = run_loop(scale_done, scale_event);
  double t3 = now_s();
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if (c->state == S_OPEN && c->recvd == c->goal && c->hash_sent == c->hash_recvd) {
      c->state = S_DONE;
      close(c->fd);
      c->fd = -1;
    }
  }
  fprintf(stderr, "scale: active phase %.3f s, final pings %.3f s\n", t2 - t1, t3 - t2);
  print_summary("scale", now_s());
  if (!ok) return 3;
  for (int i = 0; i < nconns; i++)
    if (conns[i].state != S_DONE) return 3;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: echo-client load|stall|hold|scale HOST PORT [key=value ...]\n");
    return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  signal(SIGPIPE, SIG_IGN);
  const char *mode = argv[1];
  memset(&server, 0, sizeof server);
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &server.sin_addr) != 1) {
    fprintf(stderr, "echo-client: not an IPv4 address: %s\n", argv[2]);
    return 1;
  }
  for (int i = 4; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) {
      fprintf(stderr, "echo-client: expected key=value, got %s\n", argv[i]);
      return 1;
    }
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    if (!strcmp(k, "conns")) opt_conns = atol(v);
    else if (!strcmp(k, "seed")) opt_seed = strtoul(v, NULL, 10);
    else if (!strcmp(k, "min")) opt_min = atol(v);
    else if (!strcmp(k, "max")) opt_max = atol(v);
    else if (!strcmp(k, "lazy")) opt_lazy = atol(v);
    else if (!strcmp(k, "resets")) opt_resets = atol(v);
    else if (!strcmp(k, "reset_rcvbuf")) opt_reset_rcvbuf = atol(v);
    else if (!strcmp(k, "duration")) opt_duration = atol(v);
    else if (!strcmp(k, "rcvbuf")) opt_rcvbuf = atol(v);
    else if (!strcmp(k, "active")) opt_active = atol(v);
    else if (!strcmp(k, "rounds")) opt_rounds = atol(v);
    else if (!strcmp(k, "maxmsg")) opt_maxmsg = atol(v);
    else if (!strcmp(k, "inflight")) opt_inflight = atol(v);
    else if (!strcmp(k, "timeout")) opt_timeout = atof(v);
    else {
      fprintf(stderr, "echo-client: unknown option %s\n", k);
      return 1;
    }
  }
  if (opt_timeout < 0) opt_timeout = !strcmp(mode, "scale") ? 120 : !strcmp(mode, "hold") ? 20 : 60;
  deadline_s = opt_timeout;

  /* as many fds as the hard limit allows */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  rng_state = opt_seed * 0x2545f4914f6cdd1dull + 1;
  block = malloc(BLOCK);
  if (!block) die("malloc");
  uint64_t bs = opt_seed ^ 0xabcdef;
  for (uint32_t i = 0; i < BLOCK; i += 8) {
    uint64_t r = splitmix(&bs);
    for (uint32_t j = 0; j < 8 && i + j < BLOCK; j++) block[i + j] = (unsigned char)(r >> (8 * j));
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  if (!strcmp(mode, "load")) return mode_load();
  if (!strcmp(mode, "stall")) return mode_stall();
  if (!strcmp(mode, "hold")) return mode_hold();
  if (!strcmp(mode, "scale")) return mode_scale();
  fprintf(stderr, "echo-client: unknown mode %s\n", mode);
  return 1;
}

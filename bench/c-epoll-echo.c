/*
 * c-epoll-echo: the reference echo server, the upper bound the others are
 * measured against. One thread, level-triggered epoll, non-blocking sockets.
 *
 *   c-epoll-echo HOST PORT        (PORT 0 picks a free port)
 *
 * Prints "listening on HOST:PORT" once it accepts connections; exits cleanly
 * on SIGINT or SIGTERM.
 *
 * Each connection is read into one shared buffer and written straight back.
 * Only bytes the kernel would not take are copied aside; while a connection
 * has such bytes it waits for EPOLLOUT instead of EPOLLIN, so a client that
 * does not read cannot make the server buffer without bound.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define MAX_EVENTS 256

struct conn {
    int fd;
    char *pending;      /* bytes read but not yet written back */
    size_t off, len;
};

static volatile sig_atomic_t stopping;
static char readbuf[READ_SIZE];
static int listener_tag;   /* its address marks the listening socket in epoll data */

static void on_signal(int sig) { (void)sig; stopping = 1; }

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

static int want(int ep, struct conn *c, unsigned events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Returns 0 when the connection must be closed. */
static int conn_flush(int ep, struct conn *c)
{
    while (c->off < c->len) {
        ssize_t w = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN;
        }
        c->off += (size_t)w;
    }
    free(c->pending);
    c->pending = NULL;
    c->off = c->len = 0;
    return want(ep, c, EPOLLIN) == 0;
}

static int conn_echo(int ep, struct conn *c)
{
    ssize_t r;
    do r = recv(c->fd, readbuf, sizeof readbuf, 0);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) return errno == EAGAIN;

    size_t done = 0;
    while (done < (size_t)r) {
        ssize_t w = send(c->fd, readbuf + done, (size_t)r - done, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) return 0;
            break;
        }
        done += (size_t)w;
    }
    if (done == (size_t)r) return 1;
    c->len = (size_t)r - done;
    c->off = 0;
    c->pending = malloc(c->len);
    if (!c->pending) return 0;
    memcpy(c->pending, readbuf + done, c->len);
    return want(ep, c, EPOLLOUT) == 0;
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) perror("c-epoll-echo: accept4");   /* e.g. EMFILE: retried on next event */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
    }
}

static int listen_on(const char *host, const char *port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE }, *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "c-epoll-echo: cannot resolve %s: %s\n", host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "c-epoll-echo: cannot listen on %s port %s: %s\n", host, port,
                strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: c-epoll-echo HOST PORT\n");
        return 1;
    }
    /* The stop signals stay blocked except inside epoll_pwait, so one that
     * lands between the flag check and the wait still interrupts the wait. */
    sigset_t stopset, waitmask;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    sigprocmask(SIG_BLOCK, &stopset, &waitmask);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = listen_on(argv[1], argv[2]);
    if (lfd < 0) return 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &listener_tag };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("c-epoll-echo: epoll");
        return 1;
    }

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char port[16];
    getsockname(lfd, (struct sockaddr *)&ss, &sl);
    getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port, sizeof port, NI_NUMERICSERV);
    printf("listening on %s:%s\n", argv[1], port);
    fflush(stdout);

    struct epoll_event evs[MAX_EVENTS];
    while (!stopping) {
        int n = epoll_pwait(ep, evs, MAX_EVENTS, -1, &waitmask);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("c-epoll-echo: epoll_pwait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                accept_all(ep, lfd);
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            int ok = c->pending ? conn_flush(ep, c) : conn_echo(ep, c);
            if (!ok) conn_close(ep, c);
        }
    }

    /* Connections are not tracked in a list: closing the process closes them.
     * What matters for a clean stop is that the listener goes first. */
    close(lfd);
    close(ep);
    fprintf(stderr, "c-epoll-echo: stopped\n");
    return 0;
}

/* A client for bench/micro.ts's memory-per-connection figure: opens N TCP
 * connections to HOST:PORT (in chunks of up to 256 at a time, below any
 * server's listen backlog), sends a 4-byte ping on each and reads the echo
 * back, prints "ready N", then holds every connection
 * open until stdin reaches EOF (or it is killed), and exits.
 *
 *   micro-hold HOST PORT N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 256

static int die(const char *what) {
  perror(what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: micro-hold HOST PORT N\n");
    return 2;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
  long n = atol(argv[3]);
  int *fds = calloc((size_t)(n > 0 ? n : 1), sizeof *fds);
  if (fds == NULL) return die("calloc");
  struct pollfd pfd[CHUNK];
  int got[CHUNK];
  for (long base = 0; base < n; base += CHUNK) {
    int m = (int)(n - base < CHUNK ? n - base : CHUNK);
    /* Start m non-blocking connects. */
    for (int j = 0; j < m; j++) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (fd < 0) return die("socket");
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) return die("connect");
      fds[base + j] = fd;
      pfd[j].fd = fd;
      pfd[j].events = POLLOUT;
      got[j] = -1; /* -1: connecting, 0..3: bytes of echo read, 4: done */
    }
    /* Drive them: connected -> send ping -> read 4 bytes of echo. */
    int left = m;
    while (left > 0) {
      int k = poll(pfd, (nfds_t)m, 10000);
      if (k < 0) { if (errno == EINTR) continue; return die("poll"); }
      if (k == 0) { fprintf(stderr, "micro-hold: timed out with %d connections pending\n", left); return 1; }
      for (int j = 0; j < m; j++) {
        if (pfd[j].fd < 0 || pfd[j].revents == 0) continue;
        int fd = pfd[j].fd;
        if (got[j] < 0) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) { errno = err; return die("connect"); }
          if (send(fd, "ping", 4, 0) != 4) return die("send");
          got[j] = 0;
          pfd[j].events = POLLIN;
          continue;
        }
        char buf[4];
        ssize_t r = recv(fd, buf, (size_t)(4 - got[j]), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) { fprintf(stderr, "micro-hold: connection %ld closed or failed\n", base + j); return 1; }
        if (memcmp(buf, "ping" + got[j], (size_t)r) != 0) { fprintf(stderr, "micro-hold: bad echo\n"); return 1; }
        got[j] += (int)r;
        if (got[j] == 4) {
          pfd[j].fd = -1; /* poll ignores negative fds */
          left--;
        }
      }
    }
  }
  printf("ready %ld\n", n);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  for (long i = 0; i < n; i++) close(fds[i]);
  free(fds);
  return 0;
}

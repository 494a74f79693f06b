/* The raw system-call cost that bench/micro.ts compares Socket.send +
 * Socket.recvInto with: the same loop in C over an AF_UNIX stream socketpair
 * (blocking, as socketpair() returns it), 64 bytes each way per pair.
 *
 *   micro-syscalls ITERATIONS REPEATS
 *
 * Prints one line per repeat: nanoseconds per send+recv pair.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 1000000;
  int repeats = argc > 2 ? atoi(argv[2]) : 5;
  if (iters <= 0 || repeats <= 0) {
    fprintf(stderr, "usage: micro-syscalls ITERATIONS REPEATS\n");
    return 2;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) { perror("socketpair"); return 1; }
  char out[64], in[64];
  memset(out, 'x', sizeof out);
  for (int r = 0; r < repeats; r++) {
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
      if (send(sv[0], out, sizeof out, 0) != (ssize_t)sizeof out) { perror("send"); return 1; }
      if (recv(sv[1], in, sizeof in, 0) != (ssize_t)sizeof in) { perror("recv"); return 1; }
    }
    double t1 = now_ns();
    printf("%.2f\n", (t1 - t0) / (double)iters);
    fflush(stdout);
  }
  close(sv[0]);
  close(sv[1]);
  return 0;
}

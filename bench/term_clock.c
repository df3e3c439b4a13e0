/* A step for the timeout-overshoot goal (bench/goals.py): notes the time it
 * starts, waits for SIGTERM, and appends "start term" (CLOCK_MONOTONIC, ns)
 * to the file named by argv[1]. A C program, not a shell: its start is a
 * fraction of a millisecond after the exec the engine times from, and the
 * signal is taken with sigwaitinfo, so nothing but scheduling sits between
 * the engine's kill and the second reading. */
#include <signal.h>
#include <stdio.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  long long start = now_ns();
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, NULL);
  if (argc < 2 || sigwaitinfo(&term, NULL) != SIGTERM) return 2;
  long long got = now_ns();
  FILE* f = fopen(argv[1], "a");
  if (!f) return 2;
  fprintf(f, "%lld %lld\n", start, got);
  return fclose(f) == 0 ? 143 : 2;
}

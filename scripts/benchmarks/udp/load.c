/*
 * UDP tracker load generator (BEP 15) for scripts/benchmarks/udp.ts: the deploy announce mix
 * of the HTTP throughput workload (wrk/announce.lua), as UDP announces.
 *
 * usage: load HOST PORT SECONDS RATE SOCKETS WINDOW TRANSFERS HOSTS RACKS
 *   RATE 0: saturated, each socket keeps WINDOW announces in flight (a closed loop, as wrk's
 *   connections); RATE > 0: announces are sent at that mean rate over all sockets, each gap
 *   drawn uniformly from 0 to twice the mean (an open loop: replies do not pace it).
 * Each socket connects first (action 0) and announces with its connection id. Host h sits
 * in rack h % RACKS at 10.<rack/256>.<rack%256>.<1 + h/RACKS> (sent in the announce's ip
 * field), announcing on port 10000 + h; info_hash byte i of transfer t is (t*31 + i*7 + 1) % 256.
 * Each (host, transfer) pair cycles started -> 4 periodic -> completed -> periodic -> stopped.
 * Prints one line: BENCH {json}; latencies in microseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LEECH_STEPS 4
#define SEED_STEPS 2
#define CYCLE (LEECH_STEPS + SEED_STEPS + 2)
#define MAX_SOCKETS 256
#define MAX_WINDOW 1024
#define TIMEOUT_US 1000000.0

typedef struct {
  int fd;
  uint8_t connection_id[8];
  int connected;
  double sent_at[MAX_WINDOW]; /* 0: slot free */
  int free_slots[MAX_WINDOW];
  int free_count;
} Sock;

static Sock socks[MAX_SOCKETS];
static int n_socks, window_size, transfers, hosts, racks;
static long pair_count, cursor;
static uint8_t *pair_step;
static double *latencies;
static long n_latencies, latency_cap;
static long sent, answered, errors, timeouts, skipped;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static void put64(uint8_t *p, uint64_t v) { put32(p, v >> 32); put32(p + 4, (uint32_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void send_connect(Sock *s) {
  uint8_t b[16];
  put64(b, 0x41727101980ULL);
  put32(b + 8, 0);
  put32(b + 12, 0xFFFFFFFFu);
  send(s->fd, b, sizeof b, 0);
}

/* Sends the next announce of the mix on socket s, in slot `slot` (the transaction id). */
static void send_announce(Sock *s, int slot) {
  long pair = cursor;
  cursor = (cursor + 1) % pair_count;
  int h = pair / transfers, t = pair % transfers;
  int step = pair_step[pair];
  pair_step[pair] = (step + 1) % CYCLE;
  uint64_t left;
  uint32_t event;
  if (step == 0) left = 1000000, event = 2;
  else if (step <= LEECH_STEPS) left = 1000000 - step * 1000, event = 0;
  else if (step == LEECH_STEPS + 1) left = 0, event = 1;
  else if (step < CYCLE - 1) left = 0, event = 0;
  else left = 0, event = 3;
  uint8_t b[98];
  memcpy(b, s->connection_id, 8);
  put32(b + 8, 1);
  put32(b + 12, slot);
  for (int i = 0; i < 20; i++) b[16 + i] = (t * 31 + i * 7 + 1) % 256;
  memcpy(b + 36, "-BM0001-", 8);
  put32(b + 44, h);
  for (int i = 0; i < 8; i++) b[48 + i] = (h * 13 + i * 29 + 3) % 256;
  put64(b + 56, 0);
  put64(b + 64, left);
  put64(b + 72, 0);
  put32(b + 80, event);
  int rack = h % racks;
  b[84] = 10, b[85] = rack / 256, b[86] = rack % 256, b[87] = 1 + h / racks;
  put32(b + 88, h);
  put32(b + 92, 50);
  b[96] = (10000 + h) >> 8, b[97] = (10000 + h) & 0xff;
  s->sent_at[slot] = now_us();
  if (send(s->fd, b, sizeof b, 0) < 0) { s->sent_at[slot] = 0; s->free_slots[s->free_count++] = slot; skipped++; return; }
  sent++;
}

static int take_slot(Sock *s) { return s->free_count > 0 ? s->free_slots[--s->free_count] : -1; }

/* Reads every reply waiting on s; `refill` sends a new announce into each slot freed (saturated mode). */
static void drain(Sock *s, int refill, int measuring) {
  uint8_t b[2048];
  for (;;) {
    ssize_t n = recv(s->fd, b, sizeof b, MSG_DONTWAIT);
    if (n < 0) return;
    if (n < 8) continue;
    uint32_t action = get32(b), tx = get32(b + 4);
    if (action == 0 && n >= 16 && tx == 0xFFFFFFFFu) {
      memcpy(s->connection_id, b + 8, 8);
      s->connected = 1;
      continue;
    }
    if (tx >= (uint32_t)window_size || s->sent_at[tx] == 0) continue;
    double latency = now_us() - s->sent_at[tx];
    s->sent_at[tx] = 0;
    s->free_slots[s->free_count++] = tx;
    if (action == 1) {
      answered++;
      if (n_latencies < latency_cap) latencies[n_latencies++] = latency;
    } else {
      errors++;
      if (action == 3 && n > 8 && errors <= 3) fprintf(stderr, "load: error reply: %.*s\n", (int)(n - 8), b + 8);
    }
    if (refill && measuring) { int slot = take_slot(s); if (slot >= 0) send_announce(s, slot); }
  }
}

/* Frees slots whose reply is overdue (a lost datagram), counting each as a timeout. */
static void expire(Sock *s, double now, int refill, int measuring) {
  for (int i = 0; i < window_size; i++) {
    if (s->sent_at[i] != 0 && now - s->sent_at[i] > TIMEOUT_US) {
      s->sent_at[i] = 0;
      s->free_slots[s->free_count++] = i;
      timeouts++;
      if (refill && measuring) { int slot = take_slot(s); if (slot >= 0) send_announce(s, slot); }
    }
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: load HOST PORT SECONDS RATE SOCKETS WINDOW TRANSFERS HOSTS RACKS\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  double seconds = atof(argv[3]), rate = atof(argv[4]);
  n_socks = atoi(argv[5]), window_size = atoi(argv[6]);
  transfers = atoi(argv[7]), hosts = atoi(argv[8]), racks = atoi(argv[9]);
  if (n_socks < 1 || n_socks > MAX_SOCKETS || window_size < 1 || window_size > MAX_WINDOW) return 2;
  pair_count = (long)hosts * transfers;
  pair_step = malloc(pair_count);
  for (long p = 0; p < pair_count; p++) pair_step[p] = ((p / transfers) + (p % transfers)) % CYCLE;
  latency_cap = (long)((rate > 0 ? rate : 200000) * (seconds + 2)) + 1000;
  latencies = malloc(sizeof(double) * latency_cap);
  srand48(getpid());

  struct sockaddr_storage to;
  socklen_t to_len;
  memset(&to, 0, sizeof to);
  int family = strchr(host, ':') ? AF_INET6 : AF_INET;
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
    a->sin6_family = AF_INET6, a->sin6_port = htons(port), to_len = sizeof *a;
    inet_pton(AF_INET6, host, &a->sin6_addr);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&to;
    a->sin_family = AF_INET, a->sin_port = htons(port), to_len = sizeof *a;
    inet_pton(AF_INET, host, &a->sin_addr);
  }
  struct pollfd fds[MAX_SOCKETS];
  for (int i = 0; i < n_socks; i++) {
    Sock *s = &socks[i];
    s->fd = socket(family, SOCK_DGRAM, 0);
    int size = 4 << 20;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (connect(s->fd, (struct sockaddr *)&to, to_len) < 0) { perror("connect"); return 1; }
    for (int j = 0; j < window_size; j++) s->free_slots[j] = window_size - 1 - j;
    s->free_count = window_size;
    fds[i].fd = s->fd, fds[i].events = POLLIN;
  }
  /* Connect every socket (retrying each 200 ms, for 5 s at most). */
  double deadline = now_us() + 5e6;
  for (int done = 0; !done;) {
    done = 1;
    for (int i = 0; i < n_socks; i++) if (!socks[i].connected) { done = 0; send_connect(&socks[i]); }
    if (done) break;
    if (now_us() > deadline) { fprintf(stderr, "load: no connect reply from %s:%d\n", host, port); return 1; }
    poll(fds, n_socks, 200);
    for (int i = 0; i < n_socks; i++) if (fds[i].revents & POLLIN) drain(&socks[i], 0, 0);
  }

  struct rusage before_usage;
  getrusage(RUSAGE_SELF, &before_usage);
  double start = now_us(), end = start + seconds * 1e6, next_send = start;
  int turn = 0;
  if (rate <= 0)
    for (int i = 0; i < n_socks; i++)
      for (int slot; (slot = take_slot(&socks[i])) >= 0;) send_announce(&socks[i], slot);
  double last_expiry = start;
  for (;;) {
    double now = now_us();
    int measuring = now < end;
    if (!measuring) {
      int open = 0;
      for (int i = 0; i < n_socks; i++) open += window_size - socks[i].free_count;
      if (open == 0 || now > end + TIMEOUT_US) break;
    }
    if (rate > 0 && measuring) {
      while (next_send <= now && next_send < end) {
        Sock *s = &socks[turn];
        turn = (turn + 1) % n_socks;
        int slot = take_slot(s);
        if (slot >= 0) send_announce(s, slot); else skipped++;
        next_send += drand48() * 2 * 1e6 / rate;
      }
    }
    double wait_us = 50000;
    if (rate > 0 && measuring) {
      double gap = next_send - now_us();
      wait_us = gap <= 0 ? 0 : gap;
    }
    /* ppoll: a gap under a millisecond is slept, not spun (the cores are shared with the server). */
    struct timespec wait = {(time_t)(wait_us / 1e6), (long)((wait_us - (time_t)(wait_us / 1e6) * 1e6) * 1000)};
    if (ppoll(fds, n_socks, &wait, NULL) > 0)
      for (int i = 0; i < n_socks; i++) if (fds[i].revents & POLLIN) drain(&socks[i], rate <= 0, measuring);
    now = now_us();
    if (now - last_expiry > 100000) {
      for (int i = 0; i < n_socks; i++) expire(&socks[i], now, rate <= 0, now < end);
      last_expiry = now;
    }
  }
  for (int i = 0; i < n_socks; i++)
    for (int j = 0; j < window_size; j++) if (socks[i].sent_at[j] != 0) timeouts++;
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu_us = (usage.ru_utime.tv_sec - before_usage.ru_utime.tv_sec) * 1e6 +
                  (usage.ru_utime.tv_usec - before_usage.ru_utime.tv_usec) +
                  (usage.ru_stime.tv_sec - before_usage.ru_stime.tv_sec) * 1e6 +
                  (usage.ru_stime.tv_usec - before_usage.ru_stime.tv_usec);
  qsort(latencies, n_latencies, sizeof(double), cmp);
#define PCT(p) (n_latencies ? latencies[(long)((n_latencies - 1) * (p))] : 0)
  printf("BENCH {\"sent\":%ld,\"answered\":%ld,\"errors\":%ld,\"timeouts\":%ld,\"skipped\":%ld,"
         "\"durationUs\":%.0f,\"p50Us\":%.1f,\"p99Us\":%.1f,\"p999Us\":%.1f,\"loadCpuUs\":%.0f}\n",
         sent, answered, errors, timeouts, skipped, seconds * 1e6, PCT(0.5), PCT(0.99), PCT(0.999), cpu_us);
  return 0;
}

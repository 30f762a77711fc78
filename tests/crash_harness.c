/* SPDX-License-Identifier: MIT */
/*
 * Goal: a writer process killed with SIGKILL at any moment loses no
 * acknowledged entry and leaves nothing partial. After each kill the log
 * reopens; every acknowledged entry is there byte for byte, in order;
 * sequence numbers run without gaps and times increase strictly; every
 * entry present is one that was appended whole (atomic batches whole or
 * absent); and appending works again.
 *
 * Method: each iteration makes a fresh log and runs ROUNDS rounds on it.
 * In a round a child (fork) opens the log (recovering the previous
 * round's crash) and appends durably from several threads, sometimes in
 * atomic batches, sometimes buffered; after each append that returned 0
 * it writes what it appended (seq, round, thread, counter, batch place)
 * to a pipe. Payloads are computed from those numbers, so the parent can
 * check every entry's bytes on its own. The parent SIGKILLs the child
 * after a random number of acknowledgements plus a random pause (or
 * during its open, to hit recovery), drains the pipe, reopens the log and
 * checks it. Iterations differ, from their seed, in segment size (small
 * ones roll over often), thread count, batch use and whether a compactor
 * thread removes old segments meanwhile (then entries before the oldest
 * remaining segment may be gone; everything after must be there).
 *
 * Counts: LOGSTORE_CRASH_ITERATIONS (default 200; CI runs that),
 * LOGSTORE_CRASH_SEED=<seed> replays the iteration that printed it (the
 * kill moment depends on timing too, so a replay runs the same workload
 * and kill counts, not always the same kill instant). Exit 0 when every
 * check passed, 1 otherwise, 77 without io_uring.
 */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ITERATIONS_DEFAULT 200
#define ROUNDS 3
#define THREADS_MAX 4
#define BATCH_MAX 4
#define ACKS_MAX 150	  /* a kill comes after at most this many acks */
#define PAUSE_MAX_US 3000 /* plus at most this pause */
#define PAYLOAD_HEADER 24
#define PAYLOAD_MAGIC 0x4b52434cu /* "LCRK" */
#define PARENT_THREAD 99
#define CHILD_BOUND_NS (60LL * 1000000000LL) /* only against hangs */

/* What the child reports on the pipe for each acknowledged entry. */
struct ack {
	uint64_t seq;
	uint16_t round;
	uint16_t thread;
	uint32_t counter; /* per thread: batch number */
	uint16_t index;	  /* in the batch */
	uint16_t count;	  /* entries in the batch */
	uint32_t durable;
};

/* What an iteration's seed decides. */
struct config {
	uint64_t seed;
	uint32_t iter;
	uint64_t segment_bytes;
	unsigned threads;
	bool batches;
	bool buffered; /* some appends are buffered */
	bool compactor;
};

/* ---- payloads ---- */

static size_t payload_len(const struct ack *a, uint32_t iter)
{
	uint64_t k = ((uint64_t)iter << 40) ^ ((uint64_t)a->round << 32) ^
		     ((uint64_t)a->thread << 24) ^ ((uint64_t)a->counter << 4) ^
		     a->index;
	return PAYLOAD_HEADER + t_mix(k) % 300;
}

static size_t payload_make(const struct ack *a, uint32_t iter,
			   unsigned char *buf)
{
	size_t len = payload_len(a, iter);
	uint32_t magic = PAYLOAD_MAGIC;

	t_fill(buf, len,
	       t_mix(iter) ^ ((uint64_t)a->round << 48) ^
		   ((uint64_t)a->thread << 36) ^ ((uint64_t)a->counter << 8) ^
		   a->index);
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &iter, 4);
	memcpy(buf + 8, &a->round, 2);
	memcpy(buf + 10, &a->thread, 2);
	memcpy(buf + 12, &a->counter, 4);
	memcpy(buf + 16, &a->index, 2);
	memcpy(buf + 18, &a->count, 2);
	memcpy(buf + 20, &(uint32_t){0}, 4);
	return len;
}

/* Decode an entry's payload; false unless it is exactly one we made. */
static bool payload_check(const void *data, size_t len, uint32_t iter,
			  struct ack *a)
{
	unsigned char want[PAYLOAD_HEADER + 300];
	uint32_t magic, it;

	if (len < PAYLOAD_HEADER)
		return false;
	memcpy(&magic, data, 4);
	memcpy(&it, (const char *)data + 4, 4);
	memcpy(&a->round, (const char *)data + 8, 2);
	memcpy(&a->thread, (const char *)data + 10, 2);
	memcpy(&a->counter, (const char *)data + 12, 4);
	memcpy(&a->index, (const char *)data + 16, 2);
	memcpy(&a->count, (const char *)data + 18, 2);
	if (magic != PAYLOAD_MAGIC || it != iter || a->count == 0 ||
	    a->index >= a->count || payload_len(a, iter) != len)
		return false;
	payload_make(a, iter, want);
	return memcmp(want, data, len) == 0;
}

/* ---- the child ---- */

struct child {
	const struct config *cfg;
	logstore_log *log;
	int fd; /* pipe */
	uint16_t round;
	uint16_t thread;
};

static void *child_thread(void *arg)
{
	struct child *c = arg;
	unsigned char buf[BATCH_MAX][PAYLOAD_HEADER + 300];
	struct logstore_batch_entry b[BATCH_MAX];
	uint64_t rng =
	    t_mix(c->cfg->seed ^ ((uint64_t)c->round << 20) ^ c->thread);

	for (uint32_t counter = 0;; counter++) {
		rng = t_mix(rng);
		uint16_t n = c->cfg->batches && rng % 3 == 0
				 ? (uint16_t)(2 + (rng >> 8) % (BATCH_MAX - 1))
				 : 1;
		bool durable = !c->cfg->buffered || (rng >> 16) % 4 != 0;
		struct ack a[BATCH_MAX];

		for (uint16_t i = 0; i < n; i++) {
			a[i] = (struct ack){.round = c->round,
					    .thread = c->thread,
					    .counter = counter,
					    .index = i,
					    .count = n,
					    .durable = durable};
			b[i] = (struct logstore_batch_entry){
			    .data = buf[i],
			    .len = payload_make(&a[i], c->cfg->iter, buf[i])};
		}
		int rc = logstore_log_append_batch(c->log, b, n,
						   durable ? LOGSTORE_DURABLE
							   : LOGSTORE_BUFFERED);
		if (rc) {
			fprintf(stderr, "child: append: %s: %s\n",
				logstore_strerror(rc), logstore_error_detail());
			_exit(4);
		}
		for (uint16_t i = 0; i < n; i++) {
			a[i].seq = b[i].seq;
			if (write(c->fd, &a[i], sizeof(a[i])) !=
			    (ssize_t)sizeof(a[i]))
				_exit(5);
		}
	}
	return NULL;
}

static _Noreturn void child_main(const struct config *cfg, const char *dir,
				 uint16_t round, int fd)
{
	struct logstore_options opts;
	logstore_log *log = NULL;
	struct child c[THREADS_MAX];
	pthread_t th[THREADS_MAX];

	t_options(&opts, NULL, cfg->segment_bytes);
	int rc = logstore_log_open(dir, &opts, &log);
	if (rc) {
		fprintf(stderr, "child: open: %s: %s\n", logstore_strerror(rc),
			logstore_error_detail());
		_exit(3);
	}
	if (cfg->compactor && logstore_compactor_start(log, 1000000, 0) != 0)
		_exit(6);
	for (unsigned t = 0; t < cfg->threads; t++) {
		c[t] = (struct child){.cfg = cfg,
				      .log = log,
				      .fd = fd,
				      .round = round,
				      .thread = (uint16_t)t};
		if (pthread_create(&th[t], NULL, child_thread, &c[t]) != 0)
			_exit(7);
	}
	for (;;)
		pause(); /* until SIGKILL */
}

/* ---- the parent ---- */

static unsigned failures;
static unsigned long total_acks;    /* acknowledged entries checked */
static unsigned long total_entries; /* entries read back and checked */

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			failures++;                                            \
			fprintf(stderr,                                        \
				"crash_harness:%d: check failed: ", __LINE__); \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			return -1;                                             \
		}                                                              \
	} while (0)

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct acks {
	struct ack *v;
	size_t n, cap;
};

static void acks_push(struct acks *l, const struct ack *a)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			abort();
	}
	l->v[l->n++] = *a;
}

/* Read whole acks from fd until want of them arrived or the pipe ends. */
static void read_acks(int fd, struct acks *l, size_t want, int64_t deadline)
{
	while (l->n < want && mono_ns() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		struct ack a;
		ssize_t n = read(fd, &a, sizeof(a));
		if (n == 0)
			return;
		if (n == (ssize_t)sizeof(a))
			acks_push(l, &a);
	}
}

static void drain_acks(int fd, struct acks *l)
{
	struct ack a;

	while (read(fd, &a, sizeof(a)) == (ssize_t)sizeof(a))
		acks_push(l, &a);
}

/*
 * Run one round: start the child, kill it, collect what it acknowledged.
 * Returns the child's exit status as waitpid reports it.
 */
static int run_round(const struct config *cfg, const char *dir, uint16_t round,
		     uint64_t *rng, struct acks *acks)
{
	int p[2];

	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_main(cfg, dir, round, p[1]);
	}
	close(p[1]);
	*rng = t_mix(*rng);
	size_t want = acks->n + *rng % (ACKS_MAX + 1);
	bool during_open = *rng % 8 == 0;
	*rng = t_mix(*rng);
	useconds_t pause_us = (useconds_t)(*rng % PAUSE_MAX_US);
	if (!during_open)
		read_acks(p[0], acks, want, mono_ns() + CHILD_BOUND_NS);
	usleep(pause_us);
	kill(pid, SIGKILL);
	int status = 0;
	waitpid(pid, &status, 0);
	drain_acks(p[0], acks);
	close(p[0]);
	return status;
}

struct seen {
	uint64_t seq;
	struct ack a;
};

/* Check the log against the acks; append one entry. 0 or -1. */
static int verify(const struct config *cfg, const char *dir,
		  const struct acks *acks, uint64_t *next_seq_out)
{
	struct logstore_options opts;
	logstore_log *log = NULL;
	logstore_reader *r = NULL;
	struct logstore_entry e;
	struct seen *seen = NULL;
	size_t n = 0, cap = 0;
	int rc;
	int64_t prev_time = INT64_MIN;
	uint32_t last_counter[ROUNDS][THREADS_MAX] = {{0}};
	bool have_counter[ROUNDS][THREADS_MAX] = {{false}};

	t_options(&opts, NULL, cfg->segment_bytes);
	rc = logstore_log_open(dir, &opts, &log);
	CHECK(rc == 0, "open after kill: %s: %s", logstore_strerror(rc),
	      logstore_error_detail());
	rc = logstore_reader_open(log, NULL, &r);
	CHECK(rc == 0, "reader: %s", logstore_strerror(rc));
	while ((rc = logstore_reader_next(r, &e)) == 0) {
		struct ack a;
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			seen = realloc(seen, cap * sizeof(*seen));
			if (!seen)
				abort();
		}
		CHECK(payload_check(e.data, e.len, cfg->iter, &a),
		      "entry seq %llu (%zu bytes) is not one that was "
		      "appended",
		      (unsigned long long)e.seq, e.len);
		CHECK(n == 0 || e.seq == seen[n - 1].seq + 1,
		      "seq %llu after %llu", (unsigned long long)e.seq,
		      (unsigned long long)seen[n - 1].seq);
		CHECK(cfg->compactor || n > 0 || e.seq == 1,
		      "first seq %llu without a compactor",
		      (unsigned long long)e.seq);
		CHECK(e.time_ns > prev_time, "time not increasing at seq %llu",
		      (unsigned long long)e.seq);
		prev_time = e.time_ns;
		if (a.thread != PARENT_THREAD) {
			CHECK(a.round < ROUNDS && a.thread < THREADS_MAX,
			      "seq %llu: bad round/thread",
			      (unsigned long long)e.seq);
			uint32_t *lc = &last_counter[a.round][a.thread];
			bool *hc = &have_counter[a.round][a.thread];
			/* One thread appends in order: its counters too. */
			CHECK(!*hc || a.counter >= *lc,
			      "seq %llu: thread %u counter %u after %u",
			      (unsigned long long)e.seq, a.thread, a.counter,
			      *lc);
			*lc = a.counter;
			*hc = true;
		}
		seen[n].seq = e.seq;
		seen[n].a = a;
		n++;
	}
	logstore_reader_close(r);
	CHECK(rc == LOGSTORE_END, "reader stopped: %s: %s",
	      logstore_strerror(rc), logstore_error_detail());
	total_entries += n;
	total_acks += acks->n;
	uint64_t first = n ? seen[0].seq : UINT64_MAX;
	uint64_t last = n ? seen[n - 1].seq : 0;

	/* Batches whole: an entry's batch mates sit next to it. */
	for (size_t i = 0; i < n; i++) {
		const struct ack *a = &seen[i].a;
		if (a->thread == PARENT_THREAD)
			continue;
		/* A batch never spans segments, so removal cannot cut one. */
		CHECK(i >= a->index, "batch of seq %llu cut at its start",
		      (unsigned long long)seen[i].seq);
		size_t start = i - a->index;
		CHECK(start + a->count <= n, "batch of seq %llu cut short",
		      (unsigned long long)seen[i].seq);
		const struct ack *s = &seen[start].a;
		CHECK(s->round == a->round && s->thread == a->thread &&
			  s->counter == a->counter && s->index == 0,
		      "seq %llu: its batch is not around it",
		      (unsigned long long)seen[i].seq);
	}
	/* Every acknowledged entry, under its seq. */
	for (size_t i = 0; i < acks->n; i++) {
		const struct ack *a = &acks->v[i];
		if (a->seq < first && cfg->compactor)
			continue;
		CHECK(a->seq >= first && a->seq <= last,
		      "acknowledged seq %llu (round %u thread %u) is missing; "
		      "log holds %llu..%llu",
		      (unsigned long long)a->seq, a->round, a->thread,
		      (unsigned long long)first, (unsigned long long)last);
		const struct ack *s = &seen[a->seq - first].a;
		CHECK(s->round == a->round && s->thread == a->thread &&
			  s->counter == a->counter && s->index == a->index,
		      "seq %llu holds another entry than acknowledged",
		      (unsigned long long)a->seq);
	}
	/* Appending works again. */
	struct ack mine = {
	    .thread = PARENT_THREAD, .counter = (uint32_t)last, .count = 1};
	unsigned char buf[PAYLOAD_HEADER + 300];
	uint64_t seq = 0;
	size_t len = payload_make(&mine, cfg->iter, buf);
	rc = logstore_log_append(log, buf, len, LOGSTORE_DURABLE, &seq, NULL);
	CHECK(rc == 0, "append after kill: %s: %s", logstore_strerror(rc),
	      logstore_error_detail());
	CHECK(n == 0 || seq == last + 1, "append got seq %llu after %llu",
	      (unsigned long long)seq, (unsigned long long)last);
	rc = logstore_log_close(log);
	CHECK(rc == 0, "close: %s", logstore_strerror(rc));
	*next_seq_out = seq + 1;
	free(seen);
	return 0;
}

static struct config make_config(uint64_t seed, uint32_t iter)
{
	uint64_t r = t_mix(seed);
	static const uint64_t sizes[] = {16384, 65536, 1u << 20};
	struct config cfg = {
	    .seed = seed,
	    .iter = iter,
	    .segment_bytes = sizes[r % 3],
	    .threads = 1 + (unsigned)((r >> 8) % THREADS_MAX),
	    .batches = (r >> 16) % 2 == 0,
	    .buffered = (r >> 24) % 4 == 0,
	    .compactor = (r >> 32) % 4 == 0,
	};
	return cfg;
}

static int iteration(uint64_t seed, uint32_t iter, unsigned long *kills)
{
	struct config cfg = make_config(seed, iter);
	struct acks acks = {0};
	char *dir = t_tempdir();
	uint64_t rng = seed;
	int result = 0;

	if (!dir)
		return -1;
	printf("iteration %u seed %llu (replay: LOGSTORE_CRASH_SEED=%llu): "
	       "segment %llu, %u threads%s%s%s\n",
	       iter, (unsigned long long)seed, (unsigned long long)seed,
	       (unsigned long long)cfg.segment_bytes, cfg.threads,
	       cfg.batches ? ", batches" : "", cfg.buffered ? ", buffered" : "",
	       cfg.compactor ? ", compactor" : "");
	fflush(stdout);
	for (uint16_t round = 0; round < ROUNDS && result == 0; round++) {
		int status = run_round(&cfg, dir, round, &rng, &acks);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
			failures++;
			fprintf(stderr,
				"round %u: the child ended by itself (status "
				"%#x)\n",
				round, status);
			result = -1;
			break;
		}
		(*kills)++;
		uint64_t next = 0;
		result = verify(&cfg, dir, &acks, &next);
	}
	if (result)
		fprintf(stderr,
			"FAILED: iteration %u, replay with "
			"LOGSTORE_CRASH_SEED=%llu\n",
			iter, (unsigned long long)seed);
	free(acks.v);
	t_rmrf(dir);
	free(dir);
	return result;
}

int main(void)
{
	unsigned long n =
	    t_env_count("LOGSTORE_CRASH_ITERATIONS", ITERATIONS_DEFAULT);
	const char *replay = getenv("LOGSTORE_CRASH_SEED");
	uint64_t base = t_mix((uint64_t)time(NULL) ^ (uint64_t)getpid());
	unsigned long kills = 0, failed = 0;

	if (t_uring_available() != 0)
		return T_SKIP;
	if (replay && *replay)
		n = 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t seed = replay && *replay ? strtoull(replay, NULL, 0)
						  : t_mix(base + i);
		failed += iteration(seed, (uint32_t)i, &kills) != 0;
	}
	printf("crash_harness: %lu iterations, %lu kills, %lu failed; "
	       "%lu checks of acknowledged entries, %lu entries read back\n",
	       n, kills, failed, total_acks, total_entries);
	/* A run that checked nothing proves nothing. */
	if (n >= 10 && total_acks == 0) {
		fprintf(stderr, "no acknowledged entry in %lu iterations\n", n);
		return 1;
	}
	return failed || failures ? 1 : 0;
}

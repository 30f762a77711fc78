/* SPDX-License-Identifier: MIT */
/*
 * Goal: the log across processes. (a) A writer process killed with
 * SIGKILL while four threads append durably loses no acknowledged entry:
 * after reopen every acknowledged entry is there byte for byte under its
 * sequence number, sequence numbers run 1..N without gaps, times increase
 * strictly, and appending works again. (b) A read-only reader in another
 * process follows a writer's appends across segment rollovers. (c) A
 * second writer in another process gets LOGSTORE_ELOCKED, and the lock
 * goes away with the writer.
 *
 * Method: children are this executable run again (fork + exec of
 * /proc/self/exe with a mode in argv[1]), so they start clean and hold
 * their own locks. The crash child reports each acknowledged append as a
 * "seq thread counter" line on a pipe; the parent kills it after a number
 * of acknowledgements drawn from the printed seed (a count, not a time)
 * and then drains the pipe. Payloads are deterministic functions of
 * (iteration, thread, counter) or of the sequence number, so every entry
 * can be checked on its own. Times come from fake clocks that never move,
 * so entry seq s has time T_TIME0 + s - 1 in every process. Waits are
 * bounded generously only to turn a hang into a failure.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG64 65536u
#define CRASH_THREADS 4
#define CRASH_ITERATIONS 5
#define CRASH_PER_THREAD_MAX 100000u
#define PAYLOAD_MAGIC 0x5054534cu /* "LSTP" */
#define PARENT_THREAD 99u
#define READER_ENTRIES 3000u
#define CHILD_BOUND_NS (60LL * T_SECOND) /* only against hangs */

enum child_exit {
	CHILD_OK = 0,
	CHILD_MISMATCH = 1,
	CHILD_TIMEOUT = 2,
	CHILD_OPEN_FAILED = 3,
	CHILD_APPEND_FAILED = 4,
	CHILD_LOCKED = 10,
	CHILD_USAGE = 64,
};

/* ---- payloads ---- */

static size_t crash_len(uint32_t iter, uint32_t t, uint32_t c)
{
	return 16 +
	       t_mix(((uint64_t)iter << 48) ^ ((uint64_t)t << 32) ^ c) % 200;
}

static size_t crash_payload(uint32_t iter, uint32_t t, uint32_t c,
			    unsigned char *buf)
{
	size_t len = crash_len(iter, t, c);

	t_fill(buf, len, ((uint64_t)iter << 48) ^ ((uint64_t)t << 32) ^ c ^ 7);
	memcpy(buf, &(uint32_t){PAYLOAD_MAGIC}, 4);
	memcpy(buf + 4, &iter, 4);
	memcpy(buf + 8, &t, 4);
	memcpy(buf + 12, &c, 4);
	return len;
}

/* Decode and check a crash payload; false if it is not one. */
static bool crash_check(const void *data, size_t len, uint32_t *iter,
			uint32_t *t, uint32_t *c)
{
	unsigned char want[256];
	uint32_t magic;

	if (len < 16)
		return false;
	memcpy(&magic, data, 4);
	memcpy(iter, (const char *)data + 4, 4);
	memcpy(t, (const char *)data + 8, 4);
	memcpy(c, (const char *)data + 12, 4);
	if (magic != PAYLOAD_MAGIC || crash_len(*iter, *t, *c) != len)
		return false;
	crash_payload(*iter, *t, *c, want);
	return memcmp(want, data, len) == 0;
}

static size_t seq_payload(uint64_t seq, unsigned char *buf)
{
	size_t len = 1 + t_mix(seq) % 400;

	t_fill(buf, len, seq * 31 + 5);
	return len;
}

/* ---- children ---- */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * T_SECOND + ts.tv_nsec;
}

static struct t_clock child_clock = {T_TIME0};

static int child_open(const char *dir, bool read_only, logstore_log **log)
{
	struct logstore_options opts;

	t_options(&opts, &child_clock, SEG64);
	opts.read_only = read_only;
	return logstore_log_open(dir, &opts, log);
}

struct crash_thread {
	logstore_log *log;
	int fd;
	uint32_t iter;
	uint32_t t;
};

static void *crash_thread_main(void *p)
{
	struct crash_thread *ct = p;
	unsigned char buf[256];
	char line[64];

	for (uint32_t c = 0; c < CRASH_PER_THREAD_MAX; c++) {
		size_t len = crash_payload(ct->iter, ct->t, c, buf);
		uint64_t seq = 0;
		int rc = logstore_log_append(ct->log, buf, len,
					     LOGSTORE_DURABLE, &seq, NULL);

		if (rc) {
			fprintf(stderr, "crash child: append: %s %s\n",
				logstore_strerror(rc), logstore_error_detail());
			_exit(CHILD_APPEND_FAILED);
		}
		/* One write of a short line: atomic on a pipe. */
		int n = snprintf(line, sizeof(line), "%llu %u %u\n",
				 (unsigned long long)seq, ct->t, c);
		if (write(ct->fd, line, (size_t)n) != n)
			_exit(CHILD_APPEND_FAILED);
	}
	return NULL;
}

/* argv: crash DIR FD ITER. Appends until killed. */
static int child_crash(char **argv)
{
	logstore_log *log;
	struct crash_thread ct[CRASH_THREADS];
	pthread_t th[CRASH_THREADS];
	int rc = child_open(argv[2], false, &log);

	if (rc) {
		fprintf(stderr, "crash child: open: %s\n",
			logstore_strerror(rc));
		return CHILD_OPEN_FAILED;
	}
	for (uint32_t t = 0; t < CRASH_THREADS; t++) {
		ct[t] = (struct crash_thread){.log = log,
					      .fd = atoi(argv[3]),
					      .iter = (uint32_t)atoi(argv[4]),
					      .t = t};
		pthread_create(&th[t], NULL, crash_thread_main, &ct[t]);
	}
	for (uint32_t t = 0; t < CRASH_THREADS; t++)
		pthread_join(th[t], NULL);
	logstore_log_close(log);
	return CHILD_OK;
}

/* argv: reader DIR FD M. Reads M entries, checking payload(seq). */
static int child_reader(char **argv)
{
	uint64_t want_total = strtoull(argv[4], NULL, 10);
	int64_t deadline = mono_ns() + CHILD_BOUND_NS;
	logstore_log *log;
	logstore_reader *reader;
	unsigned char want[512];
	uint64_t seen = 0;
	int64_t last_time = 0;
	int rc = child_open(argv[2], true, &log);

	if (rc) {
		fprintf(stderr, "reader child: open: %s\n",
			logstore_strerror(rc));
		return CHILD_OPEN_FAILED;
	}
	rc = logstore_reader_open(log, NULL, &reader);
	if (rc) {
		fprintf(stderr, "reader child: reader: %s\n",
			logstore_strerror(rc));
		return CHILD_OPEN_FAILED;
	}
	/* Tell the parent we are reading, then follow its appends. */
	if (write(atoi(argv[3]), "R", 1) != 1)
		return CHILD_USAGE;
	while (seen < want_total) {
		struct logstore_entry e;

		rc = logstore_reader_next(reader, &e);
		if (rc == LOGSTORE_END) {
			if (mono_ns() > deadline) {
				fprintf(stderr, "reader child: %llu entries\n",
					(unsigned long long)seen);
				return CHILD_TIMEOUT;
			}
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
			continue;
		}
		if (rc) {
			fprintf(stderr, "reader child: next: %s %s\n",
				logstore_strerror(rc), logstore_error_detail());
			return CHILD_MISMATCH;
		}
		size_t len = seq_payload(e.seq, want);

		if (e.seq != seen + 1 || e.len != len ||
		    memcmp(e.data, want, len) != 0 || e.time_ns <= last_time ||
		    e.time_ns != T_TIME0 + (int64_t)e.seq - 1) {
			fprintf(stderr, "reader child: entry %llu wrong\n",
				(unsigned long long)e.seq);
			return CHILD_MISMATCH;
		}
		last_time = e.time_ns;
		seen++;
	}
	logstore_reader_close(reader);
	logstore_log_close(log);
	return CHILD_OK;
}

/* argv: writer DIR. */
static int child_writer(char **argv)
{
	logstore_log *log;
	int rc = child_open(argv[2], false, &log);

	if (rc == LOGSTORE_ELOCKED)
		return CHILD_LOCKED;
	if (rc) {
		fprintf(stderr, "writer child: open: %s\n",
			logstore_strerror(rc));
		return CHILD_OPEN_FAILED;
	}
	rc = logstore_log_append(log, "child", 5, LOGSTORE_DURABLE, NULL, NULL);
	logstore_log_close(log);
	return rc ? CHILD_APPEND_FAILED : CHILD_OK;
}

/* ---- parent side ---- */

/* Run this executable again with args; keep_fd stays open in the child. */
static pid_t spawn(char *const args[], int close_fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (close_fd >= 0)
			close(close_fd);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status)) {
		print_error("child %d did not exit: status 0x%x\n", (int)pid,
			    status);
		fail();
	}
	return WEXITSTATUS(status);
}

struct ack {
	uint64_t seq;
	uint32_t iter;
	uint32_t t;
	uint32_t c;
};

struct acks {
	struct ack *v;
	size_t n;
	size_t cap;
};

static void acks_push(struct acks *a, struct ack ack)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 1024;
		a->v = realloc(a->v, a->cap * sizeof(*a->v));
		assert_non_null(a->v);
	}
	a->v[a->n++] = ack;
}

/*
 * Read "seq t c" lines from fd into acks until stop_at acks of this
 * iteration (0 = until EOF). Returns the acks of this iteration.
 */
static size_t read_acks(int fd, struct acks *acks, uint32_t iter,
			size_t stop_at, char *pending, size_t *pending_len)
{
	size_t got = 0;

	for (;;) {
		char *nl;

		while ((nl = memchr(pending, '\n', *pending_len)) != NULL) {
			struct ack ack = {.iter = iter};
			unsigned long long seq;

			*nl = 0;
			assert_int_equal(
			    sscanf(pending, "%llu %u %u", &seq, &ack.t, &ack.c),
			    3);
			ack.seq = seq;
			acks_push(acks, ack);
			got++;
			*pending_len -= (size_t)(nl + 1 - pending);
			memmove(pending, nl + 1, *pending_len);
			if (stop_at && got >= stop_at)
				return got;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		/* A generous bound, only to fail instead of hanging. */
		if (poll(&pfd, 1, 60000) <= 0) {
			print_error("no acknowledgement from the child\n");
			fail();
		}
		ssize_t n =
		    read(fd, pending + *pending_len, 4096 - *pending_len);

		assert_true(n >= 0);
		if (n == 0)
			return got;
		*pending_len += (size_t)n;
	}
}

/* Check the whole log after a crash; returns the number of entries. */
static uint64_t check_after_crash(logstore_log *log, const struct acks *acks,
				  uint32_t iterations)
{
	struct t_entries all = {0};
	uint32_t next[CRASH_ITERATIONS + 1][CRASH_THREADS + 1];
	int rc = t_read_all(log, NULL, &all);
	uint64_t n;

	memset(next, 0, sizeof(next));
	if (rc != LOGSTORE_END)
		print_error("read stopped: %s %s\n", logstore_strerror(rc),
			    logstore_error_detail());
	assert_int_equal(rc, LOGSTORE_END);
	for (size_t i = 0; i < all.n; i++) {
		uint32_t iter, t, c;

		assert_int_equal(all.v[i].seq, i + 1);
		assert_int_equal(all.v[i].time_ns, T_TIME0 + (int64_t)i);
		if (!crash_check(all.v[i].data, all.v[i].len, &iter, &t, &c)) {
			print_error("entry %zu is no payload of ours\n", i + 1);
			fail();
		}
		assert_true(iter <= iterations);
		if (t == PARENT_THREAD)
			t = CRASH_THREADS;
		assert_true(t <= CRASH_THREADS);
		/* A thread's entries are there in order, with no holes. */
		assert_int_equal(c, next[iter][t]);
		next[iter][t]++;
	}
	for (size_t k = 0; k < acks->n; k++) {
		const struct ack *ack = &acks->v[k];
		uint32_t iter, t, c;

		if (ack->seq == 0 || ack->seq > all.n) {
			print_error(
			    "acknowledged seq %llu lost (log has %zu)\n",
			    (unsigned long long)ack->seq, all.n);
			fail();
		}
		const struct t_entry *e = &all.v[ack->seq - 1];

		assert_true(crash_check(e->data, e->len, &iter, &t, &c));
		assert_int_equal(iter, ack->iter);
		assert_int_equal(t, ack->t);
		assert_int_equal(c, ack->c);
	}
	n = all.n;
	t_entries_free(&all);
	return n;
}

static void test_crash_keeps_acknowledged(void **state)
{
	struct t_ctx *ctx = *state;
	uint64_t seed = t_seed("crash");
	struct acks acks = {0};
	char pending[4096];

	for (uint32_t iter = 0; iter < CRASH_ITERATIONS; iter++) {
		size_t target = 200 + t_mix(seed + iter) % 500;
		size_t pending_len = 0;
		int fds[2];
		char fd_arg[16], iter_arg[16];

		assert_int_equal(pipe(fds), 0);
		snprintf(fd_arg, sizeof(fd_arg), "%d", fds[1]);
		snprintf(iter_arg, sizeof(iter_arg), "%u", iter);
		char *args[] = {"test_process", "crash",  ctx->dir,
				fd_arg,		iter_arg, NULL};
		pid_t pid = spawn(args, fds[0]);

		close(fds[1]);
		size_t got = read_acks(fds[0], &acks, iter, target, pending,
				       &pending_len);
		assert_int_equal(got, target);
		kill(pid, SIGKILL);
		int status = 0;

		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		/* Acknowledgements written before the kill count too. */
		got += read_acks(fds[0], &acks, iter, 0, pending, &pending_len);
		close(fds[0]);

		logstore_log *log = t_open_small(ctx, SEG64);
		uint64_t n = check_after_crash(log, &acks, iter);

		struct logstore_stats st;

		logstore_log_stats(log, &st);
		fprintf(stderr,
			"crash %u: %zu acknowledged, %llu in the log, "
			"%llu bytes of torn tail dropped\n",
			iter, got, (unsigned long long)n,
			(unsigned long long)st.recovery_bytes_dropped);
		/* Appending works again; the parent is one more "thread". */
		for (uint32_t c = 0; c < 3; c++) {
			unsigned char buf[256];
			size_t len = crash_payload(iter, PARENT_THREAD, c, buf);
			uint64_t seq = 0;

			t_assert_ok(
			    logstore_log_append(log, buf, len, 0, &seq, NULL));
			assert_int_equal(seq, n + 1 + c);
		}
		t_close(log);
	}
	logstore_log *log = t_open_small(ctx, SEG64);
	struct logstore_segment_info *segs;
	size_t nsegs;

	check_after_crash(log, &acks, CRASH_ITERATIONS - 1);
	segs = t_segments(log, &nsegs);
	assert_true(nsegs >= 2);
	free(segs);
	t_close(log);
	free(acks.v);
}

static void test_reader_in_other_process(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, SEG64);
	unsigned char buf[512];
	char fd_arg[16], count_arg[16];
	int fds[2];
	char ready = 0;
	size_t n;

	assert_int_equal(pipe(fds), 0);
	snprintf(fd_arg, sizeof(fd_arg), "%d", fds[1]);
	snprintf(count_arg, sizeof(count_arg), "%u", READER_ENTRIES);
	char *args[] = {"test_process", "reader",  ctx->dir,
			fd_arg,		count_arg, NULL};
	pid_t pid = spawn(args, fds[0]);

	close(fds[1]);
	struct pollfd pfd = {.fd = fds[0], .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, 60000), 1);
	if (read(fds[0], &ready, 1) != 1 || ready != 'R') {
		/* The child failed before reading: report its exit code. */
		assert_int_equal(wait_exit(pid), CHILD_OK);
		fail();
	}
	close(fds[0]);
	for (uint64_t i = 1; i <= READER_ENTRIES; i++) {
		size_t len = seq_payload(i, buf);
		uint64_t seq = 0;

		t_assert_ok(logstore_log_append(log, buf, len, LOGSTORE_DURABLE,
						&seq, NULL));
		assert_int_equal(seq, i);
	}
	free(t_segments(log, &n));
	assert_true(n >= 5);
	assert_int_equal(wait_exit(pid), CHILD_OK);
	t_close(log);
}

static void test_second_writer_in_other_process(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, SEG64);
	struct t_entries model = {0};
	char *args[] = {"test_process", "writer", ctx->dir, NULL};

	t_append_data(log, &model, "parent", 6);
	assert_int_equal(wait_exit(spawn(args, -1)), CHILD_LOCKED);
	t_close(log);
	/* Without a writer the child gets the lock and appends. */
	assert_int_equal(wait_exit(spawn(args, -1)), CHILD_OK);
	log = t_open_small(ctx, SEG64);
	t_entries_push(&model, 2, T_TIME0 + 1, "child", 5);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

int main(int argc, char **argv)
{
	if (argc >= 2) {
		if (strcmp(argv[1], "crash") == 0 && argc == 5)
			return child_crash(argv);
		if (strcmp(argv[1], "reader") == 0 && argc == 5)
			return child_reader(argv);
		if (strcmp(argv[1], "writer") == 0 && argc == 3)
			return child_writer(argv);
		/* Anything else: let cmocka see its own arguments. */
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crash_keeps_acknowledged,
					    t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_reader_in_other_process,
					    t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_second_writer_in_other_process,
					    t_setup, t_teardown),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("process", tests, NULL, NULL);
}

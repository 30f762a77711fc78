/* SPDX-License-Identifier: MIT */
/*
 * Goal: follow mode, logstore_reader_next_wait(): a reader that reaches
 * the end sleeps until the writer commits more, in this process and in
 * another one, and returns LOGSTORE_END when its timeout passes with
 * nothing new; the writer wakes only when a reader waits.
 *
 * Method: no test depends on timing to pass. Where a test needs the
 * reader asleep before the writer appends, it waits (without a time
 * limit that matters) for the waiter count in the LOCK mapping to go
 * up, so the append provably happens while the reader is counted as
 * waiting; then reader_wakeups must have moved. Timeouts are long (10 s)
 * and only bound a failure: a lost wake-up shows as LOGSTORE_END and
 * fails the test instead of hanging it. The process test forks a child
 * that follows the log through its own read-only handle and checks
 * every payload; the parent checks its exit status.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define FOLLOW_ENTRIES 200
#define WAIT_NS (10 * T_SECOND)

static size_t payload(uint64_t seq, unsigned char *buf)
{
	size_t len = 1 + t_mix(seq) % 200;
	t_fill(buf, len, seq * 7919);
	return len;
}

static void append_seq(logstore_log *log, uint64_t expect_seq)
{
	unsigned char buf[256];
	size_t len = payload(expect_seq, buf);
	uint64_t seq = 0;
	t_assert_ok(logstore_log_append(log, buf, len, 0, &seq, NULL));
	assert_int_equal(seq, expect_seq);
}

/*
 * Follow count entries from seq first, counting each in *progress;
 * returns failures. No cmocka.
 */
static unsigned follow(logstore_log *log, uint64_t first, unsigned count,
		       _Atomic unsigned *progress)
{
	logstore_reader *r;
	unsigned bad = 0;
	int rc = logstore_reader_open(log, NULL, &r);
	T_CHECK(rc == 0, "reader_open: %s", logstore_strerror(rc));
	if (rc)
		return 1;
	for (unsigned i = 0; i < count && !bad; i++) {
		struct logstore_entry e;
		unsigned char want[256];
		rc = logstore_reader_next_wait(r, &e, WAIT_NS);
		if (rc) {
			T_CHECK(0, "entry %u: %s (%s)", i,
				logstore_strerror(rc), logstore_error_detail());
			bad++;
			break;
		}
		size_t len = payload(first + i, want);
		if (e.seq != first + i || e.len != len ||
		    memcmp(e.data, want, len) != 0) {
			T_CHECK(0, "entry %u: seq %llu len %zu", i,
				(unsigned long long)e.seq, e.len);
			bad++;
		}
		atomic_fetch_add(progress, 1);
	}
	logstore_reader_close(r);
	return bad;
}

/*
 * Wait until the follower has read `read` entries and is counted as
 * waiting: it then waits for the next one, which is not appended yet,
 * so it stays counted until the writer's next commit wakes it. Stop
 * early if the child pid (0: none) died.
 */
static void await_asleep(const logstore_log *log, _Atomic unsigned *progress,
			 unsigned read, pid_t child)
{
	while (atomic_load(progress) < read ||
	       atomic_load(&log->shm->waiters) < 1) {
		if (child && waitpid(child, NULL, WNOHANG) != 0)
			return;
		sched_yield();
	}
}

static void test_timeout_without_entries(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	logstore_reader *r;
	struct logstore_entry e;
	t_assert_ok(logstore_reader_open(log, NULL, &r));
	t_assert_rc(logstore_reader_next_wait(r, &e, 0), LOGSTORE_END);
	t_assert_rc(logstore_reader_next_wait(r, &e, 1000000), LOGSTORE_END);
	append_seq(log, 1);
	/* An entry that is there comes back at once, with any timeout. */
	t_assert_ok(logstore_reader_next_wait(r, &e, 0));
	assert_int_equal(e.seq, 1);
	t_assert_rc(logstore_reader_next_wait(r, &e, 1000000), LOGSTORE_END);
	assert_int_equal(atomic_load(&log->shm->waiters), 0);
	t_assert_rc(logstore_reader_next_wait(NULL, &e, 0), -EINVAL);
	t_assert_rc(logstore_reader_next_wait(r, NULL, 0), -EINVAL);
	logstore_reader_close(r);
	t_close(log);
}

struct follower {
	logstore_log *log;
	_Atomic unsigned progress;
	unsigned bad;
};

static void *follower_main(void *p)
{
	struct follower *f = p;
	f->bad = follow(f->log, 1, FOLLOW_ENTRIES, &f->progress);
	return NULL;
}

static void test_thread_follows_appends(void **state)
{
	struct t_ctx *ctx = *state;
	/* Small segments: the follower crosses rollovers while it waits. */
	logstore_log *log = t_open_small(ctx, 64 * 1024);
	struct follower f = {.log = log};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, follower_main, &f), 0);
	for (uint64_t seq = 1; seq <= FOLLOW_ENTRIES; seq++) {
		if (seq % 50 == 1)
			await_asleep(log, &f.progress, (unsigned)seq - 1, 0);
		append_seq(log, seq);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(f.bad, 0);
	assert_int_equal(t_failures(), 0);
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	/* Each of the 4 appends made while it slept woke it. */
	assert_true(st.reader_wakeups >= 4);
	assert_true(st.reader_wakeups <= st.batches_written);
	assert_int_equal(atomic_load(&log->shm->waiters), 0);
	t_close(log);
}

static void test_no_wake_without_waiters(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	for (uint64_t seq = 1; seq <= 20; seq++)
		append_seq(log, seq);
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	assert_int_equal(st.reader_wakeups, 0);
	t_close(log);
}

static void test_other_process_follows(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 64 * 1024);
	append_seq(log, 1);
	_Atomic unsigned *progress =
	    mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(progress != MAP_FAILED);
	atomic_store(progress, 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct logstore_options opts;
		t_options(&opts, NULL, 0);
		opts.read_only = true;
		logstore_log *ro;
		if (logstore_log_open(ctx->dir, &opts, &ro) != 0)
			_exit(3);
		unsigned bad = follow(ro, 1, FOLLOW_ENTRIES, progress);
		logstore_log_close(ro);
		_exit(bad ? 1 : 0);
	}
	for (uint64_t seq = 2; seq <= FOLLOW_ENTRIES; seq++) {
		/* The child sleeps on the futex in its own mapping. */
		if (seq % 50 == 0)
			await_asleep(log, progress, (unsigned)seq - 1, pid);
		append_seq(log, seq);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	assert_true(st.reader_wakeups >= 4);
	munmap(progress, sizeof(*progress));
	t_close(log);
}

/*
 * A read-only handle on a log whose LOCK is gone has no futex: it polls,
 * times out, and picks up LOCK and the entries once a writer returns.
 */
static void test_polling_without_lock_file(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	append_seq(log, 1);
	t_close(log);
	char *lock = t_path(ctx->dir, "LOCK");
	assert_int_equal(unlink(lock), 0);

	struct logstore_options opts;
	t_options(&opts, &ctx->clock, 0);
	opts.read_only = true;
	logstore_log *ro = t_open(ctx->dir, &opts);
	assert_null(ro->shm);
	logstore_reader *r;
	struct logstore_entry e;
	t_assert_ok(logstore_reader_open(ro, NULL, &r));
	t_assert_ok(logstore_reader_next_wait(r, &e, 0));
	assert_int_equal(e.seq, 1);
	t_assert_rc(logstore_reader_next_wait(r, &e, 3000000), LOGSTORE_END);

	log = t_open_small(ctx, 0);
	append_seq(log, 2);
	t_assert_ok(logstore_reader_next_wait(r, &e, WAIT_NS));
	assert_int_equal(e.seq, 2);
	logstore_reader_close(r);
	t_close(ro);
	t_close(log);
	free(lock);
}

int main(void)
{
	int rc = t_uring_available();
	if (rc)
		return rc;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_timeout_without_entries,
					    t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_thread_follows_appends,
					    t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_no_wake_without_waiters,
					    t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_other_process_follows, t_setup,
					    t_teardown),
	    cmocka_unit_test_setup_teardown(test_polling_without_lock_file,
					    t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

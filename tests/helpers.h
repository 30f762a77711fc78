/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers (t_ prefix): temporary log directories, a fake
 * clock for deterministic times, opening a log with small segments,
 * reading a whole log back, comparing it with what was appended, file
 * corruption, and the io_uring availability check that turns a kernel
 * without io_uring into a skipped test (exit code 77).
 *
 * Helpers that assert use cmocka and must only run inside a cmocka test.
 * The ones marked "no cmocka" may also run in a child process. Tests call
 * the asserting helpers through the macros without the trailing
 * underscore (t_open, t_append, t_assert_log, ...), which make a failure
 * inside the helper point at the test's line.
 */
#ifndef LOGSTORE_TEST_HELPERS_H
#define LOGSTORE_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "logstore.h"

#define T_SKIP 77 /* exit code CTest maps to SKIP */

/* 2006-01-02T15:04:05Z in ns: the start of every fake clock. */
#define T_TIME0 1136214245000000000LL
#define T_SECOND 1000000000LL

/* A clock that only moves when the test moves it. */
struct t_clock {
	int64_t now; /* ns; read and written atomically */
};

int64_t t_clock_ns(void *clock_ctx); /* the clock_ns hook; ctx = t_clock */
void t_clock_set(struct t_clock *clock, int64_t now);
void t_clock_advance(struct t_clock *clock, int64_t delta_ns);
int64_t t_clock_get(struct t_clock *clock);

/* Per-test state for cmocka setup/teardown: a fresh dir and a clock. */
struct t_ctx {
	char *dir;	      /* fresh directory under /tmp */
	struct t_clock clock; /* starts at T_TIME0 */
};

int t_setup(void **state);    /* allocates a t_ctx */
int t_teardown(void **state); /* removes the dir, clears faults */

/* mkdtemp under /tmp; malloc'ed path or NULL. No cmocka. */
char *t_tempdir(void);
/* rm -rf; 0 or -errno. No cmocka. */
int t_rmrf(const char *path);
/* dir + "/" + name as a malloc'ed string. No cmocka. */
char *t_path(const char *dir, const char *name);

/*
 * Options with the fake clock (clock may be NULL for the real clock) and
 * segment_bytes_max = segment_bytes (0 = default). No cmocka.
 */
void t_options(struct logstore_options *opts, struct t_clock *clock,
	       uint64_t segment_bytes);
/* Open or fail the test. */
logstore_log *t_open_(const char *dir, const struct logstore_options *opts);
/* t_options + t_open. */
logstore_log *t_open_small_(struct t_ctx *ctx, uint64_t segment_bytes);
/* Close or fail the test. */
void t_close_(logstore_log *log);

/* Bytes of the data region of a segment of capacity bytes. */
uint64_t t_data_bytes(uint64_t segment_bytes);

/* Deterministic bytes from a seed. No cmocka. */
void t_fill(void *buf, size_t len, uint64_t seed);
uint64_t t_mix(uint64_t x); /* splitmix64 step */

/* A list of entries with owned copies of their payloads. */
struct t_entry {
	uint64_t seq;
	int64_t time_ns;
	unsigned char *data; /* malloc'ed */
	size_t len;
};

struct t_entries {
	struct t_entry *v;
	size_t n;
	size_t cap;
};

void t_entries_push_(struct t_entries *list, uint64_t seq, int64_t time_ns,
		     const void *data, size_t len);
void t_entries_free(struct t_entries *list);

/*
 * Read every entry from start (NULL = oldest) into out. Returns the code
 * that stopped the reader: LOGSTORE_END, or an error (after the entries
 * read before it). Fails the test if the reader cannot be opened.
 */
int t_read_all_(logstore_log *log, const struct logstore_start *start,
		struct t_entries *out);

/*
 * Append len bytes made from seed with the automatic time and the log's
 * durability; fail the test on error; record the entry in model.
 */
void t_append_(logstore_log *log, struct t_entries *model, size_t len,
	       uint64_t seed);
/* The same with data given. */
void t_append_data_(logstore_log *log, struct t_entries *model,
		    const void *data, size_t len);

/*
 * Read the log from start and check that it holds exactly
 * model->v[first..n) (seq, time, length, bytes), then LOGSTORE_END.
 */
void t_assert_log_(logstore_log *log, const struct logstore_start *start,
		   const struct t_entries *model, size_t first);

/* Start helpers. */
struct logstore_start t_start_time(int64_t time_ns);
struct logstore_start t_start_seq(uint64_t seq);

/* Segment files ("*.seg" only) of dir, sorted; returns the count. */
size_t t_seg_files(const char *dir, char (*names)[64], size_t cap);
/*
 * A writer just opened on dir has adopted the prepared file named
 * prepared (format.h "Recovery"): the log has segs segment files and no
 * file of that name, holds exactly model, and appends the next seq.
 */
void t_assert_adopted_(logstore_log *log, const char *dir,
		       const char *prepared, size_t segs,
		       struct t_entries *model);
/* Files of dir whose name starts with prefix; the first one in *first. */
size_t t_files_with_prefix(const char *dir, const char *prefix,
			   char (*first)[64]);
/* Size of a file, or -errno. No cmocka. */
int64_t t_file_size(const char *path);
int t_file_exists(const char *path);

/* File corruption and raw access. 0 or -errno. No cmocka. */
int t_flip_bit(const char *path, uint64_t offset, unsigned bit);
int t_truncate(const char *path, uint64_t len);
int t_write_at(const char *path, const void *buf, size_t len, uint64_t off);
int t_read_at(const char *path, void *buf, size_t len, uint64_t off);
int t_write_file(const char *path, const void *buf, size_t len);

/* 0 if io_uring works, T_SKIP if the kernel lacks or forbids it. */
int t_uring_available(void);

/*
 * Make the log in dir look as if its writer had died instead of closing:
 * remove the clean-close seal of the newest segment (format.h), so the
 * next open recovers it by scanning, as after a crash. Tests that damage
 * a closed log to imitate a crash call this first. Returns 0 or -1.
 */
int t_forget_clean_close(const char *dir);

/*
 * Abandon a writer handle as a crash would: nothing more is written, no
 * sync, no seal; the lock, the mappings and the memory are released so
 * the log can be opened again in this process. What reached the page
 * cache stays there (a process crash); ls_fault_power_loss() can then
 * take away what was not fsynced (a power loss). No cmocka.
 */
void t_crash_close(logstore_log *log);

/*
 * An iteration count from the environment variable name, or dflt when it
 * is unset or empty. No cmocka.
 */
unsigned long t_env_count(const char *name, unsigned long dflt);

/* Segment list of a log, malloc'ed; fails the test on error. */
struct logstore_segment_info *t_segments_(logstore_log *log, size_t *count);

/*
 * Failures inside the helpers below are reported at the line of the test
 * that called them: each macro records its caller's file and line.
 */
extern __thread const char *t_at_file;
extern __thread int t_at_line;
#define T_AT_(expr) (t_at_file = __FILE__, t_at_line = __LINE__, (expr))
#define t_open(...) T_AT_(t_open_(__VA_ARGS__))
#define t_assert_adopted(...) T_AT_(t_assert_adopted_(__VA_ARGS__))
#define t_open_small(...) T_AT_(t_open_small_(__VA_ARGS__))
#define t_close(...) T_AT_(t_close_(__VA_ARGS__))
#define t_entries_push(...) T_AT_(t_entries_push_(__VA_ARGS__))
#define t_read_all(...) T_AT_(t_read_all_(__VA_ARGS__))
#define t_append(...) T_AT_(t_append_(__VA_ARGS__))
#define t_append_data(...) T_AT_(t_append_data_(__VA_ARGS__))
#define t_assert_log(...) T_AT_(t_assert_log_(__VA_ARGS__))
#define t_segments(...) T_AT_(t_segments_(__VA_ARGS__))

/* Check a return code; on mismatch print both names and the detail. */
#define t_assert_rc(expr, expected)                                            \
	do {                                                                   \
		int t_rc_ = (expr);                                            \
		int t_ex_ = (expected);                                        \
		if (t_rc_ != t_ex_) {                                          \
			print_error("%s = %d (%s), expected %d (%s); "         \
				    "detail: \"%s\"\n",                        \
				    #expr, t_rc_, logstore_strerror(t_rc_),    \
				    t_ex_, logstore_strerror(t_ex_),           \
				    logstore_error_detail());                  \
			fail();                                                \
		}                                                              \
	} while (0)

#define t_assert_ok(expr) t_assert_rc(expr, 0)

/*
 * Assertions in threads and child processes other than cmocka's test
 * thread: count the failure and print it; the test thread asserts
 * t_failures() == 0 afterwards.
 */
void t_fail_note(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
unsigned t_failures(void);
#define T_CHECK(cond, ...)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			t_fail_note(__FILE__, __LINE__, __VA_ARGS__);          \
	} while (0)

/* Print the seed a randomized test uses, so a failure can be replayed. */
uint64_t t_seed(const char *test_name);

#endif

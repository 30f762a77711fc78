/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers; see helpers.h. Everything here is plain POSIX
 * except t_uring_available(), which asks liburing directly so that the
 * skip decision does not depend on the engine under test.
 */
#include "helpers.h"
#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"
#include "sys.h"

__thread const char *t_at_file = "?";
__thread int t_at_line;

/* cmocka's checks, reported at the calling test's line. */
#define H_EQ(a, b)                                                             \
	_assert_int_equal(cast_to_largest_integral_type(a),                    \
			  cast_to_largest_integral_type(b), t_at_file,         \
			  t_at_line)
#define H_TRUE(c)                                                              \
	_assert_true(cast_to_largest_integral_type(c), #c, t_at_file, t_at_line)
#define H_NON_NULL(p) H_TRUE((p) != NULL)
#define H_MEM(a, b, n) _assert_memory_equal(a, b, n, t_at_file, t_at_line)
#define H_OK(expr) h_ok(expr, #expr)

static void h_ok(int rc, const char *expr)
{
	if (rc == 0)
		return;
	print_error("%s = %d (%s), expected 0; detail: \"%s\"\n", expr, rc,
		    logstore_strerror(rc), logstore_error_detail());
	_fail(t_at_file, t_at_line);
}

int64_t t_clock_ns(void *clock_ctx)
{
	struct t_clock *clock = clock_ctx;

	return __atomic_load_n(&clock->now, __ATOMIC_SEQ_CST);
}

void t_clock_set(struct t_clock *clock, int64_t now)
{
	__atomic_store_n(&clock->now, now, __ATOMIC_SEQ_CST);
}

void t_clock_advance(struct t_clock *clock, int64_t delta_ns)
{
	__atomic_add_fetch(&clock->now, delta_ns, __ATOMIC_SEQ_CST);
}

int64_t t_clock_get(struct t_clock *clock)
{
	return t_clock_ns(clock);
}

char *t_tempdir(void)
{
	char *dir = strdup("/tmp/logstore-test-XXXXXX");

	if (!dir)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

static int rmrf_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) ? -errno : 0;
}

int t_rmrf(const char *path)
{
	if (access(path, F_OK) != 0)
		return 0;
	return nftw(path, rmrf_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *t_path(const char *dir, const char *name)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *path = malloc(len);

	if (path)
		snprintf(path, len, "%s/%s", dir, name);
	return path;
}

int t_setup(void **state)
{
	struct t_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -1;
	ctx->dir = t_tempdir();
	if (!ctx->dir) {
		free(ctx);
		return -1;
	}
	t_clock_set(&ctx->clock, T_TIME0);
	*state = ctx;
	return 0;
}

int t_teardown(void **state)
{
	struct t_ctx *ctx = *state;

	ls_fault_clear();
	if (!ctx)
		return 0;
	t_rmrf(ctx->dir);
	free(ctx->dir);
	free(ctx);
	*state = NULL;
	return 0;
}

void t_options(struct logstore_options *opts, struct t_clock *clock,
	       uint64_t segment_bytes)
{
	logstore_options_init(opts);
	opts->segment_bytes_max = segment_bytes;
	if (clock) {
		opts->clock_ns = t_clock_ns;
		opts->clock_ctx = clock;
	}
}

logstore_log *t_open_(const char *dir, const struct logstore_options *opts)
{
	logstore_log *log = NULL;

	H_OK(logstore_log_open(dir, opts, &log));
	H_NON_NULL(log);
	return log;
}

logstore_log *t_open_small_(struct t_ctx *ctx, uint64_t segment_bytes)
{
	struct logstore_options opts;

	t_options(&opts, &ctx->clock, segment_bytes);
	return t_open_(ctx->dir, &opts);
}

void t_close_(logstore_log *log)
{
	H_OK(logstore_log_close(log));
}

uint64_t t_data_bytes(uint64_t segment_bytes)
{
	return ls_index_offset(segment_bytes) - LS_HEADER_BYTES;
}

uint64_t t_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void t_fill(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t state = t_mix(seed);

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			state = t_mix(state + i);
		p[i] = (unsigned char)(state >> (8 * (i % 8)));
	}
}

void t_entries_push_(struct t_entries *list, uint64_t seq, int64_t time_ns,
		     const void *data, size_t len)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		struct t_entry *v = realloc(list->v, cap * sizeof(*v));

		H_NON_NULL(v);
		list->v = v;
		list->cap = cap;
	}
	struct t_entry *e = &list->v[list->n++];

	e->seq = seq;
	e->time_ns = time_ns;
	e->len = len;
	e->data = malloc(len ? len : 1);
	H_NON_NULL(e->data);
	if (len)
		memcpy(e->data, data, len);
}

void t_entries_free(struct t_entries *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i].data);
	free(list->v);
	memset(list, 0, sizeof(*list));
}

int t_read_all_(logstore_log *log, const struct logstore_start *start,
		struct t_entries *out)
{
	logstore_reader *reader = NULL;
	struct logstore_entry entry;
	int rc;

	H_OK(logstore_reader_open(log, start, &reader));
	while ((rc = logstore_reader_next(reader, &entry)) == 0)
		t_entries_push_(out, entry.seq, entry.time_ns, entry.data,
				entry.len);
	logstore_reader_close(reader);
	return rc;
}

void t_append_data_(logstore_log *log, struct t_entries *model,
		    const void *data, size_t len)
{
	uint64_t seq = 0;
	int64_t time_ns = 0;

	H_OK(logstore_log_append(log, data, len, LOGSTORE_DURABILITY_DEFAULT,
				 &seq, &time_ns));
	if (model && model->n) {
		H_EQ(seq, model->v[model->n - 1].seq + 1);
		H_TRUE(time_ns > model->v[model->n - 1].time_ns);
	}
	if (model)
		t_entries_push_(model, seq, time_ns, data, len);
}

void t_append_(logstore_log *log, struct t_entries *model, size_t len,
	       uint64_t seed)
{
	unsigned char *buf = malloc(len ? len : 1);

	H_NON_NULL(buf);
	t_fill(buf, len, seed);
	t_append_data_(log, model, buf, len);
	free(buf);
}

void t_assert_log_(logstore_log *log, const struct logstore_start *start,
		   const struct t_entries *model, size_t first)
{
	struct t_entries got = {0};
	int rc = t_read_all_(log, start, &got);

	if (rc != LOGSTORE_END)
		print_error("reader stopped with %d (%s) after %zu entries: "
			    "%s\n",
			    rc, logstore_strerror(rc), got.n,
			    logstore_error_detail());
	H_EQ(rc, LOGSTORE_END);
	H_EQ(got.n, model->n - first);
	for (size_t i = 0; i < got.n; i++) {
		const struct t_entry *want = &model->v[first + i];
		const struct t_entry *have = &got.v[i];

		if (have->seq != want->seq || have->time_ns != want->time_ns ||
		    have->len != want->len)
			print_error("entry %zu read: seq %llu time %lld len "
				    "%zu; appended: seq %llu time %lld len "
				    "%zu\n",
				    i, (unsigned long long)have->seq,
				    (long long)have->time_ns, have->len,
				    (unsigned long long)want->seq,
				    (long long)want->time_ns, want->len);

		H_EQ(have->seq, want->seq);
		H_EQ(have->time_ns, want->time_ns);
		H_EQ(have->len, want->len);
		if (want->len)
			H_MEM(have->data, want->data, want->len);
	}
	t_entries_free(&got);
}

struct logstore_start t_start_time(int64_t time_ns)
{
	struct logstore_start start = {.kind = LOGSTORE_START_TIME,
				       .time_ns = time_ns};
	return start;
}

struct logstore_start t_start_seq(uint64_t seq)
{
	struct logstore_start start = {.kind = LOGSTORE_START_SEQ, .seq = seq};
	return start;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

size_t t_seg_files(const char *dir, char (*names)[64], size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	size_t suffix = strlen(LS_SEGMENT_SUFFIX);

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len <= suffix ||
		    strcmp(de->d_name + len - suffix, LS_SEGMENT_SUFFIX) != 0)
			continue;
		if (n < cap)
			snprintf(names[n], 64, "%s", de->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n < cap ? n : cap, 64, name_cmp);
	return n;
}

void t_assert_adopted_(logstore_log *log, const char *dir,
		       const char *prepared, size_t segs,
		       struct t_entries *model)
{
	char names[8][64];
	char *path = t_path(dir, prepared);

	assert_int_equal(t_seg_files(dir, names, 8), segs);
	assert_false(t_file_exists(path));
	free(path);
	t_assert_log_(log, NULL, model, 0);
	uint64_t next = model->n ? model->v[model->n - 1].seq + 1 : 1;
	t_append_(log, model, 1000, 20);
	assert_int_equal(model->v[model->n - 1].seq, next);
}

size_t t_files_with_prefix(const char *dir, const char *prefix,
			   char (*first)[64])
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n++ == 0 && first)
			snprintf(*first, 64, "%.63s", de->d_name);
	}
	closedir(d);
	return n;
}

int64_t t_file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -errno;
	return st.st_size;
}

int t_file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int t_write_at(const char *path, const void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_WRONLY);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		rc = -EIO;
	else if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

int t_read_at(const char *path, void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_RDONLY);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, buf, len, (off_t)off) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	return rc;
}

int t_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	return rc;
}

int t_flip_bit(const char *path, uint64_t offset, unsigned bit)
{
	unsigned char byte;
	int rc = t_read_at(path, &byte, 1, offset);

	if (rc)
		return rc;
	byte ^= (unsigned char)(1u << (bit & 7));
	return t_write_at(path, &byte, 1, offset);
}

int t_truncate(const char *path, uint64_t len)
{
	return truncate(path, (off_t)len) ? -errno : 0;
}

int t_uring_available(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc == -ENOSYS || rc == -EPERM) {
		fprintf(stderr, "io_uring unavailable (%s): skipping\n",
			strerror(-rc));
		return T_SKIP;
	}
	if (rc == 0)
		io_uring_queue_exit(&ring);
	return 0;
}

struct logstore_segment_info *t_segments_(logstore_log *log, size_t *count)
{
	/*
	 * A rollover or retention may change the count between the two
	 * calls: size again until the array held every segment.
	 */
	for (;;) {
		size_t n = 0, again = 0;
		H_OK(logstore_log_segments(log, NULL, 0, &n));
		struct logstore_segment_info *infos =
		    calloc(n + 1, sizeof(*infos));
		H_NON_NULL(infos);
		H_OK(logstore_log_segments(log, infos, n, &again));
		if (again <= n) {
			*count = again;
			return infos;
		}
		free(infos);
	}
}

static unsigned t_failure_count;

void t_fail_note(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&t_failure_count, 1, __ATOMIC_SEQ_CST);
	flockfile(stderr);
	fprintf(stderr, "%s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

unsigned t_failures(void)
{
	return __atomic_load_n(&t_failure_count, __ATOMIC_SEQ_CST);
}

uint64_t t_seed(const char *test_name)
{
	const char *env = getenv("LOGSTORE_TEST_SEED");
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = t_mix((uint64_t)ts.tv_nsec ^ (uint64_t)getpid() ^
			     ((uint64_t)ts.tv_sec << 20));
	}
	fprintf(stderr, "%s: seed %llu (replay: LOGSTORE_TEST_SEED=%llu)\n",
		test_name, (unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

int t_forget_clean_close(const char *dir)
{
	char (*names)[64] = calloc(4096, 64);
	size_t n = names ? t_seg_files(dir, names, 4096) : 0;
	unsigned char seal[64];
	unsigned char zeros[64] = {0};

	if (n == 0 || n > 4096) {
		free(names);
		return -1;
	}
	char *path = t_path(dir, names[n - 1]);
	int rc = t_read_at(path, seal, sizeof(seal), LS_SEAL_OFFSET);
	if (rc == 0 && memcmp(seal, "LGSTSEAL", 8) == 0 &&
	    (ls_get_u32(seal + 52) & LS_SEAL_REOPENABLE))
		rc = t_write_at(path, zeros, sizeof(zeros), LS_SEAL_OFFSET);
	free(path);
	free(names);
	return rc;
}

void t_crash_close(logstore_log *log)
{
	/* A failed log's close neither syncs nor seals: it only releases. */
	pthread_mutex_lock(&log->mu);
	if (!log->failed)
		log->failed = LOGSTORE_EFAILED;
	pthread_mutex_unlock(&log->mu);
	logstore_log_close(log);
}

unsigned long t_env_count(const char *name, unsigned long dflt)
{
	const char *env = getenv(name);

	if (!env || !*env)
		return dflt;
	return strtoul(env, NULL, 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * Goal: damaged segment files never crash the engine and never make it
 * return wrong bytes. Random bit flips, zeroed ranges, garbage written
 * over or appended after, and truncations, aimed at the header, the
 * seal, the records or the index of a segment (or anywhere in it), give
 * one of: LOGSTORE_ECORRUPT naming the segment (at open, or at the read
 * that meets the damage, with its offset); or every entry intact (damage
 * in derived data: seal, index, bytes past the file's capacity); or, in
 * the last segment only, a torn tail cut by recovery, which keeps every
 * record that ends before the first damaged byte.
 *
 * Method: two logs are built once through the API (16 KiB segments, a
 * fake clock, batches, several sealed segments) - one closed cleanly, one
 * abandoned as after a crash - and their files kept in memory together
 * with where each entry's record lies. Each iteration restores one of
 * them into a fresh directory, damages one segment file as its seed says,
 * opens it as the writer or read-only, and reads everything, checking
 * every returned entry against the model. Each iteration prints its
 * seed; LOGSTORE_CORRUPTION_SEED=<seed> replays one,
 * LOGSTORE_CORRUPTION_ITERATIONS=<n> sets the count.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "sys.h"

#define SEG16 16384u
#define ITERATIONS_DEFAULT 400
#define FILES_MAX 32

struct file_image {
	char name[256]; /* as long as a d_name */
	unsigned char *bytes;
	size_t len;
};

struct record_place {
	int file; /* index in files */
	uint64_t off;
	uint64_t end;
};

struct image {
	struct file_image files[FILES_MAX];
	size_t nfiles;
	int last_seg; /* index of the newest segment file */
	struct t_entries model;
	struct record_place *where; /* per model entry */
	size_t batch_last[512];	    /* per model entry: last of its batch */
};

static struct image images[2]; /* 0: closed cleanly, 1: crashed */

static int read_file(const char *path, struct file_image *f)
{
	int64_t size = t_file_size(path);

	if (size < 0)
		return (int)size;
	f->len = (size_t)size;
	f->bytes = malloc(f->len ? f->len : 1);
	if (!f->bytes)
		return -ENOMEM;
	return t_read_at(path, f->bytes, f->len, 0);
}

static int snapshot(const char *dir, struct image *im)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL && im->nfiles < FILES_MAX) {
		if (de->d_name[0] == '.')
			continue;
		struct file_image *f = &im->files[im->nfiles++];
		snprintf(f->name, sizeof(f->name), "%s", de->d_name);
		char *path = t_path(dir, de->d_name);
		int rc = read_file(path, f);
		free(path);
		if (rc)
			return rc;
	}
	closedir(d);
	im->last_seg = -1;
	for (size_t i = 0; i < im->nfiles; i++)
		if (strstr(im->files[i].name, ".seg") &&
		    (im->last_seg < 0 ||
		     strcmp(im->files[i].name, im->files[im->last_seg].name) >
			 0))
			im->last_seg = (int)i;
	return 0;
}

static int file_of_seq(const struct image *im, uint64_t seq)
{
	int best = -1;
	uint64_t best_first = 0;

	for (size_t i = 0; i < im->nfiles; i++) {
		uint64_t first = strtoull(im->files[i].name, NULL, 10);
		if (strstr(im->files[i].name, ".seg") && first <= seq &&
		    (best < 0 || first > best_first)) {
			best = (int)i;
			best_first = first;
		}
	}
	return best;
}

/* Where each entry's record lies, walking the records of each file. */
static void locate_records(struct image *im)
{
	const struct t_entries *m = &im->model;
	int file = -1;
	uint64_t off = 0;

	im->where = calloc(m->n, sizeof(*im->where));
	assert_non_null(im->where);
	for (size_t i = 0; i < m->n; i++) {
		int f = file_of_seq(im, m->v[i].seq);
		assert_true(f >= 0);
		if (f != file) {
			file = f;
			off = LS_HEADER_BYTES;
		}
		const unsigned char *p = im->files[f].bytes + off;
		assert_int_equal(ls_get_u64(p + 8), m->v[i].seq);
		im->where[i].file = f;
		im->where[i].off = off;
		off += ls_record_bytes(m->v[i].len);
		im->where[i].end = off;
	}
}

static void build_image(struct image *im, bool crash)
{
	char *dir = t_tempdir();
	struct t_clock clock = {T_TIME0};
	struct logstore_options opts;
	unsigned char buf[4][1500];
	struct logstore_batch_entry b[4];

	assert_non_null(dir);
	t_options(&opts, &clock, SEG16);
	logstore_log *log = t_open(dir, &opts);
	for (uint64_t i = 0; i < 60; i++) {
		size_t len = 1 + t_mix(i) % 1500;
		t_clock_advance(&clock, 1 + (int64_t)(t_mix(i + 99) % 1000));
		if (i % 7 == 3) {
			for (int k = 0; k < 3; k++) {
				t_fill(buf[k], len / 3, i * 4 + (uint64_t)k);
				b[k] = (struct logstore_batch_entry){
				    .data = buf[k], .len = len / 3};
			}
			t_assert_ok(logstore_log_append_batch(
			    log, b, 3, LOGSTORE_DURABLE));
			for (int k = 0; k < 3; k++) {
				t_entries_push(&im->model, b[k].seq,
					       b[k].time_ns, b[k].data,
					       b[k].len);
				im->batch_last[im->model.n - 1] =
				    im->model.n - 1 + (size_t)(2 - k);
			}
			continue;
		}
		t_append(log, &im->model, len, i);
		im->batch_last[im->model.n - 1] = im->model.n - 1;
	}
	if (crash)
		t_crash_close(log);
	else
		t_close(log);
	assert_int_equal(snapshot(dir, im), 0);
	assert_true(im->nfiles >= 5);
	assert_true(im->model.n < 512);
	locate_records(im);
	t_rmrf(dir);
	free(dir);
}

static int setup_images(void **state)
{
	build_image(&images[0], false);
	build_image(&images[1], true);
	return t_setup(state);
}

static int teardown_images(void **state)
{
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < images[k].nfiles; i++)
			free(images[k].files[i].bytes);
		t_entries_free(&images[k].model);
		free(images[k].where);
	}
	return t_teardown(state);
}

/* ---- damage ---- */

enum damage_kind { FLIP, ZERO, GARBAGE, TRUNCATE, APPEND, KIND_COUNT };
enum region { HEADER, SEAL, RECORDS, INDEX, ANYWHERE, REGION_COUNT };

struct damage {
	int file;
	enum damage_kind kind;
	enum region region;
	uint64_t first; /* first byte changed (the new size for TRUNCATE) */
	uint64_t len;
};

static uint64_t rnd(uint64_t *s)
{
	*s = t_mix(*s);
	return *s;
}

static void region_bounds(const struct file_image *f, enum region r,
			  uint64_t *lo, uint64_t *hi)
{
	uint64_t index_offset = ls_index_offset(f->len);

	switch (r) {
	case HEADER:
		*lo = 0, *hi = 64;
		break;
	case SEAL:
		*lo = LS_SEAL_OFFSET, *hi = LS_SEAL_OFFSET + 64;
		break;
	case RECORDS:
		*lo = LS_HEADER_BYTES, *hi = index_offset;
		break;
	case INDEX:
		*lo = index_offset, *hi = f->len;
		break;
	default:
		*lo = 0, *hi = f->len;
		break;
	}
}

/* Damage the restored file at path as d says (filling in d's offsets). */
static void apply_damage(const char *path, const struct file_image *f,
			 struct damage *d, uint64_t *rng)
{
	uint64_t lo, hi;
	unsigned char junk[2048];

	region_bounds(f, d->region, &lo, &hi);
	if (d->region == RECORDS && rnd(rng) % 2) {
		/* Mostly where records are: the first few KiB. */
		hi = lo + 3000 < hi ? lo + 3000 : hi;
	}
	d->first = lo + rnd(rng) % (hi - lo);
	switch (d->kind) {
	case FLIP: {
		unsigned bits = 1 + (unsigned)(rnd(rng) % 4);
		uint64_t last = d->first;
		for (unsigned i = 0; i < bits; i++) {
			uint64_t off =
			    i == 0 ? d->first : d->first + rnd(rng) % 64;
			off = off < hi ? off : d->first;
			assert_int_equal(
			    t_flip_bit(path, off, (unsigned)rnd(rng) % 8), 0);
			last = off > last ? off : last;
		}
		d->len = last - d->first + 1;
		break;
	}
	case ZERO:
	case GARBAGE:
		d->len = 1 + rnd(rng) % sizeof(junk);
		if (d->first + d->len > hi)
			d->len = hi - d->first; /* stay in the region */
		if (d->kind == ZERO)
			memset(junk, 0, d->len);
		else
			t_fill(junk, d->len, rnd(rng));
		assert_int_equal(t_write_at(path, junk, d->len, d->first), 0);
		break;
	case TRUNCATE:
		assert_int_equal(t_truncate(path, d->first), 0);
		d->len = f->len - d->first;
		break;
	default: /* APPEND */
		d->first = f->len;
		d->len = 1 + rnd(rng) % sizeof(junk);
		t_fill(junk, d->len, rnd(rng));
		assert_int_equal(t_write_at(path, junk, d->len, f->len), 0);
		break;
	}
}

static void restore(const char *dir, const struct image *im)
{
	assert_int_equal(mkdir(dir, 0755), 0);
	for (size_t i = 0; i < im->nfiles; i++) {
		char *path = t_path(dir, im->files[i].name);
		assert_int_equal(
		    t_write_file(path, im->files[i].bytes, im->files[i].len),
		    0);
		free(path);
	}
}

/* Whether bytes [first, first+len) of the file differ from the image. */
static bool changed(const char *path, const struct file_image *f,
		    const struct damage *d)
{
	if (d->kind == TRUNCATE || d->kind == APPEND)
		return true;
	unsigned char *now = malloc(d->len);
	assert_non_null(now);
	assert_int_equal(t_read_at(path, now, d->len, d->first), 0);
	bool diff = memcmp(now, f->bytes + d->first, d->len) != 0;
	free(now);
	return diff;
}

/* ---- checks ---- */

struct outcome_counts {
	unsigned long open_corrupt, read_corrupt, intact, tail_cut, unchanged;
};

static void check_detail(const char *name, bool want_offset, uint64_t seed)
{
	const char *detail = logstore_error_detail();

	if (!strstr(detail, name) || (want_offset && !strstr(detail, "offset")))
		print_error("seed %llu: detail \"%s\" should name %s%s\n",
			    (unsigned long long)seed, detail, name,
			    want_offset ? " and an offset" : "");
	assert_non_null(strstr(detail, name));
	if (want_offset)
		assert_non_null(strstr(detail, "offset"));
}

static void iteration(const char *dir, uint64_t seed, struct outcome_counts *oc)
{
	uint64_t rng = seed;
	const struct image *im = &images[rnd(&rng) % 2];
	struct damage d = {0};
	bool read_only = rnd(&rng) % 3 == 0;

	do
		d.file = (int)(rnd(&rng) % im->nfiles);
	while (!strstr(im->files[d.file].name, ".seg"));
	d.kind = (enum damage_kind)(rnd(&rng) % KIND_COUNT);
	d.region = (enum region)(rnd(&rng) % REGION_COUNT);
	const struct file_image *f = &im->files[d.file];
	bool last = d.file == im->last_seg;

	restore(dir, im);
	char *path = t_path(dir, f->name);
	apply_damage(path, f, &d, &rng);
	fprintf(stderr,
		"corruption seed %llu: %s log, %s, file %s%s, kind %d region "
		"%d at %llu+%llu\n",
		(unsigned long long)seed,
		im == &images[0] ? "clean" : "crashed",
		read_only ? "read-only" : "writer", f->name,
		last ? " (last)" : "", (int)d.kind, (int)d.region,
		(unsigned long long)d.first, (unsigned long long)d.len);
	if (!changed(path, f, &d)) {
		oc->unchanged++;
		d.kind = APPEND; /* nothing changed: everything must be there */
	}
	free(path);

	struct logstore_options opts;
	logstore_log *log = NULL;
	t_options(&opts, NULL, SEG16);
	opts.read_only = read_only;
	int rc = logstore_log_open(dir, &opts, &log);
	/*
	 * Derived data (seal, index) and bytes past the capacity never cost
	 * an entry; a header or a truncation always fails the open.
	 */
	bool derived =
	    d.kind == APPEND ||
	    ((d.region == SEAL || d.region == INDEX) && d.kind != TRUNCATE);
	bool fatal = !derived && (d.kind == TRUNCATE || d.region == HEADER ||
				  (d.region == ANYWHERE && d.first < 64));
	if (rc) {
		if (rc != LOGSTORE_ECORRUPT || derived)
			print_error("seed %llu: open: %d %s: %s\n",
				    (unsigned long long)seed, rc,
				    logstore_strerror(rc),
				    logstore_error_detail());
		assert_int_equal(rc, LOGSTORE_ECORRUPT);
		assert_false(derived);
		check_detail(f->name, false, seed);
		oc->open_corrupt++;
		return;
	}
	assert_false(fatal);

	/* Read everything: each entry returned must be the right one. */
	logstore_reader *r;
	struct logstore_entry e;
	size_t n = 0;
	t_assert_ok(logstore_reader_open(log, NULL, &r));
	while ((rc = logstore_reader_next(r, &e)) == 0) {
		assert_true(n < im->model.n);
		const struct t_entry *want = &im->model.v[n];
		if (e.seq != want->seq || e.len != want->len ||
		    e.time_ns != want->time_ns ||
		    memcmp(e.data, want->data, want->len) != 0)
			print_error("seed %llu: entry %zu is wrong (seq %llu "
				    "len %zu)\n",
				    (unsigned long long)seed, n,
				    (unsigned long long)e.seq, e.len);
		assert_int_equal(e.seq, want->seq);
		assert_int_equal(e.time_ns, want->time_ns);
		assert_int_equal(e.len, want->len);
		assert_memory_equal(e.data, want->data, want->len);
		n++;
	}
	logstore_reader_close(r);
	if (rc == LOGSTORE_ECORRUPT) {
		assert_false(derived);
		check_detail(f->name, true, seed);
		oc->read_corrupt++;
	} else {
		if (rc != LOGSTORE_END)
			print_error("seed %llu: reader: %d %s: %s\n",
				    (unsigned long long)seed, rc,
				    logstore_strerror(rc),
				    logstore_error_detail());
		assert_int_equal(rc, LOGSTORE_END);
		if (n < im->model.n) {
			/* Only a torn tail of the last segment is cut ... */
			if (!last || derived)
				print_error("seed %llu: %zu of %zu entries, "
					    "no error\n",
					    (unsigned long long)seed, n,
					    im->model.n);
			assert_true(last);
			assert_false(derived);
			/* ... keeping every record before the damage. */
			for (size_t i = 0; i < im->model.n; i++) {
				const struct record_place *w =
				    &im->where[im->batch_last[i]];
				if (w->file == d.file && w->end <= d.first)
					assert_true(i < n);
			}
			oc->tail_cut++;
		} else {
			oc->intact++;
		}
	}
	if (!read_only) {
		/* The writer appends after whatever it kept. */
		uint64_t seq = 0;
		rc = logstore_log_append(log, "new", 3, 0, &seq, NULL);
		if (rc == 0 && n == im->model.n)
			assert_int_equal(seq, im->model.v[n - 1].seq + 1);
		assert_true(rc == 0 || rc == LOGSTORE_ECORRUPT);
	}
	logstore_log_close(log);
}

static void test_random_damage(void **state)
{
	struct t_ctx *ctx = *state;
	unsigned long n =
	    t_env_count("LOGSTORE_CORRUPTION_ITERATIONS", ITERATIONS_DEFAULT);
	const char *replay = getenv("LOGSTORE_CORRUPTION_SEED");
	uint64_t base = t_seed("test_random_damage");
	struct outcome_counts oc = {0};

	if (replay && *replay)
		n = 1;
	/*
	 * Each outcome must happen, or the damage is too mild. A torn tail
	 * comes about once in 100 iterations, so a run of 400 saw none
	 * about once in 20: a run goes on past n (up to 10 n) until it has
	 * seen every outcome, and fails only if it still has not.
	 */
	unsigned long cap = n >= 100 ? 10 * n : n, i;
	for (i = 0;
	     i < n || (i < cap && !(oc.open_corrupt && oc.read_corrupt &&
				    oc.intact && oc.tail_cut));
	     i++) {
		uint64_t seed = replay && *replay ? strtoull(replay, NULL, 0)
						  : t_mix(base + i);
		char *dir = t_path(ctx->dir, "log");
		assert_non_null(dir);
		iteration(dir, seed, &oc);
		assert_int_equal(t_rmrf(dir), 0);
		free(dir);
	}
	fprintf(stderr,
		"corruption: %lu iterations: %lu corrupt at open, %lu corrupt "
		"at a read, %lu intact, %lu torn tails cut (%lu damages "
		"changed no byte)\n",
		i, oc.open_corrupt, oc.read_corrupt, oc.intact, oc.tail_cut,
		oc.unchanged);
	if (n >= 100) {
		assert_true(oc.open_corrupt > 0);
		assert_true(oc.read_corrupt > 0);
		assert_true(oc.intact > 0);
		assert_true(oc.tail_cut > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_random_damage, setup_images,
					    teardown_images),
	};

	if (t_uring_available() != 0)
		return T_SKIP;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

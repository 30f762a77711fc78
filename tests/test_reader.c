/* SPDX-License-Identifier: MIT */
/*
 * Goal: logstore_reader_seek() behaves exactly like closing the reader and
 * opening a new one at the same start, in every state a reader can be in
 * (mid-segment, at the end, after LOGSTORE_END in follow mode, on a
 * read-only handle, after retention removed segments, on an empty log),
 * and refuses bad arguments with -EINVAL without moving the reader. And a
 * seek's walk over records it skips, which reads only their headers,
 * never returns wrong bytes when a skipped record is damaged: the reader
 * then returns LOGSTORE_ECORRUPT or exactly the entries appended.
 *
 * Method: logs of 64 KiB segments (an index entry every 4 KiB, so a seek
 * walks up to ~30 records) are written through the API with a fake clock
 * that leaves gaps between entry times. For each of many starts (every
 * kind; exact, between, before and after entry times and sequence
 * numbers), one long-lived reader is moved with logstore_reader_seek() and
 * read to the end, and the result is compared entry by entry (sequence
 * number, time, bytes) with a new reader opened at that start. The
 * damage tests write over single header fields and payload bytes of a
 * sealed segment through the file while a read-only handle maps it.
 */
#include "helpers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

#define SEG64 65536u
#define PAYLOAD 100u
#define GAP_NS 10 /* clock step between entries: room between times */

static struct t_ctx *ctx_of(void **state)
{
	return *state;
}

/* A log of n entries of PAYLOAD bytes, appended buffered, GAP_NS apart. */
static logstore_log *build_log(struct t_ctx *ctx, struct t_entries *model,
			       size_t n)
{
	struct logstore_options opts;

	t_options(&opts, &ctx->clock, SEG64);
	opts.durability = LOGSTORE_BUFFERED;
	logstore_log *log = t_open(ctx->dir, &opts);
	for (size_t i = 0; i < n; i++) {
		t_append(log, model, PAYLOAD, (uint64_t)i);
		t_clock_advance(&ctx->clock, GAP_NS);
	}
	return log;
}

static logstore_log *open_ro(struct t_ctx *ctx)
{
	struct logstore_options opts;

	t_options(&opts, &ctx->clock, SEG64);
	opts.read_only = true;
	return t_open(ctx->dir, &opts);
}

/* Read on from where r is into out; returns the code that stopped it. */
static int read_rest(logstore_reader *r, struct t_entries *out)
{
	struct logstore_entry e;
	int rc;

	while ((rc = logstore_reader_next(r, &e)) == 0)
		t_entries_push(out, e.seq, e.time_ns, e.data, e.len);
	return rc;
}

static void assert_same(const struct t_entries *a, const struct t_entries *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].seq, b->v[i].seq);
		assert_int_equal(a->v[i].time_ns, b->v[i].time_ns);
		assert_int_equal(a->v[i].len, b->v[i].len);
		if (a->v[i].len)
			assert_memory_equal(a->v[i].data, b->v[i].data,
					    a->v[i].len);
	}
}

/*
 * Seek r to start (NULL = oldest) and read to the end; open a new reader
 * there and do the same; both must read the same entries and stop with
 * the same code. Then leave r a few entries into the log, so the next
 * seek starts from the middle of some segment.
 */
static void assert_seek_as_open(logstore_log *log, logstore_reader *r,
				const struct logstore_start *start)
{
	struct t_entries via_seek = {0}, via_open = {0};
	logstore_reader *fresh;

	t_assert_ok(logstore_reader_seek(r, start));
	int rc_seek = read_rest(r, &via_seek);
	t_assert_ok(logstore_reader_open(log, start, &fresh));
	int rc_open = read_rest(fresh, &via_open);
	logstore_reader_close(fresh);
	assert_int_equal(rc_seek, LOGSTORE_END);
	assert_int_equal(rc_open, LOGSTORE_END);
	assert_same(&via_seek, &via_open);
	t_entries_free(&via_seek);
	t_entries_free(&via_open);

	struct logstore_start oldest = {.kind = LOGSTORE_START_OLDEST};
	struct logstore_entry e;
	t_assert_ok(logstore_reader_seek(r, &oldest));
	for (int i = 0; i < 3; i++)
		t_assert_ok(logstore_reader_next(r, &e));
}

/* Every kind of start, around every 7th entry and past both ends. */
static void assert_all_starts(logstore_log *log, const struct t_entries *model)
{
	logstore_reader *r;
	struct logstore_start s;

	t_assert_ok(logstore_reader_open(log, NULL, &r));
	assert_seek_as_open(log, r, NULL);
	s = (struct logstore_start){.kind = LOGSTORE_START_OLDEST};
	assert_seek_as_open(log, r, &s);
	for (size_t i = 0; i < model->n; i += 7) {
		int64_t t = model->v[i].time_ns;
		uint64_t q = model->v[i].seq;
		s = t_start_time(t);
		assert_seek_as_open(log, r, &s);
		s = t_start_time(t - 1);
		assert_seek_as_open(log, r, &s);
		s = t_start_time(t + 1);
		assert_seek_as_open(log, r, &s);
		s = t_start_seq(q);
		assert_seek_as_open(log, r, &s);
	}
	s = t_start_time(model->v[0].time_ns - T_SECOND);
	assert_seek_as_open(log, r, &s);
	s = t_start_time(model->v[model->n - 1].time_ns + 1);
	assert_seek_as_open(log, r, &s);
	s = t_start_time(INT64_MAX);
	assert_seek_as_open(log, r, &s);
	s = t_start_time(INT64_MIN);
	assert_seek_as_open(log, r, &s);
	s = t_start_seq(0);
	assert_seek_as_open(log, r, &s);
	s = t_start_seq(model->v[model->n - 1].seq + 1);
	assert_seek_as_open(log, r, &s);
	s = t_start_seq(UINT64_MAX);
	assert_seek_as_open(log, r, &s);
	logstore_reader_close(r);
}

/* Seeks across several segments (sealed and active) match a new reader. */
static void test_seek_matches_open(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_log(ctx, &model, 1500);
	size_t n;

	free(t_segments(log, &n));
	assert_true(n >= 3);
	assert_all_starts(log, &model);
	t_close(log);
	/* Reopened: every segment sealed, indexes read from disk. */
	logstore_log *ro = open_ro(ctx);
	assert_all_starts(ro, &model);
	t_close(ro);
	t_entries_free(&model);
}

/* Bad arguments are -EINVAL and leave the reader where it was. */
static void test_seek_bad_arguments(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_log(ctx, &model, 20);
	logstore_reader *r;
	struct logstore_entry e;
	struct logstore_start s = t_start_time(model.v[5].time_ns);

	t_assert_rc(logstore_reader_seek(NULL, &s), -EINVAL);
	t_assert_rc(logstore_reader_seek(NULL, NULL), -EINVAL);
	t_assert_ok(logstore_reader_open(log, NULL, &r));
	t_assert_ok(logstore_reader_next(r, &e));
	t_assert_ok(logstore_reader_next(r, &e));
	s.kind = 3;
	t_assert_rc(logstore_reader_seek(r, &s), -EINVAL);
	s.kind = -1;
	t_assert_rc(logstore_reader_seek(r, &s), -EINVAL);
	t_assert_ok(logstore_reader_next(r, &e));
	assert_int_equal(e.seq, model.v[2].seq);
	assert_memory_equal(e.data, model.v[2].data, PAYLOAD);
	logstore_reader_close(r);
	t_close(log);
	t_entries_free(&model);
}

/*
 * Past the end, and on an empty log: the seek returns LOGSTORE_END, and
 * then the entries appended later, across a rollover, as a new reader
 * opened at the same start does; follow mode sees them too.
 */
static void test_seek_past_end_then_append(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0}, got = {0}, want = {0};
	logstore_log *log = build_log(ctx, &model, 0);
	logstore_reader *r, *fresh;
	struct logstore_entry e;
	struct logstore_start s = t_start_time(T_TIME0 + 5 * GAP_NS);

	t_assert_ok(logstore_reader_open(log, NULL, &r));
	t_assert_ok(logstore_reader_seek(r, &s));
	t_assert_rc(logstore_reader_next(r, &e), LOGSTORE_END);
	t_assert_rc(logstore_reader_next_wait(r, &e, 0), LOGSTORE_END);
	t_assert_ok(logstore_reader_open(log, &s, &fresh));
	for (size_t i = 0; i < 1000; i++) { /* about 2.5 segments */
		t_append(log, &model, PAYLOAD, i);
		t_clock_advance(&ctx->clock, GAP_NS);
	}
	t_assert_ok(logstore_reader_next_wait(r, &e, -1));
	t_entries_push(&got, e.seq, e.time_ns, e.data, e.len);
	assert_int_equal(read_rest(r, &got), LOGSTORE_END);
	assert_int_equal(read_rest(fresh, &want), LOGSTORE_END);
	assert_int_equal(want.n, 995);
	assert_int_equal(want.v[0].time_ns, s.time_ns);
	assert_same(&got, &want);
	t_entries_free(&got);

	/* After LOGSTORE_END in follow mode, back to the oldest entry. */
	t_assert_ok(logstore_reader_seek(r, NULL));
	t_assert_ok(logstore_reader_next_wait(r, &e, 0));
	assert_int_equal(e.seq, model.v[0].seq);
	assert_memory_equal(e.data, model.v[0].data, PAYLOAD);
	/* Past the end again, then one more entry. */
	s = t_start_seq(model.v[model.n - 1].seq + 1);
	t_assert_ok(logstore_reader_seek(r, &s));
	t_assert_rc(logstore_reader_next_wait(r, &e, 0), LOGSTORE_END);
	t_append(log, &model, PAYLOAD, 77);
	t_assert_ok(logstore_reader_next_wait(r, &e, -1));
	assert_int_equal(e.seq, model.v[model.n - 1].seq);
	assert_memory_equal(e.data, model.v[model.n - 1].data, PAYLOAD);
	logstore_reader_close(fresh);
	logstore_reader_close(r);
	t_close(log);
	t_entries_free(&want);
	t_entries_free(&model);
}

/*
 * Retention removes the segment a reader is in and the one after: a seek
 * to a removed entry lands on the oldest entry left, as a new reader does,
 * on the writer's handle and on a read-only handle.
 */
static void test_seek_after_retention(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_log(ctx, &model, 1500);
	logstore_log *ro = open_ro(ctx);
	logstore_reader *r, *r_ro;
	struct logstore_entry e;
	struct logstore_segment_info *segs;
	size_t n, removed = 0;

	t_assert_ok(logstore_reader_open(log, NULL, &r));
	t_assert_ok(logstore_reader_open(ro, NULL, &r_ro));
	t_assert_ok(logstore_reader_next(r, &e));
	t_assert_ok(logstore_reader_next(r_ro, &e));
	segs = t_segments(log, &n);
	assert_true(n >= 3);
	uint64_t oldest_left = segs[2].first_seq;
	t_assert_ok(logstore_log_remove_older_than(log, segs[2].first_time_ns,
						   &removed));
	assert_int_equal(removed, 2);
	free(segs);

	struct logstore_start starts[3] = {
	    t_start_time(model.v[0].time_ns), t_start_seq(1),
	    {.kind = LOGSTORE_START_OLDEST}};
	for (int i = 0; i < 3; i++) {
		t_assert_ok(logstore_reader_seek(r, &starts[i]));
		t_assert_ok(logstore_reader_next(r, &e));
		assert_int_equal(e.seq, oldest_left);
		t_assert_ok(logstore_reader_seek(r_ro, &starts[i]));
		t_assert_ok(logstore_reader_next(r_ro, &e));
		assert_int_equal(e.seq, oldest_left);
	}
	logstore_reader_close(r);
	logstore_reader_close(r_ro);
	assert_all_starts(log, &model);
	assert_all_starts(ro, &model);
	t_close(ro);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A read-only handle follows the writer: a reader of the read-only handle
 * that seeks into segments created after it last looked finds them.
 */
static void test_seek_read_only_follows_writer(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_log(ctx, &model, 100);
	logstore_log *ro = open_ro(ctx);
	logstore_reader *r;
	struct logstore_entry e;

	t_assert_ok(logstore_reader_open(ro, NULL, &r));
	t_assert_ok(logstore_reader_next(r, &e));
	for (size_t i = 0; i < 1200; i++) {
		t_append(log, &model, PAYLOAD, 1000 + i);
		t_clock_advance(&ctx->clock, GAP_NS);
	}
	struct logstore_start s = t_start_time(model.v[1250].time_ns);
	t_assert_ok(logstore_reader_seek(r, &s));
	t_assert_ok(logstore_reader_next(r, &e));
	assert_int_equal(e.seq, model.v[1250].seq);
	assert_memory_equal(e.data, model.v[1250].data, PAYLOAD);
	logstore_reader_close(r);
	assert_all_starts(ro, &model);
	t_close(ro);
	t_close(log);
	t_entries_free(&model);
}

/* ---- damage to records a seek skips ---- */

/*
 * Records of 136 bytes from offset 4096 of the first segment: the index
 * holds records 0, 31, 62, ... (the first at or past each 4 KiB), so a seek
 * to record TARGET starts its walk at INDEXED and skips INDEXED..TARGET-1.
 */
#define REC_BYTES 136u
#define INDEXED 31u
#define TARGET 51u
_Static_assert((PAYLOAD + LS_RECORD_HEADER_BYTES + 7) / 8 * 8 == REC_BYTES,
	       "a record of PAYLOAD bytes takes REC_BYTES");

static uint64_t rec_off(unsigned k)
{
	return LS_HEADER_BYTES + (uint64_t)k * REC_BYTES;
}

enum outcome { CORRUPT, INTACT, EITHER };

struct damage {
	unsigned rec;	    /* record index in the first segment */
	unsigned field;	    /* byte offset in the record */
	uint64_t value;	    /* written there, 4 bytes at 4, else 8 */
	bool time_of;	    /* value is a record index: write its time + 1 */
	enum outcome want;  /* of seek + 10 reads */
	const char *why;
};

/* The seek and 10 reads after damage d, through open and through seek. */
static void check_damage(logstore_log *ro, const struct t_entries *model,
			 const struct damage *d)
{
	struct logstore_start s = t_start_time(model->v[TARGET].time_ns);
	logstore_reader *r;
	int rc = 0;

	for (int via_seek = 0; via_seek < 2; via_seek++) {
		if (via_seek) {
			t_assert_ok(logstore_reader_open(ro, NULL, &r));
			t_assert_ok(logstore_reader_seek(r, &s));
		} else {
			t_assert_ok(logstore_reader_open(ro, &s, &r));
		}
		struct logstore_entry e;
		unsigned got = 0;
		while (got < 10 && (rc = logstore_reader_next(r, &e)) == 0) {
			const struct t_entry *w = &model->v[TARGET + got++];
			/* Any entry returned is exactly the one appended. */
			assert_int_equal(e.seq, w->seq);
			assert_int_equal(e.time_ns, w->time_ns);
			assert_int_equal(e.len, w->len);
			assert_memory_equal(e.data, w->data, w->len);
		}
		logstore_reader_close(r);
		if (rc != 0 && rc != LOGSTORE_ECORRUPT)
			fail_msg("%s: reader returned %d", d->why, rc);
		if (d->want == CORRUPT && rc != LOGSTORE_ECORRUPT)
			fail_msg("%s: no LOGSTORE_ECORRUPT", d->why);
		if (d->want == INTACT && got != 10)
			fail_msg("%s: %u entries, then %d", d->why, got, rc);
	}
}

static void test_seek_skipped_record_damage(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_log(ctx, &model, 1500);
	char names[8][64];
	uint8_t saved[REC_BYTES];

	t_close(log);
	assert_true(t_seg_files(ctx->dir, names, 8) >= 3);
	char *path = t_path(ctx->dir, names[0]);
	/* The layout this test assumes. */
	uint8_t head[32];
	assert_int_equal(t_read_at(path, head, 32, rec_off(TARGET)), 0);
	assert_int_equal(ls_get_u64(head + 8), model.v[TARGET].seq);
	logstore_log *ro = open_ro(ctx);

	const struct damage cases[] = {
	    {40, 40, 0xff, false, INTACT, "payload of a skipped record"},
	    {INDEXED, 40, 0xff, false, INTACT, "payload of the indexed one"},
	    {40, 4, PAYLOAD + 8, false, CORRUPT, "length +8, skipped"},
	    {40, 4, PAYLOAD + REC_BYTES, false, CORRUPT,
	     "length one record longer, skipped"},
	    {40, 4, PAYLOAD - 8, false, CORRUPT, "length -8, skipped"},
	    {40, 4, 0x7fffffff, false, CORRUPT, "length huge, skipped"},
	    {TARGET - 1, 4, PAYLOAD + REC_BYTES, false, CORRUPT,
	     "length one record longer, last skipped"},
	    {INDEXED, 4, PAYLOAD + REC_BYTES, false, CORRUPT,
	     "length one record longer, indexed"},
	    {40, 16, 60, true, CORRUPT, "time past the target, skipped"},
	    {40, 16, 38, true, CORRUPT, "time before the previous, skipped"},
	    {40, 16, 39, true, EITHER, "time still in order, skipped"},
	    {TARGET, 16, TARGET - 1, true, CORRUPT,
	     "target's time below the target"},
	    {40, 8, 12345, false, CORRUPT, "seq of a skipped record"},
	    {40, 24, 0, false, CORRUPT, "salt of a skipped record"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct damage *d = &cases[i];
		uint64_t at = rec_off(d->rec) + d->field;
		uint8_t v[8];
		uint64_t value =
		    d->time_of ? (uint64_t)model.v[d->value].time_ns + 1
			       : d->value;
		assert_int_equal(t_read_at(path, saved, REC_BYTES,
					   rec_off(d->rec)),
				 0);
		if (d->field == 40) {
			v[0] = saved[40] ^ 0xff;
			assert_int_equal(t_write_at(path, v, 1, at), 0);
		} else {
			ls_put_u64(v, value);
			assert_int_equal(
			    t_write_at(path, v, d->field == 4 ? 4 : 8, at), 0);
		}
		check_damage(ro, &model, d);
		assert_int_equal(t_write_at(path, saved, REC_BYTES,
					    rec_off(d->rec)),
				 0);
	}
	/* Restored: reads back whole. */
	t_assert_log(ro, NULL, &model, 0);
	t_close(ro);
	free(path);
	t_entries_free(&model);
}

/* The seq of the first entry a reader at start returns, or 0 at the end. */
static uint64_t first_seq_at(logstore_reader *r, struct logstore_start start)
{
	struct logstore_entry e;

	t_assert_ok(logstore_reader_seek(r, &start));
	int rc = logstore_reader_next(r, &e);
	if (rc == LOGSTORE_END)
		return 0;
	t_assert_ok(rc);
	return e.seq;
}

/*
 * Seeks into sealed 1 MiB segments, whose time index (about 250 entries
 * each) is read from disk: for every entry, a seek to its time, to just
 * before and just after it, and to its seq lands exactly where the model
 * says. Covers every index entry and every record between two of them.
 */
static void test_seek_lands_in_sealed_index(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	const size_t n = 24000;

	t_options(&opts, &ctx->clock, 1u << 20);
	opts.durability = LOGSTORE_BUFFERED;
	logstore_log *log = t_open(ctx->dir, &opts);
	for (size_t i = 0; i < n; i++) {
		t_append(log, &model, PAYLOAD, (uint64_t)i);
		t_clock_advance(&ctx->clock, GAP_NS);
	}
	t_close(log);
	size_t nsegs;
	logstore_log *handles[2] = {t_open(ctx->dir, &opts), open_ro(ctx)};
	free(t_segments(handles[0], &nsegs));
	assert_true(nsegs >= 3);
	for (int h = 0; h < 2; h++) {
		logstore_reader *r;
		t_assert_ok(logstore_reader_open(handles[h], NULL, &r));
		for (size_t i = 0; i < n; i++) {
			const struct t_entry *v = &model.v[i];
			uint64_t next = i + 1 < n ? model.v[i + 1].seq : 0;
			assert_int_equal(
			    first_seq_at(r, t_start_time(v->time_ns)), v->seq);
			assert_int_equal(
			    first_seq_at(r, t_start_time(v->time_ns - 1)),
			    v->seq);
			assert_int_equal(
			    first_seq_at(r, t_start_time(v->time_ns + 1)),
			    next);
			assert_int_equal(first_seq_at(r, t_start_seq(v->seq)),
					 v->seq);
		}
		logstore_reader_close(r);
	}
	t_close(handles[0]);
	t_close(handles[1]);
	t_entries_free(&model);
}

/*
 * Seek r to start and check that it reads model->v[i], v[i + 1] and
 * v[i + 2] (those that exist; i == model->n: the end), bytes included.
 */
static void assert_seek_reads(logstore_reader *r,
			      const struct logstore_start *start,
			      const struct t_entries *model, size_t i)
{
	struct logstore_entry e;

	t_assert_ok(logstore_reader_seek(r, start));
	for (size_t k = i; k < i + 3 && k < model->n; k++) {
		const struct t_entry *v = &model->v[k];
		t_assert_ok(logstore_reader_next(r, &e));
		assert_int_equal(e.seq, v->seq);
		assert_int_equal(e.time_ns, v->time_ns);
		assert_int_equal(e.len, v->len);
		if (v->len)
			assert_memory_equal(e.data, v->data, v->len);
	}
	if (i == model->n)
		assert_int_equal(logstore_reader_next(r, &e), LOGSTORE_END);
}

/*
 * Records of changing sizes: a seek's header walk predicts each record to
 * be as long as the one before and must follow the length when it is
 * not. Runs of equal sizes alternate with sizes drawn at random (0 to
 * 700 bytes, so some records are longer than the index stride's share),
 * in 64 KiB segments, sealed ones and the active one, through a writer
 * handle and a read-only one. One reader seeks to every entry in turn
 * (mostly within the segment it is in, sometimes into another), then
 * back and forth across the log; each seek must read the model's
 * entries, bytes included.
 */
static void test_seek_mixed_sizes(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	const size_t n = 3000;
	uint64_t x = 7;
	size_t len = 0;

	t_options(&opts, &ctx->clock, SEG64);
	opts.durability = LOGSTORE_BUFFERED;
	logstore_log *log = t_open(ctx->dir, &opts);
	for (size_t i = 0; i < n; i++) {
		x = t_mix(x);
		if (i % 40 < 20)
			len = (size_t)(x % 701); /* a new size each time */
		else if (i % 40 == 20)
			len = (size_t)(x % 300); /* then a run of one size */
		t_append(log, &model, len, x);
		t_clock_advance(&ctx->clock, GAP_NS);
	}
	size_t nsegs;
	free(t_segments(log, &nsegs));
	assert_true(nsegs >= 4);
	logstore_log *handles[2] = {log, open_ro(ctx)};
	for (int h = 0; h < 2; h++) {
		logstore_reader *r;
		t_assert_ok(logstore_reader_open(handles[h], NULL, &r));
		for (size_t i = 0; i < n; i++) {
			const struct t_entry *v = &model.v[i];
			struct logstore_start s = t_start_time(v->time_ns);
			assert_seek_reads(r, &s, &model, i);
			s = t_start_time(v->time_ns - 1);
			assert_seek_reads(r, &s, &model, i);
			s = t_start_time(v->time_ns + 1);
			assert_seek_reads(r, &s, &model, i + 1);
			s = t_start_seq(v->seq);
			assert_seek_reads(r, &s, &model, i);
		}
		for (size_t k = 0; k < n; k++) {
			size_t i = (size_t)(t_mix(k) % n);
			struct logstore_start s =
			    t_start_time(model.v[i].time_ns);
			assert_seek_reads(r, &s, &model, i);
		}
		logstore_reader_close(r);
	}
	t_close(handles[1]);
	t_close(log);
	t_entries_free(&model);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_seek_matches_open),
	    T(test_seek_bad_arguments),
	    T(test_seek_past_end_then_append),
	    T(test_seek_after_retention),
	    T(test_seek_read_only_follows_writer),
	    T(test_seek_skipped_record_damage),
	    T(test_seek_lands_in_sealed_index),
	    T(test_seek_mixed_sizes),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("reader", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Goal: what a writer open does with damaged files, and how the log
 * behaves when a system call fails. A torn tail of the last segment is cut
 * and zeroed and every committed entry survives byte for byte; an atomic
 * batch whose last record is torn disappears whole; damage inside sealed
 * or older segments is reported as LOGSTORE_ECORRUPT (at open or at the
 * read that meets it), never returned as wrong bytes; a failed write or
 * fsync makes the log fail-stop while committed entries stay readable;
 * a short write is completed; ENOSPC at segment creation loses nothing.
 *
 * Method: build a log through the API with a fake clock, close it, damage
 * the files with pwrite at offsets computed from engine/format.h and the
 * entries the test appended, reopen and compare with the model. System
 * call failures are injected with the engine's fault layer (sys.h).
 */
#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "format.h"
#include "internal.h"
#include "sys.h"

#define SEG16 16384u
#define SEG64 65536u

static struct t_ctx *ctx_of(void **state)
{
	return *state;
}

static struct logstore_stats stats_of(logstore_log *log)
{
	struct logstore_stats st;

	memset(&st, 0xff, sizeof(st));
	logstore_log_stats(log, &st);
	return st;
}

/* Where entry model->v[i] lies: its segment file and record offset. */
struct where {
	char name[32];
	uint64_t off;
};

static struct where locate(logstore_log *log, const struct t_entries *model,
			   size_t i)
{
	struct logstore_segment_info *segs;
	struct where w = {{0}, 0};
	size_t n;
	uint64_t seq = model->v[i].seq;

	segs = t_segments(log, &n);
	for (size_t s = 0; s < n; s++) {
		if (seq < segs[s].first_seq || seq > segs[s].last_seq)
			continue;
		memcpy(w.name, segs[s].name, sizeof(w.name));
		w.off = LS_HEADER_BYTES;
		for (size_t k = 0; k < model->n; k++) {
			if (model->v[k].seq >= segs[s].first_seq &&
			    model->v[k].seq < seq)
				w.off += ls_record_bytes(model->v[k].len);
		}
	}
	free(segs);
	assert_true(w.name[0] != 0);
	return w;
}

static char *seg_path(struct t_ctx *ctx, const char *name)
{
	char *path = t_path(ctx->dir, name);

	assert_non_null(path);
	return path;
}

/* Assert that [off, off + len) of the file is all zeros. */
static void assert_zero_range(const char *path, uint64_t off, size_t len)
{
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(t_read_at(path, buf, len, off), 0);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != 0) {
			print_error("%s: byte %" PRIu64 " is 0x%02x, not 0\n",
				    path, off + i, buf[i]);
			fail();
		}
	}
	free(buf);
}

/* A log of n entries of varied lengths, in one 64 KiB segment, closed. */
static void build_closed(struct t_ctx *ctx, struct t_entries *model, int n,
			 uint64_t *end, char *name)
{
	logstore_log *log = t_open_small(ctx, SEG64);
	struct logstore_segment_info *segs;
	size_t count;

	for (int i = 0; i < n; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_append(log, model, 1 + t_mix((uint64_t)i) % 700, (uint64_t)i);
	}
	segs = t_segments(log, &count);
	assert_int_equal(count, 1);
	*end = LS_HEADER_BYTES + segs[0].bytes;
	memcpy(name, segs[0].name, 32);
	free(segs);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0); /* a crash */
}

enum tail_kind {
	TAIL_GARBAGE,	  /* random bytes right after the last record */
	TAIL_BAD_CRC,	  /* a copy of the last record, next seq, bad crc */
	TAIL_HALF_RECORD, /* a correct next record, half of it written */
	TAIL_FAR_GARBAGE, /* random bytes some way past the end */
	TAIL_TORN_LAST,	  /* the last real record itself is damaged */
};

/*
 * Damage the tail of a closed log, reopen as writer and check: the
 * surviving entries read back byte for byte, recovery dropped bytes, the
 * damaged range is zero on disk, appending works.
 */
static void torn_tail(struct t_ctx *ctx, enum tail_kind kind)
{
	struct t_entries model = {0};
	char name[32];
	uint64_t end, damage_off;
	size_t damage_len;
	size_t survivors = 20;
	unsigned char buf[1024];
	logstore_log *log;
	char *path;

	build_closed(ctx, &model, 20, &end, name);
	path = seg_path(ctx, name);
	const struct t_entry *last = &model.v[model.n - 1];
	uint64_t last_off = end - ls_record_bytes(last->len);
	uint64_t last_bytes = ls_record_bytes(last->len);

	assert_true(last_bytes <= sizeof(buf));
	damage_off = end;
	switch (kind) {
	case TAIL_GARBAGE:
		damage_len = 200;
		t_fill(buf, damage_len, 42);
		buf[0] |= 1; /* never a zero first byte */
		break;
	case TAIL_FAR_GARBAGE:
		damage_off = end + 3000;
		damage_len = 100;
		t_fill(buf, damage_len, 43);
		buf[0] |= 1;
		break;
	case TAIL_BAD_CRC:
	case TAIL_HALF_RECORD:
		assert_int_equal(t_read_at(path, buf, last_bytes, last_off), 0);
		ls_put_u64(buf + 8, last->seq + 1);
		ls_put_u64(buf + 16, (uint64_t)(last->time_ns + 1));
		t_fill(buf + LS_RECORD_HEADER_BYTES, last->len, 44);
		damage_len = last_bytes;
		if (kind == TAIL_HALF_RECORD) {
			/* Valid when whole, but only half reaches the disk. */
			uint32_t crc = ls_crc32c(
			    0, buf + 4, LS_RECORD_HEADER_BYTES - 4 + last->len);
			ls_put_u32(buf, crc);
			damage_len = LS_RECORD_HEADER_BYTES + last->len / 2;
		} else {
			ls_put_u32(buf, ls_get_u32(buf) ^ 0x5a5a5a5a);
		}
		break;
	case TAIL_TORN_LAST:
		damage_off = last_off + LS_RECORD_HEADER_BYTES;
		assert_int_equal(t_read_at(path, buf, 1, damage_off), 0);
		buf[0] ^= 0x10;
		damage_len = 1;
		survivors = 19;
		break;
	default:
		fail();
	}
	assert_int_equal(t_write_at(path, buf, damage_len, damage_off), 0);

	log = t_open_small(ctx, SEG64);
	struct logstore_stats st = stats_of(log);

	assert_true(st.recovery_bytes_dropped > 0);
	assert_int_equal(st.last_seq, survivors);
	if (kind == TAIL_TORN_LAST)
		assert_zero_range(path, last_off, last_bytes);
	else
		assert_zero_range(path, damage_off, damage_len);
	/* The model of build_closed() cut to the survivors. */
	for (size_t k = survivors; k < model.n; k++)
		free(model.v[k].data);
	model.n = survivors;
	t_assert_log(log, NULL, &model, 0);
	for (int i = 0; i < 5; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_append(log, &model, 50 + (size_t)i, 500 + (uint64_t)i);
	}
	assert_int_equal(model.v[model.n - 1].seq, survivors + 5);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
	free(path);
}
static void test_torn_tail_garbage(void **state)
{
	torn_tail(ctx_of(state), TAIL_GARBAGE);
}

static void test_torn_tail_bad_crc_record(void **state)
{
	torn_tail(ctx_of(state), TAIL_BAD_CRC);
}

static void test_torn_tail_half_record(void **state)
{
	torn_tail(ctx_of(state), TAIL_HALF_RECORD);
}

static void test_torn_tail_far_garbage(void **state)
{
	torn_tail(ctx_of(state), TAIL_FAR_GARBAGE);
}

static void test_torn_tail_last_record(void **state)
{
	torn_tail(ctx_of(state), TAIL_TORN_LAST);
}

/*
 * A damaged record in the middle of the last segment, followed by valid
 * ones, is corruption, not a torn tail: open fails and cuts nothing.
 */
static void test_corruption_inside_last_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	logstore_log *log = NULL;
	uint64_t end, off = LS_HEADER_BYTES;
	unsigned char *before, *after;
	char name[32];
	char *path;

	build_closed(ctx, &model, 20, &end, name);
	for (size_t i = 0; i < 5; i++)
		off += ls_record_bytes(model.v[i].len);
	path = seg_path(ctx, name);
	assert_int_equal(t_flip_bit(path, off + LS_RECORD_HEADER_BYTES, 2), 0);
	before = malloc(SEG64);
	after = malloc(SEG64);
	assert_non_null(before);
	assert_non_null(after);
	assert_int_equal(t_read_at(path, before, SEG64, 0), 0);
	t_options(&opts, &ctx->clock, SEG64);
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log),
		    LOGSTORE_ECORRUPT);
	assert_int_equal(t_read_at(path, after, SEG64, 0), 0);
	assert_memory_equal(before, after, SEG64);
	free(before);
	free(after);
	free(path);
	t_entries_free(&model);
}

/* A clean close leaves nothing to drop. */
static void test_clean_reopen_drops_nothing(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t end;
	char name[32];
	logstore_log *log;

	build_closed(ctx, &model, 10, &end, name);
	log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A power loss can keep later sectors of the unsynced tail and lose an
 * earlier one: segments are zero-filled, so the lost sector reads as
 * zeros. That is a torn tail, not corruption: open cuts it at the first
 * damaged record, even though valid records follow, and zeroes the rest.
 */
static void test_power_loss_lost_sector_is_torn_tail(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct t_entries kept = {0};
	unsigned char zeros[512] = {0};
	char names[2][64];
	uint64_t rec = ls_record_bytes(1500);
	logstore_log *log = t_open_small(ctx, SEG64);

	for (uint64_t i = 0; i < 30; i++)
		t_append(log, &model, 1500, i);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0); /* a crash */
	assert_int_equal(t_seg_files(ctx->dir, names, 2), 1);
	char *path = seg_path(ctx, names[0]);
	/*
	 * A whole sector inside record 20's payload: record 21 and the ones
	 * after it stay valid on disk.
	 */
	uint64_t rec20 = LS_HEADER_BYTES + 20 * rec;
	uint64_t sector = (rec20 + 32 + 511) & ~(uint64_t)511;
	assert_true(sector + 512 <= rec20 + rec);
	assert_int_equal(t_write_at(path, zeros, sizeof(zeros), sector), 0);

	log = t_open_small(ctx, SEG64);
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	/* Records 20..29: everything after the last good record. */
	assert_int_equal(st.recovery_bytes_dropped, 10 * rec);
	for (size_t i = 0; i < 20; i++)
		t_entries_push(&kept, model.v[i].seq, model.v[i].time_ns,
			       model.v[i].data, model.v[i].len);
	t_assert_log(log, NULL, &kept, 0);
	/* The valid records after the lost sector were zeroed too. */
	unsigned char after[64];
	assert_int_equal(t_read_at(path, after, sizeof(after),
				   LS_HEADER_BYTES + 25 * rec), 0);
	assert_memory_equal(after, zeros, sizeof(after));
	t_append(log, &kept, 10, 99);
	assert_int_equal(kept.v[20].seq, 21);
	t_assert_log(log, NULL, &kept, 0);
	t_close(log);
	free(path);
	t_entries_free(&kept);
	t_entries_free(&model);
}

/*
 * The same when the lost sector held only the first bytes of a record
 * header that straddles a sector boundary: its crc and length read as
 * zeros while its seq and salt, in the next sector, survived. (Found by
 * test_powerloss, seed 15652948476023553715.)
 */
static void test_power_loss_lost_header_start_is_torn_tail(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct t_entries kept = {0};
	unsigned char zeros[8] = {0};
	char names[2][64];
	/* Record 1 ends 8 bytes before a sector boundary: 4096 + 32 + 472. */
	uint64_t rec2 = LS_HEADER_BYTES + ls_record_bytes(472);
	assert_int_equal(rec2 % 512, 504);
	logstore_log *log = t_open_small(ctx, SEG64);

	t_append(log, &model, 472, 1);
	for (uint64_t i = 0; i < 3; i++)
		t_append(log, &model, 100, 2 + i);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0); /* a crash */
	assert_int_equal(t_seg_files(ctx->dir, names, 2), 1);
	char *path = seg_path(ctx, names[0]);
	assert_int_equal(t_write_at(path, zeros, sizeof(zeros), rec2), 0);

	log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).recovery_bytes_dropped,
			 3 * ls_record_bytes(100));
	t_entries_push(&kept, model.v[0].seq, model.v[0].time_ns,
		       model.v[0].data, model.v[0].len);
	t_assert_log(log, NULL, &kept, 0);
	t_close(log);
	free(path);
	t_entries_free(&kept);
	t_entries_free(&model);
}

/*
 * A flipped bit in a record's length field makes the scan look for the
 * next record in the wrong place. It is still damage before the tail:
 * open must refuse, not cut the records after it and reuse their seqs.
 */
static void length_flip(struct t_ctx *ctx, uint64_t victim)
{
	struct t_entries model = {0};
	char names[2][64];
	uint64_t rec = ls_record_bytes(100);
	logstore_log *log = t_open_small(ctx, SEG64);

	for (uint64_t i = 0; i < 100; i++)
		t_append(log, &model, 100, i);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0); /* a crash */
	assert_int_equal(t_seg_files(ctx->dir, names, 2), 1);
	char *path = seg_path(ctx, names[0]);
	/* Bit 20 of length_flags: byte 2 of the field at offset 4, bit 4. */
	assert_int_equal(
	    t_flip_bit(path, LS_HEADER_BYTES + victim * rec + 4 + 2, 4), 0);
	struct logstore_options opts;
	t_options(&opts, &ctx->clock, SEG64);
	logstore_log *bad = NULL;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &bad), LOGSTORE_ECORRUPT);
	assert_true(t_file_exists(path));
	/* Nothing was cut: the last record is still on disk. */
	unsigned char last[32];
	assert_int_equal(t_read_at(path, last, sizeof(last),
				   LS_HEADER_BYTES + 99 * rec), 0);
	assert_int_equal(ls_get_u64(last + 8), 100);
	free(path);
	t_entries_free(&model);
}

static void test_length_flip_mid_last_segment(void **state)
{
	length_flip(ctx_of(state), 50);
}

static void test_length_flip_first_record(void **state)
{
	length_flip(ctx_of(state), 0);
}

/*
 * A clean close seals the active segment as reopenable: the next writer
 * takes it without scanning (index from disk), clears the seal durably
 * before appending, and seeks and reads work across the reopen. A
 * read-only handle opened on the closed log keeps following the segment.
 */
static void test_clean_close_reopen(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char seal[64], zeros[64] = {0};
	char names[2][64];
	logstore_log *log = t_open_small(ctx, SEG64);

	for (uint64_t i = 0; i < 120; i++)
		t_append(log, &model, 200, i);
	t_close(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 2), 1);
	char *path = seg_path(ctx, names[0]);
	assert_int_equal(t_read_at(path, seal, 64, LS_SEAL_OFFSET), 0);
	assert_memory_equal(seal, "LGSTSEAL", 8);
	assert_int_equal(ls_get_u32(seal + 52), LS_SEAL_REOPENABLE);
	assert_int_equal(ls_get_u64(seal + 16), 120); /* last seq */

	logstore_log *ro = NULL;
	struct logstore_options ro_opts;
	t_options(&ro_opts, &ctx->clock, 0);
	ro_opts.read_only = true;
	t_assert_ok(logstore_log_open(ctx->dir, &ro_opts, &ro));
	logstore_reader *rd;
	struct logstore_entry e;
	t_assert_ok(logstore_reader_open(ro, NULL, &rd));
	for (size_t i = 0; i < 120; i++)
		t_assert_ok(logstore_reader_next(rd, &e));
	t_assert_rc(logstore_reader_next(rd, &e), LOGSTORE_END);

	log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 0);
	/* The seal stays until the first append: an open writes nothing. */
	assert_int_equal(t_read_at(path, seal, 64, LS_SEAL_OFFSET), 0);
	assert_memory_equal(seal, "LGSTSEAL", 8);
	struct logstore_start at = t_start_time(model.v[77].time_ns);
	t_assert_log(log, &at, &model, 77);
	t_append(log, &model, 30, 500);
	assert_int_equal(t_read_at(path, seal, 64, LS_SEAL_OFFSET), 0);
	assert_memory_equal(seal, zeros, 64); /* cleared before appending */
	for (uint64_t i = 1; i < 10; i++)
		t_append(log, &model, 30, 500 + i);
	assert_int_equal(model.v[129].seq, 130);
	t_assert_log(log, NULL, &model, 0);
	for (size_t i = 120; i < 130; i++) {
		t_assert_ok(logstore_reader_next(rd, &e));
		assert_int_equal(e.seq, model.v[i].seq);
		assert_memory_equal(e.data, model.v[i].data, e.len);
	}
	logstore_reader_close(rd);
	t_close(ro);
	t_close(log);
	free(path);
	t_entries_free(&model);
}

/*
 * Ten 100-byte entries, a clean close, then junk (first byte non-zero)
 * written right after the last record. out: the segment's path (free it)
 * and the offset of the end of the records.
 */
static char *closed_with_junk_after_end(struct t_ctx *ctx,
					struct t_entries *model,
					unsigned char *junk, size_t len,
					uint64_t *end)
{
	char names[2][64];
	logstore_log *log = t_open_small(ctx, SEG64);

	for (uint64_t i = 0; i < 10; i++)
		t_append(log, model, 100, i);
	*end = LS_HEADER_BYTES + 10 * ls_record_bytes(100);
	t_close(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 2), 1);
	char *path = seg_path(ctx, names[0]);
	t_fill(junk, len, 7);
	junk[0] |= 1;
	assert_int_equal(t_write_at(path, junk, len, *end), 0);
	return path;
}

/*
 * Bytes after the end of a cleanly closed segment break the clean-close
 * promise: the seal is not believed and the segment is recovered as
 * after a crash (the bytes are dropped and zeroed).
 */
static void test_clean_close_with_garbage_after_end(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char junk[100];
	uint64_t end;
	char *path =
	    closed_with_junk_after_end(ctx, &model, junk, sizeof(junk), &end);
	logstore_log *log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 104);
	t_assert_log(log, NULL, &model, 0);
	unsigned char back[100], zeros[100] = {0};
	assert_int_equal(t_read_at(path, back, sizeof(back), end), 0);
	assert_memory_equal(back, zeros, sizeof(back));
	/* The seal that was not believed is gone before any append. */
	assert_int_equal(t_read_at(path, back, 64, LS_SEAL_OFFSET), 0);
	assert_memory_equal(back, zeros, 64);
	t_close(log);
	free(path);
	t_entries_free(&model);
}

/*
 * When the seal is not believed and the records end before the end it
 * vouches for, acknowledged records were damaged: open refuses, cutting
 * nothing.
 */
static void test_clean_close_seal_vouches_for_damaged_records(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char junk[100];
	uint64_t rec = ls_record_bytes(100);
	uint64_t end;
	char *path =
	    closed_with_junk_after_end(ctx, &model, junk, sizeof(junk), &end);
	/* Record 8's salt: the scan stops there, before the sealed end. */
	assert_int_equal(t_flip_bit(path, LS_HEADER_BYTES + 8 * rec + 24, 0),
			 0);
	struct logstore_options opts;
	t_options(&opts, &ctx->clock, SEG64);
	logstore_log *bad = NULL;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &bad), LOGSTORE_ECORRUPT);
	assert_non_null(strstr(logstore_error_detail(), "seal"));
	unsigned char back[100];
	assert_int_equal(t_read_at(path, back, sizeof(back), end), 0);
	assert_memory_equal(back, junk, sizeof(back)); /* nothing cut */
	free(path);
	t_entries_free(&model);
}

static void test_torn_atomic_batch(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG64);
	struct t_entries model = {0};
	struct logstore_batch_entry b[3];
	unsigned char payload[3][300];
	uint64_t off[5];
	uint32_t flags;
	char *path;
	struct where w;

	t_append_data(log, &model, "first", 5);
	t_append_data(log, &model, "second", 6);
	for (int i = 0; i < 3; i++) {
		t_fill(payload[i], sizeof(payload[i]), 10 + (uint64_t)i);
		b[i] = (struct logstore_batch_entry){.data = payload[i],
						     .len = sizeof(payload[i])};
	}
	t_assert_ok(logstore_log_append_batch(log, b, 3, LOGSTORE_DURABLE));
	assert_int_equal(b[2].seq, 5);
	for (int i = 0; i < 3; i++)
		t_entries_push(&model, b[i].seq, b[i].time_ns, b[i].data,
			       b[i].len);
	for (size_t i = 0; i < 5; i++)
		off[i] = locate(log, &model, i).off;
	w = locate(log, &model, 4);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0); /* a crash */

	path = seg_path(ctx, w.name);
	/* The batch's records carry "more follows" except the last. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(t_read_at(path, &flags, 4, off[i] + 4), 0);
		assert_int_equal(flags & LS_RECORD_BATCH_MORE,
				 (i == 2 || i == 3) ? LS_RECORD_BATCH_MORE : 0);
		assert_int_equal(flags & LS_RECORD_LENGTH_MASK, model.v[i].len);
	}
	/* Tear the batch's last record: its payload's last byte. */
	assert_int_equal(
	    t_flip_bit(path,
		       off[4] + LS_RECORD_HEADER_BYTES + sizeof(payload[2]) - 1,
		       3),
	    0);

	log = t_open_small(ctx, SEG64);
	assert_true(stats_of(log).recovery_bytes_dropped > 0);
	assert_int_equal(stats_of(log).last_seq, 2);
	assert_zero_range(path, off[2],
			  (size_t)(off[4] - off[2]) + ls_record_bytes(300));
	struct t_entries kept = {0};

	for (size_t i = 0; i < 2; i++)
		t_entries_push(&kept, model.v[i].seq, model.v[i].time_ns,
			       model.v[i].data, model.v[i].len);
	t_assert_log(log, NULL, &kept, 0);
	t_append_data(log, &kept, "third", 5);
	assert_int_equal(kept.v[2].seq, 3);
	t_assert_log(log, NULL, &kept, 0);
	t_close(log);
	t_entries_free(&kept);
	t_entries_free(&model);
	free(path);
}

/*
 * 20 entries of 1000 bytes, 1000 ns apart, in 16 KiB segments (7, 7, 6),
 * closed. Returns the segment names (3).
 */
static void build_three_segments(struct t_ctx *ctx, struct t_entries *model,
				 char names[3][32])
{
	logstore_log *log = t_open_small(ctx, SEG16);
	struct logstore_segment_info *segs;
	size_t n;

	for (int i = 0; i < 20; i++) {
		t_append(log, model, 1000, (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
	}
	segs = t_segments(log, &n);
	assert_int_equal(n, 3);
	assert_int_equal(segs[0].entries, 7);
	for (int i = 0; i < 3; i++)
		memcpy(names[i], segs[i].name, 32);
	free(segs);
	t_close(log);
}

/* Byte offset of entry i's payload in segment 0 (i < 7). */
static uint64_t payload_off(int i)
{
	return LS_HEADER_BYTES + (uint64_t)i * ls_record_bytes(1000) +
	       LS_RECORD_HEADER_BYTES;
}

/* Read from the oldest: entries before bad, then ECORRUPT naming seg. */
static void expect_corrupt_at(logstore_log *log, const struct t_entries *model,
			      size_t bad, const char *seg)
{
	logstore_reader *reader;
	struct logstore_entry e;

	t_assert_ok(logstore_reader_open(log, NULL, &reader));
	for (size_t i = 0; i < bad; i++) {
		t_assert_ok(logstore_reader_next(reader, &e));
		assert_int_equal(e.seq, model->v[i].seq);
		assert_int_equal(e.len, model->v[i].len);
		assert_memory_equal(e.data, model->v[i].data, e.len);
	}
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_ECORRUPT);
	if (!strstr(logstore_error_detail(), seg)) {
		print_error("detail \"%s\" does not name %s\n",
			    logstore_error_detail(), seg);
		fail();
	}
	/* Never the wrong bytes later either. */
	int rc = logstore_reader_next(reader, &e);

	if (rc == 0) {
		assert_true(e.seq > model->v[bad].seq);
		assert_memory_equal(e.data, model->v[e.seq - 1].data, e.len);
	}
	logstore_reader_close(reader);
}

static void test_flip_in_sealed_segment_read_only(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	char names[3][32];
	logstore_log *log;
	char *path;

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[0]);
	assert_int_equal(t_flip_bit(path, payload_off(2) + 100, 5), 0);
	t_options(&opts, &ctx->clock, SEG16);
	opts.read_only = true;
	log = t_open(ctx->dir, &opts);
	expect_corrupt_at(log, &model, 2, names[0]);
	t_close(log);
	free(path);
	t_entries_free(&model);
}

static void test_flip_in_sealed_segment_writer(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	char names[3][32];
	unsigned char seal[64];
	logstore_log *log;
	char *path;
	struct logstore_entry e;
	unsigned char buf[1000];

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[0]);
	/* Segment 0 carries a valid seal. */
	assert_int_equal(t_read_at(path, seal, 64, LS_SEAL_OFFSET), 0);
	assert_memory_equal(seal, ls_seal_magic, 8);
	assert_int_equal(ls_get_u32(seal + 60), ls_crc32c(0, seal, 60));
	assert_int_equal(ls_get_u64(seal + 16), 7);

	assert_int_equal(t_flip_bit(path, payload_off(2) + 100, 5), 0);
	/* Open does not scan sealed segments. */
	log = t_open_small(ctx, SEG16);
	t_assert_ok(logstore_log_last_entry(log, &e, buf, sizeof(buf)));
	assert_int_equal(e.seq, 20);
	expect_corrupt_at(log, &model, 2, names[0]);
	/* Entries of the later segments are fine. */
	struct logstore_start start = t_start_seq(8);

	t_assert_log(log, &start, &model, 7);
	t_close(log);
	free(path);
	t_entries_free(&model);
}

static void test_flip_in_unsealed_older_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	char names[3][32];
	unsigned char zeros[64] = {0};
	logstore_log *log = NULL;
	char *path;

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[0]);
	assert_int_equal(t_write_at(path, zeros, 64, LS_SEAL_OFFSET), 0);
	assert_int_equal(t_flip_bit(path, payload_off(2) + 100, 5), 0);
	/* Without a seal the segment is scanned: corruption before the tail. */
	t_options(&opts, &ctx->clock, SEG16);
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log),
		    LOGSTORE_ECORRUPT);
	if (!strstr(logstore_error_detail(), names[0])) {
		print_error("detail \"%s\" does not name %s\n",
			    logstore_error_detail(), names[0]);
		fail();
	}
	free(path);
	t_entries_free(&model);
}

static void test_missing_seal_is_scanned(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	char names[3][32];
	unsigned char zeros[64] = {0};
	struct logstore_segment_info *segs;
	logstore_log *log;
	size_t n;
	char *path;

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[0]);
	assert_int_equal(t_write_at(path, zeros, 64, LS_SEAL_OFFSET), 0);
	log = t_open_small(ctx, SEG16);
	segs = t_segments(log, &n);
	assert_int_equal(n, 3);
	assert_int_equal(segs[0].entries, 7);
	assert_int_equal(segs[0].last_seq, 7);
	assert_int_equal(segs[0].last_time_ns, model.v[6].time_ns);
	free(segs);
	t_assert_log(log, NULL, &model, 0);
	struct logstore_start start = t_start_time(model.v[5].time_ns);

	t_assert_log(log, &start, &model, 5);
	t_close(log);
	free(path);
	t_entries_free(&model);
}

static void test_damaged_index_is_rebuilt(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	char names[3][32];
	unsigned char junk[64];
	logstore_log *log;
	char *path;

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[0]);
	t_fill(junk, sizeof(junk), 7);
	assert_int_equal(
	    t_write_at(path, junk, sizeof(junk), ls_index_offset(SEG16)), 0);
	log = t_open_small(ctx, SEG16);
	for (size_t i = 0; i < 7; i++) {
		struct logstore_start start = t_start_time(model.v[i].time_ns);

		t_assert_log(log, &start, &model, i);
		start = t_start_time(model.v[i].time_ns - 1);
		t_assert_log(log, &start, &model, i);
	}
	t_close(log);
	free(path);
	t_entries_free(&model);
}

static void test_bad_header_crc_of_older_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	char names[3][32];
	logstore_log *log = NULL;
	char *path;

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[1]);
	/* first_time's low byte: the header crc no longer matches. */
	assert_int_equal(t_flip_bit(path, 32, 0), 0);
	t_options(&opts, &ctx->clock, SEG16);
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log),
		    LOGSTORE_ECORRUPT);
	free(path);
	t_entries_free(&model);
}

/*
 * A non-last segment cut short: the engine must report corruption (at
 * open or at the read that reaches the missing bytes), never crash on a
 * mapping past the end of the file.
 */
static void test_truncated_older_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	char names[3][32];
	logstore_log *log = NULL;
	char *path;
	int rc;

	build_three_segments(ctx, &model, names);
	path = seg_path(ctx, names[0]);
	/* Record 3 straddles the cut at 8192: its payload's end is gone. */
	assert_true(payload_off(3) < 8192 && payload_off(4) > 8192);
	assert_int_equal(t_truncate(path, 8192), 0);
	t_options(&opts, &ctx->clock, SEG16);
	opts.read_only = true;
	rc = logstore_log_open(ctx->dir, &opts, &log);
	if (rc == 0) {
		expect_corrupt_at(log, &model, 3, names[0]);
		t_close(log);
	} else {
		t_assert_rc(rc, LOGSTORE_ECORRUPT);
	}
	free(path);
	t_entries_free(&model);
}

/*
 * Open reads the header page of a sealed segment, not its records: a log
 * of 1000 segments with a damaged record in the middle one opens, lists
 * every segment from the seals, and only a reader that reaches the damage
 * reports it.
 */
static void test_thousand_segments_open_without_scanning(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct t_entries seen = {0};
	struct logstore_options opts;
	size_t len = t_data_bytes(SEG16) - 32; /* one entry fills a segment */
	char (*names)[64] = calloc(1000, 64);
	logstore_log *log;
	size_t n;

	t_options(&opts, &ctx->clock, SEG16);
	opts.durability = LOGSTORE_BUFFERED;
	log = t_open(ctx->dir, &opts);
	for (uint64_t i = 0; i < 1000; i++)
		t_append(log, &model, len, i);
	t_close(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 1000), 1000);

	char *path = seg_path(ctx, names[499]);
	assert_int_equal(t_flip_bit(path, LS_HEADER_BYTES + 32 + 10, 3), 0);
	log = t_open(ctx->dir, &opts);
	struct logstore_segment_info *segs = t_segments(log, &n);
	assert_int_equal(n, 1000);
	assert_int_equal(segs[499].first_seq, 500);
	assert_int_equal(segs[499].last_seq, 500);
	assert_int_equal(segs[499].entries, 1);
	assert_int_equal(segs[998].last_time_ns, model.v[998].time_ns);
	assert_true(segs[999].active);
	free(segs);

	t_assert_rc(t_read_all(log, NULL, &seen), LOGSTORE_ECORRUPT);
	assert_int_equal(seen.n, 499);
	assert_non_null(strstr(logstore_error_detail(), names[499]));
	struct logstore_start after = t_start_seq(501);
	t_assert_log(log, &after, &model, 500);
	t_close(log);
	t_entries_free(&seen);
	t_entries_free(&model);
	free(path);
	free(names);
}

static void test_stray_tmp_removed(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	char *tmp = t_path(ctx->dir, "00000000000000000099.seg.tmp");
	unsigned char junk[4096];
	logstore_log *log;
	char names[8][64];

	log = t_open_small(ctx, SEG16);
	t_append_data(log, &model, "kept", 4);
	t_close(log);
	t_fill(junk, sizeof(junk), 1);
	assert_int_equal(t_write_file(tmp, junk, sizeof(junk)), 0);
	log = t_open_small(ctx, SEG16);
	assert_false(t_file_exists(tmp));
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	t_assert_log(log, NULL, &model, 0);
	t_append_data(log, &model, "more", 4);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	free(tmp);
	t_entries_free(&model);
}

/*
 * A write-back or fsync failure: the failing append reports it, every
 * later write call returns LOGSTORE_EFAILED, committed entries stay
 * readable, and after a reopen the log works again.
 */
static void fail_stop(struct t_ctx *ctx, enum ls_sys_op op, int durability)
{
	bool uring = op == LS_SYS_URING_WRITE || op == LS_SYS_URING_FSYNC;
	struct t_entries model = {0};
	struct logstore_batch_entry b = {.data = "b", .len = 1};
	unsigned char attempted[200];
	logstore_log *log = t_open_small(ctx, SEG64);
	logstore_reader *early;
	struct logstore_entry e;
	struct t_entries seen = {0};
	uint64_t seq;
	int rc;

	/* Durable batches go through io_uring only when asked (tests). */
	ls_writer_durable_uring(log, uring);

	for (int i = 0; i < 5; i++)
		t_append(log, &model, 100 + (size_t)i, (uint64_t)i);
	t_assert_ok(logstore_reader_open(log, NULL, &early));
	t_assert_ok(logstore_reader_next(early, &e));
	assert_int_equal(e.seq, 1);

	t_fill(attempted, sizeof(attempted), 99);
	/* The next segment is prepared in the background with pwrite. */
	ls_prepare_wait_idle(log);
	ls_fault_set(op, 1, EIO);
	rc = logstore_log_append(log, attempted, sizeof(attempted), durability,
				 &seq, NULL);
	assert_true(ls_fault_calls(op) >= 1);
	if (rc != LOGSTORE_EFAILED && rc != -EIO) {
		print_error("append after injected EIO returned %d (%s)\n", rc,
			    logstore_strerror(rc));
		fail();
	}
	assert_int_not_equal(stats_of(log).failed, 0);
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EFAILED);
	t_assert_rc(
	    logstore_log_append(log, "x", 1, LOGSTORE_BUFFERED, &seq, NULL),
	    LOGSTORE_EFAILED);
	t_assert_rc(logstore_log_append_at(log, T_TIME0 + 100 * T_SECOND, "x",
					   1, 0, &seq),
		    LOGSTORE_EFAILED);
	t_assert_rc(logstore_log_append_batch(log, &b, 1, 0), LOGSTORE_EFAILED);
	t_assert_rc(logstore_log_sync(log), LOGSTORE_EFAILED);
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EFAILED);

	/* The reader opened before the failure reads on. */
	for (size_t i = 1; i < 5; i++) {
		t_assert_ok(logstore_reader_next(early, &e));
		assert_int_equal(e.seq, model.v[i].seq);
		assert_int_equal(e.len, model.v[i].len);
		assert_memory_equal(e.data, model.v[i].data, e.len);
	}
	logstore_reader_close(early);
	/* A new reader: the committed entries, never wrong bytes. */
	rc = t_read_all(log, NULL, &seen);
	assert_int_equal(rc, LOGSTORE_END);
	assert_true(seen.n == 5 || seen.n == 6);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(seen.v[i].seq, i + 1);
		assert_int_equal(seen.v[i].len, model.v[i].len);
		assert_memory_equal(seen.v[i].data, model.v[i].data,
				    model.v[i].len);
	}
	t_entries_free(&seen);
	logstore_log_close(log); /* may report the failure */

	ls_fault_clear();
	log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).failed, 0);
	rc = t_read_all(log, NULL, &seen);
	assert_int_equal(rc, LOGSTORE_END);
	/* The failed append may or may not have reached the disk. */
	assert_true(seen.n == 5 || seen.n == 6);
	if (seen.n == 6) {
		assert_int_equal(seen.v[5].len, sizeof(attempted));
		assert_memory_equal(seen.v[5].data, attempted,
				    sizeof(attempted));
		t_entries_push(&model, seen.v[5].seq, seen.v[5].time_ns,
			       attempted, sizeof(attempted));
	}
	t_entries_free(&seen);
	t_assert_log(log, NULL, &model, 0);
	t_clock_advance(&ctx->clock, T_SECOND);
	t_append_data(log, &model, "after", 5);
	assert_int_equal(model.v[model.n - 1].seq, model.n);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A rollover leaves the new segment under its prepared name until a sync
 * makes its header durable: buffered appends never sync. A read-only
 * handle reads it under that name; the writer's sync renames it, and the
 * read-only reader goes on with no entry twice or missing. A prepared
 * file with a valid header that would not come last is stale: the next
 * writer open deletes it, read-only handles ignore it.
 */
static void test_pending_segment_name(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	logstore_log *log, *ro;
	logstore_reader *r;
	char names[8][64];
	unsigned char buf[1000];

	log = t_open_small(ctx, SEG16);
	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	ls_prepare_wait_idle(log);
	for (int i = 0; i < 3; i++) {
		uint64_t seq;
		int64_t time_ns;
		t_fill(buf, sizeof(buf), 30 + (uint64_t)i);
		t_assert_ok(logstore_log_append(log, buf, sizeof(buf),
						LOGSTORE_BUFFERED, &seq,
						&time_ns));
		t_entries_push(&model, seq, time_ns, buf, sizeof(buf));
	}
	ls_prepare_wait_idle(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);

	t_options(&opts, &ctx->clock, SEG16);
	opts.read_only = true;
	ro = t_open(ctx->dir, &opts);
	t_assert_log(ro, NULL, &model, 0);
	t_assert_ok(logstore_reader_open(ro, NULL, &r));
	for (size_t i = 0; i < 9; i++) {
		struct logstore_entry e;
		t_assert_ok(logstore_reader_next(r, &e));
		assert_int_equal(e.seq, i + 1);
	}
	t_assert_ok(logstore_log_sync(log)); /* renames it */
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 2);
	t_append(log, &model, 1000, 40);
	for (size_t i = 9; i < model.n; i++) {
		struct logstore_entry e;
		t_assert_ok(logstore_reader_next(r, &e));
		assert_int_equal(e.seq, model.v[i].seq);
		assert_int_equal(e.len, model.v[i].len);
		assert_memory_equal(e.data, model.v[i].data, e.len);
	}
	struct logstore_entry e;
	t_assert_rc(logstore_reader_next(r, &e), LOGSTORE_END);
	logstore_reader_close(r);
	t_assert_log(ro, NULL, &model, 0);
	t_close(ro);
	t_close(log);

	/* A stale prepared file: the header of the first segment. */
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 2);
	char *first = t_path(ctx->dir, names[0]);
	char *stale = t_path(ctx->dir, "prepared-999.seg.tmp");
	unsigned char page[4096];
	assert_int_equal(t_read_at(first, page, sizeof(page), 0), 0);
	assert_int_equal(t_write_file(stale, page, sizeof(page)), 0);
	ro = t_open(ctx->dir, &opts);
	t_assert_log(ro, NULL, &model, 0);
	t_close(ro);
	assert_true(t_file_exists(stale));
	opts.read_only = false;
	log = t_open(ctx->dir, &opts);
	assert_false(t_file_exists(stale));
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	free(first);
	free(stale);
	t_entries_free(&model);
}

static void test_fsync_failure_is_sticky(void **state)
{
	fail_stop(ctx_of(state), LS_SYS_URING_FSYNC, LOGSTORE_DURABLE);
}

static void test_write_failure_is_sticky(void **state)
{
	fail_stop(ctx_of(state), LS_SYS_URING_WRITE, LOGSTORE_DURABLE);
}

/* The same when the leader writes with pwrite and syncs with fdatasync. */
static void test_direct_fsync_failure_is_sticky(void **state)
{
	fail_stop(ctx_of(state), LS_SYS_FDATASYNC, LOGSTORE_DURABLE);
}

static void test_direct_write_failure_is_sticky(void **state)
{
	fail_stop(ctx_of(state), LS_SYS_PWRITE, LOGSTORE_DURABLE);
}

/* Buffered batches reach the page cache with a plain pwrite. */
static void test_buffered_write_failure_is_sticky(void **state)
{
	fail_stop(ctx_of(state), LS_SYS_PWRITE, LOGSTORE_BUFFERED);
}

static void test_short_write_completed(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_batch_entry b[4];
	unsigned char payload[4][777];
	logstore_log *log = t_open_small(ctx, SEG64);

	ls_writer_durable_uring(log, true); /* short io_uring writes */
	for (int i = 0; i < 3; i++)
		t_append(log, &model, 100, (uint64_t)i);
	uint64_t writes = ls_fault_calls(LS_SYS_URING_WRITE);
	uint64_t pwrites = ls_fault_calls(LS_SYS_PWRITE);

	ls_fault_set_short(LS_SYS_URING_WRITE, 1, 10);
	t_append(log, &model, 3000, 3);
	/* The missing 10 bytes were written again, one way or another. */
	assert_true(ls_fault_calls(LS_SYS_URING_WRITE) >= writes + 2 ||
		    ls_fault_calls(LS_SYS_PWRITE) >= pwrites + 1);
	assert_int_equal(stats_of(log).failed, 0);
	t_assert_log(log, NULL, &model, 0);

	/* A batch whose write is cut short by more than a record. */
	for (int i = 0; i < 4; i++) {
		t_fill(payload[i], sizeof(payload[i]), 20 + (uint64_t)i);
		b[i] = (struct logstore_batch_entry){.data = payload[i],
						     .len = sizeof(payload[i])};
	}
	ls_fault_set_short(LS_SYS_URING_WRITE, 1, 1000);
	t_assert_ok(logstore_log_append_batch(log, b, 4, LOGSTORE_DURABLE));
	for (int i = 0; i < 4; i++)
		t_entries_push(&model, b[i].seq, b[i].time_ns, b[i].data,
			       b[i].len);
	t_append(log, &model, 10, 30);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	ls_fault_clear();
	log = t_open_small(ctx, SEG64);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_enospc_at_segment_creation(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char buf[1000];
	logstore_log *log;
	uint64_t seq, calls;
	char names[8][64];
	size_t n;

	/* The first segment. */
	log = t_open_small(ctx, SEG16);
	calls = ls_fault_calls(LS_SYS_FALLOCATE);
	ls_fault_set(LS_SYS_FALLOCATE, 1, ENOSPC);
	t_fill(buf, sizeof(buf), 1);
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	assert_int_equal(ls_fault_calls(LS_SYS_FALLOCATE), calls + 1);
	free(t_segments(log, &n));
	assert_int_equal(n, 0);
	logstore_log_close(log);
	ls_fault_clear();
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 0);

	/*
	 * A rollover: the full segment before it is intact. The first
	 * segment is created by the first append (fallocate 1), the next
	 * one is prepared in the background right after (fallocate 2): that
	 * one fails, and the rollover that needs it reports it.
	 */
	ls_fault_clear();
	ls_fault_set(LS_SYS_FALLOCATE, 2, ENOSPC);
	log = t_open_small(ctx, SEG16);
	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	assert_true(ls_fault_calls(LS_SYS_FALLOCATE) >= 2);
	t_assert_log(log, NULL, &model, 0);
	logstore_log_close(log);
	ls_fault_clear();

	log = t_open_small(ctx, SEG16);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	t_assert_log(log, NULL, &model, 0);
	t_append_data(log, &model, buf, sizeof(buf));
	assert_int_equal(model.v[7].seq, 8);
	free(t_segments(log, &n));
	assert_int_equal(n, 2);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * After a rollover failed (ENOSPC), no segment is active: the newest one
 * is sealed and the next append will create its successor. Retention
 * must still not make sequence numbers start over: whatever it removes,
 * the next entry after a reopen gets the next sequence number.
 */
static void test_seq_not_reused_after_failed_rollover(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char buf[1000];
	logstore_log *log;
	uint64_t seq = 0;
	size_t removed = 0;

	/* The background preparation of segment 2 fails: see above. */
	ls_fault_set(LS_SYS_FALLOCATE, 2, ENOSPC);
	log = t_open_small(ctx, SEG16);
	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	t_fill(buf, sizeof(buf), 1);
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	ls_fault_clear();
	t_assert_ok(logstore_log_remove_older_than(log, INT64_MAX, &removed));
	t_close(log);

	log = t_open_small(ctx, SEG16);
	t_assert_ok(logstore_log_append(log, "next", 4, 0, &seq, NULL));
	if (seq != 8)
		print_error("retention removed %zu segment(s); the next "
			    "append after reopen got seq %llu, not 8\n",
			    removed, (unsigned long long)seq);
	assert_int_equal(seq, 8);
	t_close(log);
	t_entries_free(&model);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_torn_tail_garbage),
	    T(test_pending_segment_name),
	    T(test_torn_tail_bad_crc_record),
	    T(test_torn_tail_half_record),
	    T(test_torn_tail_far_garbage),
	    T(test_torn_tail_last_record),
	    T(test_corruption_inside_last_segment),
	    T(test_clean_reopen_drops_nothing),
	    T(test_torn_atomic_batch),
	    T(test_power_loss_lost_sector_is_torn_tail),
	    T(test_power_loss_lost_header_start_is_torn_tail),
	    T(test_clean_close_reopen),
	    T(test_clean_close_with_garbage_after_end),
	    T(test_clean_close_seal_vouches_for_damaged_records),
	    T(test_length_flip_mid_last_segment),
	    T(test_length_flip_first_record),
	    T(test_flip_in_sealed_segment_read_only),
	    T(test_flip_in_sealed_segment_writer),
	    T(test_flip_in_unsealed_older_segment),
	    T(test_missing_seal_is_scanned),
	    T(test_damaged_index_is_rebuilt),
	    T(test_bad_header_crc_of_older_segment),
	    T(test_truncated_older_segment),
	    T(test_stray_tmp_removed),
	    T(test_thousand_segments_open_without_scanning),
	    T(test_fsync_failure_is_sticky),
	    T(test_write_failure_is_sticky),
	    T(test_direct_fsync_failure_is_sticky),
	    T(test_direct_write_failure_is_sticky),
	    T(test_buffered_write_failure_is_sticky),
	    T(test_short_write_completed),
	    T(test_enospc_at_segment_creation),
	    T(test_seq_not_reused_after_failed_rollover),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("recovery", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Verification and repair: the checks behind `logstore verify` and
 * `logstore repair`, public so that a service embedding the library can
 * run them too.
 *
 * Verify walks every segment of an open handle (writer or read-only)
 * with the reader's record check (format.h rules 1-5), from the first
 * record to the committed end taken when the segment is reached. For a
 * sealed segment it also checks the seal against the walk (count, last
 * seq), the time index (its checksum, and that every entry names a record
 * with that seq and time), and that only zeros follow the records. It
 * reads only; it holds segs_mu just to take a reference, so appends and
 * readers go on meanwhile.
 *
 * Repair works on a closed log: it takes the writer lock itself (so no
 * writer can open meanwhile), loads the last segment with the segment.c
 * helpers, and decides the same way a writer's recovery does (a torn
 * tail is cut; an invalid record followed by a written one is damage and
 * is refused unless forced). Before anything in the segment changes, the
 * bytes to be cut are copied to a side file and made durable. Only the
 * last segment is repaired: cutting an older one would leave a hole in
 * the sequence numbers.
 *
 * Failure modes: damage is LOGSTORE_ECORRUPT with segment and offset in
 * logstore_error_detail(); a failed write while repairing leaves the
 * segment as it was or with part of the tail zeroed, never with a valid
 * record changed (only bytes at or after the end of the valid records
 * are written), and the side file already holds the cut bytes.
 *
 * Sections: verify (one segment, the index, the log); repair (lock,
 * last segment, side file, cut).
 */
#include "crc32c.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Progress is reported at least this often while walking records. */
#define LS_VERIFY_PROGRESS_BYTES (16u * 1024 * 1024)

/* ---- verify ---- */

/* What a walk of one segment is checked against; taken under segs_mu. */
struct verify_seg {
	struct ls_segment *seg; /* referenced and mapped */
	uint64_t end;		/* committed end when taken */
	bool sealed;		/* final: the seal and the index are checked */
	uint64_t entry_count;	/* committed records at end (sealed) */
	uint64_t last_seq;
};

struct verify_run {
	logstore_log *log;
	void (*progress)(const struct logstore_verify_progress *, void *);
	void *progress_ctx;
	struct logstore_verify_progress at;
	struct logstore_verify_result res;
	uint64_t prev_first_seq; /* of the previous segment with records */
	uint64_t prev_last_seq;	 /* of it; 0 before the first */
	int64_t prev_last_time;
};

static void report(struct verify_run *v)
{
	if (v->progress)
		v->progress(&v->at, v->progress_ctx);
}

static int damaged(struct verify_run *v, const struct ls_segment *seg,
		   uint64_t off, const char *fmt, const char *what)
{
	snprintf(v->res.bad_segment, sizeof(v->res.bad_segment), "%s",
		 seg->name);
	v->res.bad_offset = off;
	return ls_error(LOGSTORE_ECORRUPT, "%s/%s offset %" PRIu64 ": %s%s",
			v->log->dir, seg->name, off, fmt, what);
}

/*
 * The time index entries of a sealed segment, checked against its seal.
 * Returns the count (0 if none) or a negative code after reporting.
 */
static int64_t index_of(struct verify_run *v, const struct verify_seg *vs,
			const struct ls_index_entry **out)
{
	const struct ls_segment *seg = vs->seg;
	uint32_t n = seg->disk_index_count;
	const uint8_t *p = seg->map + seg->index_offset;
	*out = (const struct ls_index_entry *)(const void *)p;
	if (!vs->sealed || n == 0)
		return 0;
	if (ls_crc32c(0, p, (size_t)n * LS_INDEX_ENTRY_BYTES) !=
	    seg->disk_index_crc)
		return damaged(v, seg, seg->index_offset,
			       "time index checksum mismatch", "");
	return n;
}

/* Whether the segment that starts at first_seq is still in the list. */
static bool still_listed(logstore_log *log, uint64_t first_seq)
{
	bool found = false;
	pthread_mutex_lock(&log->segs_mu);
	for (size_t i = 0; i < log->nsegs && !found; i++)
		found = log->segs[i]->first_seq == first_seq;
	pthread_mutex_unlock(&log->segs_mu);
	return found;
}

/*
 * A segment with records starts where the previous one ended. A gap is
 * not damage when the previous segment has left the list meanwhile:
 * retention removes the oldest segments first, so the ones between went
 * with it. If it is still listed, nothing between can have been removed.
 */
static int verify_follows(struct verify_run *v, const struct ls_segment *seg,
			  uint64_t last_seq, int64_t last_time)
{
	bool gap = v->prev_last_seq && seg->first_seq != v->prev_last_seq + 1;
	if (gap && still_listed(v->log, v->prev_first_seq))
		return damaged(v, seg, LS_HEADER_BYTES,
			       "first sequence number does not follow the "
			       "previous segment",
			       "");
	if (!gap && v->prev_last_seq && seg->first_time <= v->prev_last_time)
		return damaged(v, seg, LS_HEADER_BYTES,
			       "first time not after the previous segment's",
			       "");
	v->prev_first_seq = seg->first_seq;
	v->prev_last_seq = last_seq;
	v->prev_last_time = last_time;
	return 0;
}

/* Walk the records of one segment from its first to vs->end. */
static int verify_records(struct verify_run *v, const struct verify_seg *vs)
{
	struct ls_segment *seg = vs->seg;
	const struct ls_index_entry *ix;
	int64_t n_ix = index_of(v, vs, &ix);
	if (n_ix < 0)
		return (int)n_ix;
	uint64_t off = LS_HEADER_BYTES, seq = seg->first_seq, count = 0;
	uint64_t since = 0;
	int64_t prev_time = INT64_MIN, j = 0;
	struct ls_record r;
	while (off < vs->end) {
		int why =
		    ls_record_check(seg, off, vs->end, seq, prev_time, &r);
		if (why)
			return damaged(v, seg, off, ls_record_reason(why), "");
		if (j < n_ix && ix[j].offset == off) {
			if (ix[j].time != r.time ||
			    seg->first_seq + ix[j].seq_delta != r.seq)
				return damaged(v, seg, off,
					       "time index entry does not "
					       "match the record",
					       "");
			j++;
		}
		off += r.bytes;
		since += r.bytes;
		seq++;
		prev_time = r.time;
		count++;
		if (since >= LS_VERIFY_PROGRESS_BYTES) {
			v->at.bytes_done += since;
			since = 0;
			report(v);
		}
	}
	v->at.bytes_done += since;
	v->res.entries += count;
	v->res.bytes += off - LS_HEADER_BYTES;
	v->res.index_entries += (uint64_t)j;
	if (j < n_ix)
		return damaged(v, seg, seg->index_offset + (uint64_t)j * 16,
			       "time index entry names no record", "");
	if (vs->sealed && (count != vs->entry_count || seq - 1 != vs->last_seq))
		return damaged(v, seg, LS_SEAL_OFFSET,
			       "seal does not match the records", "");
	return count ? verify_follows(v, seg, seq - 1, prev_time) : 0;
}

/* Only zeros may follow the records of a sealed segment. */
static int verify_tail(struct verify_run *v, const struct verify_seg *vs)
{
	if (!vs->sealed)
		return 0;
	uint64_t nz = ls_segment_nonzero_tail(vs->seg, vs->end);
	if (nz == vs->end)
		return 0;
	/* Report the first non-zero byte, not the last. */
	uint64_t off = vs->end;
	while (off < nz && ls_get_u64(vs->seg->map + off) == 0)
		off += 8;
	return damaged(v, vs->seg, off,
		       "bytes after the last record of a sealed segment", "");
}

/*
 * Take the oldest segment that starts after after_seq (0: the oldest of
 * all). By first seq, not by index: a writer's retention may remove
 * segments from the front of the list meanwhile. Returns 0, LOGSTORE_END
 * when there is none, or the error of mapping it (-ENOENT: its file was
 * removed, on a read-only handle).
 */
static int take(logstore_log *log, uint64_t after_seq, struct verify_seg *vs)
{
	memset(vs, 0, sizeof(*vs));
	pthread_mutex_lock(&log->segs_mu);
	size_t i = 0;
	while (i < log->nsegs && log->segs[i]->first_seq <= after_seq &&
	       after_seq != 0)
		i++;
	struct ls_segment *seg = i < log->nsegs ? log->segs[i] : NULL;
	int rc = seg ? ls_segment_map(seg) : LOGSTORE_END;
	if (seg) {
		ls_segment_ref(seg); /* also on error: the caller moves on */
		vs->seg = seg;
		vs->end = atomic_load(&seg->end);
		vs->sealed = atomic_load(&seg->sealed);
		vs->entry_count = seg->entry_count;
		vs->last_seq = seg->last_seq;
	}
	pthread_mutex_unlock(&log->segs_mu);
	return rc;
}

static void totals(logstore_log *log, struct verify_run *v)
{
	pthread_mutex_lock(&log->segs_mu);
	v->at.segment_count = log->nsegs;
	for (size_t i = 0; i < log->nsegs; i++)
		v->at.bytes_total +=
		    atomic_load(&log->segs[i]->end) - LS_HEADER_BYTES;
	pthread_mutex_unlock(&log->segs_mu);
}

int logstore_log_verify(
    logstore_log *log,
    void (*verify_progress)(const struct logstore_verify_progress *, void *),
    void *progress_ctx, struct logstore_verify_result *result)
{
	if (result)
		memset(result, 0, sizeof(*result));
	if (!log)
		return ls_error(-EINVAL, "log is required");
	int rc = ls_log_refresh(log);
	if (rc)
		return rc;
	struct verify_run v = {.log = log,
			       .progress = verify_progress,
			       .progress_ctx = progress_ctx};
	totals(log, &v);
	uint64_t after = 0;
	for (size_t i = 0; !rc; i++) {
		struct verify_seg vs;
		rc = take(log, after, &vs);
		if (rc == LOGSTORE_END) {
			rc = 0;
			break;
		}
		after = vs.seg->first_seq;
		if (rc == -ENOENT && log->read_only) {
			/* Removed by the writer meanwhile: nothing follows it.
			 */
			v.prev_last_seq = 0;
			rc = 0;
		} else if (!rc) {
			v.at.segment = vs.seg->name;
			v.at.segment_index = i;
			if (i >= v.at.segment_count)
				v.at.segment_count = i + 1;
			rc = verify_records(&v, &vs);
			if (!rc)
				rc = verify_tail(&v, &vs);
			if (!rc)
				v.res.segments++;
			if (!rc)
				report(&v);
			v.at.segment = NULL;
		}
		ls_segment_unref(vs.seg);
	}
	if (result)
		*result = v.res;
	return rc;
}

/* ---- repair ---- */

struct repair {
	const char *dir;
	int dir_fd;
	int lock_fd;
	unsigned flags;
	struct logstore_repair_result res;
	logstore_log shell; /* only dir: what segment.c needs to name files */
};

static int repair_lock(struct repair *rp)
{
	rp->dir_fd = open(rp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rp->dir_fd < 0)
		return ls_error(-errno, "%s: %s", rp->dir, strerror(errno));
	rp->lock_fd =
	    openat(rp->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (rp->lock_fd < 0)
		return ls_error(-errno, "%s/LOCK: %s", rp->dir,
				strerror(errno));
	struct flock fl = {
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	if (fcntl(rp->lock_fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return ls_error(LOGSTORE_ELOCKED,
				"%s: a writer holds LOCK; close it before "
				"repairing",
				rp->dir);
	return ls_error(-errno, "%s/LOCK: lock: %s", rp->dir, strerror(errno));
}

/*
 * The name of the newest segment in the directory; "" if none. Listed as
 * a writer's open lists it: an activated prepared file that comes last
 * is adopted first (renamed, directory fsynced), since it may hold the
 * newest records and their torn tail; repair holds LOCK, as a writer.
 */
static int last_name(struct repair *rp, char name[32])
{
	name[0] = '\0';
	rp->shell.dir_fd = rp->dir_fd;
	char **names = NULL;
	size_t n = 0;
	int rc = ls_log_list_names(&rp->shell, &names, &n);
	if (!rc && n > 0)
		snprintf(name, 32, "%s", names[n - 1]);
	ls_log_free_names(names, n);
	return rc;
}

/* Copy [from, to) of the mapping into a new file, durably. */
static int save_cut(struct repair *rp, const struct ls_segment *seg,
		    uint64_t from, uint64_t to)
{
	const char *path = rp->res.save_path;
	int fd =
	    ls_sys_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ls_error(fd, "%s: creating the side file: %s", path,
				strerror(-fd));
	int rc = ls_sys_pwrite_all(fd, seg->map + from, to - from, 0);
	if (!rc)
		rc = ls_sys_fsync(fd);
	close(fd);
	if (rc) {
		unlink(path);
		return ls_error(rc, "%s: writing the side file: %s", path,
				strerror(-rc));
	}
	/* Its name must be durable before the bytes go from the segment. */
	char *copy = strdup(path);
	char *slash = copy ? strrchr(copy, '/') : NULL;
	if (slash)
		*slash = '\0';
	int dfd = copy ? open(slash ? (slash == copy ? "/" : copy) : ".",
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		       : -1;
	free(copy);
	rc = dfd < 0 ? -errno : ls_sys_fsync(dfd);
	if (dfd >= 0)
		close(dfd);
	if (rc)
		return ls_error(rc, "%s: fsync of its directory: %s", path,
				strerror(-rc));
	return 0;
}

/* Zero [from, to) of the segment and clear a seal that no longer holds. */
static int cut(const struct ls_segment *seg, uint64_t from, uint64_t to,
	       bool clear_seal)
{
	static const uint8_t zeros[64 * 1024];
	int fd = ls_sys_open(seg->path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return ls_error(fd, "segment %s: open: %s", seg->name,
				strerror(-fd));
	int rc = 0;
	for (uint64_t off = from; !rc && off < to; off += sizeof(zeros)) {
		uint64_t n =
		    to - off < sizeof(zeros) ? to - off : sizeof(zeros);
		rc = ls_sys_pwrite_all(fd, zeros, n, off);
	}
	if (!rc && clear_seal)
		rc = ls_sys_pwrite_all(fd, zeros, sizeof(struct ls_seal),
				       LS_SEAL_OFFSET);
	if (!rc)
		rc = ls_sys_fdatasync(fd);
	close(fd);
	if (rc)
		return ls_error(rc, "segment %s: cutting the tail: %s",
				seg->name, strerror(-rc));
	return 0;
}

/*
 * Decide where the last segment's records end and whether what follows
 * is a torn tail; then save and cut. seg is loaded and mapped.
 */
static int repair_segment(struct repair *rp, struct ls_segment *seg)
{
	bool had_seal = seg->reopenable || atomic_load(&seg->sealed);
	uint64_t vouched = had_seal ? atomic_load(&seg->end) : 0;
	struct ls_scan st;
	ls_segment_scan(seg, LS_HEADER_BYTES, seg->first_seq - 1, INT64_MIN,
			false, &st);
	bool damage =
	    ls_segment_corrupt_before_tail(seg, &st) || st.end < vouched;
	uint64_t torn_end = ls_segment_nonzero_tail(seg, st.end);
	rp->res.end_offset = st.end;
	if (damage && !(rp->flags & LOGSTORE_REPAIR_FORCE))
		return ls_error(LOGSTORE_ECORRUPT,
				"%s/%s offset %" PRIu64
				": invalid record (expected seq %" PRIu64
				") before records that were written: damage, "
				"not a torn tail; not cut without --force",
				rp->dir, seg->name, st.bad_off, st.bad_seq);
	if (torn_end == st.end && st.end == vouched)
		return 0; /* clean */
	if (torn_end == st.end && !had_seal)
		return 0; /* nothing after the records */
	rp->res.forced = damage;
	rp->res.cut_bytes = torn_end - st.end;
	if (rp->res.save_path[0] == '\0')
		snprintf(rp->res.save_path, sizeof(rp->res.save_path),
			 "%s/%s.cut-%" PRIu64, rp->dir, seg->name, st.end);
	int rc = 0;
	if (torn_end > st.end)
		rc = save_cut(rp, seg, st.end, torn_end);
	else
		rp->res.save_path[0] = '\0';
	if (!rc)
		rc = cut(seg, st.end, torn_end, had_seal && st.end != vouched);
	return rc;
}

int logstore_log_repair(const char *dir, const char *save_path, unsigned flags,
			struct logstore_repair_result *result)
{
	if (result)
		memset(result, 0, sizeof(*result));
	if (!dir || (flags & ~LOGSTORE_REPAIR_FORCE))
		return ls_error(-EINVAL, "dir is required; unknown flags");
	struct repair rp = {
	    .dir = dir, .dir_fd = -1, .lock_fd = -1, .flags = flags};
	rp.shell.dir = (char *)dir;
	if (save_path)
		snprintf(rp.res.save_path, sizeof(rp.res.save_path), "%s",
			 save_path);
	char name[32] = "";
	struct ls_segment *seg = NULL;
	int rc = repair_lock(&rp);
	if (!rc)
		rc = last_name(&rp, name);
	if (!rc && name[0]) {
		snprintf(rp.res.segment, sizeof(rp.res.segment), "%s", name);
		rc = ls_segment_load(&rp.shell, name, NULL, &seg);
		if (rc) {
			char detail[512];
			snprintf(detail, sizeof(detail), "%s",
				 logstore_error_detail());
			rc = ls_error(rc, "%s: %s", dir, detail);
		}
	}
	if (!rc && seg)
		rc = ls_segment_map(seg);
	if (!rc && seg)
		rc = repair_segment(&rp, seg);
	ls_segment_unref(seg);
	if (rp.lock_fd >= 0)
		close(rp.lock_fd);
	if (rp.dir_fd >= 0)
		close(rp.dir_fd);
	if (!name[0] || rp.res.cut_bytes == 0)
		rp.res.save_path[0] = '\0';
	if (result)
		*result = rp.res;
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Segment files: the unit of preallocation, mapping and retention.
 *
 * Owns: creating a segment (temporary name, preallocate, zero-fill,
 * fdatasync, directory fsync; header and rename at activation), loading
 * one from its header page, the read-only mapping shared by every reader
 * of a log handle, checking records against format.h's validity rules,
 * scanning records, sealing (index + seal, fdatasync) and index lookups.
 *
 * Invariants: a .seg file has a durable header (the file is renamed to
 * it only after a sync); a mapping covers the whole capacity and is made
 * only after fstat shows the file is that large, so no access can fault
 * past its end; a segment is freed when its last reference goes, so a
 * reader keeps a removed segment's mapping until it moves on.
 *
 * Sections: names; lifetime (alloc, ref, unref, map); create; load;
 * records (check, scan, tail); seal; index.
 */
#include "crc32c.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- names ---- */

void ls_segment_name(char *buf, size_t cap, uint64_t first_seq)
{
	snprintf(buf, cap, "%020" PRIu64 LS_SEGMENT_SUFFIX, first_seq);
}

bool ls_segment_name_parse(const char *name, uint64_t *first_seq)
{
	uint64_t v = 0;
	for (int i = 0; i < LS_SEGMENT_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (strcmp(name + LS_SEGMENT_NAME_DIGITS, LS_SEGMENT_SUFFIX) != 0)
		return false;
	*first_seq = v;
	return true;
}

/* ---- lifetime ---- */

/* seg->path becomes log->dir/file (file: a name of at most 31 bytes). */
void ls_segment_set_path(const logstore_log *log, struct ls_segment *seg,
			 const char *file)
{
	snprintf(seg->path, strlen(log->dir) + 1 + sizeof(seg->name) + 1,
		 "%s/%s", log->dir, file);
}

static struct ls_segment *segment_alloc(const logstore_log *log,
					uint64_t first_seq)
{
	struct ls_segment *seg = calloc(1, sizeof(*seg));
	if (!seg)
		return NULL;
	ls_segment_name(seg->name, sizeof(seg->name), first_seq);
	/* Room for any segment name: a prepared one is named at rollover. */
	seg->path = malloc(strlen(log->dir) + 1 + sizeof(seg->name) + 1);
	if (!seg->path) {
		free(seg);
		return NULL;
	}
	ls_segment_set_path(log, seg, seg->name);
	atomic_init(&seg->refs, 1);
	seg->fd = -1;
	seg->first_seq = first_seq;
	return seg;
}

void ls_segment_ref(struct ls_segment *seg)
{
	atomic_fetch_add(&seg->refs, 1);
}

void ls_segment_unref(struct ls_segment *seg)
{
	if (!seg || atomic_fetch_sub(&seg->refs, 1) != 1)
		return;
	if (seg->map)
		munmap((void *)seg->map, seg->capacity);
	if (seg->fd >= 0)
		close(seg->fd);
	free(seg->index);
	free(seg->path);
	free(seg);
}

static int map_fd(struct ls_segment *seg, int fd);

/* Map the whole segment read-only. Caller holds segs_mu (or owns seg). */
int ls_segment_map(struct ls_segment *seg)
{
	if (seg->map)
		return 0;
	int fd = ls_sys_open(seg->path, O_RDONLY, 0);
	if (fd < 0)
		return ls_error(fd, "segment %s: open: %s", seg->name,
				strerror(-fd));
	int rc = map_fd(seg, fd);
	close(fd);
	return rc;
}

static int map_fd(struct ls_segment *seg, int fd)
{
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (!rc && (uint64_t)st.st_size < seg->capacity)
		rc = ls_error(LOGSTORE_ECORRUPT,
			      "segment %s: truncated to %lld bytes, header "
			      "says %" PRIu64,
			      seg->name, (long long)st.st_size, seg->capacity);
	void *p = NULL;
	if (!rc)
		rc = ls_sys_mmap(fd, seg->capacity, PROT_READ, &p);
	if (rc) {
		if (rc != LOGSTORE_ECORRUPT)
			ls_error(rc, "segment %s: mmap: %s", seg->name,
				 strerror(-rc));
		return rc;
	}
	seg->map = p;
	return 0;
}

/* ---- create ---- */

static void header_encode(const struct ls_segment *seg, uint8_t *page)
{
	memset(page, 0, LS_HEADER_BYTES);
	memcpy(page, ls_segment_magic, 8);
	ls_put_u32(page + 8, LS_FORMAT_VERSION);
	ls_put_u32(page + 12, LS_HEADER_BYTES);
	ls_put_u32(page + 16, seg->salt);
	ls_put_u32(page + 20, 0);
	ls_put_u64(page + 24, seg->first_seq);
	ls_put_u64(page + 32, (uint64_t)seg->first_time);
	ls_put_u64(page + 40, seg->capacity);
	ls_put_u64(page + 48, seg->index_offset);
	ls_put_u32(page + 56, seg->index_capacity);
	ls_put_u32(page + 60, ls_crc32c(0, page, 60));
}

static uint32_t random_salt(void)
{
	uint32_t salt = 0;
	while (salt == 0) {
		if (getrandom(&salt, sizeof(salt), 0) != sizeof(salt)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			salt = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid();
		}
	}
	return salt;
}

/* Write zeros over the whole file, then the header page. */
static int segment_fill(logstore_log *log, struct ls_segment *seg, int fd)
{
	int rc = ls_sys_fallocate(fd, seg->capacity);
	for (uint64_t off = 0; !rc && off < seg->capacity;
	     off += LS_ZERO_CHUNK_BYTES) {
		uint64_t n = seg->capacity - off;
		if (n > LS_ZERO_CHUNK_BYTES)
			n = LS_ZERO_CHUNK_BYTES;
		rc = ls_sys_pwrite_all(fd, log->zero_buf, n, off);
	}
	if (!rc) {
		uint8_t page[LS_HEADER_BYTES];
		header_encode(seg, page);
		rc = ls_sys_pwrite_all(fd, page, sizeof(page), 0);
	}
	if (!rc)
		rc = ls_sys_fdatasync(fd);
	return rc;
}

/* Fill in a new segment's geometry and in-memory index. */
static int segment_init_new(logstore_log *log, struct ls_segment *seg)
{
	seg->salt = random_salt();
	seg->capacity = log->opts.segment_bytes_max;
	seg->index_offset = ls_index_offset(seg->capacity);
	seg->index_capacity = ls_index_capacity(seg->capacity);
	seg->index = calloc(seg->index_capacity, sizeof(*seg->index));
	atomic_init(&seg->end, LS_HEADER_BYTES);
	return seg->index ? 0 : -ENOMEM;
}

/* Name seg for first_seq / first_time (no I/O). */
static void segment_name_for(logstore_log *log, struct ls_segment *seg,
			     uint64_t first_seq, int64_t first_time)
{
	seg->first_seq = first_seq;
	seg->first_time = first_time;
	seg->last_seq = first_seq - 1;
	seg->last_time = first_time;
	ls_segment_name(seg->name, sizeof(seg->name), first_seq);
	ls_segment_set_path(log, seg, seg->name);
}

/* Zero-fill burst: 2 MiB (PMD-sized folios), or less in a small segment. */
static uint64_t zero_burst_bytes(uint64_t capacity)
{
	return capacity >= LS_ZERO_CHUNK_BYTES ? LS_ZERO_CHUNK_BYTES
					       : LS_PREP_BURST_BYTES;
}

/*
 * Prepare a segment ahead of need, in the background: preallocated,
 * zero-filled in bursts (zero_burst_bytes(), each written back before
 * the next), fdatasynced and its directory fsynced, under a temporary
 * "prepared-N.seg.tmp" name, with its salt and in-memory index, but no
 * header and no name yet (ls_segment_activate() gives both). The
 * fdatasync, the directory fsync and each small burst wait for
 * ls_prepare_pace() first, so that commits into the active segment
 * meet at most one of them. Stops early, with -ECANCELED, when *stop
 * becomes true.
 */
int ls_segment_prepare(logstore_log *log, const _Atomic bool *stop,
		       struct ls_segment **out)
{
	static _Atomic unsigned counter;
	struct ls_segment *seg = segment_alloc(log, 0);
	if (!seg)
		return ls_error(-ENOMEM, "out of memory");
	/* Its name until activation: unique, so the next one never clashes. */
	snprintf(seg->name, sizeof(seg->name), LS_PREPARED_PREFIX "%u.seg.tmp",
		 atomic_fetch_add(&counter, 1) % 1000000u);
	memcpy(seg->prep_name, seg->name, sizeof(seg->prep_name));
	char *tmp = seg->path;
	ls_segment_set_path(log, seg, seg->name);
	int rc = segment_init_new(log, seg);
	int fd = rc ? rc : ls_sys_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		rc = fd;
		goto err_free;
	}
	rc = ls_sys_fallocate(fd, seg->capacity);
	uint64_t burst = zero_burst_bytes(seg->capacity);
	for (uint64_t off = 0; !rc && off < seg->capacity; off += burst) {
		uint64_t n = seg->capacity - off;
		if (n > burst)
			n = burst;
		/*
		 * Pauses only between small bursts: a 2 MiB burst is ~4 ms
		 * of device time here, which a commit meeting it waits for
		 * with or without a pause, and 32 pauses would make a
		 * 64 MiB preparation (~135 ms) ~25 % longer, while one
		 * asynchronous producer of 4 KiB entries fills 64 MiB in
		 * ~160 ms.
		 */
		if (burst < LS_ZERO_CHUNK_BYTES)
			ls_prepare_pace(log);
		rc = atomic_load(stop)
			 ? -ECANCELED
			 : ls_sys_pwrite_all(fd, log->zero_buf, n, off);
		/*
		 * Write each burst back before the next: the device queue
		 * then holds at most one burst of zeros ahead of a commit's
		 * write and flush, instead of the whole segment at the
		 * final fdatasync (a stall of ~100 ms for 64 MiB here).
		 */
		if (!rc)
			rc = ls_sys_writeback(fd, off, n);
	}
	if (!rc) {
		ls_prepare_pace(log);
		rc = ls_sys_fdatasync(fd);
	}
	/*
	 * The file's name must be durable before it can hold an
	 * acknowledged record: activation renames it without a directory
	 * fsync, and a lost create would take the records with it.
	 */
	if (!rc) {
		ls_prepare_pace(log);
		rc = ls_sys_fsync(log->dir_fd);
	}
	if (rc)
		goto err_unlink;
	seg->fd = fd;
	*out = seg;
	return 0;

err_unlink:
	unlink(tmp);
	close(fd);
err_free:
	ls_segment_unref(seg);
	return ls_error(rc, "%s: preparing a segment: %s", log->dir,
			logstore_strerror(rc));
}

/*
 * Turn a prepared segment into segment first_seq: write its header and
 * map it. Runs at rollover and makes no device flush. The file keeps its
 * prepared name until its header is durable (ls_segment_name_durable()),
 * so a .seg file always has a durable header; open adopts a prepared
 * file whose header is valid (format.h "Recovery"). The file's creation
 * is durable already (ls_segment_prepare()).
 */
int ls_segment_activate(logstore_log *log, struct ls_segment *seg,
			uint64_t first_seq, int64_t first_time)
{
	uint8_t page[LS_HEADER_BYTES];
	segment_name_for(log, seg, first_seq, first_time);
	header_encode(seg, page);
	int rc = ls_sys_pwrite_all(seg->fd, page, sizeof(page), 0);
	if (!rc)
		rc = map_fd(seg, seg->fd);
	if (rc)
		return ls_error(rc, "%s/%s: starting segment %s: %s", log->dir,
				seg->prep_name, seg->name,
				logstore_strerror(rc));
	struct stat st;
	if (fstat(seg->fd, &st) == 0)
		seg->ino = (uint64_t)st.st_ino;
	atomic_store(&seg->name_pending, true);
	return 0;
}

/*
 * Give an activated segment its name once its header is durable: the
 * caller has just made it so (header_durable), or a commit of its records
 * did (durable_seq has reached the segment); else it stays pending. No
 * flush: open adopts a file whose rename was lost. Runs after the first
 * sync of the segment's records (writer.c lead()), at sealing and at
 * close; the first caller renames. 0, or -errno if the rename failed
 * (the segment then keeps its prepared name, which open also adopts).
 */
int ls_segment_name_durable(logstore_log *log, struct ls_segment *seg,
			    bool header_durable)
{
	if (!atomic_load(&seg->name_pending) ||
	    (!header_durable &&
	     atomic_load(&log->durable_seq) < seg->first_seq))
		return 0;
	char from[4096];
	snprintf(from, sizeof(from), "%s/%s", log->dir, seg->prep_name);
	int rc = 0;
	/* Under segs_mu: retention removes a pending one by its old name. */
	pthread_mutex_lock(&log->segs_mu);
	if (atomic_load(&seg->name_pending))
		rc = ls_sys_rename(from, seg->path);
	if (!rc)
		atomic_store(&seg->name_pending, false);
	pthread_mutex_unlock(&log->segs_mu);
	if (rc)
		return ls_error(rc, "%s: naming segment %s: %s", from,
				seg->name, logstore_strerror(rc));
	return 0;
}

/*
 * Drop a prepared segment that was not activated (or failed to be): its
 * file goes. Not on the commit path except after a failed rollover.
 */
void ls_segment_prepared_discard(logstore_log *log, struct ls_segment *seg)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", log->dir, seg->prep_name);
	unlink(path);
	ls_segment_unref(seg);
}

/*
 * Create segment first_seq for a first entry at first_time, complete and
 * durable under its final name, open for writing (seg->fd) and with an
 * empty in-memory index. Runs on the appender that creates the first
 * segment of a log handle; later ones come from ls_segment_prepare().
 */
int ls_segment_create(logstore_log *log, uint64_t first_seq, int64_t first_time,
		      struct ls_segment **out)
{
	struct ls_segment *seg = segment_alloc(log, first_seq);
	if (!seg)
		return ls_error(-ENOMEM, "out of memory");
	segment_name_for(log, seg, first_seq, first_time);
	int rc = segment_init_new(log, seg);
	if (rc)
		goto err_free;

	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", seg->path);
	int fd = ls_sys_open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		rc = fd;
		goto err_free;
	}
	rc = segment_fill(log, seg, fd);
	if (rc)
		goto err_unlink;
	rc = ls_sys_rename(tmp, seg->path);
	if (rc)
		goto err_unlink;
	/* The name is durable only once the directory is. */
	rc = ls_sys_fsync(log->dir_fd);
	if (rc)
		goto err_close; /* renamed: the next open will judge it */
	seg->fd = fd;
	*out = seg;
	return 0;

err_unlink:
	unlink(tmp);
err_close:
	close(fd);
err_free:
	ls_segment_unref(seg);
	return ls_error(rc, "%s/%020" PRIu64 ".seg: creating segment: %s",
			log->dir, first_seq, logstore_strerror(rc));
}

/* ---- load ---- */

static int header_decode(struct ls_segment *seg, const uint8_t *page,
			 uint64_t file_bytes)
{
	if (memcmp(page, ls_segment_magic, 8) != 0)
		return ls_error(LOGSTORE_ECORRUPT, "segment %s: bad magic",
				seg->name);
	if (ls_get_u32(page + 60) != ls_crc32c(0, page, 60))
		return ls_error(LOGSTORE_ECORRUPT,
				"segment %s: header checksum mismatch",
				seg->name);
	if (ls_get_u32(page + 8) != LS_FORMAT_VERSION)
		return ls_error(LOGSTORE_EFORMAT,
				"segment %s: format version %u, expected %u",
				seg->name, ls_get_u32(page + 8),
				LS_FORMAT_VERSION);
	seg->salt = ls_get_u32(page + 16);
	seg->first_time = (int64_t)ls_get_u64(page + 32);
	seg->capacity = ls_get_u64(page + 40);
	seg->index_offset = ls_get_u64(page + 48);
	seg->index_capacity = ls_get_u32(page + 56);
	bool ok = ls_get_u32(page + 12) == LS_HEADER_BYTES &&
		  ls_get_u64(page + 24) == seg->first_seq &&
		  seg->capacity >= LOGSTORE_SEGMENT_BYTES_MIN &&
		  seg->capacity <= LOGSTORE_SEGMENT_BYTES_MAX &&
		  seg->capacity % LS_PAGE_BYTES == 0 &&
		  seg->index_offset == ls_index_offset(seg->capacity) &&
		  seg->index_capacity == ls_index_capacity(seg->capacity);
	if (!ok)
		return ls_error(LOGSTORE_ECORRUPT,
				"segment %s: header fields inconsistent",
				seg->name);
	if (file_bytes < seg->capacity)
		return ls_error(LOGSTORE_ECORRUPT,
				"segment %s: truncated to %" PRIu64
				" bytes, header says %" PRIu64,
				seg->name, file_bytes, seg->capacity);
	return 0;
}

/* Apply a valid seal; an invalid one is ignored (the segment is scanned). */
static void seal_decode(struct ls_segment *seg, const uint8_t *s)
{
	if (memcmp(s, ls_seal_magic, 8) != 0 ||
	    ls_get_u32(s + 60) != ls_crc32c(0, s, 60) ||
	    ls_get_u32(s + 8) != seg->salt)
		return;
	uint64_t count = ls_get_u64(s + 32);
	uint64_t last_seq = ls_get_u64(s + 16);
	uint64_t data_end = ls_get_u64(s + 40);
	uint32_t index_count = ls_get_u32(s + 12);
	bool ok = count > 0 && last_seq == seg->first_seq + count - 1 &&
		  data_end >= LS_HEADER_BYTES + LS_RECORD_HEADER_BYTES &&
		  data_end <= seg->index_offset &&
		  data_end % LS_RECORD_ALIGN == 0 &&
		  index_count <= seg->index_capacity;
	if (!ok)
		return;
	seg->last_seq = last_seq;
	seg->last_time = (int64_t)ls_get_u64(s + 24);
	seg->entry_count = count;
	seg->disk_index_count = index_count;
	seg->disk_index_crc = ls_get_u32(s + 48);
	atomic_store(&seg->end, data_end);
	seg->reopenable = (ls_get_u32(s + 52) & LS_SEAL_REOPENABLE) != 0;
	/* A clean close's seal: more records may follow. */
	atomic_store(&seg->sealed, !seg->reopenable);
}

/*
 * The first sequence number of the segment whose header file (a name in
 * log->dir) carries, if that header is whole and valid (magic, checksum,
 * version): how open tells a prepared file that was activated, and lost
 * its name to a power loss, from one that was not (format.h "Recovery").
 */
bool ls_segment_header_first_seq(const logstore_log *log, const char *file,
				 uint64_t *first_seq)
{
	uint8_t h[sizeof(struct ls_header)];
	int fd = openat(log->dir_fd, file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, ls_segment_magic, 8) != 0 ||
	    ls_get_u32(h + 60) != ls_crc32c(0, h, 60) ||
	    ls_get_u32(h + 8) != LS_FORMAT_VERSION)
		return false;
	*first_seq = ls_get_u64(h + 24);
	return *first_seq >= 1;
}

/*
 * Load segment name from its header page (and seal): no record is read.
 * file: the file to read when it is not name (a prepared file not yet
 * renamed to name, read-only handles only), else NULL. Such a segment is
 * mapped at once, so the writer's rename cannot take its file away.
 * Returns 0, LOGSTORE_ECORRUPT, LOGSTORE_EFORMAT or -errno.
 */
int ls_segment_load(logstore_log *log, const char *name, const char *file,
		    struct ls_segment **out)
{
	uint64_t first_seq;
	if (!ls_segment_name_parse(name, &first_seq))
		return -EINVAL;
	struct ls_segment *seg = segment_alloc(log, first_seq);
	if (!seg)
		return ls_error(-ENOMEM, "out of memory");
	if (file) {
		ls_segment_set_path(log, seg, file);
		snprintf(seg->prep_name, sizeof(seg->prep_name), "%s", file);
	}
	int rc = 0;
	int fd = ls_sys_open(seg->path, O_RDONLY, 0);
	if (fd < 0) {
		rc = ls_error(fd, "segment %s: open: %s", name, strerror(-fd));
		goto err_free;
	}
	uint8_t page[LS_HEADER_BYTES];
	struct stat st;
	ssize_t n = pread(fd, page, sizeof(page), 0);
	if (fstat(fd, &st) < 0 || n < 0)
		rc = ls_error(-errno, "segment %s: read: %s", name,
			      strerror(errno));
	else if (n < (ssize_t)sizeof(page))
		rc = ls_error(LOGSTORE_ECORRUPT,
			      "segment %s: shorter than its header", name);
	close(fd);
	if (!rc)
		rc = header_decode(seg, page, (uint64_t)st.st_size);
	seg->ino = (uint64_t)st.st_ino;
	if (!rc && file)
		rc = ls_segment_map(seg);
	if (rc)
		goto err_free;
	seg->last_seq = first_seq - 1;
	seg->last_time = seg->first_time;
	atomic_init(&seg->end, LS_HEADER_BYTES);
	seal_decode(seg, page + LS_SEAL_OFFSET);
	*out = seg;
	return 0;

err_free:
	ls_segment_unref(seg);
	return rc;
}

/* ---- records ---- */

/* Why ls_record_check() refused a record: its negative result in words. */
const char *ls_record_reason(int why)
{
	static const char *const reasons[] = {
	    "record crosses the committed end",
	    "record length out of range",
	    "record belongs to another segment or use of the file",
	    "sequence number out of order",
	    "time not increasing",
	    "checksum mismatch",
	};
	return why <= -1 && why >= -6 ? reasons[-why - 1] : "invalid record";
}

/* Add index entries for the committed records in [from, to). */
static void index_committed(struct ls_segment *seg, uint64_t from, uint64_t to)
{
	while (from < to) {
		const uint8_t *p = seg->map + from;
		uint32_t len = ls_get_u32(p + 4) & LS_RECORD_LENGTH_MASK;
		ls_segment_index_add(seg, from, ls_get_u64(p + 8),
				     (int64_t)ls_get_u64(p + 16));
		from += ls_record_bytes(len);
	}
}

/*
 * Walk valid records from offset from (the record after prev_seq /
 * prev_time) and report the last committed one: records of a batch whose
 * last record is missing or invalid do not count. The segment is mapped.
 * With build_index, committed records are added to the in-memory index.
 */
void ls_segment_scan(struct ls_segment *seg, uint64_t from, uint64_t prev_seq,
		     int64_t prev_time, bool build_index, struct ls_scan *st)
{
	st->end = from;
	st->last_seq = prev_seq;
	st->last_time = prev_time;
	st->count = 0;
	uint64_t off = from, seq = prev_seq, pending = 0;
	int64_t time = prev_time;
	struct ls_record r;
	while (ls_record_check(seg, off, seg->index_offset, seq + 1, time,
			       &r) == 0) {
		off += r.bytes;
		seq = r.seq;
		time = r.time;
		pending++;
		if (r.batch_more)
			continue;
		if (build_index)
			index_committed(seg, st->end, off);
		st->end = off;
		st->last_seq = seq;
		st->last_time = time;
		st->count += pending;
		pending = 0;
	}
	st->bad_off = off;
	st->bad_seq = seq + 1;
}

/* The salt in the header of the file now under seg's name, or 0. */
uint32_t ls_segment_file_salt(const logstore_log *log,
			      const struct ls_segment *seg)
{
	uint8_t b[4];
	int fd = openat(log->dir_fd, seg->name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, b, sizeof(b), 16);
	close(fd);
	return n == (ssize_t)sizeof(b) ? ls_get_u32(b) : 0;
}

/* Whether the bytes [from, to) (8-byte aligned) are all zeros. */
static bool range_zero(const struct ls_segment *seg, uint64_t from, uint64_t to)
{
	for (uint64_t o = from; o < to; o += 8)
		if (ls_get_u64(seg->map + o) != 0)
			return false;
	return true;
}

/* Whether the 512-byte sector at off (aligned) holds only zeros. */
static bool sector_zero(const struct ls_segment *seg, uint64_t off)
{
	return range_zero(seg, off, off + LS_SECTOR_BYTES);
}

/*
 * The first record after off, at or before limit, that proves it was
 * written to this segment (salt, reserved, length and checksum match) and
 * is newer than after_seq. Returns its offset, or 0 if there is none.
 */
static uint64_t next_written_record(const struct ls_segment *seg, uint64_t off,
				    uint64_t after_seq)
{
	for (off += LS_RECORD_ALIGN;
	     off + LS_RECORD_HEADER_BYTES <= seg->index_offset;
	     off += LS_RECORD_ALIGN) {
		const uint8_t *p = seg->map + off;
		if (ls_get_u32(p + 24) != seg->salt ||
		    ls_get_u32(p + 28) != 0 || ls_get_u64(p + 8) <= after_seq)
			continue;
		uint32_t len = ls_get_u32(p + 4) & LS_RECORD_LENGTH_MASK;
		if (len > seg->index_offset - off - LS_RECORD_HEADER_BYTES)
			continue;
		if (ls_crc32c(0, p + 4, LS_RECORD_HEADER_BYTES - 4 + len) ==
		    ls_get_u32(p))
			return off;
	}
	return 0;
}

/*
 * After a scan stopped at an invalid record: is it corruption before the
 * tail rather than a torn tail? Segments are zero-filled before use, so a
 * write that never reached the disk (a crash, or a power loss that kept
 * later sectors but not earlier ones) leaves zeros: a header that is not
 * this record's (zero, or not the expected salt and seq), or a whole zero
 * sector before the next record that was written. Without such a sign, an
 * invalid record followed by one written later was damaged after it was
 * written, and must not be cut silently. The price: a damaged record
 * whose header fields or a whole payload sector were hit the same way is
 * taken for a torn tail (and reported as dropped).
 */
bool ls_segment_corrupt_before_tail(const struct ls_segment *seg,
				    const struct ls_scan *st)
{
	uint64_t off = st->bad_off;
	if (off + LS_RECORD_HEADER_BYTES > seg->index_offset)
		return false;
	const uint8_t *p = seg->map + off;
	if (ls_get_u32(p + 24) != seg->salt || ls_get_u64(p + 8) != st->bad_seq)
		return false;
	uint64_t next = next_written_record(seg, off, st->last_seq);
	if (next == 0)
		return false;
	uint64_t s =
	    (off + LS_SECTOR_BYTES - 1) & ~(uint64_t)(LS_SECTOR_BYTES - 1);
	/*
	 * A header that straddles a sector boundary may have lost its first
	 * sector and kept the next one (salt and seq): then the bytes from
	 * the record to that boundary, its crc at least, are zeros.
	 */
	if (s != off && range_zero(seg, off, s))
		return false;
	for (; s + LS_SECTOR_BYTES <= next; s += LS_SECTOR_BYTES)
		if (sector_zero(seg, s))
			return false;
	return true;
}

/*
 * The end of the bytes after from that are not zero, up to the index
 * region: everything a crash may have left there. Returns from when it is
 * all zeros. Reads the rest of the segment: recovery only.
 */
uint64_t ls_segment_nonzero_tail(const struct ls_segment *seg, uint64_t from)
{
	return ls_segment_nonzero_tail_until(seg, from, seg->index_offset);
}

/* The same, looking only below until (clamped to the index region). */
uint64_t ls_segment_nonzero_tail_until(const struct ls_segment *seg,
				       uint64_t from, uint64_t until)
{
	uint64_t last = from;
	if (until > seg->index_offset)
		until = seg->index_offset;
	for (uint64_t off = from; off < until; off += 8)
		if (ls_get_u64(seg->map + off) != 0)
			last = off + 8;
	return last;
}

/* ---- seal ---- */

static void seal_encode(const struct ls_segment *seg, uint32_t index_crc,
			uint32_t flags, uint8_t *s)
{
	memset(s, 0, sizeof(struct ls_seal));
	memcpy(s, ls_seal_magic, 8);
	ls_put_u32(s + 8, seg->salt);
	ls_put_u32(s + 12, atomic_load(&seg->index_count));
	ls_put_u64(s + 16, seg->last_seq);
	ls_put_u64(s + 24, (uint64_t)seg->last_time);
	ls_put_u64(s + 32, seg->entry_count);
	ls_put_u64(s + 40, atomic_load(&seg->end));
	ls_put_u32(s + 48, index_crc);
	ls_put_u32(s + 52, flags);
	ls_put_u32(s + 60, ls_crc32c(0, s, 60));
}

/*
 * Write the in-memory index and the seal, then fdatasync, so that open
 * can skip scanning this segment. All records are durable already. Runs
 * on the rolling appender with the writer's fd; the index stays in memory
 * until the seal is durable.
 */
int ls_segment_seal(logstore_log *log, struct ls_segment *seg, uint32_t flags)
{
	uint32_t count = atomic_load(&seg->index_count);
	size_t bytes = (size_t)count * LS_INDEX_ENTRY_BYTES;
	uint32_t crc = ls_crc32c(0, seg->index, bytes);
	uint8_t s[sizeof(struct ls_seal)];
	seal_encode(seg, crc, flags, s);
	int rc = 0;
	if (bytes)
		rc = ls_sys_pwrite_all(seg->fd, seg->index, bytes,
				       seg->index_offset);
	if (!rc)
		rc = ls_sys_pwrite_all(seg->fd, s, sizeof(s), LS_SEAL_OFFSET);
	if (!rc)
		rc = ls_sys_fdatasync(seg->fd);
	atomic_fetch_add_explicit(&log->st_fsyncs, 1, memory_order_relaxed);
	if (rc)
		return ls_error(rc, "segment %s: sealing: %s", seg->name,
				strerror(-rc));
	seg->disk_index_count = count;
	seg->disk_index_crc = crc;
	return 0;
}

/*
 * Make a cleanly closed segment active again without scanning it: take
 * its index from disk (rebuilt by a scan if its checksum fails). The seal
 * is cleared durably before the first append (so a crash after it cannot
 * leave a seal that hides records), not here. Runs at writer open; seg is
 * mapped, seg->fd is open for writing.
 */
int ls_segment_reopen(logstore_log *log, struct ls_segment *seg)
{
	uint32_t n = seg->disk_index_count;
	const uint8_t *ix = seg->map + seg->index_offset;
	uint64_t end = atomic_load(&seg->end);
	if (ls_crc32c(0, ix, (size_t)n * LS_INDEX_ENTRY_BYTES) ==
	    seg->disk_index_crc) {
		memcpy(seg->index, ix, (size_t)n * LS_INDEX_ENTRY_BYTES);
		atomic_store(&seg->index_count, n);
		seg->index_next_off =
		    n ? (uint64_t)seg->index[n - 1].offset + LS_INDEX_STRIDE
		      : LS_HEADER_BYTES;
	} else {
		struct ls_scan st;
		ls_segment_scan(seg, LS_HEADER_BYTES, seg->first_seq - 1,
				INT64_MIN, true, &st);
		if (st.end != end || st.last_seq != seg->last_seq)
			return ls_error(LOGSTORE_ECORRUPT,
					"segment %s: records end at %" PRIu64
					", its seal says %" PRIu64,
					seg->name, st.end, end);
	}
	/*
	 * The seal stays until the first append (writer.c reserve()) clears
	 * it, durably: an open that appends nothing costs no device flush.
	 */
	return 0;
}

/* Erase a clean-close seal, durably, before the segment takes records. */
int ls_segment_clear_seal(struct ls_segment *seg)
{
	uint8_t zeros[sizeof(struct ls_seal)] = {0};
	int rc =
	    ls_sys_pwrite_all(seg->fd, zeros, sizeof(zeros), LS_SEAL_OFFSET);
	if (!rc)
		rc = ls_sys_fdatasync(seg->fd);
	if (rc)
		return ls_error(rc, "segment %s: clearing its seal: %s",
				seg->name, strerror(-rc));
	seg->reopenable = false;
	return 0;
}

/* ---- index ---- */

/* Writer: index the record at off if it starts a new stride. */
void ls_segment_index_add(struct ls_segment *seg, uint64_t off, uint64_t seq,
			  int64_t time)
{
	uint32_t n =
	    atomic_load_explicit(&seg->index_count, memory_order_relaxed);
	if (off < seg->index_next_off || n >= seg->index_capacity)
		return;
	struct ls_index_entry *e = &seg->index[n];
	e->time = time;
	e->offset = (uint32_t)off;
	e->seq_delta = (uint32_t)(seq - seg->first_seq);
	atomic_store_explicit(&seg->index_count, n + 1, memory_order_release);
	seg->index_next_off = off + LS_INDEX_STRIDE;
}

/*
 * The index entries usable for a seek: the in-memory ones, or the sealed
 * on-disk ones once their checksum has been verified. Caller holds
 * segs_mu and the segment is mapped. Returns the count, 0 if none.
 */
static uint32_t index_entries(struct ls_segment *seg,
			      const struct ls_index_entry **out)
{
	if (seg->index) {
		*out = seg->index;
		return atomic_load_explicit(&seg->index_count,
					    memory_order_acquire);
	}
	if (!atomic_load(&seg->sealed) || seg->disk_index_count == 0)
		return 0;
	const uint8_t *p = seg->map + seg->index_offset;
	size_t bytes = (size_t)seg->disk_index_count * LS_INDEX_ENTRY_BYTES;
	if (seg->disk_index_state == 0)
		seg->disk_index_state =
		    ls_crc32c(0, p, bytes) == seg->disk_index_crc ? 1 : -1;
	if (seg->disk_index_state < 0)
		return 0; /* rebuilt on the fly: seeks scan from the start */
	*out = (const struct ls_index_entry *)(const void *)p;
	return seg->disk_index_count;
}

/*
 * How many of ix[0, n) lie below end: a suffix of the active segment's
 * index may name records the writer has copied but not yet committed.
 * Offsets increase along the index, so this is a search by offset.
 */
static uint32_t index_below(const struct ls_index_entry *ix, uint32_t n,
			    uint64_t end)
{
	/* Sealed segments, and most seeks of the active one. */
	if (n == 0 || ix[n - 1].offset < end)
		return n;
	uint32_t lo = 0, hi = n - 1; /* ix[hi] is at or past end */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (ix[mid].offset < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * How many of ix[0, n) have a key at or below target, where the key is
 * the time (by_time) or the seq_delta; keys increase along the index.
 * Branch-free: each step halves the range with a conditional move rather
 * than a jump, because a seek's target is random and a jump per step
 * would be mispredicted about every other step (~9 steps for a 64 MiB
 * segment's 16k entries). The two entries the next step may read are
 * prefetched, so a sealed segment's index, read through the mapping,
 * costs overlapped misses rather than one after the other.
 */
static uint32_t index_upper(const struct ls_index_entry *ix, uint32_t n,
			    bool by_time, int64_t time, uint64_t seq_delta)
{
	if (n == 0)
		return 0;
	const struct ls_index_entry *base = ix;
	while (n > 1) {
		uint32_t half = n / 2;
		__builtin_prefetch(&base[half / 2]);
		__builtin_prefetch(&base[half + half / 2]);
		const struct ls_index_entry *mid = &base[half];
		bool before =
		    by_time ? mid->time <= time : mid->seq_delta <= seq_delta;
		base = before ? mid : base;
		n -= half;
	}
	bool before =
	    by_time ? base->time <= time : base->seq_delta <= seq_delta;
	return (uint32_t)(base - ix) + before;
}

/*
 * Find where a seek should start scanning in seg: the last indexed record
 * at or before the target (by time or by seq) that lies below the
 * committed end, checked against the record's header (its checksum is
 * checked when the reader reads it, if it is ever returned or is the
 * record just before the one returned: see reader.c skip_to_target);
 * else the first record. The lines from there up to prefetch_bytes on
 * (below the committed end) are prefetched before that header is read,
 * so that its miss and those of the walk that follows overlap. Caller
 * holds segs_mu; seg is mapped.
 */
void ls_segment_index_seek(struct ls_segment *seg, bool by_time, int64_t time,
			   uint64_t seq, uint64_t prefetch_bytes, uint64_t *off,
			   uint64_t *start_seq)
{
	*off = LS_HEADER_BYTES;
	*start_seq = seg->first_seq;
	const struct ls_index_entry *ix = NULL;
	uint64_t end = atomic_load_explicit(&seg->end, memory_order_acquire);
	uint32_t n = index_entries(seg, &ix);
	n = index_below(ix, n, end);
	uint32_t lo = 0;
	if (by_time || seq >= seg->first_seq)
		lo = index_upper(ix, n, by_time, time,
				 by_time ? 0 : seq - seg->first_seq);
	const struct ls_index_entry *e = lo ? &ix[lo - 1] : NULL;
	uint64_t from = e ? e->offset : LS_HEADER_BYTES;
	uint64_t to = from + prefetch_bytes < end ? from + prefetch_bytes : end;
	ls_segment_prefetch(seg, from, to);
	if (!e)
		return;
	struct ls_record r;
	uint64_t s = seg->first_seq + e->seq_delta;
	if (ls_record_peek(seg, e->offset, end, s, INT64_MIN, &r) == 0 &&
	    r.time == e->time) {
		*off = e->offset;
		*start_seq = s;
	}
}

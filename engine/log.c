/* SPDX-License-Identifier: MIT */
/*
 * The log directory: open, recovery, close, the segment list, the shared
 * commit watermark, listing, last entry and statistics.
 *
 * Open (writer): take the OFD lock on LOCK (a second writer in any
 * process gets LOGSTORE_ELOCKED), delete leftover .seg.tmp files (but
 * give back its name to a prepared one that was activated), load
 * every segment's header page (no record is read for a sealed segment),
 * scan unsealed non-last segments, then recover the last one: scan its
 * records, cut and zero a torn tail, rebuild its in-memory index, and
 * make it the active segment. An empty last segment (created, first
 * record never written) is deleted.
 *
 * Open (read-only): no lock and no change on disk. The end of the last
 * segment comes from the watermark in LOCK while a writer holds the
 * lock, and from scanning for valid records otherwise; ls_log_refresh()
 * updates both as the writer moves on.
 *
 * Failure modes: any corrupt header or a gap/overlap between segments is
 * LOGSTORE_ECORRUPT with the segment named in logstore_error_detail().
 * Close syncs what is appended, and frees everything even on error.
 */
#include "internal.h"
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LS_LOCK_NAME "LOCK"
static const char shm_magic[8] = {'L', 'G', 'S', 'T', 'S', 'H', 'M', '1'};

void logstore_options_init(struct logstore_options *opts)
{
	memset(opts, 0, sizeof(*opts));
}

/* The error every write call returns on a read-only handle. */
int ls_log_read_only_error(const logstore_log *log)
{
	return ls_error(LOGSTORE_EREADONLY, "%s: open read-only", log->dir);
}

int64_t ls_log_now(const logstore_log *log)
{
	if (log->opts.clock_ns)
		return log->opts.clock_ns(log->opts.clock_ctx);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t ls_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * CLOCK_MONOTONIC now + ns, for the engine's condition variables (all
 * made with CLOCK_MONOTONIC). ns >= 0.
 */
struct timespec ls_deadline_after(int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t total = (int64_t)ts.tv_nsec + ns % 1000000000LL;
	ts.tv_sec += (time_t)(ns / 1000000000LL + total / 1000000000LL);
	ts.tv_nsec = (long)(total % 1000000000LL);
	return ts;
}

static int options_resolve(const struct logstore_options *in,
			   struct logstore_options *o)
{
	if (in)
		*o = *in;
	else
		logstore_options_init(o);
	if (o->segment_bytes_max == 0)
		o->segment_bytes_max = LOGSTORE_SEGMENT_BYTES_DEFAULT;
	if (o->segment_duration_ns == 0)
		o->segment_duration_ns = LOGSTORE_SEGMENT_DURATION_DEFAULT_NS;
	if (o->batch_bytes_max == 0)
		o->batch_bytes_max = LOGSTORE_BATCH_BYTES_DEFAULT;
	if (o->durability == LOGSTORE_DURABILITY_DEFAULT)
		o->durability = LOGSTORE_DURABLE;
	if (o->pipeline_depth == 0)
		o->pipeline_depth = LOGSTORE_PIPELINE_DEPTH_DEFAULT;
	if (o->pipeline_depth > LOGSTORE_PIPELINE_DEPTH_MAX)
		return ls_error(-EINVAL, "pipeline_depth must be in [1, %u]",
				LOGSTORE_PIPELINE_DEPTH_MAX);
	if (o->batch_delay_ns < 0 ||
	    o->batch_delay_ns > LOGSTORE_BATCH_DELAY_MAX_NS)
		return ls_error(-EINVAL, "batch_delay_ns must be in [0, %lld]",
				(long long)LOGSTORE_BATCH_DELAY_MAX_NS);
	if (o->deferred_delay_ns == 0)
		o->deferred_delay_ns = LOGSTORE_DEFERRED_DELAY_DEFAULT_NS;
	if (o->deferred_delay_ns < 0 ||
	    o->deferred_delay_ns > LOGSTORE_DEFERRED_DELAY_MAX_NS)
		return ls_error(-EINVAL,
				"deferred_delay_ns must be in [0, %lld]",
				(long long)LOGSTORE_DEFERRED_DELAY_MAX_NS);
	if (o->segment_bytes_max < LOGSTORE_SEGMENT_BYTES_MIN ||
	    o->segment_bytes_max > LOGSTORE_SEGMENT_BYTES_MAX ||
	    o->segment_bytes_max % LS_PAGE_BYTES != 0)
		return ls_error(-EINVAL,
				"segment_bytes_max must be a multiple of 4096 "
				"in [%u, %u]",
				LOGSTORE_SEGMENT_BYTES_MIN,
				LOGSTORE_SEGMENT_BYTES_MAX);
	if (o->segment_duration_ns < 0)
		return ls_error(-EINVAL, "segment_duration_ns is negative");
	if (o->batch_bytes_max < LOGSTORE_BATCH_BYTES_MIN ||
	    o->batch_bytes_max > LOGSTORE_BATCH_BYTES_MAX)
		return ls_error(-EINVAL, "batch_bytes_max must be in [%u, %u]",
				LOGSTORE_BATCH_BYTES_MIN,
				LOGSTORE_BATCH_BYTES_MAX);
	if (o->durability != LOGSTORE_DURABLE &&
	    o->durability != LOGSTORE_BUFFERED &&
	    o->durability != LOGSTORE_ASYNC &&
	    o->durability != LOGSTORE_DEFERRED)
		return ls_error(-EINVAL,
				"durability %d is not one of "
				"enum logstore_durability",
				o->durability);
	return 0;
}

/* ---- segment list ---- */

int ls_log_segs_insert(logstore_log *log, struct ls_segment *seg)
{
	if (log->nsegs == log->segs_cap) {
		size_t cap = log->segs_cap ? log->segs_cap * 2 : 16;
		void *p = realloc(log->segs, cap * sizeof(*log->segs));
		if (!p)
			return ls_error(-ENOMEM, "out of memory");
		log->segs = p;
		log->segs_cap = cap;
	}
	log->segs[log->nsegs++] = seg;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * An entry of ls_log_list_names(): a segment name, a NUL, then the file
 * that holds it if that is not the name (an activated prepared file,
 * below) or an empty string, and a NUL. strcmp() on an entry sees the
 * name.
 */
static char *name_entry(const char *name, const char *file)
{
	size_t a = strlen(name), b = file ? strlen(file) : 0;
	char *e = malloc(a + b + 2);
	if (e) {
		memcpy(e, name, a + 1);
		memcpy(e + a + 1, file ? file : "", b + 1);
	}
	return e;
}

static const char *entry_file(const char *e)
{
	const char *f = e + strlen(e) + 1;
	return *f ? f : NULL;
}

static int names_push(char ***names, size_t *n, size_t *cap, char *e)
{
	if (!e)
		return -ENOMEM;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void *p = realloc(*names, c * sizeof(**names));
		if (!p) {
			free(e);
			return -ENOMEM;
		}
		*names = p;
		*cap = c;
	}
	(*names)[(*n)++] = e;
	return 0;
}

static bool is_prepared(const char *name)
{
	size_t len = strlen(name), pre = strlen(LS_PREPARED_PREFIX);
	return len > pre + 8 && strncmp(name, LS_PREPARED_PREFIX, pre) == 0 &&
	       strcmp(name + len - 8, ".seg.tmp") == 0;
}

/*
 * Prepared files with a valid header (files[], each entry "name\0file")
 * that come after the newest segment: activated, and their rename lost to
 * a power loss, or (a live writer) not made yet. A writer renames them to
 * their names and fsyncs the directory; a read-only handle lists them
 * under their names, read from the prepared file. Any other one is
 * stale: a writer deletes it. names is sorted.
 */
static int adopt_prepared(logstore_log *log, char ***names, size_t *n,
			  size_t *cap, char **files, size_t nfiles)
{
	qsort(files, nfiles, sizeof(*files), name_cmp);
	bool renamed = false;
	int rc = 0;
	for (size_t i = 0; i < nfiles; i++) {
		const char *file = entry_file(files[i]);
		bool newer = !*n || strcmp(files[i], (*names)[*n - 1]) > 0;
		if (!newer) {
			if (!log->read_only)
				unlinkat(log->dir_fd, file, 0);
			continue;
		}
		if (log->read_only) {
			rc = names_push(names, n, cap,
					name_entry(files[i], file));
			if (rc)
				break;
			continue;
		}
		char from[4096], to[4096];
		snprintf(from, sizeof(from), "%s/%s", log->dir, file);
		snprintf(to, sizeof(to), "%s/%s", log->dir, files[i]);
		rc = ls_sys_rename(from, to);
		if (!rc)
			rc = names_push(names, n, cap, name_entry(files[i], NULL));
		if (rc) {
			rc = ls_error(rc, "%s: renaming %s to %s: %s", log->dir,
				      file, files[i], strerror(-rc));
			break;
		}
		renamed = true;
	}
	if (!rc && renamed && (rc = ls_sys_fsync(log->dir_fd)) != 0)
		rc = ls_error(rc, "%s: fsync: %s", log->dir, strerror(-rc));
	return rc;
}

/*
 * Segments in the directory, sorted, as ls_log_list_names() entries. A
 * writer also deletes leftover .seg.tmp files, and adopts prepared ones
 * that were activated (adopt_prepared()).
 */
int ls_log_list_names(logstore_log *log, char ***out, size_t *count)
{
	int fd = dup(log->dir_fd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int rc = -errno;
		if (fd >= 0)
			close(fd);
		return ls_error(rc, "%s: %s", log->dir, strerror(-rc));
	}
	rewinddir(d);
	char **names = NULL, **files = NULL;
	size_t n = 0, cap = 0, nfiles = 0, cap_files = 0;
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d)) != NULL) {
		uint64_t seq;
		size_t len = strlen(de->d_name);
		if (is_prepared(de->d_name) &&
		    ls_segment_header_first_seq(log, de->d_name, &seq)) {
			char name[LS_SEGMENT_NAME_DIGITS + 8];
			ls_segment_name(name, sizeof(name), seq);
			rc = names_push(&files, &nfiles, &cap_files,
					name_entry(name, de->d_name));
			continue;
		}
		if (!log->read_only && len > 4 &&
		    strcmp(de->d_name + len - 4, ".tmp") == 0) {
			unlinkat(log->dir_fd, de->d_name, 0);
			continue;
		}
		if (!ls_segment_name_parse(de->d_name, &seq))
			continue;
		rc = names_push(&names, &n, &cap, name_entry(de->d_name, NULL));
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), name_cmp);
	if (!rc && nfiles)
		rc = adopt_prepared(log, &names, &n, &cap, files, nfiles);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	*out = names;
	*count = n;
	return rc;
}

void ls_log_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Take segs[i] out of the list; returns it, still referenced. segs_mu held. */
struct ls_segment *ls_log_segs_take(logstore_log *log, size_t i)
{
	struct ls_segment *seg = log->segs[i];
	memmove(&log->segs[i], &log->segs[i + 1],
		(log->nsegs - i - 1) * sizeof(*log->segs));
	log->nsegs--;
	return seg;
}

static int finalize_by_scan(struct ls_segment *seg, bool strict);

/*
 * Whether the file under seg's name is another one: an empty last segment
 * deleted by a writer's recovery and created again. The inode number may
 * be reused, so the header's salt decides too.
 */
static bool replaced(const logstore_log *log, const struct ls_segment *seg)
{
	struct stat st;
	if (fstatat(log->dir_fd, seg->name, &st, 0) < 0)
		return false;
	return (uint64_t)st.st_ino != seg->ino ||
	       ls_segment_file_salt(log, seg) != seg->salt;
}

/*
 * Drop a segment the writer removed from a read-only handle's list. A
 * reader may be inside it: its end is made final first (from the mapping,
 * which outlives the file), so the reader reads on to it and moves on.
 */
static void drop_removed(logstore_log *log, size_t i)
{
	struct ls_segment *seg = log->segs[i];
	if (!atomic_load(&seg->sealed) && seg->map)
		finalize_by_scan(seg, false);
	atomic_store(&seg->sealed, true);
	ls_segment_unref(ls_log_segs_take(log, i));
}

static bool missing(const logstore_log *log, const char *name)
{
	struct stat st;
	return fstatat(log->dir_fd, name, &st, 0) < 0 && errno == ENOENT;
}

/*
 * Whether seg's file is gone from the directory. A listing can miss a
 * file that the writer renames meanwhile (from its prepared name to its
 * name, ls_segment_name_durable()), so a segment read from its prepared
 * file is looked for there first, then under its name: once the first
 * is gone, the second exists, unless the file was removed.
 */
static bool gone(const logstore_log *log, const struct ls_segment *seg)
{
	return (!seg->prep_name[0] || missing(log, seg->prep_name)) &&
	       missing(log, seg->name);
}

static bool names_have(char **names, size_t n, const char *name)
{
	return n && bsearch(&name, names, n, sizeof(*names), name_cmp) != NULL;
}

/*
 * Match the list to the directory: load the segments newer than the
 * newest in the list and, for a read-only handle, drop the ones the
 * writer removed (readers inside them keep their reference). segs_mu held.
 */
int ls_log_sync_segments(logstore_log *log)
{
	char **names = NULL;
	size_t n = 0;
	int rc = ls_log_list_names(log, &names, &n);
	for (size_t i = log->nsegs; !rc && log->read_only && i-- > 0;)
		if ((!names_have(names, n, log->segs[i]->name) &&
		     gone(log, log->segs[i])) ||
		    (i + 1 == log->nsegs && replaced(log, log->segs[i])))
			drop_removed(log, i);
	uint64_t after = log->nsegs ? log->segs[log->nsegs - 1]->first_seq : 0;
	for (size_t i = 0; !rc && i < n; i++) {
		struct ls_segment *seg;
		uint64_t seq;
		if (!ls_segment_name_parse(names[i], &seq) || seq <= after)
			continue;
		rc = ls_segment_load(log, names[i], entry_file(names[i]), &seg);
		if (rc == -ENOENT && log->read_only) {
			rc = 0; /* removed meanwhile */
			continue;
		}
		if (rc)
			break;
		rc = ls_log_segs_insert(log, seg);
		if (rc)
			ls_segment_unref(seg);
	}
	ls_log_free_names(names, n);
	return rc;
}

/* Whether the oldest segment in the list was removed by the writer. */
static bool first_removed(const logstore_log *log)
{
	return log->nsegs && gone(log, log->segs[0]);
}

/*
 * Bring an unsealed segment's end up to date by scanning it. segs_mu held.
 * strict: the segment is complete (a newer one exists, so all of its
 * records were durable before that one was created): anything but zeros
 * after its last valid record is corruption, not a torn tail.
 */
static int finalize_by_scan(struct ls_segment *seg, bool strict)
{
	int rc = ls_segment_map(seg);
	if (rc)
		return rc;
	struct ls_scan st;
	ls_segment_scan(seg, atomic_load(&seg->end), seg->last_seq,
			seg->entry_count ? seg->last_time : INT64_MIN, false,
			&st);
	seg->last_seq = st.last_seq;
	seg->last_time =
	    seg->entry_count + st.count ? st.last_time : seg->first_time;
	seg->entry_count += st.count;
	atomic_store(&seg->end, st.end);
	if (strict && ls_segment_nonzero_tail(seg, st.end) > st.end)
		return ls_error(LOGSTORE_ECORRUPT,
				"segment %s offset %" PRIu64
				": invalid record (expected seq %" PRIu64
				") in a segment that is not the last",
				seg->name, st.bad_off, st.bad_seq);
	return 0;
}

/* Every segment but the last must be complete and in order. */
static int check_sealed_prefix(logstore_log *log)
{
	for (size_t i = 0; i + 1 < log->nsegs; i++) {
		struct ls_segment *seg = log->segs[i];
		if (!atomic_load(&seg->sealed)) {
			int rc = finalize_by_scan(seg, true);
			if (rc)
				return rc;
			atomic_store(&seg->sealed, true);
		}
		if (seg->entry_count == 0)
			return ls_error(LOGSTORE_ECORRUPT,
					"segment %s: no valid record at offset "
					"%u",
					seg->name, LS_HEADER_BYTES);
		if (log->segs[i + 1]->first_seq <= seg->last_seq)
			return ls_error(LOGSTORE_ECORRUPT,
					"segment %s overlaps %s", seg->name,
					log->segs[i + 1]->name);
	}
	return 0;
}

/* ---- the shared watermark ---- */

/* Publish seg's committed state to readers in other processes. */
void ls_shm_publish(logstore_log *log, const struct ls_segment *seg)
{
	struct ls_shm *s = log->shm;
	if (!s || log->read_only)
		return;
	uint64_t v = atomic_load_explicit(&s->version, memory_order_relaxed);
	atomic_store(&s->version, v + 1);
	atomic_store(&s->active_first_seq, seg ? seg->first_seq : 0);
	atomic_store(&s->end, seg ? atomic_load(&seg->end) : 0);
	atomic_store(&s->last_seq, seg ? seg->last_seq : 0);
	atomic_store(&s->last_time, seg ? seg->last_time : 0);
	atomic_store(&s->entry_count, seg ? seg->entry_count : 0);
	atomic_store(&s->active_salt, seg ? seg->salt : 0);
	atomic_store(&s->version, v + 2);
}

static bool shm_read(const logstore_log *log, struct ls_shm_view *v)
{
	struct ls_shm *s = log->shm;
	if (!s || memcmp(s->magic, shm_magic, 8) != 0)
		return false;
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t a = atomic_load(&s->version);
		if (a & 1)
			continue;
		v->active_first_seq = atomic_load(&s->active_first_seq);
		v->end = atomic_load(&s->end);
		v->last_seq = atomic_load(&s->last_seq);
		v->last_time = atomic_load(&s->last_time);
		v->entry_count = atomic_load(&s->entry_count);
		v->active_salt = atomic_load(&s->active_salt);
		if (atomic_load(&s->version) == a)
			return true;
	}
	return false;
}

static bool writer_live(const logstore_log *log)
{
	struct flock fl = {
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	if (log->lock_fd < 0 || fcntl(log->lock_fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

bool ls_log_writer_live(const logstore_log *log)
{
	return writer_live(log);
}

static int lock_open_writer(logstore_log *log)
{
	int fd = openat(log->dir_fd, LS_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC,
			0644);
	if (fd < 0)
		return ls_error(-errno, "%s/%s: %s", log->dir, LS_LOCK_NAME,
				strerror(errno));
	log->lock_fd = fd;
	struct flock fl = {
	    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return ls_error(LOGSTORE_ELOCKED,
					"%s: another writer holds %s", log->dir,
					LS_LOCK_NAME);
		return ls_error(-errno, "%s/%s: lock: %s", log->dir,
				LS_LOCK_NAME, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 ||
	    (st.st_size < LS_PAGE_BYTES && ftruncate(fd, LS_PAGE_BYTES) < 0))
		return ls_error(-errno, "%s/%s: %s", log->dir, LS_LOCK_NAME,
				strerror(errno));
	void *p;
	int rc = ls_sys_mmap(fd, LS_PAGE_BYTES, PROT_READ | PROT_WRITE, &p);
	if (rc)
		return ls_error(rc, "%s/%s: mmap: %s", log->dir, LS_LOCK_NAME,
				strerror(-rc));
	log->shm = p;
	log->shm_writable = true;
	/*
	 * Forget the previous writer's watermark before recovery changes
	 * what it points at, and even out a version it left odd by dying
	 * in the middle of an update.
	 */
	uint64_t v = atomic_load(&log->shm->version);
	if (v & 1)
		atomic_store(&log->shm->version, v + 1);
	ls_shm_publish(log, NULL);
	atomic_store(&log->shm->stats_version, 0); /* no figures of ours yet */
	atomic_store(&log->shm->stats_v1_version, 0); /* see struct ls_shm */
	memcpy(log->shm->magic, shm_magic, 8);
	return 0;
}

/*
 * A reader maps LOCK if a writer ever made it; otherwise it has none.
 * It maps it writable when it may, so that follow mode can count its
 * waiters there (see ls_readers_wake()); it never writes anything else.
 */
static void lock_open_reader(logstore_log *log)
{
	if (log->lock_fd >= 0)
		return;
	bool writable = true;
	int fd = openat(log->dir_fd, LS_LOCK_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		writable = false;
		fd = openat(log->dir_fd, LS_LOCK_NAME, O_RDONLY | O_CLOEXEC);
	}
	struct stat st;
	if (fd < 0)
		return;
	void *p;
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	if (fstat(fd, &st) < 0 || st.st_size < LS_PAGE_BYTES ||
	    ls_sys_mmap(fd, LS_PAGE_BYTES, prot, &p) != 0) {
		close(fd);
		return;
	}
	log->lock_fd = fd;
	log->shm = p;
	log->shm_writable = writable;
}

/* ---- read-only refresh ---- */

/* Bring the last segment of a read-only handle up to date. segs_mu held. */
static int refresh_last(logstore_log *log, bool live,
			const struct ls_shm_view *v)
{
	struct ls_segment *last = log->segs[log->nsegs - 1];
	if (atomic_load(&last->sealed))
		return 0;
	if (live && v->active_first_seq == last->first_seq &&
	    v->active_salt == last->salt) {
		/* A watermark past the records is not believed. */
		if (v->end > atomic_load(&last->end) &&
		    v->end <= last->index_offset) {
			last->last_seq = v->last_seq;
			last->last_time = v->last_time;
			last->entry_count = v->entry_count;
			atomic_store(&last->end, v->end);
		}
		return 0;
	}
	int rc = finalize_by_scan(last, false);
	/* Removed since it was listed: the next refresh drops it. */
	return rc == -ENOENT ? 0 : rc;
}

/*
 * Read-only handles: pick up records and segments the writer added since
 * the last call. A no-op for the writer's own handle.
 */
int ls_log_refresh(logstore_log *log)
{
	if (!log->read_only)
		return 0;
	pthread_mutex_lock(&log->segs_mu);
	lock_open_reader(log);
	struct ls_shm_view v = {0};
	bool live = writer_live(log);
	bool have = live && shm_read(log, &v);
	int rc = 0;
	struct ls_segment *last = log->nsegs ? log->segs[log->nsegs - 1] : NULL;
	if (!have || !last || v.active_first_seq != last->first_seq ||
	    v.active_salt != last->salt || first_removed(log))
		rc = ls_log_sync_segments(log);
	for (size_t i = 0; !rc && i + 1 < log->nsegs; i++) {
		struct ls_segment *seg = log->segs[i];
		if (atomic_load(&seg->sealed))
			continue;
		/*
		 * Listed after the watermark was read: the writer may have
		 * moved on meanwhile and still be writing it. The next
		 * refresh decides.
		 */
		if (have && seg->first_seq >= v.active_first_seq)
			continue;
		rc = finalize_by_scan(seg, true);
		if (rc == -ENOENT) {
			/*
			 * Removed by the writer since it was listed; no
			 * reader is inside (it would be mapped).
			 */
			drop_removed(log, i--);
			rc = 0;
			continue;
		}
		atomic_store(&seg->sealed, rc == 0);
	}
	if (!rc && log->nsegs)
		rc = refresh_last(log, have, &v);
	pthread_mutex_unlock(&log->segs_mu);
	return rc;
}

/* ---- writer recovery ---- */

/* Zero the torn bytes [from, to) of seg and make that durable. */
static int zero_torn_tail(logstore_log *log, struct ls_segment *seg,
			  uint64_t from, uint64_t to)
{
	int rc = 0;
	for (uint64_t off = from; !rc && off < to; off += LS_ZERO_CHUNK_BYTES) {
		uint64_t n = to - off < LS_ZERO_CHUNK_BYTES
				 ? to - off
				 : LS_ZERO_CHUNK_BYTES;
		rc = ls_sys_pwrite_all(seg->fd, log->zero_buf, n, off);
	}
	if (!rc)
		rc = ls_sys_fdatasync(seg->fd);
	if (rc)
		return ls_error(rc, "segment %s: zeroing torn tail: %s",
				seg->name, strerror(-rc));
	return 0;
}

/* The last segment was closed cleanly: make it active without a scan. */
static int reopen_clean(logstore_log *log, struct ls_segment *seg)
{
	seg->fd = ls_sys_open(seg->path, O_RDWR, 0);
	if (seg->fd < 0)
		return ls_error(seg->fd, "segment %s: open: %s", seg->name,
				strerror(-seg->fd));
	int rc = ls_segment_reopen(log, seg);
	if (rc)
		return rc;
	log->active = seg;
	return 0;
}

/* Recover the last segment and make it active, or drop it if empty. */
static int recover_last(logstore_log *log)
{
	struct ls_segment *seg = log->segs[log->nsegs - 1];
	if (atomic_load(&seg->sealed))
		return 0; /* sealed before a crash: the next append rolls */
	int rc = ls_segment_map(seg);
	if (rc)
		return rc;
	seg->index = calloc(seg->index_capacity, sizeof(*seg->index));
	if (!seg->index)
		return ls_error(-ENOMEM, "out of memory");
	/*
	 * Nothing is written past the end after a clean close. If the next
	 * page says otherwise, the seal is not believed: full recovery.
	 */
	uint64_t end = atomic_load(&seg->end);
	if (seg->reopenable &&
	    ls_segment_nonzero_tail_until(seg, end, end + LS_PAGE_BYTES) == end)
		return reopen_clean(log, seg);
	uint64_t sealed_end = seg->reopenable ? end : 0;
	if (seg->reopenable) {
		/* Scan from the start, as after a crash. */
		seg->last_seq = seg->first_seq - 1;
		seg->last_time = seg->first_time;
		seg->entry_count = 0;
		atomic_store(&seg->end, LS_HEADER_BYTES);
	}
	struct ls_scan st;
	ls_segment_scan(seg, LS_HEADER_BYTES, seg->first_seq - 1, INT64_MIN,
			true, &st);
	if (ls_segment_corrupt_before_tail(seg, &st))
		return ls_error(LOGSTORE_ECORRUPT,
				"segment %s offset %" PRIu64
				": invalid record (seq %" PRIu64
				") followed by valid ones: corruption before "
				"the tail",
				seg->name, st.bad_off, st.bad_seq);
	/*
	 * Buffered appends can leave any amount of unsynced data, written
	 * back in any order, so the whole rest of the segment is looked at.
	 */
	if (st.end < sealed_end)
		return ls_error(LOGSTORE_ECORRUPT,
				"segment %s offset %" PRIu64
				": records end before the end its clean-close "
				"seal vouches for (%" PRIu64 ")",
				seg->name, st.end, sealed_end);
	uint64_t torn_end = ls_segment_nonzero_tail(seg, st.end);
	log->recovery_bytes_dropped = torn_end - st.end;
	if (st.count == 0) {
		/*
		 * Created, but its first record never became durable. Its
		 * first seq stays the next one, even if every older segment
		 * has been removed.
		 */
		log->next_seq_floor = seg->first_seq;
		rc = ls_sys_unlink(seg->path);
		if (rc)
			return ls_error(rc, "segment %s: unlink: %s", seg->name,
					strerror(-rc));
		log->nsegs--;
		ls_segment_unref(seg);
		return ls_sys_fsync(log->dir_fd);
	}
	seg->fd = ls_sys_open(seg->path, O_RDWR, 0);
	if (seg->fd < 0)
		return ls_error(seg->fd, "segment %s: open: %s", seg->name,
				strerror(-seg->fd));
	/*
	 * What a crashed writer left in the page cache is read as committed
	 * here, and durable_seq will vouch for it: make it durable first.
	 */
	if (torn_end > st.end)
		rc = zero_torn_tail(log, seg, st.end, torn_end);
	else if ((rc = ls_sys_fdatasync(seg->fd)) != 0)
		ls_error(rc, "segment %s: fdatasync: %s", seg->name,
			 strerror(-rc));
	if (rc)
		return rc;
	/* A seal that was not believed must not outlive this open. */
	if (seg->reopenable) {
		rc = ls_segment_clear_seal(seg);
		if (rc)
			return rc;
	}
	seg->last_seq = st.last_seq;
	seg->last_time = st.last_time;
	seg->entry_count = st.count;
	atomic_store(&seg->end, st.end);
	log->active = seg;
	return 0;
}

static int open_writer(logstore_log *log)
{
	log->zero_buf = calloc(1, LS_ZERO_CHUNK_BYTES);
	if (!log->zero_buf)
		return ls_error(-ENOMEM, "out of memory");
	int rc = lock_open_writer(log);
	if (!rc)
		rc = ls_log_sync_segments(log);
	if (!rc)
		rc = check_sealed_prefix(log);
	if (!rc && log->nsegs)
		rc = recover_last(log);
	if (rc)
		return rc;
	struct ls_segment *last = log->nsegs ? log->segs[log->nsegs - 1] : NULL;
	log->next_seq = last ? last->last_seq + 1 : 1;
	if (log->next_seq < log->next_seq_floor)
		log->next_seq = log->next_seq_floor;
	log->last_time = last ? last->last_time : INT64_MIN;
	log->written_seq = log->next_seq - 1;
	atomic_store(&log->durable_seq, log->next_seq - 1);
	ls_shm_publish(log, log->active);
	rc = ls_writer_init(log);
	if (!rc)
		rc = ls_writer_start(log);
	if (!rc)
		rc = ls_prepare_start(log);
	if (!rc && log->active) {
		log->segments_prepared = true;
		ls_prepare_want(log);
	}
	return rc;
}

static int open_reader(logstore_log *log)
{
	int rc = ls_log_refresh(log);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->segs_mu);
	rc = check_sealed_prefix(log);
	pthread_mutex_unlock(&log->segs_mu);
	return rc;
}

/* A new directory's name is durable once its parent is fsynced. */
static int sync_parent(const char *dir)
{
	char *copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	size_t len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0'; /* "a/b/" names b */
	char *slash = strrchr(copy, '/');
	const char *parent = slash == copy ? "/" : slash ? copy : ".";
	if (slash && slash != copy)
		*slash = '\0';
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 ? -errno : ls_sys_fsync(fd);
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

static int open_dir(logstore_log *log, const char *dir)
{
	log->dir = strdup(dir);
	if (!log->dir)
		return ls_error(-ENOMEM, "out of memory");
	if (!log->read_only && mkdir(dir, 0755) == 0) {
		int rc = sync_parent(dir);
		if (rc)
			return ls_error(rc,
					"%s: fsync of the parent directory: %s",
					dir, strerror(-rc));
	} else if (!log->read_only && errno != EEXIST) {
		return ls_error(-errno, "%s: mkdir: %s", dir, strerror(errno));
	}
	log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0)
		return ls_error(-errno, "%s: %s", dir, strerror(errno));
	return 0;
}

int logstore_log_open(const char *dir, const struct logstore_options *opts,
		      logstore_log **out)
{
	if (!dir || !out)
		return ls_error(-EINVAL, "dir and out are required");
	*out = NULL;
	logstore_log *log = calloc(1, sizeof(*log));
	if (!log)
		return ls_error(-ENOMEM, "out of memory");
	log->dir_fd = -1;
	log->lock_fd = -1;
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->segs_mu, NULL);
	pthread_mutex_init(&log->compactor_mu, NULL);
	pthread_mutex_init(&log->compactor_ctl_mu, NULL);
	pthread_mutex_init(&log->prep_mu, NULL);
	/*
	 * Timed waits on these (wait_durable, batching window, the
	 * preparation's pacing) are monotonic.
	 */
	pthread_condattr_t mono;
	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_cond_init(&log->prep_cond, &mono);
	pthread_cond_init(&log->cond, &mono);
	pthread_cond_init(&log->flush_cond, &mono);
	pthread_condattr_destroy(&mono);
	pthread_cond_init(&log->compactor_cond, NULL);
	int rc = options_resolve(opts, &log->opts);
	log->read_only = log->opts.read_only;
	if (!rc)
		rc = open_dir(log, dir);
	if (!rc)
		rc = log->read_only ? open_reader(log) : open_writer(log);
	if (rc) {
		log->failed = rc; /* close must not sync */
		logstore_log_close(log);
		return rc;
	}
	*out = log;
	return 0;
}

int logstore_log_close(logstore_log *log)
{
	if (!log)
		return 0;
	int rc = 0;
	ls_compactor_fini(log);
	/* Under mu: a flusher may still be taking a batch (take_fill()). */
	bool flush = false;
	if (!log->read_only) {
		pthread_mutex_lock(&log->mu);
		flush = log->fill && !log->failed;
		pthread_mutex_unlock(&log->mu);
	}
	if (flush)
		rc = ls_writer_flush_all(log);
	ls_writer_stop(log);
	ls_prepare_stop(log);
	ls_writer_fini(log);
	for (size_t i = 0; i < log->nsegs; i++)
		ls_segment_unref(log->segs[i]);
	free(log->segs);
	if (log->shm)
		munmap(log->shm, LS_PAGE_BYTES);
	if (log->lock_fd >= 0)
		close(log->lock_fd); /* releases the OFD lock */
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	pthread_cond_destroy(&log->compactor_cond);
	pthread_cond_destroy(&log->cond);
	pthread_cond_destroy(&log->flush_cond);
	pthread_cond_destroy(&log->prep_cond);
	pthread_mutex_destroy(&log->prep_mu);
	pthread_mutex_destroy(&log->compactor_mu);
	pthread_mutex_destroy(&log->compactor_ctl_mu);
	pthread_mutex_destroy(&log->segs_mu);
	pthread_mutex_destroy(&log->mu);
	free(log->dir);
	free(log);
	return rc;
}

/* ---- listing and figures ---- */

int logstore_log_segments(logstore_log *log,
			  struct logstore_segment_info *infos, size_t cap,
			  size_t *count)
{
	if (!log || !count || (cap && !infos))
		return ls_error(-EINVAL, "log and count are required");
	int rc = ls_log_refresh(log);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->segs_mu);
	for (size_t i = 0; i < log->nsegs && i < cap; i++) {
		const struct ls_segment *seg = log->segs[i];
		struct logstore_segment_info *in = &infos[i];
		memset(in, 0, sizeof(*in));
		snprintf(in->name, sizeof(in->name), "%s", seg->name);
		in->first_time_ns = seg->first_time;
		in->last_time_ns = seg->last_time;
		in->first_seq = seg->first_seq;
		in->last_seq = seg->last_seq;
		in->entries = seg->entry_count;
		in->bytes = atomic_load(&seg->end) - LS_HEADER_BYTES;
		in->file_bytes = seg->capacity;
		in->active = !atomic_load(&seg->sealed);
	}
	*count = log->nsegs;
	pthread_mutex_unlock(&log->segs_mu);
	return 0;
}

int logstore_log_last_entry(logstore_log *log, struct logstore_entry *entry,
			    void *buf, size_t cap)
{
	if (!log || !entry || (cap && !buf))
		return ls_error(-EINVAL, "log and entry are required");
	int rc = ls_log_refresh(log);
	if (rc)
		return rc;
	uint64_t last = 0;
	pthread_mutex_lock(&log->segs_mu);
	for (size_t i = log->nsegs; i-- > 0 && last == 0;)
		if (log->segs[i]->entry_count)
			last = log->segs[i]->last_seq;
	pthread_mutex_unlock(&log->segs_mu);
	if (last == 0)
		return LOGSTORE_END;
	struct logstore_start start = {.kind = LOGSTORE_START_SEQ, .seq = last};
	logstore_reader *r;
	rc = logstore_reader_open(log, &start, &r);
	if (rc)
		return rc;
	struct logstore_entry e;
	rc = logstore_reader_next(r, &e);
	if (rc == 0) {
		memcpy(buf, e.data, e.len < cap ? e.len : cap);
		*entry = e;
		entry->data = buf;
	}
	logstore_reader_close(r);
	return rc;
}

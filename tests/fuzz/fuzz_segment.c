/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes as segment files (and the LOCK file)
 * given to open (as the writer, with recovery, or read-only), the reader
 * (from the oldest entry, by seq and by time), the segment listing, the
 * last entry and an append. It must never crash, hang, leak or read
 * outside a file, and what the reader returns must be consistent: seqs
 * +1, times increasing, payloads inside the file.
 *
 * Input (so that small inputs make whole 16 KiB files and mutations keep
 * their structure): byte 0 holds flags (bit 0 read-only, bit 1 a second
 * segment, bit 2 append after open, bit 3 truncate the first segment to
 * the u16 that follows); then chunks, each [u8 file][u16 offset][u16
 * length][bytes], written over zero-filled files: file 0 and 1 are the
 * segments (16 KiB), 2 is LOCK (4 KiB). The first segment is named for
 * seq 1; the second for the first_seq in its header (or 2).
 *
 * Files go to a directory under /dev/shm when it exists (fsync there is
 * cheap), else under /tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logstore.h"

#define SEG_BYTES 16384u
#define LOCK_BYTES 4096u
#define ENTRIES_MAX 100000 /* reads per reader: a loop would be a bug */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void write_file(const char *name, const uint8_t *bytes, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		abort();
	if (write(fd, bytes, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* Remove every file of the directory: inputs and what the engine made. */
static void clean_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[340];

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Read everything from start; check what comes back. */
static void read_all(logstore_log *log, const struct logstore_start *start)
{
	logstore_reader *r = NULL;
	struct logstore_entry e;
	uint64_t prev_seq = 0;
	int64_t prev_time = INT64_MIN;
	int rc;

	if (logstore_reader_open(log, start, &r) != 0)
		return;
	for (int i = 0; i < ENTRIES_MAX; i++) {
		rc = logstore_reader_next(r, &e);
		if (rc != 0)
			break;
		check(prev_seq == 0 || e.seq == prev_seq + 1);
		check(e.time_ns > prev_time);
		check(e.len <= 2 * SEG_BYTES);
		/* Touch every byte: ASan and the mapping bounds see it. */
		volatile uint8_t sum = 0;
		for (size_t k = 0; k < e.len; k++)
			sum ^= ((const uint8_t *)e.data)[k];
		(void)sum;
		prev_seq = e.seq;
		prev_time = e.time_ns;
	}
	logstore_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t seg[2][SEG_BYTES];
	static uint8_t lock[LOCK_BYTES];
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/logstore-fuzz-%d",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
			 (int)getpid());
		mkdir(dir, 0755);
	}
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	size_t pos = 1;
	size_t trunc = SEG_BYTES;
	if ((flags & 8) && size >= 3) {
		trunc = get16(data + 1) % (SEG_BYTES + 1);
		pos = 3;
	}
	memset(seg, 0, sizeof(seg));
	memset(lock, 0, sizeof(lock));
	bool have_lock = false;
	while (pos + 5 <= size) {
		uint8_t file = data[pos] % 3;
		size_t off = get16(data + pos + 1);
		size_t len = get16(data + pos + 3);
		pos += 5;
		if (len > size - pos)
			len = size - pos;
		uint8_t *dst = file == 2 ? lock : seg[file];
		size_t cap = file == 2 ? LOCK_BYTES : SEG_BYTES;
		have_lock |= file == 2;
		if (off < cap)
			memcpy(dst + off, data + pos,
			       len < cap - off ? len : cap - off);
		pos += len;
	}

	char name[2][32];
	snprintf(name[0], sizeof(name[0]), "%020" PRIu64 ".seg", (uint64_t)1);
	uint64_t second;
	memcpy(&second, seg[1] + 24, 8);
	if (second < 2 || second > 1000000000000ull)
		second = 2;
	snprintf(name[1], sizeof(name[1]), "%020" PRIu64 ".seg", second);
	write_file(name[0], seg[0], trunc);
	if (flags & 2)
		write_file(name[1], seg[1], SEG_BYTES);
	if (have_lock)
		write_file("LOCK", lock, LOCK_BYTES);

	struct logstore_options opts;
	logstore_options_init(&opts);
	opts.segment_bytes_max = SEG_BYTES;
	opts.read_only = (flags & 1) != 0;
	logstore_log *log = NULL;
	if (logstore_log_open(dir, &opts, &log) == 0) {
		struct logstore_segment_info infos[4];
		size_t n = 0;
		struct logstore_entry last;
		uint8_t buf[64];
		(void)logstore_log_segments(log, infos, 4, &n);
		read_all(log, NULL);
		struct logstore_start s = {.kind = LOGSTORE_START_SEQ,
					   .seq = 3};
		read_all(log, &s);
		int64_t t;
		memcpy(&t, seg[0] + 32, 8);
		s = (struct logstore_start){.kind = LOGSTORE_START_TIME,
					    .time_ns = t + 2};
		read_all(log, &s);
		(void)logstore_log_last_entry(log, &last, buf, sizeof(buf));
		if ((flags & 4) && !opts.read_only) {
			(void)logstore_log_append(
			    log, "fuzz", 4, LOGSTORE_BUFFERED, NULL, NULL);
			read_all(log, NULL);
		}
		logstore_log_close(log);
	}

	clean_dir();
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Writes the fuzz target's seed corpus (tests/fuzz/corpus) from real
 * logs: each log is made through the API in a temporary directory, and
 * its segment files (and LOCK) are turned into the target's input format
 * (see fuzz_segment.c): a flags byte, then the non-zero runs of each file
 * as [u8 file][u16 offset][u16 length][bytes]. Usage: make_corpus DIR.
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

static int64_t fake_now = 1136214245000000000LL;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now += 1000;
}

static logstore_log *open_log(const char *dir)
{
	struct logstore_options opts;
	logstore_log *log = NULL;
	logstore_options_init(&opts);
	opts.segment_bytes_max = SEG_BYTES;
	opts.clock_ns = fake_clock;
	if (logstore_log_open(dir, &opts, &log) != 0) {
		fprintf(stderr, "open %s: %s\n", dir, logstore_error_detail());
		exit(1);
	}
	return log;
}

static void append(logstore_log *log, size_t len, unsigned seed)
{
	unsigned char buf[2000];
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 31 + i * 7);
	if (logstore_log_append(log, buf, len, LOGSTORE_DURABLE, NULL, NULL))
		exit(1);
}

static void batch(logstore_log *log)
{
	struct logstore_batch_entry b[3] = {{.data = "one", .len = 3},
					    {.data = "two", .len = 3},
					    {.data = "three", .len = 5}};
	if (logstore_log_append_batch(log, b, 3, LOGSTORE_DURABLE))
		exit(1);
}

/* Abandon the handle as a crash would: the engine's own close syncs. */
static void crash(logstore_log *log)
{
	/* Leak it: the process exits soon; the lock dies with the fd. */
	(void)log;
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, cap);
	close(fd);
	return n < 0 ? 0 : (size_t)n;
}

/* Non-zero runs of file as chunks; returns bytes written to out. */
static size_t chunks(uint8_t file, const uint8_t *b, size_t len, uint8_t *out)
{
	size_t o = 0, i = 0;
	while (i < len) {
		while (i < len && b[i] == 0)
			i++;
		if (i == len)
			break;
		size_t start = i, zeros = 0;
		while (i < len && zeros < 8) {
			zeros = b[i] == 0 ? zeros + 1 : 0;
			i++;
		}
		size_t end = i - zeros;
		out[o++] = file;
		out[o++] = (uint8_t)start;
		out[o++] = (uint8_t)(start >> 8);
		out[o++] = (uint8_t)(end - start);
		out[o++] = (uint8_t)((end - start) >> 8);
		memcpy(out + o, b + start, end - start);
		o += end - start;
	}
	return o;
}

static int seg_names(const char *dir, char names[2][300])
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".seg") == 0 && n < 2)
			snprintf(names[n++], 300, "%s", de->d_name);
	}
	if (d)
		closedir(d);
	if (n == 2 && strcmp(names[0], names[1]) > 0) {
		char t[300];
		memcpy(t, names[0], 300);
		memcpy(names[0], names[1], 300);
		memcpy(names[1], t, 300);
	}
	return n;
}

static void emit(const char *out_dir, const char *name, const char *dir,
		 uint8_t flags, bool with_lock)
{
	static uint8_t file[SEG_BYTES], out[4 * SEG_BYTES];
	char names[2][300], path[700];
	int n = seg_names(dir, names);
	size_t o = 0;
	if (n == 2)
		flags |= 2;
	out[o++] = flags;
	if (flags & 8) {
		/* Truncated in the middle of the records. */
		out[o++] = (uint8_t)(4096 + 200);
		out[o++] = (uint8_t)((4096 + 200) >> 8);
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		size_t len = read_file(path, file, sizeof(file));
		o += chunks((uint8_t)i, file, len, out + o);
	}
	if (with_lock) {
		snprintf(path, sizeof(path), "%s/LOCK", dir);
		size_t len = read_file(path, file, 4096);
		o += chunks(2, file, len, out + o);
	}
	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(out, 1, o, f) != o)
		exit(1);
	fclose(f);
	printf("%s: %zu bytes\n", path, o);
}

static void scratch(char *dir)
{
	strcpy(dir, "/tmp/logstore-corpus-XXXXXX");
	if (!mkdtemp(dir))
		exit(1);
}

static void rm_dir(const char *dir)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		exit(1);
}

int main(int argc, char **argv)
{
	char dir[64];
	if (argc != 2)
		return 2;
	const char *out = argv[1];

	/* A few records, writer crashed: recovery scans them. */
	scratch(dir);
	logstore_log *log = open_log(dir);
	for (unsigned i = 0; i < 5; i++)
		append(log, 20 + i * 30, i);
	batch(log);
	crash(log);
	emit(out, "crashed-writer", dir, 4, true);
	emit(out, "crashed-read-only", dir, 1, true);
	emit(out, "crashed-truncated", dir, 8 | 0, false);
	rm_dir(dir);

	/* Closed cleanly: a reopenable seal and an index. */
	scratch(dir);
	log = open_log(dir);
	for (unsigned i = 0; i < 8; i++)
		append(log, 100 + i * 50, i);
	logstore_log_close(log);
	emit(out, "clean-close", dir, 4, false);
	emit(out, "clean-close-read-only", dir, 1, false);
	rm_dir(dir);

	/* A sealed segment and an active one. */
	scratch(dir);
	log = open_log(dir);
	for (unsigned i = 0; i < 14; i++)
		append(log, 1500, i);
	crash(log);
	emit(out, "rollover", dir, 4, true);
	emit(out, "rollover-read-only", dir, 1, true);
	rm_dir(dir);
	return 0;
}

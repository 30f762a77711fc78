/* SPDX-License-Identifier: MIT */
/*
 * A program built against an installed logstore (find_package or
 * pkg-config; see tests/test_install.sh): appends a typed value, reads it
 * back in place, and checks the library's run-time version against the
 * header it was compiled with. Exits 0 when all holds.
 */
#include <stdio.h>
#include <string.h>

#include <logstore.h>

struct point {
	int64_t x;
	int64_t y;
};

int main(int argc, char **argv)
{
	struct logstore_codec codec;
	struct point p = {3, -4};
	const struct point *q;
	struct logstore_entry e;
	logstore_log *log;
	logstore_reader *r;

	if (argc != 2 || logstore_version() != LOGSTORE_VERSION_NUMBER)
		return 1;
	logstore_codec_init_struct(&codec, 7, 1, sizeof(p));
	if (logstore_log_open(argv[1], NULL, &log) != 0 ||
	    logstore_log_append_value(log, &codec, &p, LOGSTORE_DURABLE, NULL,
				      NULL) != 0 ||
	    logstore_reader_open(log, NULL, &r) != 0 ||
	    logstore_reader_next(r, &e) != 0 ||
	    logstore_entry_view(&e, &codec, (const void **)&q) != 0 ||
	    q->x != 3 || q->y != -4) {
		fprintf(stderr, "consumer: %s\n", logstore_error_detail());
		return 1;
	}
	logstore_reader_close(r);
	if (logstore_log_close(log) != 0)
		return 1;
	printf("consumer: logstore %u: OK\n", logstore_version());
	return 0;
}

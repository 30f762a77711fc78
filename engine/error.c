/* SPDX-License-Identifier: MIT */
/*
 * Error names and the per-thread detail of the last failure.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_detail[512];

int ls_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error_detail, sizeof(error_detail), fmt, ap);
	va_end(ap);
	return code;
}

const char *logstore_error_detail(void)
{
	return error_detail;
}

unsigned logstore_version(void)
{
	return LOGSTORE_VERSION_NUMBER;
}

const char *logstore_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case LOGSTORE_END:
		return "end of log";
	case LOGSTORE_ECORRUPT:
		return "log data is corrupt (checksum or structure check "
		       "failed)";
	case LOGSTORE_ELOCKED:
		return "log is locked by another writer";
	case LOGSTORE_EFAILED:
		return "log has failed after a write or fsync error; reopen it";
	case LOGSTORE_ETIME:
		return "time is not later than the last entry's time";
	case LOGSTORE_ETOOBIG:
		return "entry or batch too large for a segment or batch buffer";
	case LOGSTORE_ENOTFOUND:
		return "no segment starts at that time";
	case LOGSTORE_EACTIVE:
		return "the active segment cannot be removed";
	case LOGSTORE_EREADONLY:
		return "log is open read-only";
	case LOGSTORE_EFORMAT:
		return "segment has an unsupported format version";
	case LOGSTORE_ETYPE:
		return "entry does not match the codec (type tag, version or "
		       "length)";
	}
	if (code < 0 && code > -4096)
		return strerror(-code);
	return "unknown logstore error";
}

void ls_assert_fail(const char *expr, const char *file, int line,
		    const char *func)
{
	fprintf(stderr, "logstore: assertion failed: %s at %s:%d (%s)\n", expr,
		file, line, func);
	abort();
}

/* SPDX-License-Identifier: MIT */
/*
 * The logstore on-disk format, version 1. This file is the specification:
 * every byte the engine writes is described here, and every other file
 * goes through the helpers below to read or write those bytes.
 *
 * A log is a directory holding
 *   LOCK                  the writer lock (an OFD lock on byte 0) and the
 *                         live commit watermark shared with readers in
 *                         other processes (see struct ls_shm). Never
 *                         fsynced: it is not needed for recovery.
 *   NNNNNNNNNNNNNNNNNNNN.seg
 *                         segments; NNN is the first sequence number of the
 *                         segment, 20 decimal digits, so names sort in log
 *                         order. The API names a segment by its first time,
 *                         which is in the header.
 *   NNN...NNN.seg.tmp     a segment being created; deleted by the next
 *                         writer open. Renamed to .seg once complete.
 *   prepared-N.seg.tmp    a segment prepared ahead of need by the writer's
 *                         background thread: zero-filled, no header yet,
 *                         its data and its directory entry durable. At
 *                         rollover it is given its header, with no flush,
 *                         and takes records under this name; it is
 *                         renamed to its .seg name once its header is
 *                         durable (by the first fdatasync of its records,
 *                         or one made for the rename), so a .seg file
 *                         always has a durable header. Open adopts such a
 *                         file if it has a valid header (see Recovery);
 *                         close or the next writer open deletes it
 *                         otherwise.
 *
 * Integers are little-endian, fixed width. Times are int64 nanoseconds
 * since the Unix epoch, UTC. Checksums are CRC-32C (Castagnoli,
 * reflected polynomial 0x82F63B78, initial value ~0, final xor ~0; the
 * checksum of "123456789" is 0xE3069283).
 *
 * Segment file (capacity bytes, preallocated and zero-filled at creation):
 *
 *   [0, 4096)                   header page: header at 0, seal at 2048
 *   [4096, index_offset)        records, back to back, 8-byte aligned
 *   [index_offset, capacity)    time index, written when the segment is
 *                               sealed (zero before)
 *
 * Segment header (offset 0, 64 bytes, written once at creation):
 *
 *   off size field
 *     0    8 magic           "LGSTSEG1"
 *     8    4 format_version  1 (LS_FORMAT_VERSION)
 *    12    4 header_bytes    4096: where records start
 *    16    4 salt            random per segment file and use; every record
 *                            of this segment repeats it
 *    20    4 flags           0
 *    24    8 first_seq       sequence number of the first record
 *    32    8 first_time      time of the first record
 *    40    8 capacity        file size in bytes
 *    48    8 index_offset    start of the time index region
 *    56    4 index_capacity  index entries the region holds
 *    60    4 header_crc      CRC-32C of bytes [0, 60)
 *
 * Seal (offset 2048, 64 bytes): written when the segment stops being the
 * active one, after all its records are durable. Lets open skip scanning
 * sealed segments. A missing or invalid seal is not an error: the segment
 * is then scanned. A clean close also seals the active segment, with flag
 * LS_SEAL_REOPENABLE: the segment may take more records, so the seal
 * vouches only for [4096, data_end). The next writer trusts it (nothing
 * can follow data_end after a clean close) and clears it, durably, before
 * it appends; readers keep looking past data_end.
 *
 *   off size field
 *     0    8 magic           "LGSTSEAL"
 *     8    4 salt            equals the header's salt
 *    12    4 index_count     index entries written
 *    16    8 last_seq        sequence number of the last record
 *    24    8 last_time       time of the last record
 *    32    8 entry_count     records in the segment
 *    40    8 data_end        offset just past the last record
 *    48    4 index_crc       CRC-32C of the index_count * 16 index bytes
 *    52    4 flags           bit 0: LS_SEAL_REOPENABLE
 *    56    4 reserved        0
 *    60    4 seal_crc        CRC-32C of bytes [0, 60)
 *
 * Record (at an 8-byte aligned offset >= 4096, 32-byte header + payload,
 * zero-padded to a multiple of 8):
 *
 *   off size field
 *     0    4 crc             CRC-32C of bytes [4, 32 + length)
 *     4    4 length_flags    payload length (bits 0-30); bit 31 set means
 *                            "more records of the same atomic batch follow"
 *     8    8 seq
 *    16    8 time
 *    24    4 salt            the segment header's salt
 *    28    4 reserved        0
 *    32    n payload
 *
 * A record at offset o counts as valid when, in this order:
 *   1. o + 32 <= index_offset and o + 32 + length <= index_offset;
 *   2. salt equals the header's salt and reserved is 0 (zeros, and bytes
 *      left over from an earlier use of the file, fail here or at 5);
 *   3. seq equals the previous record's seq + 1 (the header's first_seq
 *      for the first record of the segment);
 *   4. time is greater than the previous record's time (the first
 *      record's time equals the header's first_time);
 *   5. crc matches.
 * A batch is committed when its last record (bit 31 clear) is valid:
 * records of a batch whose last record is not valid do not count.
 * The end of the records is the first offset at which no valid record
 * starts. For the active segment of a live writer, readers trust only the
 * commit watermark in LOCK and never read past it.
 *
 * Recovery (writer open): a prepared-N.seg.tmp file whose header is
 * valid (magic, checksum, version) was activated and not yet renamed, or
 * its rename was lost; if its first_seq names a segment after every .seg
 * file, it is renamed to that name (then the directory is fsynced) and is
 * a segment like the others; logstore_log_repair() does the same.
 * Read-only handles list it under that name without renaming it. A
 * prepared file with no valid header, or one that would not come last,
 * holds no acknowledged record and is deleted.
 * (Engines before this rule deleted every prepared file: they flushed
 * the header and the rename before the first record.)
 * Then the last segment is scanned from the start; the bytes after the end
 * of its records that are not zero (a torn tail) are counted as dropped and
 * overwritten with zeros (and fdatasynced) before anything is appended, so a
 * later record can never be chained to stale bytes. An invalid record of the
 * last segment that holds no all-zero 512-byte sector, does not start with
 * zeros up to the next sector boundary (so was written whole), and is
 * followed by a valid record is corruption, not a torn tail. A sealed or
 * non-last segment that fails a check, or has bytes other than zeros after
 * its records, is corrupt.
 *
 * Time index entry (16 bytes, in the index region, one entry for the
 * first record and then for the first record starting at least
 * LS_INDEX_STRIDE bytes after the previously indexed one):
 *
 *   off size field
 *     0    8 time
 *     8    4 offset          record offset in the segment
 *    12    4 seq_delta       record seq - first_seq
 *
 * The index is derived data: records stay the truth, and a missing or
 * damaged index (index_crc mismatch) is rebuilt by scanning the records.
 */
#ifndef LOGSTORE_FORMAT_H
#define LOGSTORE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the get/put helpers below assume a little-endian host"
#endif

#define LS_FORMAT_VERSION 1u
#define LS_PAGE_BYTES 4096u
#define LS_HEADER_BYTES LS_PAGE_BYTES /* records start here */
#define LS_SEAL_OFFSET 2048u
#define LS_RECORD_ALIGN 8u
#define LS_RECORD_HEADER_BYTES 32u
#define LS_RECORD_BATCH_MORE 0x80000000u /* in length_flags */
#define LS_RECORD_LENGTH_MASK 0x7fffffffu
#define LS_INDEX_ENTRY_BYTES 16u
#define LS_SEAL_REOPENABLE 1u /* seal flag: written by a clean close */
/*
 * One index entry per 4 KiB of records at most: a seek then reads at most
 * one page plus one record after the binary search, and the index costs
 * 16 bytes per 4 KiB (0.4 %) of the file.
 */
#define LS_INDEX_STRIDE 4096u
#define LS_SEGMENT_SUFFIX ".seg"
#define LS_SEGMENT_NAME_DIGITS 20

static const char ls_segment_magic[8] = {'L', 'G', 'S', 'T',
					 'S', 'E', 'G', '1'};
static const char ls_seal_magic[8] = {'L', 'G', 'S', 'T', 'S', 'E', 'A', 'L'};

/* Segment header, as decoded; the byte layout is the table above. */
struct ls_header {
	uint8_t magic[8];
	uint32_t format_version;
	uint32_t header_bytes;
	uint32_t salt;
	uint32_t flags;
	uint64_t first_seq;
	int64_t first_time;
	uint64_t capacity;
	uint64_t index_offset;
	uint32_t index_capacity;
	uint32_t header_crc;
};
_Static_assert(sizeof(struct ls_header) == 64, "header is 64 bytes");
_Static_assert(offsetof(struct ls_header, salt) == 16, "salt at 16");
_Static_assert(offsetof(struct ls_header, first_seq) == 24, "first_seq at 24");
_Static_assert(offsetof(struct ls_header, index_capacity) == 56, "at 56");
_Static_assert(offsetof(struct ls_header, header_crc) == 60, "crc at 60");

struct ls_seal {
	uint8_t magic[8];
	uint32_t salt;
	uint32_t index_count;
	uint64_t last_seq;
	int64_t last_time;
	uint64_t entry_count;
	uint64_t data_end;
	uint32_t index_crc;
	uint32_t flags;
	uint32_t reserved;
	uint32_t seal_crc;
};
_Static_assert(sizeof(struct ls_seal) == 64, "seal is 64 bytes");
_Static_assert(offsetof(struct ls_seal, last_seq) == 16, "last_seq at 16");
_Static_assert(offsetof(struct ls_seal, index_crc) == 48, "index_crc at 48");
_Static_assert(offsetof(struct ls_seal, seal_crc) == 60, "crc at 60");

struct ls_record_header {
	uint32_t crc;
	uint32_t length_flags;
	uint64_t seq;
	int64_t time;
	uint32_t salt;
	uint32_t reserved;
};
_Static_assert(sizeof(struct ls_record_header) == LS_RECORD_HEADER_BYTES,
	       "record header is 32 bytes");
_Static_assert(offsetof(struct ls_record_header, seq) == 8, "seq at 8");
_Static_assert(offsetof(struct ls_record_header, time) == 16, "time at 16");
_Static_assert(offsetof(struct ls_record_header, salt) == 24, "salt at 24");

struct ls_index_entry {
	int64_t time;
	uint32_t offset;
	uint32_t seq_delta;
};
_Static_assert(sizeof(struct ls_index_entry) == LS_INDEX_ENTRY_BYTES,
	       "index entry is 16 bytes");
_Static_assert(offsetof(struct ls_index_entry, offset) == 8, "offset at 8");

_Static_assert(LS_SEAL_OFFSET + sizeof(struct ls_seal) <= LS_HEADER_BYTES,
	       "seal fits the header page");
_Static_assert((LS_RECORD_ALIGN & (LS_RECORD_ALIGN - 1)) == 0,
	       "alignment is a power of two");

/*
 * The helpers below are the only way the engine reads and writes the
 * integers of the format. They use memcpy, so any address is fine.
 */
static inline uint32_t ls_get_u32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t ls_get_u64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void ls_put_u32(void *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void ls_put_u64(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Bytes a record with a payload of len bytes occupies on disk. */
static inline uint64_t ls_record_bytes(uint64_t len)
{
	return (LS_RECORD_HEADER_BYTES + len + LS_RECORD_ALIGN - 1) &
	       ~(uint64_t)(LS_RECORD_ALIGN - 1);
}

/* Index entries a segment of capacity bytes needs at most. */
static inline uint32_t ls_index_capacity(uint64_t capacity)
{
	return (uint32_t)(capacity / LS_INDEX_STRIDE + 1);
}

/* Where the index region starts in a segment of capacity bytes. */
static inline uint64_t ls_index_offset(uint64_t capacity)
{
	uint64_t bytes =
	    (uint64_t)ls_index_capacity(capacity) * LS_INDEX_ENTRY_BYTES;
	bytes = (bytes + LS_PAGE_BYTES - 1) & ~(uint64_t)(LS_PAGE_BYTES - 1);
	return capacity - bytes;
}

#endif /* LOGSTORE_FORMAT_H */

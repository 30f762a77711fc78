// SPDX-License-Identifier: MIT
/*
 * bench_compare: logstore beside the engines a user would pick instead
 * (LevelDB, RocksDB, LMDB, SQLite in WAL mode) and beside raw file-system
 * baselines, on the workloads of /work/shared/MEASURED.md's comparison table,
 * all in one run on one file system:
 *
 *   W1 non-durable appends, one thread
 *   W2 durable appends, one thread (100 B and 4 KiB entries)
 *   W3 durable appends from 16 threads, each call durable before it returns
 *   W4 full scan of 1M entries (hot, in the page cache)
 *   W5 seek to a time, then read 10 entries
 *
 * Each comparator is compiled in only when CMake found its library
 * (LOGSTORE_BENCH_HAVE_LEVELDB, _ROCKSDB, _LMDB, _SQLITE); logstore and the
 * raw baselines are always there. Results are entries per second
 * (items_per_second; seeks per second for W5) and each benchmark's name
 * holds the workload and the engine, e.g. W2_durable_append/leveldb/bytes:100.
 *
 * Every engine goes through the same small interface, Store. Keys are the
 * entry's time in nanoseconds: 8 bytes big-endian for the key-value stores
 * (so that a seek by time is a key seek), the INTEGER PRIMARY KEY for SQLite,
 * an 8-byte field in front of each fixed-size record for the raw file.
 * logstore stamps its own times on appends (logstore_log_append), which is
 * what the engine is for; the others take theirs from a shared clock that
 * never repeats a value (NextTime).
 *
 * Nothing measures a store that does not hold what it was given: after the
 * timed loop of an append workload, the store is scanned and must hold every
 * entry appended (count, length, increasing times); every timed scan checks
 * the count, every time and the sum of the payloads' first bytes; every seek
 * checks that it landed on the entry it looked for and read the 10 expected
 * entries. A failed check is reported as a benchmark error, not a figure.
 *
 * Multi-threaded benchmarks follow bench_logstore.cc: thread 0 sets up
 * before the loop and tears down after it, other threads touch shared state
 * only inside the loop (google-benchmark puts a barrier at both ends), and a
 * failure is recorded in Failure and reported by thread 0.
 *
 * Everything is written under one mkdtemp'd root (/tmp/logstore-compare-XXXXXX,
 * or under $LOGSTORE_BENCH_DIR), removed at the end.
 */
#include <benchmark/benchmark.h>

#include "logstore.h"

#ifdef LOGSTORE_BENCH_HAVE_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef LOGSTORE_BENCH_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif
#ifdef LOGSTORE_BENCH_HAVE_LMDB
#include <lmdb.h>
#endif
#ifdef LOGSTORE_BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace
{

constexpr size_t kMiB = 1024 * 1024;
constexpr int kManyThreads = 16;
constexpr int kSeekReadEntries = 10;
constexpr size_t kSmallEntry = 100;
constexpr size_t kLargeEntry = 4096;
constexpr int64_t kReadBaseNs = 1700000000000000000; // 2023-11-14
constexpr int64_t kReadStepNs = 1000;		     // 1 µs between entries

/*
 * Sizes, changeable on the command line (see main) so that a quick check
 * can run on a busy machine: entries in the log that W4 and W5 read, and
 * entries that W1 appends (a fixed count, so that every engine puts the same
 * volume into the page cache; a time-driven ramp-up would push the fast ones
 * into writeback throttling).
 */
uint64_t g_read_entries = 1000000;
int64_t g_w1_entries = 200000;

std::string g_root; // mkdtemp'd root of every directory written

std::string MakeDir(const std::string &tag)
{
	static std::atomic<unsigned> counter{0};
	std::string dir = g_root + "/" + tag + "-" + std::to_string(counter++);
	if (mkdir(dir.c_str(), 0755) != 0) {
		std::fprintf(stderr, "mkdir %s: %s\n", dir.c_str(),
			     std::strerror(errno));
		std::abort();
	}
	return dir;
}

int RemoveOne(const char *path, const struct stat *, int, struct FTW *)
{
	if (remove(path) != 0)
		std::fprintf(stderr, "remove %s: %s\n", path,
			     std::strerror(errno));
	return 0;
}

void RemoveTree(const std::string &dir)
{
	if (!dir.empty())
		nftw(dir.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS);
}

std::string ErrnoError(const char *what, int err)
{
	return std::string(what) + ": " + std::strerror(err);
}

std::string LogstoreError(const char *what, int rc)
{
	std::string text = std::string(what) + ": " + logstore_strerror(rc);
	const char *detail = logstore_error_detail();
	if (detail != nullptr && detail[0] != '\0')
		text += std::string(" (") + detail + ")";
	return text;
}

int64_t MonotonicNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/*
 * The time of an appended entry for the engines that do not stamp one
 * themselves: the wall clock, or one more than the last value handed out,
 * so that keys never repeat, also across threads.
 */
int64_t NextTime()
{
	static std::atomic<int64_t> last{0};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	const int64_t now = int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
	int64_t prev = last.load(std::memory_order_relaxed);
	for (;;) {
		const int64_t t = std::max(now, prev + 1);
		if (last.compare_exchange_weak(prev, t,
					       std::memory_order_relaxed))
			return t;
	}
}

// Unused when no key-value store is compiled in.
[[maybe_unused]] void EncodeKey(int64_t time_ns, unsigned char out[8])
{
	uint64_t v = __builtin_bswap64(uint64_t(time_ns));
	std::memcpy(out, &v, 8);
}

[[maybe_unused]] int64_t DecodeKey(const void *key)
{
	uint64_t v;
	std::memcpy(&v, key, 8);
	return int64_t(__builtin_bswap64(v));
}

uint64_t SplitMix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

// Pseudo-random bytes, so that the engines that compress gain nothing.
void FillRandom(uint64_t seed, unsigned char *out, size_t len)
{
	for (size_t j = 0; j < len; j += 8) {
		uint64_t x = SplitMix64(seed * 0x100000001b3ull + j);
		std::memcpy(out + j, &x, std::min<size_t>(8, len - j));
	}
}

// The first failure of a run, shared by its threads.
class Failure
{
      public:
	void Reset()
	{
		std::lock_guard<std::mutex> lock(mu_);
		failed_.store(false, std::memory_order_relaxed);
		text_.clear();
	}
	bool failed() const
	{
		return failed_.load(std::memory_order_relaxed);
	}
	void Set(const std::string &text)
	{
		std::lock_guard<std::mutex> lock(mu_);
		if (!failed_.load(std::memory_order_relaxed)) {
			text_ = text;
			failed_.store(true, std::memory_order_relaxed);
		}
	}
	// In thread 0 after the loop: reports the failure, if any.
	void Report(benchmark::State &state)
	{
		std::lock_guard<std::mutex> lock(mu_);
		if (!failed_.load(std::memory_order_relaxed))
			return;
		std::fprintf(stderr, "error: %s\n", text_.c_str());
		state.SkipWithError(text_.c_str());
	}

      private:
	std::atomic<bool> failed_{false};
	std::mutex mu_;
	std::string text_;
};

/* ---------------------------------------------------------------------- */
/* The log that W4 and W5 read, and the checks of what is read             */
/* ---------------------------------------------------------------------- */

/*
 * Entry i has time kReadBaseNs + i * kReadStepNs and a payload of len
 * pseudo-random bytes derived from i. Every engine is loaded with the same
 * entries.
 */
struct Dataset {
	uint64_t count = 0;
	size_t len = 0;
	std::vector<unsigned char> first_bytes; // of each payload
	uint64_t first_byte_sum = 0;

	int64_t Time(uint64_t i) const
	{
		return kReadBaseNs + int64_t(i) * kReadStepNs;
	}
	void Fill(uint64_t i, unsigned char *out) const
	{
		FillRandom(i, out, len);
	}
};

const Dataset &GetDataset()
{
	static Dataset ds;
	if (ds.count == 0) {
		ds.count = g_read_entries;
		ds.len = kSmallEntry;
		ds.first_bytes.resize(ds.count);
		std::vector<unsigned char> buf(ds.len);
		for (uint64_t i = 0; i < ds.count; i++) {
			ds.Fill(i, buf.data());
			ds.first_bytes[i] = buf[0];
			ds.first_byte_sum += buf[0];
		}
	}
	return ds;
}

/*
 * What a scan or a seek saw. Exact mode: times must be next_ns, then
 * next_ns + kReadStepNs, ... (the dataset). Otherwise (after appends) they
 * must strictly increase. Every payload must be len bytes long.
 */
struct ReadCheck {
	bool exact = false;
	int64_t next_ns = 0;
	int64_t last_ns = INT64_MIN;
	size_t len = 0;
	uint64_t n = 0;	  // entries seen
	uint64_t sum = 0; // of the payloads' first bytes
	uint64_t bad = 0; // entries with a wrong time or length

	void Entry(int64_t time_ns, const void *data, size_t data_len)
	{
		if (exact) {
			bad += time_ns != next_ns;
			next_ns += kReadStepNs;
		} else {
			bad += time_ns <= last_ns;
			last_ns = time_ns;
		}
		bad += data_len != len;
		if (data_len > 0)
			sum += *static_cast<const unsigned char *>(data);
		n++;
	}
};

/* ---------------------------------------------------------------------- */
/* The interface every engine implements                                   */
/* ---------------------------------------------------------------------- */

enum class Mode {
	kBuffered, // W1: appends that need not be durable
	kDurable,  // W2, W3: each append durable before it returns
	kRead,	   // W4, W5: loaded once with the dataset, then read
};

/*
 * One engine's store in one directory. Every call returns false and sets
 * *error on failure. Append may be called from `threads` threads at once
 * (each with its own thread index); the other calls from one thread.
 */
class Store
{
      public:
	virtual ~Store() = default;
	virtual bool Open(const std::string &dir, Mode mode, int threads,
			  std::string *error) = 0;
	virtual bool Append(int thread, int64_t time_ns, const void *data,
			    size_t len, std::string *error) = 0;
	// Writes the dataset and makes it durable; untimed.
	virtual bool Load(const Dataset &ds, std::string *error) = 0;
	// Reads every entry, oldest first, into check.
	virtual bool Scan(ReadCheck *check, std::string *error) = 0;
	// Reads up to count entries from the first with time >= time_ns.
	virtual bool Seek(int64_t time_ns, int count, ReadCheck *check,
			  std::string *error) = 0;
	// Also done, ignoring errors, by the destructor.
	virtual bool Close(std::string *error) = 0;
};

/* ---------------------------------------------------------------------- */
/* Raw file: the baselines                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Fixed-size records [8-byte time, native order][payload] appended to one
 * file. W1: one pwritev per entry, or (buffered) memcpy into a 1 MiB user
 * buffer and one pwrite per full buffer. W2/W3: pwritev + fdatasync per
 * entry under one lock, so 16 threads are serialized on the file (the time
 * is taken under the lock, so records stay in time order). W3 also without
 * the lock (kNoLock): each thread claims its record's offset atomically,
 * writes and flushes on its own, and the kernel may let one flush cover
 * several threads' writes. W4: a walk over
 * the records through a read-only mapping. W5: a binary search of that
 * mapping by time.
 */
class RawStore final : public Store
{
      public:
	enum Kind {
		kPerEntry,   // one write per entry; durable ones take turns
		kBuffer1MiB, // W1: a 1 MiB user buffer
		kNoLock,     // W3: concurrent writes and flushes, no lock
	};
	explicit RawStore(Kind kind) : kind_(kind)
	{
	}
	~RawStore() override
	{
		std::string ignored;
		Close(&ignored);
	}

	bool Open(const std::string &dir, Mode mode, int,
		  std::string *error) override
	{
		mode_ = mode;
		std::string path = dir + "/data";
		fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			   0644);
		if (fd_ < 0) {
			*error = ErrnoError("open", errno);
			return false;
		}
		if (kind_ == kBuffer1MiB)
			buf_.assign(kMiB, 0);
		return true;
	}

	bool Append(int, int64_t time_ns, const void *data, size_t len,
		    std::string *error) override
	{
		if (!SetRecordBytes(len, error))
			return false;
		if (mode_ == Mode::kDurable && kind_ == kNoLock) {
			// Each thread claims its record's place; the time is
			// the place, so that times follow file order.
			const uint64_t off = claimed_.fetch_add(record_bytes_);
			return WriteRecordAt(off, kReadBaseNs + int64_t(off),
					     data, len, error) &&
			       Sync(error);
		}
		if (mode_ == Mode::kDurable) {
			std::lock_guard<std::mutex> lock(mu_);
			return WriteRecord(NextTime(), data, len, error) &&
			       Sync(error);
		}
		if (kind_ == kPerEntry)
			return WriteRecord(time_ns, data, len, error);
		if (used_ + record_bytes_ > buf_.size() && !FlushBuffer(error))
			return false;
		std::memcpy(&buf_[used_], &time_ns, 8);
		std::memcpy(&buf_[used_ + 8], data, len);
		used_ += record_bytes_;
		return true;
	}

	bool Load(const Dataset &ds, std::string *error) override
	{
		if (!SetRecordBytes(ds.len, error))
			return false;
		std::vector<unsigned char> buf(kMiB);
		size_t used = 0;
		for (uint64_t i = 0; i < ds.count; i++) {
			if (used + record_bytes_ > buf.size()) {
				if (!WriteAll(buf.data(), used, error))
					return false;
				used = 0;
			}
			int64_t t = ds.Time(i);
			std::memcpy(&buf[used], &t, 8);
			ds.Fill(i, &buf[used + 8]);
			used += record_bytes_;
		}
		return WriteAll(buf.data(), used, error) && Sync(error);
	}

	bool Scan(ReadCheck *check, std::string *error) override
	{
		if (!FlushBuffer(error) || !Map(error))
			return false;
		if (map_ == nullptr) // nothing written yet
			return true;
		const size_t len = record_bytes_ - 8;
		for (size_t off = 0; off + record_bytes_ <= map_bytes_;
		     off += record_bytes_)
			check->Entry(TimeAt(off), map_ + off + 8, len);
		return true;
	}

	bool Seek(int64_t time_ns, int count, ReadCheck *check,
		  std::string *error) override
	{
		if (!FlushBuffer(error) || !Map(error))
			return false;
		if (map_ == nullptr) // nothing written yet
			return true;
		size_t lo = 0, hi = map_bytes_ / record_bytes_;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (TimeAt(mid * record_bytes_) < time_ns)
				lo = mid + 1;
			else
				hi = mid;
		}
		const size_t len = record_bytes_ - 8;
		for (size_t off = lo * record_bytes_;
		     count-- > 0 && off + record_bytes_ <= map_bytes_;
		     off += record_bytes_)
			check->Entry(TimeAt(off), map_ + off + 8, len);
		return true;
	}

	bool Close(std::string *error) override
	{
		bool ok = fd_ < 0 || FlushBuffer(error);
		if (map_ != nullptr)
			munmap(const_cast<unsigned char *>(map_), map_bytes_);
		map_ = nullptr;
		if (fd_ >= 0 && close(fd_) != 0 && ok) {
			*error = ErrnoError("close", errno);
			ok = false;
		}
		fd_ = -1;
		return ok;
	}

      private:
	bool SetRecordBytes(size_t len, std::string *error)
	{
		if (record_bytes_ == 0)
			record_bytes_ = 8 + len;
		if (record_bytes_ == 8 + len)
			return true;
		*error = "raw file: records of different sizes";
		return false;
	}

	int64_t TimeAt(size_t off) const
	{
		int64_t t;
		std::memcpy(&t, map_ + off, 8);
		return t;
	}

	bool WriteRecord(int64_t time_ns, const void *data, size_t len,
			 std::string *error)
	{
		if (!WriteRecordAt(end_, time_ns, data, len, error))
			return false;
		end_ += 8 + len;
		return true;
	}

	bool WriteRecordAt(uint64_t off, int64_t time_ns, const void *data,
			   size_t len, std::string *error)
	{
		struct iovec iov[2] = {{&time_ns, 8},
				       {const_cast<void *>(data), len}};
		ssize_t n = pwritev(fd_, iov, 2, off_t(off));
		if (n == ssize_t(8 + len))
			return true;
		*error = ErrnoError("pwritev", n < 0 ? errno : EIO);
		return false;
	}

	bool WriteAll(const unsigned char *p, size_t bytes, std::string *error)
	{
		if (bytes == 0)
			return true;
		ssize_t n = pwrite(fd_, p, bytes, off_t(end_));
		if (n != ssize_t(bytes)) {
			*error = ErrnoError("pwrite", n < 0 ? errno : EIO);
			return false;
		}
		end_ += bytes;
		return true;
	}

	bool FlushBuffer(std::string *error)
	{
		bool ok = WriteAll(buf_.data(), used_, error);
		used_ = 0;
		return ok;
	}

	bool Sync(std::string *error)
	{
		if (fdatasync(fd_) == 0)
			return true;
		*error = ErrnoError("fdatasync", errno);
		return false;
	}

	// Maps [0, end_), again if the file grew since the last mapping.
	bool Map(std::string *error)
	{
		if (kind_ == kNoLock && mode_ == Mode::kDurable)
			end_ = claimed_.load();
		if (map_ != nullptr && map_bytes_ == end_)
			return true;
		if (map_ != nullptr)
			munmap(const_cast<unsigned char *>(map_), map_bytes_);
		map_ = nullptr;
		map_bytes_ = 0;
		if (end_ == 0 || record_bytes_ == 0)
			return true;
		void *p = mmap(nullptr, end_, PROT_READ, MAP_SHARED, fd_, 0);
		if (p == MAP_FAILED) {
			*error = ErrnoError("mmap", errno);
			return false;
		}
		map_ = static_cast<const unsigned char *>(p);
		map_bytes_ = end_;
		return true;
	}

	const Kind kind_;
	Mode mode_ = Mode::kBuffered;
	int fd_ = -1;
	uint64_t end_ = 0;		   // bytes written to the file
	size_t record_bytes_ = 0;	   // 8 + payload bytes
	std::mutex mu_;			   // serializes durable appends
	std::atomic<uint64_t> claimed_{0}; // kNoLock: bytes claimed
	std::vector<unsigned char> buf_;   // the 1 MiB user buffer
	size_t used_ = 0;		   // bytes of buf_ not yet written
	const unsigned char *map_ = nullptr;
	size_t map_bytes_ = 0;
};

/* ---------------------------------------------------------------------- */
/* logstore (public API only)                                              */
/* ---------------------------------------------------------------------- */

/*
 * Default options. W1 appends LOGSTORE_BUFFERED, W2/W3 LOGSTORE_DURABLE
 * (concurrent callers share group commits); the engine stamps the times.
 * The dataset goes in with logstore_log_append_batch and forced times. A
 * scan is one reader from the oldest entry; a seek is reader_open at
 * LOGSTORE_START_TIME, 10 reads and a close. Every read verifies a CRC-32C.
 */
class LogstoreStore final : public Store
{
      public:
	~LogstoreStore() override
	{
		std::string ignored;
		Close(&ignored);
	}

	bool Open(const std::string &dir, Mode mode, int,
		  std::string *error) override
	{
		durability_ = mode == Mode::kDurable ? LOGSTORE_DURABLE
						     : LOGSTORE_BUFFERED;
		struct logstore_options opts;
		logstore_options_init(&opts);
		opts.durability = durability_;
		int rc = logstore_log_open(dir.c_str(), &opts, &log_);
		if (rc != 0) {
			log_ = nullptr;
			*error = LogstoreError("logstore_log_open", rc);
			return false;
		}
		return true;
	}

	bool Append(int, int64_t, const void *data, size_t len,
		    std::string *error) override
	{
		int rc = logstore_log_append(log_, data, len, durability_,
					     nullptr, nullptr);
		if (rc == 0)
			return true;
		*error = LogstoreError("logstore_log_append", rc);
		return false;
	}

	bool Load(const Dataset &ds, std::string *error) override
	{
		// Batches of up to 256 KiB of payload, far below
		// batch_bytes_max.
		const size_t per_batch =
		    std::max<size_t>(1, 256 * 1024 / ds.len);
		std::vector<unsigned char> payloads(per_batch * ds.len);
		std::vector<struct logstore_batch_entry> batch(per_batch);
		for (uint64_t i = 0; i < ds.count; i += per_batch) {
			size_t n =
			    size_t(std::min<uint64_t>(per_batch, ds.count - i));
			for (size_t j = 0; j < n; j++) {
				ds.Fill(i + j, &payloads[j * ds.len]);
				batch[j].data = &payloads[j * ds.len];
				batch[j].len = ds.len;
				batch[j].time_ns = ds.Time(i + j);
				batch[j].seq = 0;
			}
			int rc = logstore_log_append_batch(
			    log_, batch.data(), n, LOGSTORE_BUFFERED);
			if (rc != 0) {
				*error = LogstoreError(
				    "logstore_log_append_batch", rc);
				return false;
			}
		}
		int rc = logstore_log_sync(log_);
		if (rc == 0)
			return true;
		*error = LogstoreError("logstore_log_sync", rc);
		return false;
	}

	bool Scan(ReadCheck *check, std::string *error) override
	{
		return Read(nullptr, INT_MAX, check, error);
	}

	bool Seek(int64_t time_ns, int count, ReadCheck *check,
		  std::string *error) override
	{
		struct logstore_start start;
		std::memset(&start, 0, sizeof start);
		start.kind = LOGSTORE_START_TIME;
		start.time_ns = time_ns;
		return Read(&start, count, check, error);
	}

	bool Close(std::string *error) override
	{
		if (log_ == nullptr)
			return true;
		int rc = logstore_log_close(log_);
		log_ = nullptr;
		if (rc == 0)
			return true;
		*error = LogstoreError("logstore_log_close", rc);
		return false;
	}

      private:
	bool Read(const struct logstore_start *start, int count,
		  ReadCheck *check, std::string *error)
	{
		logstore_reader *reader = nullptr;
		int rc = logstore_reader_open(log_, start, &reader);
		if (rc != 0) {
			*error = LogstoreError("logstore_reader_open", rc);
			return false;
		}
		struct logstore_entry e;
		while (count-- > 0 &&
		       (rc = logstore_reader_next(reader, &e)) == 0)
			check->Entry(e.time_ns, e.data, e.len);
		logstore_reader_close(reader);
		if (rc == 0 || rc == LOGSTORE_END)
			return true;
		*error = LogstoreError("logstore_reader_next", rc);
		return false;
	}

	logstore_log *log_ = nullptr;
	int durability_ = LOGSTORE_BUFFERED;
};

/* ---------------------------------------------------------------------- */
/* LevelDB and RocksDB (their C APIs have the same shape)                  */
/* ---------------------------------------------------------------------- */

#if defined(LOGSTORE_BENCH_HAVE_LEVELDB) || defined(LOGSTORE_BENCH_HAVE_ROCKSDB)
/*
 * Default options (so RocksDB's and LevelDB's own choices, Snappy included)
 * plus create_if_missing. W1 puts with sync=false (into the write-ahead log
 * and the memtable), W2/W3 with sync=true: each put is durable before it
 * returns, and concurrent puts are grouped by the engine. The dataset goes
 * in with write batches of 1000 entries, then a full compaction, so reads
 * see a settled tree. A scan is one iterator from the first key; a seek
 * creates an iterator, seeks to the key and reads 10 entries.
 */
template <typename Api> class LsmStore final : public Store
{
      public:
	~LsmStore() override
	{
		std::string ignored;
		Close(&ignored);
	}

	bool Open(const std::string &dir, Mode mode, int,
		  std::string *error) override
	{
		options_ = Api::options_create();
		Api::options_set_create_if_missing(options_, 1);
		write_ = Api::writeoptions_create();
		Api::writeoptions_set_sync(write_, mode == Mode::kDurable);
		read_ = Api::readoptions_create();
		char *err = nullptr;
		db_ = Api::open(options_, dir.c_str(), &err);
		return Check(err, "open", error);
	}

	bool Append(int, int64_t time_ns, const void *data, size_t len,
		    std::string *error) override
	{
		unsigned char key[8];
		EncodeKey(time_ns, key);
		char *err = nullptr;
		Api::put(db_, write_, reinterpret_cast<const char *>(key), 8,
			 static_cast<const char *>(data), len, &err);
		return Check(err, "put", error);
	}

	bool Load(const Dataset &ds, std::string *error) override
	{
		auto *batch = Api::writebatch_create();
		std::vector<unsigned char> value(ds.len);
		unsigned char key[8];
		char *err = nullptr;
		for (uint64_t i = 0; i < ds.count && err == nullptr; i++) {
			EncodeKey(ds.Time(i), key);
			ds.Fill(i, value.data());
			Api::writebatch_put(
			    batch, reinterpret_cast<const char *>(key), 8,
			    reinterpret_cast<const char *>(value.data()),
			    value.size());
			if ((i + 1) % 1000 == 0 || i + 1 == ds.count) {
				Api::write(db_, write_, batch, &err);
				Api::writebatch_clear(batch);
			}
		}
		Api::writebatch_destroy(batch);
		if (!Check(err, "write", error))
			return false;
		Api::compact_range(db_, nullptr, 0, nullptr, 0);
		return true;
	}

	bool Scan(ReadCheck *check, std::string *error) override
	{
		auto *it = Api::create_iterator(db_, read_);
		for (Api::iter_seek_to_first(it); Api::iter_valid(it);
		     Api::iter_next(it))
			Visit(it, check);
		return Done(it, error);
	}

	bool Seek(int64_t time_ns, int count, ReadCheck *check,
		  std::string *error) override
	{
		unsigned char key[8];
		EncodeKey(time_ns, key);
		auto *it = Api::create_iterator(db_, read_);
		Api::iter_seek(it, reinterpret_cast<const char *>(key), 8);
		for (; count-- > 0 && Api::iter_valid(it); Api::iter_next(it))
			Visit(it, check);
		return Done(it, error);
	}

	bool Close(std::string *) override
	{
		if (db_ != nullptr)
			Api::close(db_);
		db_ = nullptr;
		if (read_ != nullptr)
			Api::readoptions_destroy(read_);
		read_ = nullptr;
		if (write_ != nullptr)
			Api::writeoptions_destroy(write_);
		write_ = nullptr;
		if (options_ != nullptr)
			Api::options_destroy(options_);
		options_ = nullptr;
		return true;
	}

      private:
	bool Check(char *err, const char *what, std::string *error)
	{
		if (err == nullptr)
			return true;
		*error = std::string(Api::kName) + " " + what + ": " + err;
		Api::free(err);
		return false;
	}

	static void Visit(typename Api::Iterator *it, ReadCheck *check)
	{
		size_t key_len = 0, value_len = 0;
		const char *key = Api::iter_key(it, &key_len);
		const char *value = Api::iter_value(it, &value_len);
		check->Entry(key_len == 8 ? DecodeKey(key) : INT64_MIN, value,
			     value_len);
	}

	bool Done(typename Api::Iterator *it, std::string *error)
	{
		char *err = nullptr;
		Api::iter_get_error(it, &err);
		Api::iter_destroy(it);
		return Check(err, "iterator", error);
	}

	typename Api::Db *db_ = nullptr;
	typename Api::Options *options_ = nullptr;
	typename Api::WriteOptions *write_ = nullptr;
	typename Api::ReadOptions *read_ = nullptr;
};
#endif

#ifdef LOGSTORE_BENCH_HAVE_LEVELDB
struct LevelDbApi {
	static constexpr const char *kName = "leveldb";
	using Db = leveldb_t;
	using Options = leveldb_options_t;
	using WriteOptions = leveldb_writeoptions_t;
	using ReadOptions = leveldb_readoptions_t;
	using Iterator = leveldb_iterator_t;
	static constexpr auto options_create = leveldb_options_create;
	static constexpr auto options_destroy = leveldb_options_destroy;
	static constexpr auto options_set_create_if_missing =
	    leveldb_options_set_create_if_missing;
	static constexpr auto writeoptions_create = leveldb_writeoptions_create;
	static constexpr auto writeoptions_destroy =
	    leveldb_writeoptions_destroy;
	static constexpr auto writeoptions_set_sync =
	    leveldb_writeoptions_set_sync;
	static constexpr auto readoptions_create = leveldb_readoptions_create;
	static constexpr auto readoptions_destroy = leveldb_readoptions_destroy;
	static constexpr auto open = leveldb_open;
	static constexpr auto close = leveldb_close;
	static constexpr auto put = leveldb_put;
	static constexpr auto write = leveldb_write;
	static constexpr auto writebatch_create = leveldb_writebatch_create;
	static constexpr auto writebatch_destroy = leveldb_writebatch_destroy;
	static constexpr auto writebatch_clear = leveldb_writebatch_clear;
	static constexpr auto writebatch_put = leveldb_writebatch_put;
	static constexpr auto compact_range = leveldb_compact_range;
	static constexpr auto create_iterator = leveldb_create_iterator;
	static constexpr auto iter_destroy = leveldb_iter_destroy;
	static constexpr auto iter_seek_to_first = leveldb_iter_seek_to_first;
	static constexpr auto iter_seek = leveldb_iter_seek;
	static constexpr auto iter_valid = leveldb_iter_valid;
	static constexpr auto iter_next = leveldb_iter_next;
	static constexpr auto iter_key = leveldb_iter_key;
	static constexpr auto iter_value = leveldb_iter_value;
	static constexpr auto iter_get_error = leveldb_iter_get_error;
	static constexpr auto free = leveldb_free;
};
#endif

#ifdef LOGSTORE_BENCH_HAVE_ROCKSDB
struct RocksDbApi {
	static constexpr const char *kName = "rocksdb";
	using Db = rocksdb_t;
	using Options = rocksdb_options_t;
	using WriteOptions = rocksdb_writeoptions_t;
	using ReadOptions = rocksdb_readoptions_t;
	using Iterator = rocksdb_iterator_t;
	static constexpr auto options_create = rocksdb_options_create;
	static constexpr auto options_destroy = rocksdb_options_destroy;
	static constexpr auto options_set_create_if_missing =
	    rocksdb_options_set_create_if_missing;
	static constexpr auto writeoptions_create = rocksdb_writeoptions_create;
	static constexpr auto writeoptions_destroy =
	    rocksdb_writeoptions_destroy;
	static constexpr auto writeoptions_set_sync =
	    rocksdb_writeoptions_set_sync;
	static constexpr auto readoptions_create = rocksdb_readoptions_create;
	static constexpr auto readoptions_destroy = rocksdb_readoptions_destroy;
	static constexpr auto open = rocksdb_open;
	static constexpr auto close = rocksdb_close;
	static constexpr auto put = rocksdb_put;
	static constexpr auto write = rocksdb_write;
	static constexpr auto writebatch_create = rocksdb_writebatch_create;
	static constexpr auto writebatch_destroy = rocksdb_writebatch_destroy;
	static constexpr auto writebatch_clear = rocksdb_writebatch_clear;
	static constexpr auto writebatch_put = rocksdb_writebatch_put;
	static constexpr auto compact_range = rocksdb_compact_range;
	static constexpr auto create_iterator = rocksdb_create_iterator;
	static constexpr auto iter_destroy = rocksdb_iter_destroy;
	static constexpr auto iter_seek_to_first = rocksdb_iter_seek_to_first;
	static constexpr auto iter_seek = rocksdb_iter_seek;
	static constexpr auto iter_valid = rocksdb_iter_valid;
	static constexpr auto iter_next = rocksdb_iter_next;
	static constexpr auto iter_key = rocksdb_iter_key;
	static constexpr auto iter_value = rocksdb_iter_value;
	static constexpr auto iter_get_error = rocksdb_iter_get_error;
	static constexpr auto free = rocksdb_free;
};
#endif

/* ---------------------------------------------------------------------- */
/* LMDB                                                                    */
/* ---------------------------------------------------------------------- */

#ifdef LOGSTORE_BENCH_HAVE_LMDB
/*
 * One environment, the main database. W2/W3: one write transaction per put,
 * committed with LMDB's default synchronous commit (concurrent writers wait
 * for LMDB's writer lock). W1: the same with MDB_NOSYNC. The dataset goes in
 * with transactions of 10000 puts (MDB_APPEND), then mdb_env_sync. Reads
 * reuse one read-only transaction and cursor through reset/renew, as LMDB
 * recommends for repeated reads.
 */
class LmdbStore final : public Store
{
      public:
	~LmdbStore() override
	{
		std::string ignored;
		Close(&ignored);
	}

	bool Open(const std::string &dir, Mode mode, int,
		  std::string *error) override
	{
		int rc = mdb_env_create(&env_);
		if (rc != 0)
			return Fail(rc, "mdb_env_create", error);
		// Address space only: the file grows with what is written.
		const size_t map_bytes =
		    size_t(4) * 1024 * kMiB + size_t(g_read_entries) * 512;
		if ((rc = mdb_env_set_mapsize(env_, map_bytes)) != 0)
			return Fail(rc, "mdb_env_set_mapsize", error);
		unsigned flags = MDB_NOTLS;
		if (mode == Mode::kBuffered)
			flags |= MDB_NOSYNC;
		if ((rc = mdb_env_open(env_, dir.c_str(), flags, 0644)) != 0)
			return Fail(rc, "mdb_env_open", error);
		MDB_txn *txn = nullptr;
		if ((rc = mdb_txn_begin(env_, nullptr, 0, &txn)) != 0)
			return Fail(rc, "mdb_txn_begin", error);
		if ((rc = mdb_dbi_open(txn, nullptr, 0, &dbi_)) != 0) {
			mdb_txn_abort(txn);
			return Fail(rc, "mdb_dbi_open", error);
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			return Fail(rc, "mdb_txn_commit", error);
		return true;
	}

	bool Append(int, int64_t time_ns, const void *data, size_t len,
		    std::string *error) override
	{
		unsigned char key[8];
		EncodeKey(time_ns, key);
		MDB_val k{8, key}, v{len, const_cast<void *>(data)};
		MDB_txn *txn = nullptr;
		int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
		if (rc != 0)
			return Fail(rc, "mdb_txn_begin", error);
		if ((rc = mdb_put(txn, dbi_, &k, &v, 0)) != 0) {
			mdb_txn_abort(txn);
			return Fail(rc, "mdb_put", error);
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			return Fail(rc, "mdb_txn_commit", error);
		return true;
	}

	bool Load(const Dataset &ds, std::string *error) override
	{
		std::vector<unsigned char> value(ds.len);
		unsigned char key[8];
		for (uint64_t i = 0; i < ds.count; i += 10000) {
			MDB_txn *txn = nullptr;
			int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
			if (rc != 0)
				return Fail(rc, "mdb_txn_begin", error);
			for (uint64_t j = i; j < ds.count && j < i + 10000;
			     j++) {
				EncodeKey(ds.Time(j), key);
				ds.Fill(j, value.data());
				MDB_val k{8, key}, v{ds.len, value.data()};
				if ((rc = mdb_put(txn, dbi_, &k, &v,
						  MDB_APPEND)) != 0) {
					mdb_txn_abort(txn);
					return Fail(rc, "mdb_put", error);
				}
			}
			if ((rc = mdb_txn_commit(txn)) != 0)
				return Fail(rc, "mdb_txn_commit", error);
		}
		int rc = mdb_env_sync(env_, 1);
		return rc == 0 || Fail(rc, "mdb_env_sync", error);
	}

	bool Scan(ReadCheck *check, std::string *error) override
	{
		return Read(nullptr, INT_MAX, check, error);
	}

	bool Seek(int64_t time_ns, int count, ReadCheck *check,
		  std::string *error) override
	{
		return Read(&time_ns, count, check, error);
	}

	bool Close(std::string *) override
	{
		if (cursor_ != nullptr)
			mdb_cursor_close(cursor_);
		cursor_ = nullptr;
		if (read_txn_ != nullptr)
			mdb_txn_abort(read_txn_);
		read_txn_ = nullptr;
		if (env_ != nullptr)
			mdb_env_close(env_);
		env_ = nullptr;
		return true;
	}

      private:
	static bool Fail(int rc, const char *what, std::string *error)
	{
		*error = std::string("lmdb ") + what + ": " + mdb_strerror(rc);
		return false;
	}

	// From the first key (time_ns NULL) or the first key >= *time_ns.
	bool Read(const int64_t *time_ns, int count, ReadCheck *check,
		  std::string *error)
	{
		int rc;
		if (read_txn_ == nullptr) {
			rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY,
					   &read_txn_);
			if (rc != 0) {
				read_txn_ = nullptr;
				return Fail(rc, "mdb_txn_begin", error);
			}
			if ((rc = mdb_cursor_open(read_txn_, dbi_, &cursor_)) !=
			    0) {
				cursor_ = nullptr;
				return Fail(rc, "mdb_cursor_open", error);
			}
		} else {
			if ((rc = mdb_txn_renew(read_txn_)) != 0)
				return Fail(rc, "mdb_txn_renew", error);
			if ((rc = mdb_cursor_renew(read_txn_, cursor_)) != 0)
				return Fail(rc, "mdb_cursor_renew", error);
		}
		unsigned char key[8];
		MDB_val k{0, nullptr}, v{0, nullptr};
		MDB_cursor_op op = MDB_FIRST;
		if (time_ns != nullptr) {
			EncodeKey(*time_ns, key);
			k = MDB_val{8, key};
			op = MDB_SET_RANGE;
		}
		while (count-- > 0 &&
		       (rc = mdb_cursor_get(cursor_, &k, &v, op)) == 0) {
			check->Entry(k.mv_size == 8 ? DecodeKey(k.mv_data)
						    : INT64_MIN,
				     v.mv_data, v.mv_size);
			op = MDB_NEXT;
		}
		mdb_txn_reset(read_txn_);
		return rc == 0 || rc == MDB_NOTFOUND ||
		       Fail(rc, "mdb_cursor_get", error);
	}

	MDB_env *env_ = nullptr;
	MDB_dbi dbi_ = 0;
	MDB_txn *read_txn_ = nullptr;  // reset between reads
	MDB_cursor *cursor_ = nullptr; // of read_txn_
};
#endif

/* ---------------------------------------------------------------------- */
/* SQLite (WAL mode)                                                       */
/* ---------------------------------------------------------------------- */

#ifdef LOGSTORE_BENCH_HAVE_SQLITE
/*
 * One table log(t INTEGER PRIMARY KEY, v BLOB), journal_mode=WAL, one
 * connection per appending thread (busy_timeout 60 s), one autocommit
 * INSERT per append: synchronous=FULL for W2/W3 (each insert durable before
 * it returns), synchronous=OFF for W1. The dataset goes in with
 * transactions of 10000 inserts, then a WAL checkpoint. Reads use prepared
 * statements: SELECT ... ORDER BY t, and SELECT ... WHERE t >= ? ORDER BY t
 * LIMIT 10.
 */
class SqliteStore final : public Store
{
      public:
	~SqliteStore() override
	{
		std::string ignored;
		Close(&ignored);
	}

	bool Open(const std::string &dir, Mode mode, int threads,
		  std::string *error) override
	{
		const std::string path = dir + "/log.db";
		const char *sync = mode == Mode::kBuffered
				       ? "PRAGMA synchronous=OFF"
				       : "PRAGMA synchronous=FULL";
		conns_.resize(size_t(std::max(threads, 1)));
		for (size_t i = 0; i < conns_.size(); i++) {
			Conn &c = conns_[i];
			int rc = sqlite3_open_v2(path.c_str(), &c.db,
						 SQLITE_OPEN_READWRITE |
						     SQLITE_OPEN_CREATE |
						     SQLITE_OPEN_NOMUTEX,
						 nullptr);
			if (rc != SQLITE_OK)
				return Fail(c.db, "sqlite3_open_v2", error);
			sqlite3_busy_timeout(c.db, 60000);
			if (i == 0 && !(JournalWal(c.db, error) &&
					Exec(c.db,
					     "CREATE TABLE IF NOT EXISTS log("
					     "t INTEGER PRIMARY KEY, "
					     "v BLOB NOT NULL)",
					     error)))
				return false;
			if (!Exec(c.db, sync, error) ||
			    !Prepare(c.db,
				     "INSERT INTO log(t, v) VALUES(?1, ?2)",
				     &c.insert, error))
				return false;
		}
		return Prepare(conns_[0].db, "SELECT t, v FROM log ORDER BY t",
			       &scan_, error) &&
		       Prepare(conns_[0].db,
			       "SELECT t, v FROM log WHERE t >= ?1 "
			       "ORDER BY t LIMIT ?2",
			       &seek_, error);
	}

	bool Append(int thread, int64_t time_ns, const void *data, size_t len,
		    std::string *error) override
	{
		Conn &c = conns_[size_t(thread)];
		sqlite3_bind_int64(c.insert, 1, time_ns);
		sqlite3_bind_blob(c.insert, 2, data, int(len), SQLITE_STATIC);
		int rc = sqlite3_step(c.insert);
		sqlite3_reset(c.insert);
		if (rc == SQLITE_DONE)
			return true;
		return Fail(c.db, "insert", error);
	}

	bool Load(const Dataset &ds, std::string *error) override
	{
		std::vector<unsigned char> value(ds.len);
		for (uint64_t i = 0; i < ds.count; i++) {
			if (i % 10000 == 0 &&
			    !Exec(conns_[0].db,
				  i == 0 ? "BEGIN" : "COMMIT; BEGIN", error))
				return false;
			ds.Fill(i, value.data());
			if (!Append(0, ds.Time(i), value.data(), ds.len, error))
				return false;
		}
		return Exec(conns_[0].db, "COMMIT", error) &&
		       Exec(conns_[0].db, "PRAGMA wal_checkpoint(TRUNCATE)",
			    error);
	}

	bool Scan(ReadCheck *check, std::string *error) override
	{
		return Read(scan_, check, error);
	}

	bool Seek(int64_t time_ns, int count, ReadCheck *check,
		  std::string *error) override
	{
		sqlite3_bind_int64(seek_, 1, time_ns);
		sqlite3_bind_int(seek_, 2, count);
		return Read(seek_, check, error);
	}

	bool Close(std::string *error) override
	{
		sqlite3_finalize(scan_);
		scan_ = nullptr;
		sqlite3_finalize(seek_);
		seek_ = nullptr;
		bool ok = true;
		for (Conn &c : conns_) {
			sqlite3_finalize(c.insert);
			if (sqlite3_close(c.db) != SQLITE_OK && ok)
				ok = Fail(c.db, "sqlite3_close", error);
		}
		conns_.clear();
		return ok;
	}

      private:
	struct Conn {
		sqlite3 *db = nullptr;
		sqlite3_stmt *insert = nullptr;
	};

	static bool Fail(sqlite3 *db, const char *what, std::string *error)
	{
		*error = std::string("sqlite ") + what + ": " +
			 (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
		return false;
	}

	static bool Exec(sqlite3 *db, const char *sql, std::string *error)
	{
		if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) ==
		    SQLITE_OK)
			return true;
		return Fail(db, sql, error);
	}

	static bool Prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt,
			    std::string *error)
	{
		if (sqlite3_prepare_v2(db, sql, -1, stmt, nullptr) == SQLITE_OK)
			return true;
		return Fail(db, sql, error);
	}

	// The journal mode must read back as "wal", or the figures are not
	// SQLite in WAL mode.
	static bool JournalWal(sqlite3 *db, std::string *error)
	{
		sqlite3_stmt *stmt = nullptr;
		if (!Prepare(db, "PRAGMA journal_mode=WAL", &stmt, error))
			return false;
		bool wal = sqlite3_step(stmt) == SQLITE_ROW &&
			   sqlite3_column_text(stmt, 0) != nullptr &&
			   std::strcmp(reinterpret_cast<const char *>(
					   sqlite3_column_text(stmt, 0)),
				       "wal") == 0;
		sqlite3_finalize(stmt);
		if (!wal)
			*error = "sqlite: journal_mode=WAL was refused";
		return wal;
	}

	bool Read(sqlite3_stmt *stmt, ReadCheck *check, std::string *error)
	{
		int rc;
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			const void *v = sqlite3_column_blob(stmt, 1);
			size_t len = size_t(sqlite3_column_bytes(stmt, 1));
			check->Entry(sqlite3_column_int64(stmt, 0), v, len);
		}
		sqlite3_reset(stmt);
		return rc == SQLITE_DONE || Fail(conns_[0].db, "select", error);
	}

	std::vector<Conn> conns_; // one per appending thread
	sqlite3_stmt *scan_ = nullptr;
	sqlite3_stmt *seek_ = nullptr;
};
#endif

/* ---------------------------------------------------------------------- */
/* The engines and their workloads                                         */
/* ---------------------------------------------------------------------- */

enum Workloads : unsigned {
	kW1 = 1u << 0,
	kW2 = 1u << 1,
	kW3 = 1u << 2,
	kReadWorkloads = 1u << 3, // W4, W5
};

struct Engine {
	std::string name;
	unsigned workloads;
	std::function<std::unique_ptr<Store>()> make;
};

std::vector<Engine> Engines()
{
	std::vector<Engine> engines;
	auto raw = [] {
		return std::make_unique<RawStore>(RawStore::kPerEntry);
	};
	engines.push_back({"raw_pwrite", kW1 | kW2 | kW3, raw});
	engines.push_back(
	    {"raw_buffer_1MiB", kW1,
	     [] { return std::make_unique<RawStore>(RawStore::kBuffer1MiB); }});
	engines.push_back(
	    {"raw_pwrite_nolock", kW3,
	     [] { return std::make_unique<RawStore>(RawStore::kNoLock); }});
	engines.push_back({"raw_mmap", kReadWorkloads, raw});
	const unsigned all = kW1 | kW2 | kW3 | kReadWorkloads;
	engines.push_back({"logstore", all,
			   [] { return std::make_unique<LogstoreStore>(); }});
#ifdef LOGSTORE_BENCH_HAVE_ROCKSDB
	engines.push_back(
	    {"rocksdb", all,
	     [] { return std::make_unique<LsmStore<RocksDbApi>>(); }});
#endif
#ifdef LOGSTORE_BENCH_HAVE_LEVELDB
	engines.push_back(
	    {"leveldb", all,
	     [] { return std::make_unique<LsmStore<LevelDbApi>>(); }});
#endif
#ifdef LOGSTORE_BENCH_HAVE_LMDB
	engines.push_back(
	    {"lmdb", all, [] { return std::make_unique<LmdbStore>(); }});
#endif
#ifdef LOGSTORE_BENCH_HAVE_SQLITE
	engines.push_back({"sqlite_wal", all,
			   [] { return std::make_unique<SqliteStore>(); }});
#endif
	return engines;
}

/*
 * W1, W2, W3: append len-byte entries for the benchmark's iterations, from
 * every thread. Thread 0 opens a fresh store and appends one entry untimed
 * (so that files exist, as after any first write). After the loop it scans
 * the store, which must hold every entry appended, then closes and removes
 * it.
 */
struct AppendShared {
	std::unique_ptr<Store> store;
	std::string dir;
	Failure failure;
	// Durable runs: ns per call, [thread][iteration], preallocated.
	std::vector<std::vector<int64_t>> latencies_ns;
};

AppendShared g_append;

// p50 and p99 of the per-call latencies of all threads, in µs.
void ReportLatencies(benchmark::State &state, AppendShared &sh)
{
	std::vector<int64_t> all;
	for (const auto &slot : sh.latencies_ns)
		all.insert(all.end(), slot.begin(), slot.end());
	sh.latencies_ns.clear();
	if (all.empty())
		return;
	std::sort(all.begin(), all.end());
	auto at = [&](double q) {
		return double(all[size_t(q * double(all.size() - 1))]) / 1e3;
	};
	state.counters["p50_us"] = at(0.50);
	state.counters["p99_us"] = at(0.99);
}

void RunAppend(benchmark::State &state, const Engine &engine, Mode mode,
	       size_t len)
{
	const int thread = state.thread_index();
	AppendShared &sh = g_append;
	std::vector<unsigned char> payload(len);
	FillRandom(uint64_t(thread) << 40, payload.data(), len);
	std::string error;
	const bool timed = mode == Mode::kDurable;
	int64_t *latency = nullptr;
	size_t i = 0;

	if (thread == 0) {
		sh.failure.Reset();
		sh.latencies_ns.clear();
		if (timed)
			sh.latencies_ns.assign(
			    size_t(state.threads()),
			    std::vector<int64_t>(size_t(state.max_iterations)));
		sh.dir = MakeDir(engine.name);
		sh.store = engine.make();
		if (!sh.store->Open(sh.dir, mode, state.threads(), &error) ||
		    !sh.store->Append(0, NextTime(), payload.data(), len,
				      &error))
			sh.failure.Set(error);
	}

	for (auto _ : state) {
		if (sh.failure.failed())
			continue;
		const int64_t start = timed ? MonotonicNs() : 0;
		if (!sh.store->Append(thread, NextTime(), payload.data(), len,
				      &error)) {
			sh.failure.Set(error);
			continue;
		}
		if (timed) {
			if (latency == nullptr)
				latency =
				    sh.latencies_ns[size_t(thread)].data();
			latency[i++] = MonotonicNs() - start;
		}
	}

	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
	if (thread != 0)
		return;
	if (!sh.failure.failed()) {
		ReadCheck check;
		check.len = len;
		const uint64_t want =
		    uint64_t(state.iterations()) * uint64_t(state.threads()) +
		    1;
		if (!sh.store->Scan(&check, &error))
			sh.failure.Set("scan after appends: " + error);
		else if (check.n != want || check.bad != 0)
			sh.failure.Set(engine.name + ": read back " +
				       std::to_string(check.n) +
				       " entries after " +
				       std::to_string(want) + " appends, " +
				       std::to_string(check.bad) +
				       " with a wrong length or time order");
	}
	if (!sh.store->Close(&error))
		sh.failure.Set(error);
	if (!sh.failure.failed())
		ReportLatencies(state, sh);
	sh.store.reset();
	RemoveTree(sh.dir);
	sh.failure.Report(state);
}

/*
 * W4, W5 read one store per engine, loaded once with the dataset on first
 * use (untimed) and kept until the end of the run.
 */
struct ReadStore {
	std::unique_ptr<Store> store;
	std::string dir;
	std::string error; // of opening or loading
};

std::map<std::string, ReadStore> g_read_stores;

ReadStore &GetReadStore(const Engine &engine)
{
	ReadStore &rs = g_read_stores[engine.name];
	if (rs.store != nullptr)
		return rs;
	const Dataset &ds = GetDataset();
	const int64_t start = MonotonicNs();
	rs.dir = MakeDir(engine.name + "-read");
	rs.store = engine.make();
	if (!rs.store->Open(rs.dir, Mode::kRead, 1, &rs.error) ||
	    !rs.store->Load(ds, &rs.error))
		std::fprintf(stderr, "error loading %s: %s\n",
			     engine.name.c_str(), rs.error.c_str());
	else
		std::fprintf(stderr,
			     "loaded %s with %" PRIu64 " entries of %zu B in "
			     "%.2f s\n",
			     engine.name.c_str(), ds.count, ds.len,
			     double(MonotonicNs() - start) / 1e9);
	return rs;
}

void CloseReadStores()
{
	for (auto &kv : g_read_stores) {
		std::string error;
		if (kv.second.store != nullptr &&
		    !kv.second.store->Close(&error))
			std::fprintf(stderr, "%s: %s\n", kv.first.c_str(),
				     error.c_str());
		kv.second.store.reset();
		RemoveTree(kv.second.dir);
	}
	g_read_stores.clear();
}

// W4: read every entry, checking each time, the count and the payloads.
void RunScan(benchmark::State &state, const Engine &engine)
{
	const Dataset &ds = GetDataset();
	ReadStore &rs = GetReadStore(engine);
	std::string error = rs.error;

	for (auto _ : state) {
		if (!error.empty())
			continue;
		ReadCheck check;
		check.exact = true;
		check.next_ns = ds.Time(0);
		check.len = ds.len;
		if (!rs.store->Scan(&check, &error))
			continue;
		benchmark::DoNotOptimize(check.sum);
		if (check.n != ds.count || check.bad != 0 ||
		    check.sum != ds.first_byte_sum)
			error = "scan read " + std::to_string(check.n) +
				" entries (want " + std::to_string(ds.count) +
				"), " + std::to_string(check.bad) +
				" with a wrong time or length, first-byte "
				"sum " +
				std::to_string(check.sum) + " (want " +
				std::to_string(ds.first_byte_sum) + ")";
	}

	if (!error.empty()) {
		std::fprintf(stderr, "error: %s: %s\n", engine.name.c_str(),
			     error.c_str());
		state.SkipWithError(error.c_str());
	}
	state.SetItemsProcessed(int64_t(state.iterations()) *
				int64_t(ds.count));
}

// W5: seek to the time of a random entry, read 10; check they are its and
// the 9 after it.
void RunSeek(benchmark::State &state, const Engine &engine)
{
	const Dataset &ds = GetDataset();
	ReadStore &rs = GetReadStore(engine);
	std::string error = rs.error;
	std::mt19937_64 rng(42);
	std::uniform_int_distribution<uint64_t> pick(0, ds.count -
							    kSeekReadEntries);

	for (auto _ : state) {
		if (!error.empty())
			continue;
		const uint64_t idx = pick(rng);
		ReadCheck check;
		check.exact = true;
		check.next_ns = ds.Time(idx);
		check.len = ds.len;
		if (!rs.store->Seek(ds.Time(idx), kSeekReadEntries, &check,
				    &error))
			continue;
		uint64_t want_sum = 0;
		for (int j = 0; j < kSeekReadEntries; j++)
			want_sum += ds.first_bytes[idx + uint64_t(j)];
		if (check.n != kSeekReadEntries || check.bad != 0 ||
		    check.sum != want_sum)
			error = "seek to entry " + std::to_string(idx) +
				" read " + std::to_string(check.n) +
				" entries, " + std::to_string(check.bad) +
				" with a wrong time or length, first-byte "
				"sum " +
				std::to_string(check.sum) + " (want " +
				std::to_string(want_sum) + ")";
	}

	if (!error.empty()) {
		std::fprintf(stderr, "error: %s: %s\n", engine.name.c_str(),
			     error.c_str());
		state.SkipWithError(error.c_str());
	}
	state.SetItemsProcessed(int64_t(state.iterations()));
}

/*
 * Registration, workload by workload, so that the output reads like the
 * MEASURED.md table column by column. Engines are captured by value.
 */
void RegisterAll()
{
	for (const Engine &e : Engines()) {
		if ((e.workloads & kW1) == 0)
			continue;
		benchmark::RegisterBenchmark(
		    ("W1_append/" + e.name).c_str(),
		    [e](benchmark::State &s) {
			    RunAppend(s, e, Mode::kBuffered, kSmallEntry);
		    })
		    ->ArgName("bytes")
		    ->Arg(int64_t(kSmallEntry))
		    ->Iterations(g_w1_entries)
		    ->UseRealTime();
	}
	for (size_t len : {kSmallEntry, kLargeEntry}) {
		for (const Engine &e : Engines()) {
			if ((e.workloads & kW2) == 0)
				continue;
			benchmark::RegisterBenchmark(
			    ("W2_durable_append/" + e.name).c_str(),
			    [e, len](benchmark::State &s) {
				    RunAppend(s, e, Mode::kDurable, len);
			    })
			    ->ArgName("bytes")
			    ->Arg(int64_t(len))
			    ->UseRealTime()
			    ->Unit(benchmark::kMicrosecond);
		}
	}
	for (const Engine &e : Engines()) {
		if ((e.workloads & kW3) == 0)
			continue;
		benchmark::RegisterBenchmark(
		    ("W3_durable_append/" + e.name).c_str(),
		    [e](benchmark::State &s) {
			    RunAppend(s, e, Mode::kDurable, kSmallEntry);
		    })
		    ->ArgName("bytes")
		    ->Arg(int64_t(kSmallEntry))
		    ->Threads(kManyThreads)
		    ->UseRealTime()
		    ->Unit(benchmark::kMicrosecond);
	}
	for (const Engine &e : Engines()) {
		if ((e.workloads & kReadWorkloads) == 0)
			continue;
		benchmark::RegisterBenchmark(
		    ("W4_scan/" + e.name).c_str(),
		    [e](benchmark::State &s) { RunScan(s, e); })
		    ->ArgName("bytes")
		    ->Arg(int64_t(kSmallEntry))
		    ->UseRealTime()
		    ->Unit(benchmark::kMillisecond);
	}
	for (const Engine &e : Engines()) {
		if ((e.workloads & kReadWorkloads) == 0)
			continue;
		benchmark::RegisterBenchmark(
		    ("W5_seek_read10/" + e.name).c_str(),
		    [e](benchmark::State &s) { RunSeek(s, e); })
		    ->ArgName("bytes")
		    ->Arg(int64_t(kSmallEntry))
		    ->UseRealTime();
	}
}

/*
 * Our own flags, taken out of argv before google-benchmark checks for
 * unknown ones: --compare_read_entries=N, --compare_w1_entries=N.
 */
bool ParseFlags(int *argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *arg = argv[i];
		const char *value = nullptr;
		uint64_t *target = nullptr;
		uint64_t w1 = 0;
		if (std::strncmp(arg, "--compare_read_entries=", 23) == 0) {
			value = arg + 23;
			target = &g_read_entries;
		} else if (std::strncmp(arg, "--compare_w1_entries=", 21) ==
			   0) {
			value = arg + 21;
			target = &w1;
		} else {
			argv[out++] = argv[i];
			continue;
		}
		char *end = nullptr;
		errno = 0;
		unsigned long long v = std::strtoull(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    v < uint64_t(kSeekReadEntries) || v > (1ull << 32)) {
			std::fprintf(stderr,
				     "%s: want a number from %d to 2^32\n", arg,
				     kSeekReadEntries);
			return false;
		}
		*target = v;
		if (target == &w1)
			g_w1_entries = int64_t(w1);
	}
	*argc = out;
	argv[out] = nullptr;
	return true;
}

void AddContext()
{
	unsigned v = logstore_version();
	benchmark::AddCustomContext("logstore_version",
				    std::to_string(v / 10000) + "." +
					std::to_string(v / 100 % 100) + "." +
					std::to_string(v % 100));
	std::string engines;
	for (const Engine &e : Engines())
		engines += (engines.empty() ? "" : " ") + e.name;
	benchmark::AddCustomContext("engines", engines);
#ifdef LOGSTORE_BENCH_HAVE_LEVELDB
	benchmark::AddCustomContext(
	    "leveldb_version", std::to_string(leveldb_major_version()) + "." +
				   std::to_string(leveldb_minor_version()));
#endif
#ifdef LOGSTORE_BENCH_HAVE_LMDB
	benchmark::AddCustomContext("lmdb_version",
				    mdb_version(nullptr, nullptr, nullptr));
#endif
#ifdef LOGSTORE_BENCH_HAVE_SQLITE
	benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
#endif
	benchmark::AddCustomContext("read_entries",
				    std::to_string(g_read_entries));
	benchmark::AddCustomContext("w1_entries", std::to_string(g_w1_entries));
	benchmark::AddCustomContext("bench_dir", g_root);
}

} // namespace

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (!ParseFlags(&argc, argv))
		return 1;
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;

	const char *parent = std::getenv("LOGSTORE_BENCH_DIR");
	std::string tmpl =
	    std::string(parent != nullptr && parent[0] != '\0' ? parent
							       : "/tmp") +
	    "/logstore-compare-XXXXXX";
	std::vector<char> path(tmpl.begin(), tmpl.end());
	path.push_back('\0');
	if (mkdtemp(path.data()) == nullptr) {
		std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(),
			     std::strerror(errno));
		return 1;
	}
	g_root = path.data();

	RegisterAll();
	AddContext();
	benchmark::RunSpecifiedBenchmarks();

	CloseReadStores();
	RemoveTree(g_root);
	benchmark::Shutdown();
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Benchmarks of logstore, each beside the raw baseline it is judged against,
 * measured in the same run on the same file system (see bench/README.md and
 * /work/shared/MEASURED.md for the machine's physical limits).
 *
 *   BM_Baseline_PwriteFdatasync  vs BM_Logstore_DurableAppend (1, 16 threads)
 *   BM_Baseline_GroupCommitFloor vs BM_Logstore_DurableAppend (16 threads)
 *   BM_Baseline_BufferedPwrite   vs BM_Logstore_BufferedAppend
 *   BM_Baseline_Memcpy           vs BM_Logstore_Scan
 *   BM_Baseline_MmapScan         vs BM_Logstore_Scan
 *   BM_Baseline_SeekTime         vs BM_Logstore_SeekTime
 *
 * Every benchmark works in a fresh directory under one mkdtemp'd root
 * (/tmp/logstore-bench-XXXXXX, or $LOGSTORE_BENCH_DIR/...), removed at the
 * end of the run. The logs that the scan and seek benchmarks read are
 * written once, lazily, outside the timed loops.
 *
 * Multi-threaded benchmarks: google-benchmark runs the function once per
 * thread. Thread 0 sets the shared state up before the loop; every thread
 * waits at a barrier when it enters the loop and again when it leaves it,
 * so thread 0 tears down after the loop once all threads are done. A thread
 * must not break out of the loop (the others would wait at the barrier
 * forever), so a failure is recorded in the shared state, the remaining
 * iterations do nothing, and thread 0 reports it with SkipWithError().
 * Other threads touch shared state only inside the loop.
 */
#include <benchmark/benchmark.h>

#include "logstore.h"

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
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <liburing.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Counting allocator: every malloc-family call of the process (the engine's
 * threads included) is counted, then handed to glibc. Benchmarks read the
 * count around their timed loops to show that appends and reads do not
 * allocate in steady state (issue 3, capability 4).
 */
extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
}
static std::atomic<uint64_t> g_mallocs{0};
extern "C" void *malloc(size_t n)
{
	g_mallocs.fetch_add(1, std::memory_order_relaxed);
	return __libc_malloc(n);
}
extern "C" void *calloc(size_t n, size_t size)
{
	g_mallocs.fetch_add(1, std::memory_order_relaxed);
	return __libc_calloc(n, size);
}
extern "C" void *realloc(void *p, size_t n)
{
	g_mallocs.fetch_add(1, std::memory_order_relaxed);
	return __libc_realloc(p, n);
}
extern "C" void *aligned_alloc(size_t align, size_t n)
{
	g_mallocs.fetch_add(1, std::memory_order_relaxed);
	return __libc_memalign(align, n);
}
extern "C" int posix_memalign(void **out, size_t align, size_t n)
{
	g_mallocs.fetch_add(1, std::memory_order_relaxed);
	void *p = __libc_memalign(align, n);
	if (p == nullptr)
		return ENOMEM;
	*out = p;
	return 0;
}

namespace
{

constexpr size_t kMiB = 1024 * 1024;
constexpr int kManyThreads = 16;
constexpr double kMinTime = 0.5;		// seconds per measured run
constexpr int kRepetitions = 3;			// medians of three
constexpr uint64_t kScanEntriesSmall = 1000000; // 100 B entries
constexpr uint64_t kScanEntriesLarge = 100000;	// 4 KiB entries
constexpr int kSeekReadEntries = 10;
/*
 * Buffered appends run a fixed count rather than a minimum time: both sides
 * then put the same volume into the page cache (100 MB of payload, below
 * the dirty-page thresholds), which the time-driven ramp-up would otherwise
 * push to several GB and into writeback throttling.
 */
constexpr int64_t kBufferedEntries = 1000000;

// Record bytes on disk, from engine/format.h: a 32-byte header, then the
// payload zero-padded to a multiple of 8.
constexpr uint64_t kRecordHeaderBytes = 32;
constexpr uint64_t kRecordAlign = 8;
constexpr size_t kSegmentHeaderBytes = 4096; // records start after this page

uint64_t RecordBytes(uint64_t len)
{
	return kRecordHeaderBytes +
	       (len + kRecordAlign - 1) / kRecordAlign * kRecordAlign;
}

std::string g_root; // mkdtemp'd root of every benchmark directory

int64_t NowNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string MakeDir(const char *tag)
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

std::string LogstoreError(const char *what, int rc)
{
	std::string text = std::string(what) + ": " + logstore_strerror(rc);
	const char *detail = logstore_error_detail();
	if (detail != nullptr && detail[0] != '\0')
		text += std::string(" (") + detail + ")";
	return text;
}

std::string ErrnoError(const char *what, int err)
{
	return std::string(what) + ": " + std::strerror(err);
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
	// In thread 0 after the loop: reports the failure; true if there was
	// one.
	bool Report(benchmark::State &state)
	{
		std::lock_guard<std::mutex> lock(mu_);
		if (!failed_.load(std::memory_order_relaxed))
			return false;
		std::fprintf(stderr, "error: %s\n", text_.c_str());
		state.SkipWithError(text_.c_str());
		return true;
	}

      private:
	std::atomic<bool> failed_{false};
	std::mutex mu_;
	std::string text_;
};

/*
 * Per-call latencies: one preallocated, pre-touched slot per thread and
 * iteration, so that recording costs one store. Thread 0 merges them after
 * the loop and reports p50/p99 in microseconds.
 */
class Latencies
{
      public:
	void Prepare(int threads, int64_t iterations)
	{
		slots_.assign(size_t(threads),
			      std::vector<int64_t>(size_t(iterations), 0));
	}
	int64_t *Slot(int thread)
	{
		return slots_[size_t(thread)].data();
	}
	void Report(benchmark::State &state)
	{
		std::vector<int64_t> all;
		for (const auto &slot : slots_)
			all.insert(all.end(), slot.begin(), slot.end());
		if (all.empty())
			return;
		std::sort(all.begin(), all.end());
		auto at = [&](double q) {
			return double(all[size_t(q * double(all.size() - 1))]) /
			       1e3;
		};
		state.counters["p50_us"] = at(0.50);
		state.counters["p99_us"] = at(0.99);
		state.counters["p999_us"] = at(0.999);
		slots_.clear();
	}

      private:
	std::vector<std::vector<int64_t>> slots_;
};

std::vector<char> Payload(size_t len, int seed)
{
	std::vector<char> buf(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = char('a' + (seed + int(i)) % 26);
	return buf;
}

// Writes zeros over [0, bytes) in 1 MiB writes and makes them durable, as
// logstore does for its segments before appending into them.
int ZeroFill(int fd, uint64_t bytes)
{
	std::vector<char> zeros(kMiB, 0);
	for (uint64_t off = 0; off < bytes; off += kMiB) {
		if (pwrite(fd, zeros.data(), kMiB, off_t(off)) != ssize_t(kMiB))
			return errno ? errno : EIO;
	}
	if (fdatasync(fd) != 0)
		return errno;
	return 0;
}

/*
 * Experiments without rebuilding: LOGSTORE_BENCH_PIPELINE_DEPTH,
 * LOGSTORE_BENCH_BATCH_DELAY_NS and LOGSTORE_BENCH_BATCH_BYTES override
 * the defaults of the engine's appending benchmarks.
 */
void EnvOptions(struct logstore_options *opts)
{
	if (const char *d = std::getenv("LOGSTORE_BENCH_PIPELINE_DEPTH"))
		opts->pipeline_depth = uint32_t(std::atoi(d));
	if (const char *d = std::getenv("LOGSTORE_BENCH_BATCH_DELAY_NS"))
		opts->batch_delay_ns = std::atoll(d);
	if (const char *d = std::getenv("LOGSTORE_BENCH_BATCH_BYTES"))
		opts->batch_bytes_max = uint32_t(std::atoll(d));
}

/* ---------------------------------------------------------------------- */
/* Durable appends                                                         */
/* ---------------------------------------------------------------------- */

struct DurableShared {
	int fd = -1;			      // baseline file
	std::atomic<uint64_t> next_offset{0}; // baseline: next entry's offset
	logstore_log *log = nullptr;	      // engine
	std::string dir;
	Failure failure;
	Latencies latencies;
};

DurableShared g_durable;

/*
 * After the warm-up append: wait, untimed, until the preparation thread
 * has the next segment ready. Its zero-fill (~0.1 s of device writes)
 * happens once per segment in a long run, but would land inside every
 * repetition's timed loop here, since each opens a new log. Returns an
 * error text, empty when ready.
 */
std::string WaitPrepared(logstore_log *log)
{
	for (int i = 0; i < 30000; i++) {
		struct logstore_stats st;
		logstore_log_stats(log, &st);
		if (st.segments_prepared >= 1)
			return "";
		if (st.failed != 0)
			return LogstoreError("preparing the next segment",
					     st.failed);
		usleep(1000);
	}
	return "the next segment was not prepared within 30 s";
}

/*
 * Thread 0 of a durable baseline: a fresh file in a new directory named
 * after name, zero-filled and synced for every entry the run may write
 * (as logstore's segments are), and the latency slots. A failure is
 * recorded in g_durable.failure.
 */
void OpenBaselineFile(benchmark::State &state, size_t len, const char *name)
{
	DurableShared &sh = g_durable;
	sh.failure.Reset();
	sh.dir = MakeDir(name);
	std::string path = sh.dir + "/data";
	sh.fd =
	    open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sh.fd < 0) {
		sh.failure.Set(ErrnoError("open", errno));
	} else {
		uint64_t bytes = uint64_t(len) *
				 uint64_t(state.max_iterations) *
				 uint64_t(state.threads());
		bytes = (bytes / kMiB + 1) * kMiB;
		int err = ZeroFill(sh.fd, bytes);
		if (err != 0)
			sh.failure.Set(ErrnoError("zero-fill", err));
	}
	sh.latencies.Prepare(state.threads(), int64_t(state.max_iterations));
}

/* Thread 0 after the loop: close and remove OpenBaselineFile()'s file. */
void CloseBaselineFile()
{
	DurableShared &sh = g_durable;
	if (sh.fd >= 0)
		close(sh.fd);
	sh.fd = -1;
	RemoveTree(sh.dir);
}

/*
 * Baseline: each iteration writes one entry at the next offset of one shared,
 * zero-filled file and fdatasyncs it, which is what a durable append costs
 * without group commit (the kernel still merges concurrent flushes).
 */
void BM_Baseline_PwriteFdatasync(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const int thread = state.thread_index();
	DurableShared &sh = g_durable;

	if (thread == 0) {
		OpenBaselineFile(state, len, "pwrite");
		sh.next_offset.store(0);
	}
	std::vector<char> entry = Payload(len, thread);
	int64_t *latency = nullptr;
	size_t i = 0;

	for (auto _ : state) {
		if (latency == nullptr)
			latency = sh.latencies.Slot(thread);
		if (sh.failure.failed())
			continue;
		int64_t start = NowNs();
		uint64_t off =
		    sh.next_offset.fetch_add(len, std::memory_order_relaxed);
		if (pwrite(sh.fd, entry.data(), len, off_t(off)) !=
		    ssize_t(len)) {
			sh.failure.Set(ErrnoError("pwrite", errno));
			continue;
		}
		if (fdatasync(sh.fd) != 0) {
			sh.failure.Set(ErrnoError("fdatasync", errno));
			continue;
		}
		latency[i++] = NowNs() - start;
	}

	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
	if (thread == 0) {
		if (!sh.failure.Report(state))
			sh.latencies.Report(state);
		CloseBaselineFile();
	}
}

/*
 * Engine: logstore_log_append(LOGSTORE_DURABLE) into one log shared by all
 * threads; every call returns once its entry is on disk.
 */
void BM_Logstore_DurableAppend(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const int thread = state.thread_index();
	DurableShared &sh = g_durable;

	if (thread == 0) {
		sh.failure.Reset();
		sh.dir = MakeDir("durable");
		struct logstore_options opts;
		logstore_options_init(&opts);
		opts.durability = LOGSTORE_DURABLE;
		EnvOptions(&opts);
		int rc = logstore_log_open(sh.dir.c_str(), &opts, &sh.log);
		if (rc != 0) {
			sh.log = nullptr;
			sh.failure.Set(LogstoreError("logstore_log_open", rc));
		} else {
			// One untimed append, so that the first segment exists.
			std::vector<char> first = Payload(len, 0);
			rc = logstore_log_append(sh.log, first.data(), len,
						 LOGSTORE_DURABLE, nullptr,
						 nullptr);
			if (rc != 0)
				sh.failure.Set(
				    LogstoreError("warm-up append", rc));
			else if (std::string e = WaitPrepared(sh.log);
				 !e.empty())
				sh.failure.Set(e);
		}
		sh.latencies.Prepare(state.threads(),
				     int64_t(state.max_iterations));
	}
	std::vector<char> entry = Payload(len, thread);
	int64_t *latency = nullptr;
	size_t i = 0;

	for (auto _ : state) {
		if (latency == nullptr)
			latency = sh.latencies.Slot(thread);
		if (sh.failure.failed())
			continue;
		int64_t start = NowNs();
		int rc =
		    logstore_log_append(sh.log, entry.data(), len,
					LOGSTORE_DURABLE, nullptr, nullptr);
		if (rc != 0) {
			sh.failure.Set(
			    LogstoreError("logstore_log_append", rc));
			continue;
		}
		latency[i++] = NowNs() - start;
	}

	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
	if (thread == 0) {
		if (sh.log != nullptr && !sh.failure.failed()) {
			// The engine's own account must agree with ours.
			struct logstore_stats st;
			logstore_log_stats(sh.log, &st);
			uint64_t want = uint64_t(state.max_iterations) *
					    uint64_t(state.threads()) +
					1;
			if (st.entries_appended != want ||
			    st.durable_seq < st.last_seq || st.failed != 0) {
				char text[256];
				std::snprintf(
				    text, sizeof text,
				    "stats disagree: entries_appended %" PRIu64
				    " (want %" PRIu64 "), last_seq %" PRIu64
				    ", durable_seq %" PRIu64 ", failed %d",
				    st.entries_appended, want, st.last_seq,
				    st.durable_seq, st.failed);
				sh.failure.Set(text);
			} else if (st.fsyncs > 0) {
				state.counters["entries_per_fsync"] =
				    double(st.entries_appended) /
				    double(st.fsyncs);
			}
		}
		if (!sh.failure.Report(state))
			sh.latencies.Report(state);
		if (sh.log != nullptr) {
			int rc = logstore_log_close(sh.log);
			if (rc != 0)
				std::fprintf(
				    stderr, "%s\n",
				    LogstoreError("logstore_log_close", rc)
					.c_str());
		}
		sh.log = nullptr;
		RemoveTree(sh.dir);
	}
}

/*
 * The floor of a blocking group commit on this machine: a group commit
 * stripped to what the machine charges when each of N threads appends
 * one entry at a time and returns once it is durable. It knows N, so every batch holds one entry
 * of each thread: the last to arrive writes the batch (one pwrite, one
 * fdatasync, no gathering window, no wake-up of a leader) and wakes the
 * other N - 1 with one FUTEX_WAKE; each copies its entry under one mutex.
 * No checksums, headers, index or publication. What it leaves is what
 * the machine charges: the device's commit, the wake-ups and the
 * threads' return trips. Compare BM_Logstore_DurableAppend with the same
 * threads against it; 16 / (one commit's p50) is the other bound.
 * groups:2 splits the threads into two fixed halves, each committing its
 * own batches, so two flushes are in flight at once: whether overlapping
 * commits would beat one group here.
 */
struct FloorShared {
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	std::vector<char> buf;
	size_t used = 0;
	int arrived = 0;
	std::atomic<uint32_t> gen{0}; // futex word: batches made durable
	uint64_t batches = 0;
};

FloorShared g_floor[2];
std::atomic<uint64_t> g_floor_off{0};

void BM_Baseline_GroupCommitFloor(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const int thread = state.thread_index();
	const int groups = int(state.range(1));
	const int threads = state.threads() / groups;
	DurableShared &sh = g_durable;
	FloorShared &fl = g_floor[thread % groups];

	if (thread == 0) {
		OpenBaselineFile(state, len, "floor");
		for (FloorShared &f : g_floor) {
			f.buf.assign(len * size_t(threads), 0);
			f.used = 0;
			f.arrived = 0;
			f.batches = 0;
		}
		g_floor_off.store(0);
	}
	std::vector<char> entry = Payload(len, thread);
	int64_t *latency = nullptr;
	size_t i = 0;

	for (auto _ : state) {
		if (latency == nullptr)
			latency = sh.latencies.Slot(thread);
		if (sh.failure.failed())
			continue;
		int64_t start = NowNs();
		pthread_mutex_lock(&fl.mu);
		std::memcpy(fl.buf.data() + fl.used, entry.data(), len);
		fl.used += len;
		uint32_t gen = fl.gen.load();
		if (++fl.arrived < threads) {
			pthread_mutex_unlock(&fl.mu);
			/* Bounded sleeps: a failed leader must not strand us.
			 */
			struct timespec ts = {0, 50 * 1000 * 1000};
			while (fl.gen.load() == gen && !sh.failure.failed())
				syscall(SYS_futex, &fl.gen, FUTEX_WAIT_PRIVATE,
					gen, &ts, nullptr, 0);
		} else {
			/* Every other thread sleeps: the buffer is ours. */
			size_t n = fl.used;
			uint64_t off = g_floor_off.fetch_add(n);
			pthread_mutex_unlock(&fl.mu);
			if (pwrite(sh.fd, fl.buf.data(), n, off_t(off)) !=
			    ssize_t(n))
				sh.failure.Set(ErrnoError("pwrite", errno));
			else if (fdatasync(sh.fd) != 0)
				sh.failure.Set(ErrnoError("fdatasync", errno));
			pthread_mutex_lock(&fl.mu);
			fl.used = 0;
			fl.arrived = 0;
			fl.batches++;
			fl.gen.fetch_add(1);
			pthread_mutex_unlock(&fl.mu);
			syscall(SYS_futex, &fl.gen, FUTEX_WAKE_PRIVATE, INT_MAX,
				nullptr, nullptr, 0);
		}
		latency[i++] = NowNs() - start;
	}

	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
	if (thread == 0) {
		if (!sh.failure.Report(state)) {
			sh.latencies.Report(state);
			uint64_t batches = 0;
			for (int g = 0; g < groups; g++)
				batches += g_floor[g].batches;
			if (batches)
				state.counters["entries_per_fsync"] =
				    double(state.iterations()) *
				    state.threads() / double(batches);
		}
		CloseBaselineFile();
	}
}

/* ---------------------------------------------------------------------- */
/* Buffered appends (1 thread)                                             */
/* ---------------------------------------------------------------------- */

/*
 * Baseline: memcpy each entry into a 1 MiB user buffer and pwrite the buffer
 * when the next entry would not fit (appending to a new file). What is left
 * is written and fsynced after the loop, untimed, as logstore_log_close()
 * does for the engine.
 */
void BM_Baseline_BufferedPwrite(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	std::string dir = MakeDir("bufpwrite");
	std::string path = dir + "/data";
	int fd =
	    open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		state.SkipWithError(ErrnoError("open", errno).c_str());
		RemoveTree(dir);
		return;
	}
	std::vector<char> buf(kMiB);
	std::memset(buf.data(), 0, buf.size());
	std::vector<char> entry = Payload(len, 0);
	size_t used = 0;
	uint64_t off = 0;
	int err = 0;

	for (auto _ : state) {
		if (used + len > buf.size()) {
			if (pwrite(fd, buf.data(), used, off_t(off)) !=
				ssize_t(used) &&
			    err == 0)
				err = errno ? errno : EIO;
			off += used;
			used = 0;
		}
		std::memcpy(buf.data() + used, entry.data(), len);
		used += len;
		benchmark::ClobberMemory();
	}

	if (used > 0 &&
	    pwrite(fd, buf.data(), used, off_t(off)) != ssize_t(used) &&
	    err == 0)
		err = errno ? errno : EIO;
	if (fsync(fd) != 0 && err == 0)
		err = errno;
	close(fd);
	RemoveTree(dir);
	if (err != 0)
		state.SkipWithError(ErrnoError("pwrite/fsync", err).c_str());
	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
}

/*
 * Engine: logstore_log_append(LOGSTORE_BUFFERED) (deferred 0): returns once
 * the entry is in the page cache and visible to readers; or
 * LOGSTORE_DEFERRED (deferred 1): returns once the entry is in the
 * writer's batch buffer, which the flushers write to the page cache, as
 * the baseline's user buffer. The final sync happens in
 * logstore_log_close() after the loop, untimed.
 */
void BM_Logstore_BufferedAppend(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const int durability =
	    state.range(1) ? LOGSTORE_DEFERRED : LOGSTORE_BUFFERED;
	std::string dir = MakeDir("buffered");
	struct logstore_options opts;
	logstore_options_init(&opts);
	opts.durability = durability;
	logstore_log *log = nullptr;
	int rc = logstore_log_open(dir.c_str(), &opts, &log);
	if (rc != 0) {
		state.SkipWithError(
		    LogstoreError("logstore_log_open", rc).c_str());
		RemoveTree(dir);
		return;
	}
	std::vector<char> entry = Payload(len, 0);
	rc = logstore_log_append(log, entry.data(), len, durability, nullptr,
				 nullptr);
	std::string error;
	if (rc != 0)
		error = LogstoreError("warm-up append", rc);
	else
		error = WaitPrepared(log);

	for (auto _ : state) {
		if (!error.empty())
			continue;
		rc = logstore_log_append(log, entry.data(), len, durability,
					 nullptr, nullptr);
		if (rc != 0)
			error = LogstoreError("logstore_log_append", rc);
	}

	if (error.empty()) {
		struct logstore_stats st;
		logstore_log_stats(log, &st);
		uint64_t want = uint64_t(state.iterations()) + 1;
		/* Deferred entries may still be in the writer's buffer. */
		bool visible = durability == LOGSTORE_DEFERRED ||
			       st.last_seq >= want;
		if (st.entries_appended != want || !visible)
			error = "stats disagree: entries_appended " +
				std::to_string(st.entries_appended) + " want " +
				std::to_string(want);
		else if (st.batches_written > 0)
			state.counters["entries_per_write"] =
			    double(st.entries_appended) /
			    double(st.batches_written);
	}
	rc = logstore_log_close(log);
	if (rc != 0 && error.empty())
		error = LogstoreError("logstore_log_close", rc);
	RemoveTree(dir);
	if (!error.empty()) {
		std::fprintf(stderr, "error: %s\n", error.c_str());
		state.SkipWithError(error.c_str());
	}
	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
}

/* ---------------------------------------------------------------------- */
/* Logs written once for the scan and seek benchmarks                      */
/* ---------------------------------------------------------------------- */

/*
 * count entries of len bytes; entry i's first byte is i & 0xff, so a scan
 * can check the sum of first bytes. times[i] is entry i's time.
 */
struct ReadLog {
	std::string dir;
	logstore_log *log = nullptr;
	size_t len = 0;
	uint64_t count = 0;
	uint64_t first_seq = 0;
	uint64_t record_bytes = 0; // bytes of records the log holds
	uint64_t first_byte_sum = 0;
	std::vector<int64_t> times;
	std::string error;
	// The segment files mapped by BM_Baseline_MmapScan: {map, bytes,
	// entries}.
	struct Mapping {
		const unsigned char *map;
		size_t bytes;
		uint64_t entries;
	};
	std::vector<Mapping> mappings;
};

std::map<std::pair<size_t, uint64_t>, std::unique_ptr<ReadLog>> g_read_logs;

uint64_t FirstByteSum(uint64_t count)
{
	uint64_t sum = 0;
	for (uint64_t i = 0; i < count; i++)
		sum += i & 0xff;
	return sum;
}

ReadLog &GetReadLog(size_t len, uint64_t count)
{
	auto it = g_read_logs.find({len, count});
	if (it != g_read_logs.end())
		return *it->second;
	auto rl = std::make_unique<ReadLog>();
	rl->dir = MakeDir("read");
	rl->len = len;
	rl->count = count;
	rl->record_bytes = count * RecordBytes(len);
	rl->first_byte_sum = FirstByteSum(count);
	rl->times.resize(count);

	int64_t start = NowNs();
	struct logstore_options opts;
	logstore_options_init(&opts);
	opts.durability = LOGSTORE_BUFFERED;
	int rc = logstore_log_open(rl->dir.c_str(), &opts, &rl->log);
	if (rc != 0) {
		rl->log = nullptr;
		rl->error = LogstoreError("logstore_log_open", rc);
	}
	/*
	 * Written in atomic batches of about 256 KiB, as a loaded writer's
	 * group commits would write it; one append per entry from a single
	 * thread would cost one write per entry and take much longer.
	 */
	const uint64_t chunk =
	    std::max<uint64_t>(1, (256 * 1024) / RecordBytes(len));
	std::vector<char> payloads = Payload(size_t(chunk) * len, 0);
	std::vector<struct logstore_batch_entry> batch(chunk);
	for (uint64_t i = 0; i < count && rl->error.empty(); i += chunk) {
		const uint64_t n = std::min(chunk, count - i);
		for (uint64_t j = 0; j < n; j++) {
			payloads[j * len] = char((i + j) & 0xff);
			batch[j].data = &payloads[j * len];
			batch[j].len = len;
			batch[j].time_ns = 0;
			batch[j].seq = 0;
		}
		rc = logstore_log_append_batch(rl->log, batch.data(), n,
					       LOGSTORE_BUFFERED);
		if (rc != 0) {
			rl->error =
			    LogstoreError("logstore_log_append_batch", rc);
			break;
		}
		for (uint64_t j = 0; j < n; j++) {
			const uint64_t k = i + j;
			rl->times[k] = batch[j].time_ns;
			if (k == 0)
				rl->first_seq = batch[j].seq;
			else if (batch[j].seq != rl->first_seq + k ||
				 rl->times[k] <= rl->times[k - 1])
				rl->error = "append_batch returned seq " +
					    std::to_string(batch[j].seq) +
					    " time " +
					    std::to_string(rl->times[k]) +
					    " for entry " + std::to_string(k);
		}
	}
	if (rl->error.empty() && (rc = logstore_log_sync(rl->log)) != 0)
		rl->error = LogstoreError("logstore_log_sync", rc);
	if (rl->error.empty()) {
		// Cross-check our idea of the record bytes with the engine's.
		size_t n = 0;
		logstore_log_segments(rl->log, nullptr, 0, &n);
		std::vector<struct logstore_segment_info> infos(n);
		logstore_log_segments(rl->log, infos.data(), n, &n);
		uint64_t bytes = 0, entries = 0;
		for (size_t s = 0; s < n && s < infos.size(); s++) {
			bytes += infos[s].bytes;
			entries += infos[s].entries;
		}
		if (bytes != rl->record_bytes || entries != count)
			std::fprintf(
			    stderr,
			    "warning: log of %zu B entries: segments report "
			    "%" PRIu64 " entries, %" PRIu64
			    " bytes; expected %" PRIu64 ", %" PRIu64 "\n",
			    len, entries, bytes, count, rl->record_bytes);
		std::fprintf(stderr,
			     "wrote the read log: %" PRIu64
			     " entries of %zu B, %zu segments, "
			     "%.2f s\n",
			     count, len, n, double(NowNs() - start) / 1e9);
	}
	if (!rl->error.empty())
		std::fprintf(stderr, "error writing the read log: %s\n",
			     rl->error.c_str());
	ReadLog &ref = *rl;
	g_read_logs[{len, count}] = std::move(rl);
	return ref;
}

void CloseReadLogs()
{
	for (auto &kv : g_read_logs) {
		for (const auto &m : kv.second->mappings)
			munmap(const_cast<unsigned char *>(m.map), m.bytes);
		if (kv.second->log != nullptr) {
			int rc = logstore_log_close(kv.second->log);
			if (rc != 0)
				std::fprintf(
				    stderr, "%s\n",
				    LogstoreError("logstore_log_close", rc)
					.c_str());
		}
		RemoveTree(kv.second->dir);
	}
	g_read_logs.clear();
}

uint64_t ScanEntries(size_t len)
{
	return len <= 1024 ? kScanEntriesSmall : kScanEntriesLarge;
}

/* ---------------------------------------------------------------------- */
/* Scans                                                                   */
/* ---------------------------------------------------------------------- */

/*
 * Baseline: copy as many bytes as the log's records hold from one buffer to
 * another (both pre-touched): the memory bandwidth a scan is bounded by.
 */
void BM_Baseline_Memcpy(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const uint64_t count = ScanEntries(len);
	const size_t bytes = size_t(count * RecordBytes(len));
	static std::map<size_t, std::pair<std::vector<char>, std::vector<char>>>
	    buffers;
	auto &bufs = buffers[len];
	if (bufs.first.size() != bytes) {
		bufs.first.assign(bytes, 'x');
		bufs.second.assign(bytes, 0);
	}

	for (auto _ : state) {
		std::memcpy(bufs.second.data(), bufs.first.data(), bytes);
		benchmark::ClobberMemory();
	}

	state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(count));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
}

/*
 * Map the log's segment files read-only, as the engine does (once, kept
 * across scans). Returns an empty string or the error.
 */
std::string MapSegments(ReadLog &rl)
{
	if (!rl.mappings.empty())
		return "";
	size_t n = 0;
	logstore_log_segments(rl.log, nullptr, 0, &n);
	std::vector<struct logstore_segment_info> infos(n);
	logstore_log_segments(rl.log, infos.data(), n, &n);
	for (size_t s = 0; s < n && s < infos.size(); s++) {
		std::string path = rl.dir + "/" + infos[s].name;
		int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return ErrnoError(("open " + path).c_str(), errno);
		void *p = mmap(nullptr, size_t(infos[s].file_bytes), PROT_READ,
			       MAP_SHARED, fd, 0);
		int err = errno;
		close(fd);
		if (p == MAP_FAILED)
			return ErrnoError(("mmap " + path).c_str(), err);
		rl.mappings.push_back({static_cast<const unsigned char *>(p),
				       size_t(infos[s].file_bytes),
				       infos[s].entries});
	}
	return "";
}

/*
 * Second baseline: walk the same records in the same segment files through
 * a plain mapping, by their length fields, reading every byte of each record
 * (an xor of its 8-byte words, where the engine computes a CRC-32C) and
 * touching each payload's first byte; no other checks. What a scan costs on
 * this machine's mapped page cache before logstore does anything.
 */
uint64_t FoldWords(const unsigned char *p, size_t bytes)
{
	uint64_t x = 0;
	for (size_t i = 0; i + 8 <= bytes; i += 8) {
		uint64_t w;
		std::memcpy(&w, p + i, sizeof w);
		x ^= w;
	}
	return x;
}

void BM_Baseline_MmapScan(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	ReadLog &rl = GetReadLog(len, ScanEntries(len));
	std::string error = rl.error.empty() ? MapSegments(rl) : rl.error;

	for (auto _ : state) {
		if (!error.empty())
			continue;
		uint64_t n = 0, sum = 0, fold = 0;
		for (const auto &m : rl.mappings) {
			size_t off = kSegmentHeaderBytes;
			for (uint64_t e = 0;
			     e < m.entries &&
			     off + kRecordHeaderBytes <= m.bytes;
			     e++) {
				uint32_t length;
				std::memcpy(&length, m.map + off + 4,
					    sizeof length);
				length &= 0x7fffffffu;
				size_t bytes = size_t(RecordBytes(length));
				if (off + bytes > m.bytes)
					break;
				fold ^= FoldWords(m.map + off, bytes);
				sum += m.map[off + kRecordHeaderBytes];
				off += bytes;
				n++;
			}
		}
		benchmark::DoNotOptimize(fold);
		benchmark::DoNotOptimize(sum);
		if (n != rl.count || sum != rl.first_byte_sum)
			error = "raw scan read " + std::to_string(n) +
				" entries, first-byte sum " +
				std::to_string(sum) + " (want " +
				std::to_string(rl.first_byte_sum) + ")";
	}

	if (!error.empty()) {
		std::fprintf(stderr, "error: %s\n", error.c_str());
		state.SkipWithError(error.c_str());
	}
	state.SetItemsProcessed(int64_t(state.iterations()) *
				int64_t(rl.count));
	state.SetBytesProcessed(int64_t(state.iterations()) *
				int64_t(rl.record_bytes));
}

/*
 * Engine: read the whole log from the oldest entry with one reader, touching
 * each payload (sum of first bytes); logstore_reader_next() verifies each
 * record's checksum. The log sits in the page cache (written just before).
 */
void BM_Logstore_Scan(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	ReadLog &rl = GetReadLog(len, ScanEntries(len));
	std::string error = rl.error;

	const uint64_t mallocs = g_mallocs.load();
	for (auto _ : state) {
		if (!error.empty())
			continue;
		logstore_reader *reader = nullptr;
		int rc = logstore_reader_open(rl.log, nullptr, &reader);
		if (rc != 0) {
			error = LogstoreError("logstore_reader_open", rc);
			continue;
		}
		struct logstore_entry e;
		uint64_t n = 0, sum = 0, bad_len = 0;
		while ((rc = logstore_reader_next(reader, &e)) == 0) {
			sum += static_cast<const unsigned char *>(e.data)[0];
			bad_len += e.len != len;
			n++;
		}
		logstore_reader_close(reader);
		benchmark::DoNotOptimize(sum);
		if (rc != LOGSTORE_END)
			error = LogstoreError("logstore_reader_next", rc);
		else if (n != rl.count || sum != rl.first_byte_sum ||
			 bad_len != 0)
			error = "scan read " + std::to_string(n) +
				" entries (want " + std::to_string(rl.count) +
				"), first-byte sum " + std::to_string(sum) +
				" (want " + std::to_string(rl.first_byte_sum) +
				"), " + std::to_string(bad_len) +
				" wrong lengths";
	}

	state.counters["mallocs_per_scan"] =
	    double(g_mallocs.load() - mallocs) / double(state.iterations());
	if (!error.empty()) {
		std::fprintf(stderr, "error: %s\n", error.c_str());
		state.SkipWithError(error.c_str());
	}
	state.SetItemsProcessed(int64_t(state.iterations()) *
				int64_t(rl.count));
	state.SetBytesProcessed(int64_t(state.iterations()) *
				int64_t(rl.record_bytes));
}

/* ---------------------------------------------------------------------- */
/* Seek by time, then read 10 entries                                      */
/* ---------------------------------------------------------------------- */

// Random entry indices in [0, count - kSeekReadEntries], fixed seed.
const std::vector<uint32_t> &SeekTargets(uint64_t count)
{
	static std::map<uint64_t, std::vector<uint32_t>> all;
	std::vector<uint32_t> &targets = all[count];
	if (targets.empty()) {
		std::mt19937_64 rng(42);
		std::uniform_int_distribution<uint64_t> pick(
		    0, count - kSeekReadEntries);
		targets.resize(1 << 16);
		for (auto &t : targets)
			t = uint32_t(pick(rng));
	}
	return targets;
}

/*
 * Baseline: binary search over an in-memory array of the same times, then
 * read the first byte of 10 entries of an in-memory array of the payloads.
 */
void BM_Baseline_SeekTime(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	ReadLog &rl = GetReadLog(len, uint64_t(state.range(1)));
	if (!rl.error.empty()) {
		state.SkipWithError(rl.error.c_str());
		return;
	}
	const std::vector<int64_t> &times = rl.times;
	static std::vector<char> payloads;
	if (payloads.size() != rl.count * len) {
		payloads.clear();
		payloads.shrink_to_fit();
		payloads.assign(rl.count * len, 'x');
		for (uint64_t i = 0; i < rl.count; i++)
			payloads[i * len] = char(i & 0xff);
	}
	const std::vector<uint32_t> &targets = SeekTargets(rl.count);
	size_t k = 0;
	uint64_t sum = 0;
	bool ok = true;

	for (auto _ : state) {
		int64_t t = times[targets[k++ & (targets.size() - 1)]];
		size_t at =
		    size_t(std::lower_bound(times.begin(), times.end(), t) -
			   times.begin());
		ok &= times[at] == t;
		for (int j = 0; j < kSeekReadEntries; j++)
			sum += static_cast<unsigned char>(
			    payloads[(at + j) * len]);
		benchmark::DoNotOptimize(sum);
	}

	if (!ok)
		state.SkipWithError("baseline seek found a wrong time");
	state.SetItemsProcessed(int64_t(state.iterations()));
}

/*
 * Engine: seek to an existing entry's time, then read 10 entries (each
 * checksum verified). reseek 1: one reader, opened before the loop, moved
 * with logstore_reader_seek() (how an application seeking often does it);
 * reseek 0: logstore_reader_open(LOGSTORE_START_TIME) and
 * logstore_reader_close() around every seek (one calloc and free each).
 */
void BM_Logstore_SeekTime(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	ReadLog &rl = GetReadLog(len, uint64_t(state.range(1)));
	const bool reseek = state.range(2) != 0;
	std::string error = rl.error;
	const std::vector<uint32_t> &targets = SeekTargets(rl.count);
	size_t k = 0;
	uint64_t sum = 0;
	logstore_reader *reader = nullptr;
	if (error.empty()) {
		int rc = logstore_reader_open(rl.log, nullptr, &reader);
		if (rc != 0)
			error = LogstoreError("logstore_reader_open", rc);
	}
	/*
	 * Untimed: one pass over every target, the first time a log is
	 * sought, so that both rows of a size measure the same warm mapping
	 * (the first touch of each page of a fresh mapping faults; whichever
	 * row ran first paid for it).
	 */
	static std::set<const ReadLog *> warmed;
	if (error.empty() && warmed.insert(&rl).second) {
		struct logstore_entry e;
		for (uint32_t idx : targets) {
			struct logstore_start start;
			std::memset(&start, 0, sizeof start);
			start.kind = LOGSTORE_START_TIME;
			start.time_ns = rl.times[idx];
			if (logstore_reader_seek(reader, &start) != 0 ||
			    logstore_reader_next(reader, &e) != 0)
				break;
		}
	}
	if (!reseek) {
		logstore_reader_close(reader);
		reader = nullptr;
	}

	const uint64_t mallocs = g_mallocs.load();
	for (auto _ : state) {
		if (!error.empty())
			continue;
		uint32_t idx = targets[k++ & (targets.size() - 1)];
		struct logstore_start start;
		std::memset(&start, 0, sizeof start);
		start.kind = LOGSTORE_START_TIME;
		start.time_ns = rl.times[idx];
		int rc = reseek ? logstore_reader_seek(reader, &start)
				: logstore_reader_open(rl.log, &start, &reader);
		if (rc != 0) {
			error = LogstoreError(reseek ? "logstore_reader_seek"
						     : "logstore_reader_open",
					      rc);
			continue;
		}
		struct logstore_entry e;
		for (int j = 0; j < kSeekReadEntries; j++) {
			rc = logstore_reader_next(reader, &e);
			if (rc != 0) {
				error = LogstoreError(
				    "logstore_reader_next after seek", rc);
				break;
			}
			if (j == 0 && (e.time_ns != start.time_ns ||
				       e.seq != rl.first_seq + idx)) {
				error =
				    "seek to time " +
				    std::to_string(start.time_ns) + " (entry " +
				    std::to_string(idx) + ", seq " +
				    std::to_string(rl.first_seq + idx) +
				    ") landed on seq " + std::to_string(e.seq) +
				    " time " + std::to_string(e.time_ns);
				break;
			}
			sum += static_cast<const unsigned char *>(e.data)[0];
		}
		if (!reseek) {
			logstore_reader_close(reader);
			reader = nullptr;
		}
		benchmark::DoNotOptimize(sum);
	}
	logstore_reader_close(reader);

	state.counters["mallocs_per_seek"] =
	    double(g_mallocs.load() - mallocs) / double(state.iterations());
	if (!error.empty()) {
		std::fprintf(stderr, "error: %s\n", error.c_str());
		state.SkipWithError(error.c_str());
	}
	state.SetItemsProcessed(int64_t(state.iterations()));
}

/* ---------------------------------------------------------------------- */
/* Asynchronous durable appends (1 producer) and the raw io_uring limit    */
/* ---------------------------------------------------------------------- */

constexpr int kRawBatchEntries = 512;
constexpr uint64_t kRawFileBytes = 64 * kMiB;

/*
 * Baseline (the raw limit): one io_uring write of 512 records (each record
 * as logstore lays it out: 32-byte header + padded payload, copied into one
 * buffer) with an fdatasync linked after it, waited for; at increasing
 * offsets of a zero-filled 64 MiB file, wrapping around. Items are entries.
 */
void BM_Baseline_UringBatch(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const size_t rec = size_t(RecordBytes(len));
	const size_t batch = rec * kRawBatchEntries;
	std::string dir = MakeDir("uring");
	std::string path = dir + "/data";
	int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0644);
	struct io_uring ring;
	std::vector<char> payload = Payload(len, 1);
	std::vector<char> buf(batch, 0);
	std::string error;
	if (fd < 0 || ZeroFill(fd, kRawFileBytes) != 0)
		error = ErrnoError("open/zero-fill", errno);
	if (error.empty() && io_uring_queue_init(8, &ring, 0) != 0)
		error = "io_uring_queue_init failed";
	uint64_t off = 0;
	// Each write+fsync's latency: the device's own floor for the engine's
	// time to durable (no wait for a batch in flight is in it).
	std::vector<int64_t> lat;
	lat.reserve(size_t(1) << 16);
	for (auto _ : state) {
		if (!error.empty())
			continue;
		const int64_t start = NowNs();
		for (int i = 0; i < kRawBatchEntries; i++)
			std::memcpy(&buf[size_t(i) * rec + kRecordHeaderBytes],
				    payload.data(), len);
		if (off + batch > kRawFileBytes)
			off = 0;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_write(sqe, fd, buf.data(), unsigned(batch), off);
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		io_uring_submit_and_wait(&ring, 2);
		for (int i = 0; i < 2; i++) {
			struct io_uring_cqe *cqe;
			io_uring_wait_cqe(&ring, &cqe);
			if (cqe->res < 0)
				error = ErrnoError("io_uring", -cqe->res);
			io_uring_cqe_seen(&ring, cqe);
		}
		off += batch;
		if (lat.size() < lat.capacity())
			lat.push_back(NowNs() - start);
	}
	if (!error.empty()) {
		state.SkipWithError(error.c_str());
	} else {
		io_uring_queue_exit(&ring);
		std::sort(lat.begin(), lat.end());
		auto at = [&](double q) {
			return double(lat[size_t(q * double(lat.size() - 1))]) /
			       1e3;
		};
		if (!lat.empty()) {
			state.counters["p50_us"] = at(0.50);
			state.counters["p99_us"] = at(0.99);
			state.counters["p999_us"] = at(0.999);
		}
	}
	state.SetItemsProcessed(int64_t(state.iterations()) *
				kRawBatchEntries);
	state.SetBytesProcessed(int64_t(state.iterations()) *
				kRawBatchEntries * int64_t(len));
	if (fd >= 0)
		close(fd);
	RemoveTree(dir);
}

int64_t AsyncEntries(size_t len)
{
	return len <= 1024 ? 300000 : 30000;
}

/*
 * Time to durable: after each append the producer reads the durable seq;
 * every entry it newly covers is stamped with the time seen. The stamp is
 * an upper bound (the producer looks once per append).
 */
struct DurableClock {
	std::vector<int64_t> appended;
	std::vector<int64_t> durable;
	uint64_t first = 0; // seq of entry 0
	uint64_t seen = 0;  // entries stamped
	void Prepare(size_t n, uint64_t first_seq)
	{
		appended.assign(n, 0);
		durable.assign(n, 0);
		first = first_seq;
		seen = 0;
	}
	void Observe(uint64_t durable_seq, int64_t now)
	{
		while (seen < appended.size() && first + seen <= durable_seq)
			durable[seen++] = now;
	}
	void Report(benchmark::State &state)
	{
		std::vector<int64_t> d(seen);
		for (uint64_t i = 0; i < seen; i++)
			d[i] = durable[i] - appended[i];
		if (d.empty())
			return;
		std::sort(d.begin(), d.end());
		auto at = [&](double q) {
			return double(d[size_t(q * double(d.size() - 1))]) /
			       1e3;
		};
		state.counters["ttd_p50_us"] = at(0.50);
		state.counters["ttd_p99_us"] = at(0.99);
		state.counters["ttd_p999_us"] = at(0.999);
	}
};

/*
 * Engine: one producer appends LOGSTORE_ASYNC (or claims, writes in place
 * and commits LOGSTORE_ASYNC with claim = 1) a fixed number of entries;
 * the last iteration waits until everything is durable, so the rate is of
 * durable entries. rate > 0 paces the producer to that many entries per
 * second (it spins on the clock until entry i's time, start + i / rate),
 * to measure the time to durable at an offered load rather than at full
 * speed, where batches grow as large as batch_bytes_max allows.
 */
void BM_Logstore_AsyncAppend(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const bool claim = state.range(1) != 0;
	const int64_t rate = state.range(2);
	const int64_t n = AsyncEntries(len);
	if (int64_t(state.max_iterations) != n) {
		state.SkipWithError("iterations must equal AsyncEntries()");
		return;
	}
	std::string dir = MakeDir("async");
	struct logstore_options opts;
	logstore_options_init(&opts);
	EnvOptions(&opts);
	logstore_log *log = nullptr;
	std::string error;
	int rc = logstore_log_open(dir.c_str(), &opts, &log);
	uint64_t seq = 0;
	std::vector<char> entry = Payload(len, 3);
	if (rc != 0)
		error = LogstoreError("logstore_log_open", rc);
	else if ((rc = logstore_log_append(log, entry.data(), len,
					   LOGSTORE_DURABLE, &seq,
					   nullptr)) != 0)
		error = LogstoreError("warm-up append", rc);
	else
		error = WaitPrepared(log);
	DurableClock clock;
	clock.Prepare(size_t(n), seq + 1);
	struct logstore_stats before;
	if (log != nullptr)
		logstore_log_stats(log, &before);
	uint64_t mallocs = g_mallocs.load();
	int64_t i = 0;
	int64_t start = NowNs();
	for (auto _ : state) {
		if (!error.empty())
			continue;
		int64_t now = NowNs();
		if (rate > 0) {
			int64_t due = start + i * 1000000000 / rate;
			while (now < due)
				now = NowNs();
		}
		clock.appended[size_t(i)] = now;
		if (claim) {
			struct logstore_claim c;
			rc = logstore_log_claim(log, len, &c);
			if (rc == 0) {
				std::memcpy(c.data, entry.data(), len);
				rc = logstore_claim_commit(log, &c,
							   LOGSTORE_ASYNC);
				seq = c.seq;
			}
		} else {
			rc = logstore_log_append(log, entry.data(), len,
						 LOGSTORE_ASYNC, &seq, nullptr);
		}
		if (rc != 0) {
			error = LogstoreError("async append", rc);
			continue;
		}
		if (++i == n)
			rc = logstore_log_wait_durable(log, seq, -1);
		if (rc != 0)
			error = LogstoreError("logstore_log_wait_durable", rc);
		clock.Observe(logstore_log_durable_seq(log), NowNs());
	}
	mallocs = g_mallocs.load() - mallocs;
	state.SetItemsProcessed(int64_t(state.iterations()));
	state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(len));
	if (!error.empty()) {
		state.SkipWithError(error.c_str());
	} else {
		struct logstore_stats st;
		logstore_log_stats(log, &st);
		clock.Report(state);
		state.counters["entries_per_fsync"] =
		    double(n) / double(st.fsyncs - before.fsyncs);
		state.counters["mallocs"] = double(mallocs);
		// The engine's own commit latency (write submitted to fsync
		// done): time to durable is bounded by about two of these.
		state.counters["commit_p50_us"] =
		    double(logstore_histogram_quantile(&st.commit_latency_ns,
						       0.5)) /
		    1e3;
		state.counters["commit_p99_us"] =
		    double(logstore_histogram_quantile(&st.commit_latency_ns,
						       0.99)) /
		    1e3;
	}
	logstore_log_close(log);
	RemoveTree(dir);
}

/* ---------------------------------------------------------------------- */
/* Durable appends across rollovers                                       */
/* ---------------------------------------------------------------------- */

constexpr int64_t kRolloverEntries = 3000;

/*
 * Engine: 1 thread, durable appends; with roll = 1 the segments hold about
 * 200 entries, so the run crosses at least 10 rollovers; with roll = 0 it
 * stays in one 64 MiB segment. p99.9 of the two is the figure.
 */
void BM_Logstore_DurableRollover(benchmark::State &state)
{
	const size_t len = size_t(state.range(0));
	const bool roll = state.range(1) != 0;
	std::string dir = MakeDir("rollover");
	struct logstore_options opts;
	logstore_options_init(&opts);
	if (roll) {
		uint64_t seg = 200 * RecordBytes(len) + 3 * 4096;
		opts.segment_bytes_max =
		    std::max<uint64_t>(16384, (seg + 4095) / 4096 * 4096);
	}
	logstore_log *log = nullptr;
	std::string error;
	std::vector<char> entry = Payload(len, 5);
	int rc = logstore_log_open(dir.c_str(), &opts, &log);
	if (rc != 0)
		error = LogstoreError("logstore_log_open", rc);
	else if ((rc = logstore_log_append(log, entry.data(), len,
					   LOGSTORE_DURABLE, nullptr,
					   nullptr)) != 0)
		error = LogstoreError("warm-up append", rc);
	else
		error = WaitPrepared(log);
	Latencies lat;
	lat.Prepare(1, kRolloverEntries);
	int64_t *slot = lat.Slot(0);
	size_t i = 0;
	for (auto _ : state) {
		if (!error.empty())
			continue;
		int64_t start = NowNs();
		rc = logstore_log_append(log, entry.data(), len,
					 LOGSTORE_DURABLE, nullptr, nullptr);
		if (rc != 0)
			error = LogstoreError("durable append", rc);
		slot[i++] = NowNs() - start;
	}
	state.SetItemsProcessed(int64_t(state.iterations()));
	if (!error.empty()) {
		state.SkipWithError(error.c_str());
	} else {
		struct logstore_stats st;
		logstore_log_stats(log, &st);
		state.counters["rollovers"] = double(st.segments_created);
		lat.Report(state);
	}
	logstore_log_close(log);
	RemoveTree(dir);
}

/* ---------------------------------------------------------------------- */
/* Open of an existing log                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Engine: logstore_log_open() (writer) of a log closed cleanly, kind 0:
 * 1M entries of 100 B in 64 MiB segments; kind 1: 1000 segments of 16 KiB.
 * Close is outside the timing.
 */
void BM_Logstore_Open(benchmark::State &state)
{
	const int kind = int(state.range(0));
	static std::map<int, std::string> dirs;
	std::string error;
	if (dirs.count(kind) == 0) {
		std::string dir = MakeDir(kind ? "open1000" : "open1m");
		struct logstore_options opts;
		logstore_options_init(&opts);
		if (kind)
			opts.segment_bytes_max = 16384;
		logstore_log *log = nullptr;
		int rc = logstore_log_open(dir.c_str(), &opts, &log);
		const uint64_t per = kind ? 60 : 1024;
		std::vector<char> payloads = Payload(per * 100, 0);
		std::vector<struct logstore_batch_entry> b(per);
		for (uint64_t k = 0; k < per; k++)
			b[k] = {&payloads[k * 100], 100, 0, 0};
		size_t segs = 0;
		for (uint64_t done = 0; rc == 0 && (kind ? segs < 1000
						     : done < 1000000);
		     done += per) {
			for (auto &e : b)
				e.time_ns = 0; // an out-parameter too
			rc = logstore_log_append_batch(log, b.data(), per,
						       LOGSTORE_BUFFERED);
			if (kind && rc == 0)
				rc = logstore_log_segments(log, nullptr, 0,
							   &segs);
		}
		if (rc != 0)
			error = LogstoreError("writing the log", rc);
		if (log != nullptr && (rc = logstore_log_close(log)) != 0)
			error = LogstoreError("logstore_log_close", rc);
		dirs[kind] = dir;
	}
	for (auto _ : state) {
		if (!error.empty())
			continue;
		logstore_log *log = nullptr;
		int rc = logstore_log_open(dirs[kind].c_str(), nullptr, &log);
		state.PauseTiming();
		if (rc != 0)
			error = LogstoreError("logstore_log_open", rc);
		else if ((rc = logstore_log_close(log)) != 0)
			error = LogstoreError("logstore_log_close", rc);
		state.ResumeTiming();
	}
	if (!error.empty()) {
		std::fprintf(stderr, "error: %s\n", error.c_str());
		state.SkipWithError(error.c_str());
	}
}

/* ---------------------------------------------------------------------- */
/* Registration: each engine benchmark right after its baseline            */
/* ---------------------------------------------------------------------- */

// Repetitions and reporting; the argument names are set by the caller.
void Repeated(benchmark::internal::Benchmark *b)
{
	b->Repetitions(kRepetitions)->ReportAggregatesOnly(true)->UseRealTime();
}

void Common(benchmark::internal::Benchmark *b)
{
	b->ArgName("bytes")
	    ->Repetitions(kRepetitions)
	    ->ReportAggregatesOnly(true)
	    ->UseRealTime();
}

void Timed(benchmark::internal::Benchmark *b)
{
	Common(b);
	b->MinTime(kMinTime);
}

void DurableArgs(benchmark::internal::Benchmark *b)
{
	Timed(b);
	b->Threads(1)->Threads(kManyThreads)->Unit(benchmark::kMicrosecond);
}

void BufferedArgs(benchmark::internal::Benchmark *b)
{
	Common(b);
	b->Iterations(kBufferedEntries);
}

void DeferredArgs(benchmark::internal::Benchmark *b)
{
	Repeated(b);
	b->ArgNames({"bytes", "deferred"})->Iterations(kBufferedEntries);
}

void ScanArgs(benchmark::internal::Benchmark *b)
{
	Timed(b);
	b->Unit(benchmark::kMillisecond);
}

void SeekArgs(benchmark::internal::Benchmark *b)
{
	Repeated(b);
	b->MinTime(kMinTime);
	b->ArgNames({"bytes", "entries"})
	    ->Args({100, 10000})
	    ->Args({100, 1000000})
	    ->Args({100, 10000000});
	if (std::getenv("LOGSTORE_BENCH_SEEK_1E8") != nullptr)
		b->Args({100, 100000000});
}

// The engine's rows: each size with reseek 1 (one reader moved by
// logstore_reader_seek) and reseek 0 (a reader opened per seek).
void SeekEngineArgs(benchmark::internal::Benchmark *b)
{
	Repeated(b);
	b->MinTime(kMinTime);
	b->ArgNames({"bytes", "entries", "reseek"});
	std::vector<int64_t> sizes = {10000, 1000000, 10000000};
	if (std::getenv("LOGSTORE_BENCH_SEEK_1E8") != nullptr)
		sizes.push_back(100000000);
	for (int64_t n : sizes)
		b->Args({100, n, 1})->Args({100, n, 0});
}

void AsyncArgs(benchmark::internal::Benchmark *b)
{
	Repeated(b);
	b->ArgNames({"bytes", "claim", "rate"})->Unit(benchmark::kMicrosecond);
}

void UringArgs(benchmark::internal::Benchmark *b)
{
	Timed(b);
	b->Unit(benchmark::kMicrosecond)->Arg(100)->Arg(4096);
}

void RolloverArgs(benchmark::internal::Benchmark *b)
{
	Repeated(b);
	b->ArgNames({"bytes", "roll"})
	    ->Unit(benchmark::kMicrosecond)
	    ->Iterations(kRolloverEntries)
	    ->Args({100, 0})
	    ->Args({100, 1})
	    ->Args({4096, 0})
	    ->Args({4096, 1});
}

void OpenArgs(benchmark::internal::Benchmark *b)
{
	b->ArgName("segments1000")
	    ->Repetitions(kRepetitions)
	    ->ReportAggregatesOnly(true)
	    ->UseRealTime()
	    ->Unit(benchmark::kMillisecond)
	    ->Iterations(5)
	    ->Arg(0)
	    ->Arg(1);
}

} // namespace

BENCHMARK(BM_Baseline_UringBatch)->Apply(UringArgs);
// Iterations must equal AsyncEntries(bytes).
BENCHMARK(BM_Logstore_AsyncAppend)
    ->Apply(AsyncArgs)
    ->Iterations(300000)
    ->Args({100, 0, 0})
    ->Args({100, 1, 0})
    ->Args({100, 0, 1000000});
BENCHMARK(BM_Logstore_AsyncAppend)
    ->Apply(AsyncArgs)
    ->Iterations(30000)
    ->Args({4096, 0, 0})
    ->Args({4096, 1, 0});

BENCHMARK(BM_Baseline_PwriteFdatasync)->Apply(DurableArgs)->Arg(100);
BENCHMARK(BM_Logstore_DurableAppend)->Apply(DurableArgs)->Arg(100);
BENCHMARK(BM_Baseline_GroupCommitFloor)
    ->Apply(Repeated)
    ->MinTime(kMinTime)
    ->Threads(kManyThreads)
    ->Unit(benchmark::kMicrosecond)
    ->ArgNames({"bytes", "groups"})
    ->Args({100, 1})
    ->Args({100, 2});
BENCHMARK(BM_Baseline_PwriteFdatasync)->Apply(DurableArgs)->Arg(4096);
BENCHMARK(BM_Logstore_DurableAppend)->Apply(DurableArgs)->Arg(4096);

BENCHMARK(BM_Baseline_BufferedPwrite)->Apply(BufferedArgs)->Arg(100);
BENCHMARK(BM_Logstore_BufferedAppend)
    ->Apply(DeferredArgs)
    ->Args({100, 0})
    ->Args({100, 1});

BENCHMARK(BM_Baseline_Memcpy)->Apply(ScanArgs)->Arg(100);
BENCHMARK(BM_Baseline_MmapScan)->Apply(ScanArgs)->Arg(100);
BENCHMARK(BM_Logstore_Scan)->Apply(ScanArgs)->Arg(100);
BENCHMARK(BM_Baseline_Memcpy)->Apply(ScanArgs)->Arg(4096);
BENCHMARK(BM_Baseline_MmapScan)->Apply(ScanArgs)->Arg(4096);
BENCHMARK(BM_Logstore_Scan)->Apply(ScanArgs)->Arg(4096);

BENCHMARK(BM_Baseline_SeekTime)->Apply(SeekArgs);
BENCHMARK(BM_Logstore_SeekTime)->Apply(SeekEngineArgs);

BENCHMARK(BM_Logstore_DurableRollover)->Apply(RolloverArgs);
BENCHMARK(BM_Logstore_Open)->Apply(OpenArgs);

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;

	const char *parent = std::getenv("LOGSTORE_BENCH_DIR");
	std::string tmpl =
	    std::string(parent != nullptr && parent[0] != '\0' ? parent
							       : "/tmp") +
	    "/logstore-bench-XXXXXX";
	std::vector<char> path(tmpl.begin(), tmpl.end());
	path.push_back('\0');
	if (mkdtemp(path.data()) == nullptr) {
		std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(),
			     std::strerror(errno));
		return 1;
	}
	g_root = path.data();
	unsigned v = logstore_version();
	benchmark::AddCustomContext("logstore_version",
				    std::to_string(v / 10000) + "." +
					std::to_string(v / 100 % 100) + "." +
					std::to_string(v % 100));
	benchmark::AddCustomContext("bench_dir", g_root);

	benchmark::RunSpecifiedBenchmarks();

	CloseReadLogs();
	RemoveTree(g_root);
	benchmark::Shutdown();
	return 0;
}

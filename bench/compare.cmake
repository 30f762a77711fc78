# SPDX-License-Identifier: MIT
#
# bench_compare: logstore beside LevelDB, RocksDB, LMDB and SQLite (WAL), and
# beside raw file baselines, on the workloads of MEASURED.md's comparison
# table (see bench/README.md). Each comparator is compiled in only when its
# header and library are found; with none of them the program still builds
# and measures logstore and the raw baselines.
#
#   apt-get install libleveldb-dev librocksdb-dev liblmdb-dev libsqlite3-dev
#   cmake --build build --target bench_compare
#
# LOGSTORE_BENCH_COMPARATORS picks which to look for: a list out of
# "leveldb;rocksdb;lmdb;sqlite" (the default, ON means the same), or OFF for
# none, which is what a machine without them builds.

set(LOGSTORE_BENCH_COMPARATORS "leveldb;rocksdb;lmdb;sqlite" CACHE STRING
  "Comparators to compile into bench_compare when found (a list, or OFF)")
set(logstore_bench_wanted "${LOGSTORE_BENCH_COMPARATORS}")
if(logstore_bench_wanted STREQUAL "ON")
  set(logstore_bench_wanted "leveldb;rocksdb;lmdb;sqlite")
elseif(NOT logstore_bench_wanted)
  set(logstore_bench_wanted "")
endif()

add_executable(bench_compare bench_compare.cc)
set_target_properties(bench_compare PROPERTIES
  CXX_STANDARD 17
  CXX_STANDARD_REQUIRED ON
  CXX_EXTENSIONS OFF)
target_compile_options(bench_compare PRIVATE -Wall -Wextra -Wshadow)
if(LOGSTORE_WERROR)
  target_compile_options(bench_compare PRIVATE -Werror)
endif()
target_link_libraries(bench_compare PRIVATE
  logstore::logstore benchmark::benchmark Threads::Threads)

# name: as in LOGSTORE_BENCH_COMPARATORS; header: what the program
# includes; library: the name to link. Defines LOGSTORE_BENCH_HAVE_<NAME>.
function(logstore_bench_comparator name header library)
  string(TOUPPER ${name} upper)
  if(NOT name IN_LIST logstore_bench_wanted)
    message(STATUS "bench_compare: without ${name} (not in LOGSTORE_BENCH_COMPARATORS)")
    return()
  endif()
  find_path(LOGSTORE_${upper}_INCLUDE_DIR ${header})
  find_library(LOGSTORE_${upper}_LIBRARY ${library})
  if(LOGSTORE_${upper}_INCLUDE_DIR AND LOGSTORE_${upper}_LIBRARY)
    target_include_directories(bench_compare SYSTEM PRIVATE
      ${LOGSTORE_${upper}_INCLUDE_DIR})
    target_link_libraries(bench_compare PRIVATE ${LOGSTORE_${upper}_LIBRARY})
    target_compile_definitions(bench_compare PRIVATE
      LOGSTORE_BENCH_HAVE_${upper})
    message(STATUS "bench_compare: with ${name} (${LOGSTORE_${upper}_LIBRARY})")
  else()
    message(STATUS "bench_compare: without ${name} (${header} or lib${library} not found)")
  endif()
endfunction()

logstore_bench_comparator(leveldb leveldb/c.h leveldb)
logstore_bench_comparator(rocksdb rocksdb/c.h rocksdb)
logstore_bench_comparator(lmdb lmdb.h lmdb)
logstore_bench_comparator(sqlite sqlite3.h sqlite3)

add_dependencies(bench bench_compare)

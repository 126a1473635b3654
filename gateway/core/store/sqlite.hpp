#pragma once
// A thin RAII layer over the SQLite C API for the stores (state.db, queue.db):
// open with file mode and pragmas, prepared statements, transactions. Errors
// are values carrying sqlite3_errmsg. Bound values may come from untrusted
// peers; they are always bound, never spliced into SQL.
//
// Threads: SQLite is opened serialized, but a Statement and the error message
// of its Database belong to one thread at a time; owners share a Database
// under their own mutex.

#include <sqlite3.h>
#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "gateway/core/result.hpp"

namespace portcullis::store {

enum class Synchronous { off, normal, full, extra };

struct OpenOptions {
  bool read_only = false;
  // The database file (and so its -wal and -shm, which SQLite creates with the
  // database's mode) is created with this mode; an existing file is narrowed to it.
  mode_t file_mode = 0600;
  bool wal = true;
  Synchronous synchronous = Synchronous::normal;
  bool foreign_keys = true;
  std::chrono::milliseconds busy_timeout{5000};
};

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}

  // Indexes are 1-based, as in SQLite. A failed bind is reported by the next
  // step() or run(), so binds chain.
  template <std::integral I>
  Statement& bind(int index, I value) {
    return bind_int64(index, static_cast<std::int64_t>(value));
  }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);  // copied
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, std::nullopt_t);
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
  }
  Statement& bind_blob(int index, std::string_view bytes);  // copied
  Statement& bind_int64(int index, std::int64_t value);

  // True while a row is available, false once the statement is done.
  Result<bool> step();
  // Steps to the end, ignoring rows, then resets for reuse.
  Result<void> run();
  // Ready to run again; clears bindings and any bind error.
  void reset();

  int column_count() const;
  bool column_is_null(int column) const;  // columns are 0-based
  std::int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::string column_blob(int column) const;
  std::optional<std::int64_t> column_optional_int64(int column) const;

  sqlite3_stmt* handle() const { return stmt_.get(); }

 private:
  Statement& record_bind(int rc, int index);

  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
  std::optional<Error> bind_error_;
};

class Database {
 public:
  Database() = default;

  // Creates the file (not its directory) unless read_only.
  static Result<Database> open(const std::filesystem::path& path, const OpenOptions& options = {});

  // One or more statements; result rows are discarded.
  Result<void> exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);

  // Runs body() between BEGIN IMMEDIATE and COMMIT. body returns a Result<T>;
  // an error (or exception) rolls back. Not reentrant: no nesting.
  template <class F>
  auto transaction(F&& body) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if (auto begun = exec("BEGIN IMMEDIATE"); !begun) {
      return R(boost::system::in_place_error, begun.error());
    }
    R result = [&]() -> R {
      try {
        return body();
      } catch (...) {
        rollback();
        throw;
      }
    }();
    if (!result) {
      rollback();
      return result;
    }
    if (auto committed = exec("COMMIT"); !committed) {
      rollback();
      return R(boost::system::in_place_error, committed.error());
    }
    return result;
  }

  std::int64_t last_insert_rowid() const;
  int changes() const;  // rows changed by the last INSERT/UPDATE/DELETE
  sqlite3* handle() const { return db_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  void rollback();

  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::filesystem::path path_;
};

}  // namespace portcullis::store

#pragma once
// Private to the queue: the few SQLite calls the spool needs, with RAII
// ownership and errors as values. Text and blobs are bound without a copy
// (a body may be 25 MB), so the caller keeps them alive until reset().

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "gateway/core/result.hpp"

namespace portcullis::relay::queue::detail {

class Statement;

class Db {
 public:
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Db& operator=(Db&& other) noexcept;
  ~Db();

  static Result<Db> open(const std::filesystem::path& file, int flags);

  Result<void> exec(const char* sql);
  Result<Statement> prepare(std::string_view sql);
  std::string error_message() const;
  sqlite3* get() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Binders take 1-based parameter indexes and keep no copy: the value must
  // outlive the next step()/reset().
  bool bind(int index, std::string_view text);
  bool bind_blob(int index, std::string_view bytes);
  bool bind(int index, std::int64_t value);

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  void reset();

  std::string column_text(int index) const;
  std::int64_t column_int(int index) const;
  bool column_is_null(int index) const;

 private:
  friend class Db;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace portcullis::relay::queue::detail

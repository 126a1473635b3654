#include "gateway/core/store/sqlite.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace portcullis::store {
namespace {

// Enough of the SQL to recognise the statement in an error message.
std::string excerpt(std::string_view sql) {
  constexpr std::size_t kMax = 60;
  std::string out(sql.substr(0, kMax));
  for (auto& c : out) {
    if (c == '\n' || c == '\t') {
      c = ' ';
    }
  }
  return sql.size() > kMax ? out + "..." : out;
}

Error sqlite_error(sqlite3* db, std::string_view what) {
  return make_error(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

Error errno_error(const std::filesystem::path& path, std::string_view what) {
  return make_error(std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

std::string_view synchronous_name(Synchronous s) {
  switch (s) {
    case Synchronous::off:
      return "OFF";
    case Synchronous::normal:
      return "NORMAL";
    case Synchronous::full:
      return "FULL";
    case Synchronous::extra:
      return "EXTRA";
  }
  return "FULL";
}

// SQLite gives -wal and -shm the mode of the database file, so creating the
// database file ourselves with the right mode covers all three, independent
// of the process umask (which is process-wide and not ours to change).
Result<void> prepare_file(const std::filesystem::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    return errno_error(path, "cannot create");
  }
  struct stat st {};
  const bool narrowed =
      ::fstat(fd, &st) == 0 && ((st.st_mode & 07777) == mode || ::fchmod(fd, mode) == 0);
  ::close(fd);
  if (!narrowed) {
    return errno_error(path, "cannot set the mode of");
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    auto side = path;
    side += suffix;
    if (::chmod(side.c_str(), mode) != 0 && errno != ENOENT) {
      return errno_error(side, "cannot set the mode of");
    }
  }
  return {};
}

}  // namespace

// --- Statement ---

Statement& Statement::record_bind(int rc, int index) {
  if (rc != SQLITE_OK && !bind_error_) {
    bind_error_ = sqlite_error(sqlite3_db_handle(stmt_.get()),
                               "bind parameter " + std::to_string(index) + " of '" +
                                   excerpt(sqlite3_sql(stmt_.get())) + "'");
  }
  return *this;
}

Statement& Statement::bind_int64(int index, std::int64_t value) {
  return record_bind(sqlite3_bind_int64(stmt_.get(), index, value), index);
}

Statement& Statement::bind(int index, double value) {
  return record_bind(sqlite3_bind_double(stmt_.get(), index, value), index);
}

Statement& Statement::bind(int index, std::string_view text) {
  return record_bind(sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(),
                                         SQLITE_TRANSIENT, SQLITE_UTF8),
                     index);
}

Statement& Statement::bind(int index, std::nullopt_t) {
  return record_bind(sqlite3_bind_null(stmt_.get(), index), index);
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  return record_bind(
      sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT), index);
}

Result<bool> Statement::step() {
  if (bind_error_) {
    return *bind_error_;
  }
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  auto error =
      sqlite_error(sqlite3_db_handle(stmt_.get()), "'" + excerpt(sqlite3_sql(stmt_.get())) + "'");
  sqlite3_reset(stmt_.get());
  return error;
}

Result<void> Statement::run() {
  while (true) {
    auto row = step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      break;
    }
  }
  sqlite3_reset(stmt_.get());
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_.reset();
}

int Statement::column_count() const {
  return sqlite3_column_count(stmt_.get());
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::column_double(int column) const {
  return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_.get(), column);
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column));
  return text ? std::string(reinterpret_cast<const char*>(text), size) : std::string();
}

std::string Statement::column_blob(int column) const {
  const auto* blob = sqlite3_column_blob(stmt_.get(), column);
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column));
  return blob ? std::string(static_cast<const char*>(blob), size) : std::string();
}

std::optional<std::int64_t> Statement::column_optional_int64(int column) const {
  if (column_is_null(column)) {
    return std::nullopt;
  }
  return column_int64(column);
}

// --- Database ---

Result<Database> Database::open(const std::filesystem::path& path, const OpenOptions& options) {
  if (!options.read_only) {
    if (auto prepared = prepare_file(path, options.file_mode); !prepared) {
      return prepared.error();
    }
  }
  sqlite3* raw = nullptr;
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                    SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db;
  db.db_.reset(raw);
  db.path_ = path;
  if (rc != SQLITE_OK) {
    return sqlite_error(raw, "cannot open " + path.string());
  }
  sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));

  auto pragmas =
      std::string("PRAGMA foreign_keys = ") + (options.foreign_keys ? "ON" : "OFF") + ";";
  if (!options.read_only) {
    pragmas += "PRAGMA synchronous = " + std::string(synchronous_name(options.synchronous)) + ";";
  }
  if (auto set = db.exec(pragmas); !set) {
    return make_error(path.string() + ": " + set.error().message);
  }
  if (options.wal && !options.read_only) {
    // journal_mode answers with the mode it ended up in; WAL can be refused
    // (e.g. on file systems without shared memory).
    auto mode = db.prepare("PRAGMA journal_mode = WAL");
    if (!mode) {
      return mode.error();
    }
    auto row = mode->step();
    if (!row) {
      return make_error(path.string() + ": " + row.error().message);
    }
    if (!*row || mode->column_text(0) != "wal") {
      return make_error(path.string() + ": SQLite refused WAL journal mode");
    }
  }
  return db;
}

Result<void> Database::exec(std::string_view sql) {
  const std::string terminated(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_.get(), terminated.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    auto error =
        make_error("'" + excerpt(sql) + "': " + (message ? message : sqlite3_errmsg(db_.get())));
    sqlite3_free(message);
    return error;
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return sqlite_error(db_.get(), "prepare '" + excerpt(sql) + "'");
  }
  return Statement(stmt);
}

std::int64_t Database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_.get());
}

int Database::changes() const {
  return sqlite3_changes(db_.get());
}

void Database::rollback() {
  // Fails harmlessly when SQLite already rolled back (e.g. after SQLITE_FULL).
  if (!sqlite3_get_autocommit(db_.get())) {
    (void)exec("ROLLBACK");
  }
}

}  // namespace portcullis::store

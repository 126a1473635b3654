#include "gateway/core/store/store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "gateway/core/auth/password.hpp"
#include "gateway/core/store/migrations.hpp"
#include "gateway/core/store/sqlite.hpp"

namespace portcullis::store {
namespace {

namespace fs = std::filesystem;

fs::path make_temp_dir() {
  std::string pattern = (fs::path(testing::TempDir()) / "portcullis-store-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  return pattern;
}

std::vector<net::Prefix> prefixes(std::initializer_list<const char*> texts) {
  std::vector<net::Prefix> out;
  for (const auto* text : texts) {
    out.push_back(net::Prefix::parse(text).value());
  }
  return out;
}

Tenant make_tenant(std::string id, std::initializer_list<const char*> subnets = {}) {
  Tenant t;
  t.id = std::move(id);
  t.plan = "standard";
  t.subnets = prefixes(subnets);
  t.abuse_contact = "abuse@" + t.id + ".example";
  return t;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class StoreTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir();
    state_dir_ = root_ / "state";
    store_ = Store::open(state_dir_);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  void reopen() {
    store_.reset();
    store_ = Store::open(state_dir_);
  }

  fs::path root_;
  fs::path state_dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, TenantRoundTrip) {
  auto tenant = make_tenant("acme", {"198.18.0.0/24", "fd00:1::/64"});
  tenant.port25_mode = Port25Mode::redirect;
  const auto added = store_->add_tenant(tenant);
  ASSERT_TRUE(added.has_value()) << added.error().message;
  EXPECT_GT(added->created_at, 1'600'000'000);

  reopen();
  const auto got = store_->get_tenant("acme");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->id, "acme");
  EXPECT_EQ(got->plan, "standard");
  EXPECT_EQ(got->subnets, tenant.subnets);
  EXPECT_EQ(got->port25_mode, Port25Mode::redirect);
  EXPECT_EQ(got->abuse_contact, "abuse@acme.example");
  EXPECT_EQ(got->status, TenantStatus::active);
  EXPECT_EQ(got->created_at, added->created_at);

  EXPECT_EQ(store_->get_tenant("nobody").error().message, "no tenant 'nobody'");
  EXPECT_EQ(store_->get_tenant("Not Valid").error().message, "no tenant 'Not Valid'");
}

TEST_F(StoreTest, ListIsOrderedByIdWithSubnetsInGivenOrder) {
  ASSERT_TRUE(store_->add_tenant(make_tenant("zeta", {"198.18.9.0/24", "198.18.3.0/24"})));
  ASSERT_TRUE(store_->add_tenant(make_tenant("alpha")));
  ASSERT_TRUE(store_->add_tenant(make_tenant("mid", {"fd00:9::/48"})));
  const auto tenants = store_->list_tenants();
  ASSERT_EQ(tenants.size(), 3u);
  EXPECT_EQ(tenants[0].id, "alpha");
  EXPECT_TRUE(tenants[0].subnets.empty());
  EXPECT_EQ(tenants[1].id, "mid");
  EXPECT_EQ(tenants[1].subnets, prefixes({"fd00:9::/48"}));
  EXPECT_EQ(tenants[2].id, "zeta");
  EXPECT_EQ(tenants[2].subnets, prefixes({"198.18.9.0/24", "198.18.3.0/24"}));
}

TEST_F(StoreTest, ValidationErrors) {
  struct Case {
    Tenant tenant;
    std::string error;
  };
  auto no_plan = make_tenant("acme");
  no_plan.plan = "";
  auto bad_contact = make_tenant("acme");
  bad_contact.abuse_contact = "nobody";
  auto spaced_contact = make_tenant("acme");
  spaced_contact.abuse_contact = "a b@example.org";
  auto newline_reason = make_tenant("acme");
  newline_reason.status_reason = "spam\r\nX-Injected: 1";
  const std::string bad_id =
      "' is not a valid tenant id: use 1 to 63 characters a-z, 0-9, '_' and '-', starting with a "
      "letter or digit";
  const std::vector<Case> cases = {
      {make_tenant("Acme"), "'Acme" + bad_id},
      {make_tenant("-acme"), "'-acme" + bad_id},
      {make_tenant("ac.me"), "'ac.me" + bad_id},
      {make_tenant(""), "'" + bad_id},
      {make_tenant(std::string(64, 'a')), "'" + std::string(64, 'a') + bad_id},
      {no_plan, "tenant 'acme' needs a plan"},
      {bad_contact, "abuse contact 'nobody' is not an email address"},
      {spaced_contact, "abuse contact 'a b@example.org' is not an email address"},
      {newline_reason, "status reason contains control characters"},
      {make_tenant("acme", {"198.18.0.0/16", "198.18.1.0/24"}),
       "198.18.1.0/24 overlaps 198.18.0.0/16, both listed for tenant 'acme'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.error);
    const auto added = store_->add_tenant(c.tenant);
    ASSERT_FALSE(added.has_value());
    EXPECT_EQ(added.error().message, c.error);
  }
  EXPECT_TRUE(store_->list_tenants().empty());

  auto fine = make_tenant("a");
  fine.abuse_contact = "";
  EXPECT_TRUE(store_->add_tenant(fine).has_value());
  EXPECT_TRUE(store_->add_tenant(make_tenant(std::string(63, 'b'))).has_value());
  EXPECT_TRUE(store_->add_tenant(make_tenant("0_x-y")).has_value());
}

TEST_F(StoreTest, DuplicateIdIsRefused) {
  ASSERT_TRUE(store_->add_tenant(make_tenant("acme")));
  const auto again = store_->add_tenant(make_tenant("acme"));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().message, "tenant 'acme' already exists");
}

TEST_F(StoreTest, SubnetOverlappingAnotherTenantIsRefused) {
  ASSERT_TRUE(store_->add_tenant(make_tenant("acme", {"198.18.0.0/16", "fd00:1::/48"})));
  const auto inside = store_->add_tenant(make_tenant("globex", {"198.19.0.0/24", "198.18.1.0/24"}));
  ASSERT_FALSE(inside.has_value());
  EXPECT_EQ(inside.error().message, "198.18.1.0/24 overlaps 198.18.0.0/16 of tenant 'acme'");

  const auto around = store_->add_tenant(make_tenant("globex", {"198.16.0.0/14"}));
  ASSERT_FALSE(around.has_value());
  EXPECT_EQ(around.error().message, "198.16.0.0/14 overlaps 198.18.0.0/16 of tenant 'acme'");

  const auto v6 = store_->add_tenant(make_tenant("globex", {"fd00:1:0:2::/64"}));
  ASSERT_FALSE(v6.has_value());
  EXPECT_EQ(v6.error().message, "fd00:1:0:2::/64 overlaps fd00:1::/48 of tenant 'acme'");

  // Nothing of the refused tenant was stored.
  EXPECT_FALSE(store_->get_tenant("globex").has_value());
  EXPECT_TRUE(store_->add_tenant(make_tenant("globex", {"198.19.0.0/24", "fd00:2::/48"})));
}

TEST_F(StoreTest, UpdateReplacesFieldsButKeepsCreatedAt) {
  const auto added = store_->add_tenant(make_tenant("acme", {"198.18.0.0/16"}));
  ASSERT_TRUE(added);
  ASSERT_TRUE(store_->add_tenant(make_tenant("globex", {"198.19.0.0/24"})));

  auto changed = *added;
  changed.plan = "premium";
  changed.subnets =
      prefixes({"198.18.0.0/24", "198.18.7.0/24"});  // overlapping its own old ones is fine
  changed.port25_mode = Port25Mode::exempt;
  changed.status = TenantStatus::suspended;
  changed.status_reason = "abuse ticket 42";
  changed.created_at = 1;
  const auto updated = store_->update_tenant(changed);
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  EXPECT_EQ(updated->created_at, added->created_at);

  reopen();
  const auto got = store_->get_tenant("acme").value();
  EXPECT_EQ(got.plan, "premium");
  EXPECT_EQ(got.subnets, changed.subnets);
  EXPECT_EQ(got.port25_mode, Port25Mode::exempt);
  EXPECT_EQ(got.status, TenantStatus::suspended);
  EXPECT_EQ(got.status_reason, "abuse ticket 42");

  changed.subnets = prefixes({"198.19.0.128/25"});
  const auto overlap = store_->update_tenant(changed);
  ASSERT_FALSE(overlap.has_value());
  EXPECT_EQ(overlap.error().message, "198.19.0.128/25 overlaps 198.19.0.0/24 of tenant 'globex'");
  EXPECT_EQ(store_->get_tenant("acme")->subnets, got.subnets);  // rolled back

  const auto missing = store_->update_tenant(make_tenant("nobody"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message, "no tenant 'nobody'");
  auto invalid = got;
  invalid.plan = "";
  EXPECT_FALSE(store_->update_tenant(invalid).has_value());
}

TEST_F(StoreTest, RemoveDeletesSubnetsAndCredentials) {
  ASSERT_TRUE(store_->add_tenant(make_tenant("acme", {"198.18.0.0/24"})));
  const auto issued = store_->issue_credential("acme", "web");
  ASSERT_TRUE(issued);
  ASSERT_TRUE(store_->remove_tenant("acme"));
  EXPECT_FALSE(store_->get_tenant("acme").has_value());
  EXPECT_FALSE(store_->find_credential(issued->credential.username).has_value());
  EXPECT_TRUE(store_->list_credentials("acme").empty());
  EXPECT_EQ(store_->remove_tenant("acme").error().message, "no tenant 'acme'");
  // Its subnet is free for someone else.
  EXPECT_TRUE(store_->add_tenant(make_tenant("globex", {"198.18.0.0/24"})));
}

TEST_F(StoreTest, IssueListRevokeFindCredentials) {
  auto tenant = make_tenant("acme");
  ASSERT_TRUE(store_->add_tenant(tenant));
  ASSERT_TRUE(store_->add_tenant(make_tenant("globex")));

  const auto first = store_->issue_credential("acme", "web shop");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  const auto second = store_->issue_credential("acme", "");
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(store_->issue_credential("globex", "other"));

  const std::regex username_format("acme\\.[a-z2-7]{8}");
  EXPECT_TRUE(std::regex_match(first->credential.username, username_format))
      << first->credential.username;
  EXPECT_NE(first->credential.username, second->credential.username);
  EXPECT_EQ(first->credential.tenant_id, "acme");
  EXPECT_EQ(first->credential.description, "web shop");
  EXPECT_FALSE(first->credential.revoked_at.has_value());
  EXPECT_GE(first->password.size(), 32u);

  const auto secret = store_->find_credential(first->credential.username);
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->tenant_id, "acme");
  EXPECT_EQ(secret->password_hash.rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(auth::verify_password(secret->password_hash, first->password));
  EXPECT_FALSE(auth::verify_password(secret->password_hash, second->password));

  auto listed = store_->list_credentials("acme");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].username, first->credential.username);
  EXPECT_EQ(listed[1].username, second->credential.username);

  ASSERT_TRUE(store_->revoke_credential(first->credential.username));
  EXPECT_FALSE(store_->find_credential(first->credential.username).has_value());
  EXPECT_TRUE(store_->find_credential(second->credential.username).has_value());
  listed = store_->list_credentials("acme");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(listed[0].revoked_at.has_value());
  EXPECT_FALSE(listed[1].revoked_at.has_value());

  EXPECT_EQ(store_->revoke_credential(first->credential.username).error().message,
            "credential '" + first->credential.username + "' is already revoked");
  EXPECT_EQ(store_->revoke_credential("acme.zzzzzzzz").error().message,
            "no credential 'acme.zzzzzzzz'");
  EXPECT_EQ(store_->issue_credential("nobody", "").error().message, "no tenant 'nobody'");
  EXPECT_FALSE(store_->issue_credential("acme", "line\nbreak").has_value());
  EXPECT_FALSE(store_->find_credential("").has_value());
  EXPECT_FALSE(store_->find_credential("' OR 1=1 --").has_value());
  EXPECT_FALSE(store_->find_credential(std::string(10'000, 'a')).has_value());
}

TEST_F(StoreTest, SuspendedTenantsCredentialsAreStillFound) {
  auto tenant = make_tenant("acme");
  ASSERT_TRUE(store_->add_tenant(tenant));
  const auto issued = store_->issue_credential("acme", "").value();
  tenant.status = TenantStatus::suspended;
  ASSERT_TRUE(store_->update_tenant(tenant));
  const auto secret = store_->find_credential(issued.credential.username);
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->tenant_id, "acme");
}

TEST_F(StoreTest, PasswordsNeverReachTheDiskInClear) {
  ASSERT_TRUE(store_->add_tenant(make_tenant("acme")));
  std::vector<std::string> passwords;
  for (int i = 0; i < 3; ++i) {
    passwords.push_back(store_->issue_credential("acme", "c" + std::to_string(i)).value().password);
  }
  const auto check = [&](std::string_view when) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const auto bytes = read_bytes(state_dir_ / (std::string("state.db") + suffix));
      for (const auto& password : passwords) {
        EXPECT_EQ(bytes.find(password), std::string::npos) << when << " state.db" << suffix;
      }
    }
  };
  check("open");
  EXPECT_NE(read_bytes(state_dir_ / "state.db-wal").find("$argon2id$"), std::string::npos);
  store_.reset();  // checkpoints the WAL into state.db
  check("closed");
  EXPECT_NE(read_bytes(state_dir_ / "state.db").find("$argon2id$"), std::string::npos);
}

TEST_F(StoreTest, FilesArePrivateWhateverTheUmask) {
  store_.reset();
  fs::remove_all(state_dir_);
  const auto old_umask = ::umask(0);
  store_ = Store::open(state_dir_);
  ASSERT_TRUE(store_->add_tenant(make_tenant("acme")));
  ::umask(old_umask);
  EXPECT_EQ(mode_of(state_dir_), 0700u);
  for (const char* name : {"state.db", "state.db-wal", "state.db-shm"}) {
    EXPECT_EQ(mode_of(state_dir_ / name), 0600u) << name;
  }
  // An existing file with a loose mode is narrowed at open.
  store_.reset();
  fs::permissions(state_dir_ / "state.db", fs::perms(0644));
  store_ = Store::open(state_dir_);
  EXPECT_EQ(mode_of(state_dir_ / "state.db"), 0600u);
}

TEST_F(StoreTest, OpenFailsClearlyWhenStateDirIsAFile) {
  std::ofstream(root_ / "file") << "x";
  try {
    Store::open(root_ / "file");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a directory"), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, ReopeningAppliesNoMigrationTwice) {
  const int latest = static_cast<int>(state_migrations().size());
  EXPECT_EQ(store_->schema_version(), latest);
  ASSERT_TRUE(store_->add_tenant(make_tenant("acme")));
  reopen();
  reopen();
  EXPECT_EQ(store_->schema_version(), latest);
  EXPECT_TRUE(store_->get_tenant("acme").has_value());

  auto db = Database::open(state_dir_ / "state.db").value();
  auto count = db.prepare("SELECT COUNT(*) FROM schema_migrations").value();
  ASSERT_TRUE(count.step().value());
  EXPECT_EQ(count.column_int64(0), latest);
}

TEST_F(StoreTest, UpgradesADatabaseAtVersionOne) {
  store_.reset();
  fs::remove_all(state_dir_);
  fs::create_directory(state_dir_);
  {
    auto db = Database::open(state_dir_ / "state.db").value();
    ASSERT_EQ(apply_migrations(db, state_migrations().first(1)).value(), 1);
    ASSERT_TRUE(db.exec(
        "INSERT INTO tenants (id, plan, port25_mode, abuse_contact, status, status_reason, "
        "created_at, updated_at) VALUES ('old', 'standard', 'block', '', 'active', '', 5, 5)"));
  }
  store_ = Store::open(state_dir_);
  EXPECT_EQ(store_->schema_version(), static_cast<int>(state_migrations().size()));
  const auto old = store_->get_tenant("old");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->created_at, 5);

  auto db = Database::open(state_dir_ / "state.db").value();
  auto index = db.prepare(
                     "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                     "name = 'credentials_by_tenant'")
                   .value();
  ASSERT_TRUE(index.step().value());
  EXPECT_EQ(index.column_int64(0), 1);
}

TEST_F(StoreTest, RefusesADatabaseFromANewerVersion) {
  store_.reset();
  {
    auto db = Database::open(state_dir_ / "state.db").value();
    ASSERT_TRUE(db.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)"));
  }
  try {
    Store::open(state_dir_);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99, newer than this program knows"),
              std::string::npos)
        << e.what();
  }
}

class StoreSqliteTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir();
    db_ = Database::open(root_ / "test.db").value();
  }
  void TearDown() override {
    db_ = Database();
    fs::remove_all(root_);
  }
  std::int64_t count(std::string_view table) {
    auto query = db_.prepare("SELECT COUNT(*) FROM " + std::string(table)).value();
    EXPECT_TRUE(query.step().value());
    return query.column_int64(0);
  }

  fs::path root_;
  Database db_;
};

TEST_F(StoreSqliteTest, MigrationsApplyOnlyNewerScripts) {
  const std::array<std::string_view, 3> scripts = {
      "CREATE TABLE a (x INTEGER);",  // not idempotent: re-running it would fail
      "CREATE TABLE b (y TEXT); INSERT INTO a VALUES (1);",
      "INSERT INTO a VALUES (2);",
  };
  EXPECT_EQ(apply_migrations(db_, std::span(scripts).first(1)).value(), 1);
  EXPECT_EQ(apply_migrations(db_, std::span(scripts).first(1)).value(), 1);
  EXPECT_EQ(apply_migrations(db_, scripts).value(), 3);
  EXPECT_EQ(apply_migrations(db_, scripts).value(), 3);
  EXPECT_EQ(count("a"), 2);
  EXPECT_EQ(schema_version(db_).value(), 3);

  const auto older = apply_migrations(db_, std::span(scripts).first(2));
  ASSERT_FALSE(older.has_value());
  EXPECT_NE(older.error().message.find("has schema version 3, newer than this program knows (2)"),
            std::string::npos);
}

TEST_F(StoreSqliteTest, FailedMigrationRollsBackEntirely) {
  const std::array<std::string_view, 2> scripts = {
      "CREATE TABLE a (x INTEGER);",
      "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);",
  };
  const auto applied = apply_migrations(db_, scripts);
  ASSERT_FALSE(applied.has_value());
  EXPECT_NE(applied.error().message.find("migration to schema version 2 failed"),
            std::string::npos);
  EXPECT_NE(applied.error().message.find("no such table: nowhere"), std::string::npos)
      << applied.error().message;
  EXPECT_EQ(schema_version(db_).value(), 1);
  EXPECT_FALSE(db_.prepare("SELECT * FROM half").has_value());
}

TEST_F(StoreSqliteTest, StatementsBindStepAndReadColumns) {
  ASSERT_TRUE(db_.exec("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n INTEGER)"));
  auto insert = db_.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?)").value();
  const std::string blob("a\0b", 3);
  ASSERT_TRUE(insert.bind(1, 42)
                  .bind(2, 1.5)
                  .bind(3, "text")
                  .bind_blob(4, blob)
                  .bind(5, std::nullopt)
                  .run());
  insert.reset();
  ASSERT_TRUE(insert.bind(1, std::int64_t{1} << 40)
                  .bind(2, 0.0)
                  .bind(3, std::string("x'); DROP TABLE t; --"))
                  .bind_blob(4, "")
                  .bind(5, std::optional<int>(7))
                  .run());
  EXPECT_EQ(db_.changes(), 1);
  EXPECT_EQ(db_.last_insert_rowid(), 2);

  auto select = db_.prepare("SELECT i, r, s, b, n FROM t ORDER BY rowid").value();
  EXPECT_EQ(select.column_count(), 5);
  ASSERT_TRUE(select.step().value());
  EXPECT_EQ(select.column_int64(0), 42);
  EXPECT_EQ(select.column_double(1), 1.5);
  EXPECT_EQ(select.column_text(2), "text");
  EXPECT_EQ(select.column_blob(3), blob);
  EXPECT_TRUE(select.column_is_null(4));
  EXPECT_FALSE(select.column_optional_int64(4).has_value());
  ASSERT_TRUE(select.step().value());
  EXPECT_EQ(select.column_int64(0), std::int64_t{1} << 40);
  EXPECT_EQ(select.column_text(2), "x'); DROP TABLE t; --");
  EXPECT_EQ(select.column_optional_int64(4), 7);
  EXPECT_FALSE(select.step().value());
}

TEST_F(StoreSqliteTest, ErrorsCarrySqliteMessages) {
  const auto bad = db_.prepare("SELEC 1");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("syntax error"), std::string::npos) << bad.error().message;

  ASSERT_TRUE(db_.exec("CREATE TABLE u (k TEXT PRIMARY KEY)"));
  auto insert = db_.prepare("INSERT INTO u VALUES (?)").value();
  ASSERT_TRUE(insert.bind(1, "a").run());
  const auto duplicate = insert.run();
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_NE(duplicate.error().message.find("UNIQUE constraint failed: u.k"), std::string::npos)
      << duplicate.error().message;

  insert.reset();
  const auto out_of_range = insert.bind(2, "b").run();
  ASSERT_FALSE(out_of_range.has_value());
  EXPECT_NE(out_of_range.error().message.find("bind parameter 2"), std::string::npos)
      << out_of_range.error().message;
}

TEST_F(StoreSqliteTest, TransactionCommitsOrRollsBack) {
  ASSERT_TRUE(db_.exec("CREATE TABLE t (x INTEGER)"));
  const auto committed = db_.transaction([&]() -> Result<int> {
    if (auto ok = db_.exec("INSERT INTO t VALUES (1)"); !ok) {
      return ok.error();
    }
    return 7;
  });
  EXPECT_EQ(committed.value(), 7);
  const auto failed = db_.transaction([&]() -> Result<void> {
    (void)db_.exec("INSERT INTO t VALUES (2)");
    return make_error("changed my mind");
  });
  EXPECT_EQ(failed.error().message, "changed my mind");
  EXPECT_THROW(db_.transaction([&]() -> Result<void> {
    (void)db_.exec("INSERT INTO t VALUES (3)");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(count("t"), 1);
  EXPECT_TRUE(db_.transaction([]() -> Result<void> { return {}; }));  // usable afterwards
}

TEST_F(StoreSqliteTest, OpensWithWalAndForeignKeys) {
  auto mode = db_.prepare("PRAGMA journal_mode").value();
  ASSERT_TRUE(mode.step().value());
  EXPECT_EQ(mode.column_text(0), "wal");
  auto fk = db_.prepare("PRAGMA foreign_keys").value();
  ASSERT_TRUE(fk.step().value());
  EXPECT_EQ(fk.column_int64(0), 1);
  const auto missing = Database::open(root_ / "no" / "such" / "dir.db");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("no/such/dir.db"), std::string::npos);
}

}  // namespace
}  // namespace portcullis::store

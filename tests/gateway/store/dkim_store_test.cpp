#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "gateway/core/store/dkim_key.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::store {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPem =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
constexpr const char* kPublic = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

DkimKey make_key(std::string tenant, std::string domain, std::string selector) {
  return DkimKey{.tenant_id = std::move(tenant),
                 .domain = std::move(domain),
                 .selector = std::move(selector),
                 .algorithm = "ed25519-sha256",
                 .private_key_pem = kPem,
                 .public_key = kPublic,
                 .created_at = 0};
}

class DkimStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(testing::TempDir()) / "portcullis-dkim-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    store_ = Store::open(root_ / "state");
    for (const char* id : {"acme", "other"}) {
      Tenant t;
      t.id = id;
      t.plan = "standard";
      ASSERT_TRUE(store_->add_tenant(t));
    }
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  fs::path root_;
  std::unique_ptr<Store> store_;
};

TEST_F(DkimStoreTest, AddGetListRoundTrip) {
  auto added = store_->add_dkim_key(make_key("acme", "Acme.Example.", "Sel1"));
  ASSERT_TRUE(added.has_value()) << added.error().message;
  EXPECT_EQ(added->domain, "acme.example");  // normalised
  EXPECT_EQ(added->selector, "sel1");
  EXPECT_GT(added->created_at, 0);

  store_.reset();
  store_ = Store::open(root_ / "state");
  auto got = store_->get_dkim_key("acme", "ACME.example");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->tenant_id, "acme");
  EXPECT_EQ(got->selector, "sel1");
  EXPECT_EQ(got->algorithm, "ed25519-sha256");
  EXPECT_EQ(got->private_key_pem, kPem);
  EXPECT_EQ(got->public_key, kPublic);

  ASSERT_TRUE(store_->add_dkim_key(make_key("other", "other.example", "s")));
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "b.example", "s")));
  auto acme = store_->list_dkim_keys("acme");
  ASSERT_EQ(acme.size(), 2u);
  EXPECT_EQ(acme[0].domain, "acme.example");
  EXPECT_EQ(acme[1].domain, "b.example");
  EXPECT_EQ(store_->list_dkim_keys().size(), 3u);
  EXPECT_TRUE(store_->list_dkim_keys("nobody").empty());
}

TEST_F(DkimStoreTest, NewestKeyOfADomainIsTheOneReturned) {
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "acme.example", "old")));
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "acme.example", "new")));
  EXPECT_EQ(store_->get_dkim_key("acme", "acme.example")->selector, "new");
  auto keys = store_->list_dkim_keys("acme");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys.back().selector, "new");  // oldest first: the signer takes the last
}

TEST_F(DkimStoreTest, Refusals) {
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "acme.example", "s")));
  auto duplicate = store_->add_dkim_key(make_key("acme", "acme.example", "S"));
  ASSERT_FALSE(duplicate);
  EXPECT_NE(duplicate.error().message.find("already has a DKIM key"), std::string::npos);

  auto stolen = store_->add_dkim_key(make_key("other", "acme.example", "x"));
  ASSERT_FALSE(stolen);
  EXPECT_EQ(stolen.error().message, "domain 'acme.example' already has DKIM keys of tenant 'acme'");

  auto no_tenant = store_->add_dkim_key(make_key("ghost", "ghost.example", "s"));
  ASSERT_FALSE(no_tenant);
  EXPECT_EQ(no_tenant.error().message, "no tenant 'ghost'");

  for (const char* domain : {"", "example", "-a.example", "a-.example", "a..example", "a_b.example",
                             "bücher.example", "198.18.0.1", "a.example/x", "a b.example"}) {
    auto bad = store_->add_dkim_key(make_key("acme", domain, "s"));
    ASSERT_FALSE(bad) << domain;
    EXPECT_NE(bad.error().message.find("not a valid domain name"), std::string::npos) << domain;
  }
  const std::string long_label(64, 'a');
  EXPECT_FALSE(store_->add_dkim_key(make_key("acme", long_label + ".example", "s")));
  for (const char* selector : {"", "a b", "-s", "s_1", "s;x", "s=1", "sel\n"}) {
    auto bad = store_->add_dkim_key(make_key("acme", "c.example", selector));
    ASSERT_FALSE(bad) << selector;
    EXPECT_NE(bad.error().message.find("not a valid selector"), std::string::npos) << selector;
  }
  EXPECT_TRUE(store_->add_dkim_key(make_key("acme", "c.example", "2026-11.rot")));

  auto bad_algorithm = make_key("acme", "d.example", "s");
  bad_algorithm.algorithm = "rsa-sha1";
  EXPECT_FALSE(store_->add_dkim_key(bad_algorithm));
  auto bad_pem = make_key("acme", "d.example", "s");
  bad_pem.private_key_pem = "secret";
  EXPECT_FALSE(store_->add_dkim_key(bad_pem));
  auto bad_public = make_key("acme", "d.example", "s");
  bad_public.public_key = "not base64!";
  EXPECT_FALSE(store_->add_dkim_key(bad_public));
}

TEST_F(DkimStoreTest, Remove) {
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "acme.example", "a")));
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "acme.example", "b")));
  EXPECT_FALSE(store_->remove_dkim_key("other", "acme.example", "a"));
  EXPECT_FALSE(store_->remove_dkim_key("acme", "acme.example", "zzz"));
  ASSERT_TRUE(store_->remove_dkim_key("acme", "ACME.example", "B"));
  EXPECT_EQ(store_->get_dkim_key("acme", "acme.example")->selector, "a");
  ASSERT_TRUE(store_->remove_dkim_key("acme", "acme.example", "a"));
  auto gone = store_->get_dkim_key("acme", "acme.example");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message, "tenant 'acme' has no DKIM key for 'acme.example'");
  // Once a tenant's keys are gone its domain may go to another tenant.
  EXPECT_TRUE(store_->add_dkim_key(make_key("other", "acme.example", "a")));
}

TEST_F(DkimStoreTest, RemovingATenantRemovesItsKeys) {
  ASSERT_TRUE(store_->add_dkim_key(make_key("acme", "acme.example", "a")));
  ASSERT_TRUE(store_->add_dkim_key(make_key("other", "other.example", "a")));
  ASSERT_TRUE(store_->remove_tenant("acme"));
  EXPECT_TRUE(store_->list_dkim_keys("acme").empty());
  EXPECT_EQ(store_->list_dkim_keys().size(), 1u);
  auto db = Database::open(root_ / "state" / "state.db").value();
  auto count = db.prepare("SELECT COUNT(*) FROM dkim_keys WHERE tenant_id = 'acme'").value();
  ASSERT_TRUE(count.step().value());
  EXPECT_EQ(count.column_int64(0), 0);
}

TEST(DkimKeyNames, Normalisation) {
  EXPECT_EQ(normalize_domain("Mail.Acme.Example"), "mail.acme.example");
  EXPECT_EQ(normalize_domain("xn--bcher-kva.example"), "xn--bcher-kva.example");
  EXPECT_EQ(normalize_domain("acme.example."), "acme.example");
  EXPECT_FALSE(normalize_domain("acme.example..").has_value());
  EXPECT_FALSE(normalize_domain(std::string(250, 'a') + ".example").has_value());
  EXPECT_EQ(normalize_selector("S2026"), "s2026");
  EXPECT_FALSE(normalize_selector(std::string(64, 'a')).has_value());
}

}  // namespace
}  // namespace portcullis::store

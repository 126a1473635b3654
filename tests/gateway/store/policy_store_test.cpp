#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "gateway/core/store/migrations.hpp"
#include "gateway/core/store/policy.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/store/store_detail.hpp"

namespace portcullis::store {
namespace {

namespace fs = std::filesystem;

class PolicyStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (fs::path(testing::TempDir()) / "portcullis-policy-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    store_ = Store::open(root_ / "state");
    for (const char* id : {"acme", "other"}) {
      add_tenant(id);
    }
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  void add_tenant(const char* id) {
    Tenant t;
    t.id = id;
    t.plan = "standard";
    ASSERT_TRUE(store_->add_tenant(t));
  }
  void reopen() {
    store_.reset();
    store_ = Store::open(root_ / "state");
  }
  Suppression make(std::string address,
                   SuppressionList list = SuppressionList::bounces,
                   std::string reason = "550 5.1.1 no such user",
                   std::string tenant = "acme") {
    return Suppression{.tenant_id = std::move(tenant),
                       .list = list,
                       .address = std::move(address),
                       .reason = std::move(reason),
                       .created_at = 0};
  }
  std::string import_error(std::string_view csv,
                           std::optional<SuppressionList> list = SuppressionList::blocks) {
    auto imported = store_->import_suppressions("acme", csv, list);
    return imported ? "<imported>" : imported.error().message;
  }

  fs::path root_;
  std::unique_ptr<Store> store_;
};

// ---- limit overrides ----

TEST(LimitOverrides, EmptyAndEffectiveLimits) {
  LimitOverrides o;
  EXPECT_TRUE(o.empty());
  o.dedicated_ip = "192.0.2.7";
  EXPECT_FALSE(o.empty());
  o = {};
  o.max_connections = 3;
  EXPECT_FALSE(o.empty());

  config::Plan plan;
  plan.messages_per_minute = 60;
  plan.max_connections = 10;
  plan.dedicated_ip = "192.0.2.1";
  o.messages_per_minute = 5;
  const auto effective = effective_limits(plan, o);
  EXPECT_EQ(effective.messages_per_minute, 5U);
  EXPECT_EQ(effective.max_connections, 3U);
  EXPECT_EQ(effective.messages_per_hour, plan.messages_per_hour);  // not overridden
  EXPECT_EQ(effective.monthly_quota, plan.monthly_quota);
  EXPECT_EQ(effective.dedicated_ip, "192.0.2.1");
  o.dedicated_ip = "2001:db8::9";
  EXPECT_EQ(effective_limits(plan, o).dedicated_ip, "2001:db8::9");
}

TEST(LimitOverrides, Validation) {
  auto error = [](LimitOverrides o) {
    auto valid = validate_limit_overrides(o);
    return valid ? std::string("<valid>") : valid.error().message;
  };
  EXPECT_EQ(error({}), "<valid>");
  EXPECT_EQ(error({.messages_per_minute = 0}),
            "messages_per_minute must be a number from 1 to 1000000, not 0");
  EXPECT_EQ(error({.max_connections = 100'001}),
            "max_connections must be a number from 1 to 100000, not 100001");
  EXPECT_EQ(error({.max_message_size = 10}),
            "max_message_size must be a number from 1024 to 2147483648, not 10");
  EXPECT_EQ(error({.monthly_quota = 1, .dedicated_ip = "192.0.2.300"}),
            "dedicated_ip '192.0.2.300' is not an IP address");
  EXPECT_EQ(error({.dedicated_ip = "mail.example.com"}),
            "dedicated_ip 'mail.example.com' is not an IP address");
  EXPECT_EQ(error({.dedicated_ip = "fe80::1%eth0"}),
            "dedicated_ip 'fe80::1%eth0' is not an IP address");
  EXPECT_EQ(error({.recipients_per_hour = 1, .dedicated_ip = "::1"}), "<valid>");
}

TEST_F(PolicyStoreTest, LookupsSeeEveryAddImportAndRemoveAfterTheFirstLookup) {
  // The first lookup loads the in-memory set of suppressed addresses; later
  // writes must reach it.
  EXPECT_FALSE(store_->find_suppression("acme", "late@example.com"));
  ASSERT_TRUE(store_->add_suppression(make("Late@Example.com", SuppressionList::blocks)));
  EXPECT_EQ(store_->find_suppression("acme", "late@example.com")->list, SuppressionList::blocks);
  EXPECT_FALSE(store_->find_suppression("other", "late@example.com"));
  ASSERT_TRUE(store_->import_suppressions("acme", "address,list\nimported@example.com,invalid\n",
                                          std::nullopt));
  EXPECT_EQ(store_->find_suppression("acme", "IMPORTED@example.com")->list,
            SuppressionList::invalid);
  ASSERT_TRUE(store_->remove_suppression("acme", "late@example.com"));
  EXPECT_FALSE(store_->find_suppression("acme", "late@example.com"));
  ASSERT_TRUE(store_->add_suppression(make("late@example.com", SuppressionList::unsubscribes)));
  EXPECT_EQ(store_->find_suppression("acme", "late@example.com")->list,
            SuppressionList::unsubscribes);
  reopen();
  EXPECT_TRUE(store_->find_suppression("acme", "imported@example.com"));
  EXPECT_FALSE(store_->find_suppression("acme", "never@example.com"));
}

TEST_F(PolicyStoreTest, LimitOverridesRoundTripAndLoadWithTheTenant) {
  EXPECT_TRUE(store_->limit_overrides("acme").empty());
  LimitOverrides o{.monthly_quota = 500,
                   .messages_per_minute = 5,
                   .max_message_size = 1024 * 1024,
                   .dedicated_ip = "2001:db8::25"};
  ASSERT_TRUE(store_->set_limit_overrides("acme", o));
  EXPECT_EQ(store_->limit_overrides("acme"), o);
  EXPECT_EQ(store_->get_tenant("acme")->limits, o);
  reopen();
  EXPECT_EQ(store_->limit_overrides("acme"), o);
  for (const auto& t : store_->list_tenants()) {
    EXPECT_EQ(t.limits, t.id == "acme" ? o : LimitOverrides{}) << t.id;
  }

  // Replaces: a field left out goes back to the plan's value.
  const LimitOverrides fewer{.recipients_per_message = 10};
  ASSERT_TRUE(store_->set_limit_overrides("acme", fewer));
  EXPECT_EQ(store_->get_tenant("acme")->limits, fewer);
  // Empty overrides leave no row behind.
  ASSERT_TRUE(store_->set_limit_overrides("acme", {}));
  EXPECT_TRUE(store_->get_tenant("acme")->limits.empty());
  // Updating the tenant leaves its overrides alone.
  ASSERT_TRUE(store_->set_limit_overrides("acme", fewer));
  auto t = store_->get_tenant("acme").value();
  t.abuse_contact = "abuse@acme.example";
  ASSERT_TRUE(store_->update_tenant(t));
  EXPECT_EQ(store_->get_tenant("acme")->limits, fewer);
}

TEST_F(PolicyStoreTest, LimitOverridesRefusals) {
  EXPECT_EQ(store_->set_limit_overrides("nobody", {.max_connections = 1}).error().message,
            "no tenant 'nobody'");
  EXPECT_EQ(store_->set_limit_overrides("acme", {.messages_per_hour = 0}).error().message,
            "messages_per_hour must be a number from 1 to 100000000, not 0");
  EXPECT_FALSE(store_->set_limit_overrides("acme", {.dedicated_ip = ""}));
  EXPECT_TRUE(store_->limit_overrides("acme").empty());
  EXPECT_TRUE(store_->limit_overrides("nobody").empty());
}

// ---- suppressions ----

TEST(SuppressionNames, ListsAndAddresses) {
  for (auto list :
       {SuppressionList::bounces, SuppressionList::blocks, SuppressionList::spam_reports,
        SuppressionList::invalid, SuppressionList::unsubscribes}) {
    EXPECT_EQ(parse_suppression_list(to_string(list)), list);
  }
  EXPECT_EQ(to_string(SuppressionList::spam_reports), "spam-reports");
  EXPECT_EQ(parse_suppression_list("spam_reports"), SuppressionList::spam_reports);
  EXPECT_EQ(parse_suppression_list("Bounces"), std::nullopt);
  EXPECT_EQ(parse_suppression_list(""), std::nullopt);

  EXPECT_EQ(normalize_address("  Jane.Doe@Example.COM\t"), "jane.doe@example.com");
  EXPECT_EQ(normalize_address("J\xc3\x96rg@Example.de"), "j\xc3\x96rg@example.de");  // UTF-8 kept
  auto error = [](std::string_view a) {
    auto valid = validate_address(a);
    return valid ? std::string("<valid>") : valid.error().message;
  };
  EXPECT_EQ(error("a@b"), "<valid>");
  EXPECT_EQ(error("foo"), "'foo' is not an email address");
  EXPECT_EQ(error("@example.com"), "'@example.com' is not an email address");
  EXPECT_EQ(error("a@"), "'a@' is not an email address");
  EXPECT_EQ(error("a@b@c"), "'a@b@c' is not an email address");
  EXPECT_EQ(error("a b@c"), "'a b@c' is not an email address (it contains blanks)");
  EXPECT_EQ(error("a\x01@c"), "an address contains control characters");
  EXPECT_EQ(error(std::string(64, 'a') + "@" + std::string(189, 'b')), "<valid>");  // 254
  EXPECT_NE(error(std::string(64, 'a') + "@" + std::string(190, 'b')).find("longer than 254"),
            std::string::npos);

  EXPECT_EQ(normalize_reason(" 550-5.1.1 first\r\n550 5.1.1 second "),
            "550-5.1.1 first  550 5.1.1 second");
  const auto long_reason = normalize_reason(std::string(499, 'x') + "\xc3\xa9" + "tail");
  EXPECT_EQ(long_reason, std::string(499, 'x'));  // the two-octet é is not cut in half
}

TEST_F(PolicyStoreTest, AddNormalisesAndFindMatchesExactly) {
  auto added = store_->add_suppression(make("  Jane@Example.COM "));
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->address, "jane@example.com");
  EXPECT_EQ(added->list, SuppressionList::bounces);
  EXPECT_GT(added->created_at, 0);

  auto found = store_->find_suppression("acme", "JANE@example.com");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->address, "jane@example.com");
  EXPECT_EQ(found->reason, "550 5.1.1 no such user");
  EXPECT_EQ(found->tenant_id, "acme");
  EXPECT_FALSE(store_->find_suppression("other", "jane@example.com"));  // per tenant
  EXPECT_FALSE(store_->find_suppression("acme", "jane@example.co"));
  EXPECT_FALSE(store_->find_suppression("acme", "ane@example.com"));
  EXPECT_FALSE(store_->find_suppression("acme", ""));
  EXPECT_FALSE(store_->find_suppression("", "jane@example.com"));
  // The cached statement keeps working across calls and writes.
  ASSERT_TRUE(store_->add_suppression(make("bob@example.com", SuppressionList::blocks)));
  EXPECT_EQ(store_->find_suppression("acme", "bob@example.com")->list, SuppressionList::blocks);
  EXPECT_TRUE(store_->find_suppression("acme", "jane@example.com"));
}

TEST_F(PolicyStoreTest, AddRefusals) {
  EXPECT_EQ(store_->add_suppression(make("foo")).error().message, "'foo' is not an email address");
  EXPECT_EQ(
      store_->add_suppression(make("a@b", SuppressionList::blocks, "", "nobody")).error().message,
      "no tenant 'nobody'");
  EXPECT_TRUE(store_->list_suppressions("acme").empty());
}

TEST_F(PolicyStoreTest, DuplicatesUpdateTheReasonAndKeepCreatedAt) {
  auto first = make("a@example.com", SuppressionList::blocks, "operator");
  first.created_at = 1000;
  ASSERT_TRUE(store_->add_suppression(first));
  auto again = store_->add_suppression(make("A@example.com", SuppressionList::blocks, "ticket 7"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->created_at, 1000);
  EXPECT_EQ(again->reason, "ticket 7");
  // An empty reason keeps the one there.
  again = store_->add_suppression(make("a@example.com", SuppressionList::blocks, ""));
  EXPECT_EQ(again->reason, "ticket 7");
  EXPECT_EQ(store_->list_suppressions("acme").size(), 1U);
  // Another list is another entry.
  ASSERT_TRUE(store_->add_suppression(make("a@example.com", SuppressionList::unsubscribes, "")));
  EXPECT_EQ(store_->list_suppressions("acme").size(), 2U);
}

TEST_F(PolicyStoreTest, ListsAreOrderedAndFilteredAndFindPrefersBounces) {
  ASSERT_TRUE(store_->add_suppression(make("z@example.com", SuppressionList::blocks)));
  ASSERT_TRUE(store_->add_suppression(make("m@example.com", SuppressionList::unsubscribes)));
  ASSERT_TRUE(store_->add_suppression(make("a@example.com", SuppressionList::blocks)));
  ASSERT_TRUE(store_->add_suppression(make("m@example.com", SuppressionList::bounces)));
  ASSERT_TRUE(
      store_->add_suppression(make("x@example.com", SuppressionList::bounces, "", "other")));
  std::vector<std::string> seen;
  for (const auto& s : store_->list_suppressions("acme")) {
    seen.push_back(std::string(to_string(s.list)) + ":" + s.address);
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"blocks:a@example.com", "blocks:z@example.com",
                                      "bounces:m@example.com", "unsubscribes:m@example.com"}));
  EXPECT_EQ(store_->list_suppressions("acme", SuppressionList::blocks).size(), 2U);
  EXPECT_TRUE(store_->list_suppressions("acme", SuppressionList::invalid).empty());
  EXPECT_EQ(store_->find_suppression("acme", "m@example.com")->list, SuppressionList::bounces);
}

TEST_F(PolicyStoreTest, Remove) {
  ASSERT_TRUE(store_->add_suppression(make("a@example.com", SuppressionList::blocks)));
  ASSERT_TRUE(store_->add_suppression(make("a@example.com", SuppressionList::bounces)));
  ASSERT_TRUE(store_->add_suppression(make("b@example.com", SuppressionList::bounces)));
  EXPECT_EQ(
      store_->remove_suppression("acme", "a@example.com", SuppressionList::invalid).error().message,
      "tenant 'acme' has no suppression of 'a@example.com' on its invalid list");
  ASSERT_TRUE(store_->remove_suppression("acme", " A@Example.com", SuppressionList::blocks));
  EXPECT_EQ(store_->find_suppression("acme", "a@example.com")->list, SuppressionList::bounces);
  ASSERT_TRUE(store_->remove_suppression("acme", "a@example.com"));
  EXPECT_FALSE(store_->find_suppression("acme", "a@example.com"));
  EXPECT_EQ(store_->remove_suppression("acme", "a@example.com").error().message,
            "tenant 'acme' has no suppression of 'a@example.com'");
  EXPECT_FALSE(store_->remove_suppression("other", "b@example.com"));
  EXPECT_TRUE(store_->find_suppression("acme", "b@example.com"));
}

TEST_F(PolicyStoreTest, CsvRoundTripWithQuotesAndCommas) {
  auto tricky = make("q@example.com", SuppressionList::spam_reports, "said \"stop\", twice");
  tricky.created_at = 1'700'000'123;
  ASSERT_TRUE(store_->add_suppression(tricky));
  ASSERT_TRUE(store_->add_suppression(make("b@example.com", SuppressionList::bounces,
                                           "550 5.1.1 <b@example.com>: unknown, sorry")));
  ASSERT_TRUE(store_->add_suppression(make("c@example.com", SuppressionList::invalid, "")));
  const auto csv = store_->export_suppressions_csv("acme");
  EXPECT_TRUE(csv.starts_with("address,list,reason,created_at\n")) << csv;
  EXPECT_NE(csv.find("q@example.com,spam-reports,\"said \"\"stop\"\", twice\",1700000123\n"),
            std::string::npos)
      << csv;

  add_tenant("copy");
  auto imported = store_->import_suppressions("copy", csv, std::nullopt);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(*imported, 3U);
  const auto original = store_->list_suppressions("acme");
  const auto copied = store_->list_suppressions("copy");
  ASSERT_EQ(copied.size(), original.size());
  for (std::size_t i = 0; i < copied.size(); ++i) {
    EXPECT_EQ(copied[i].tenant_id, "copy");
    EXPECT_EQ(copied[i].list, original[i].list);
    EXPECT_EQ(copied[i].address, original[i].address);
    EXPECT_EQ(copied[i].reason, original[i].reason);
    EXPECT_EQ(copied[i].created_at, original[i].created_at);
  }
  EXPECT_EQ(store_->export_suppressions_csv("copy"), csv);

  const auto only_bounces = store_->export_suppressions_csv("acme", SuppressionList::bounces);
  EXPECT_EQ(only_bounces.find("q@example.com"), std::string::npos);
  EXPECT_NE(only_bounces.find("b@example.com"), std::string::npos);
}

TEST_F(PolicyStoreTest, ImportTakesColumnsInAnyOrderAndADefaultList) {
  auto imported = store_->import_suppressions("acme",
                                              "Reason,ADDRESS\r\n"
                                              "\"from provider X\",One@Example.com\r\n"
                                              ",two@example.com\r\n"
                                              "\r\n",
                                              SuppressionList::unsubscribes);
  ASSERT_TRUE(imported) << imported.error().message;
  EXPECT_EQ(*imported, 2U);
  auto one = store_->find_suppression("acme", "one@example.com");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->list, SuppressionList::unsubscribes);
  EXPECT_EQ(one->reason, "from provider X");
  EXPECT_GT(one->created_at, 0);
  // A row's own list wins over the default.
  ASSERT_TRUE(store_->import_suppressions("acme", "address,list\nthree@example.com,bounces\n",
                                          SuppressionList::blocks));
  EXPECT_EQ(store_->find_suppression("acme", "three@example.com")->list, SuppressionList::bounces);
  // A header alone imports nothing, successfully.
  EXPECT_EQ(store_->import_suppressions("acme", "address\n", std::nullopt).value(), 0U);
}

TEST_F(PolicyStoreTest, MalformedCsvNamesTheLineAndImportsNothing) {
  ASSERT_TRUE(store_->add_suppression(make("keep@example.com", SuppressionList::blocks, "old")));
  const std::string prefix = "address,list,reason\na@example.com,blocks,x\nb@example.com,,y\n";
  EXPECT_EQ(import_error(prefix + "foo,blocks,z\n"), "line 4: 'foo' is not an email address");
  EXPECT_EQ(import_error(prefix + "c@example.com,spam,z\n"),
            "line 4: 'spam' is not a suppression list (bounces, blocks, spam-reports, invalid, "
            "unsubscribes)");
  EXPECT_EQ(import_error(prefix + "c@example.com,blocks\n"),
            "line 4: 2 fields, but the header has 3");
  EXPECT_EQ(import_error(prefix + "\"c@example.com,blocks,z\n"),
            "line 4: unterminated quoted field");
  EXPECT_EQ(import_error(prefix + "c@example.com,,z\n", std::nullopt),
            "line 3: no list (fill the list column or name a default list)");
  EXPECT_EQ(import_error("address,created_at\na@example.com,yesterday\n"),
            "line 2: created_at 'yesterday' is not a time in unix seconds");
  EXPECT_EQ(import_error("email,list\na@example.com,blocks\n"),
            "line 1: unknown column 'email' (the header names the columns: "
            "address,list,reason,created_at; address is required)");
  EXPECT_EQ(import_error("list,reason\nblocks,x\n"),
            "line 1: the header has no 'address' column (columns: address,list,reason,created_at)");
  EXPECT_EQ(import_error("address,Address\n"), "line 1: column 'address' appears twice");
  EXPECT_NE(import_error("").find("the CSV is empty"), std::string::npos);
  EXPECT_EQ(store_->import_suppressions("nobody", "address\na@b\n", SuppressionList::blocks)
                .error()
                .message,
            "no tenant 'nobody'");

  // Nothing of the failed imports was kept, and what was there is untouched.
  const auto all = store_->list_suppressions("acme");
  ASSERT_EQ(all.size(), 1U);
  EXPECT_EQ(all[0].address, "keep@example.com");
  EXPECT_EQ(all[0].reason, "old");
}

// ---- webhooks ----

TEST_F(PolicyStoreTest, WebhookSetGetListRemove) {
  EXPECT_FALSE(store_->get_webhook("acme"));
  auto set = store_->set_webhook("acme", "https://hooks.acme.example/portcullis?k=1");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->url, "https://hooks.acme.example/portcullis?k=1");
  EXPECT_TRUE(std::regex_match(set->secret, std::regex("[0-9a-f]{64}"))) << set->secret;
  auto got = store_->get_webhook("acme");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->secret, set->secret);  // the daemon signs with it
  EXPECT_EQ(got->tenant_id, "acme");

  auto again = store_->set_webhook("acme", "https://other.example/hook");
  ASSERT_TRUE(again);
  EXPECT_NE(again->secret, set->secret);  // a new secret each time
  ASSERT_TRUE(store_->set_webhook("other", "HTTPS://other.example:8443/"));
  const auto all = store_->list_webhooks();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].tenant_id, "acme");
  EXPECT_EQ(all[0].url, "https://other.example/hook");
  EXPECT_EQ(all[1].tenant_id, "other");

  ASSERT_TRUE(store_->remove_webhook("acme"));
  EXPECT_FALSE(store_->get_webhook("acme"));
  EXPECT_EQ(store_->remove_webhook("acme").error().message, "tenant 'acme' has no webhook");
}

TEST_F(PolicyStoreTest, WebhookRefusals) {
  auto error = [&](std::string_view tenant, std::string_view url) {
    auto set = store_->set_webhook(tenant, url);
    return set ? std::string("<set>") : set.error().message;
  };
  // The dispatcher's parser decides (gateway/core/webhooks/webhook_url.hpp).
  EXPECT_EQ(error("acme", "http://hooks.example/"),
            "invalid webhook URL: it must start with https://");
  EXPECT_EQ(error("acme", "https:///path"), "invalid webhook URL: it has no host");
  EXPECT_EQ(error("acme", "https://user:pw@hooks.example/"),
            "invalid webhook URL: it has a user name or password ('@' before the host)");
  EXPECT_EQ(error("acme", "https://x/" + std::string(2048, 'a')),
            "invalid webhook URL: it is longer than 2048 octets");
  EXPECT_EQ(error("nobody", "https://hooks.example/"), "no tenant 'nobody'");
  EXPECT_TRUE(store_->list_webhooks().empty());
}

// ---- tenant removal and schema ----

TEST_F(PolicyStoreTest, RemovingATenantRemovesItsPolicy) {
  ASSERT_TRUE(store_->set_limit_overrides("acme", {.max_connections = 2}));
  ASSERT_TRUE(store_->add_suppression(make("a@example.com")));
  ASSERT_TRUE(store_->set_webhook("acme", "https://hooks.example/"));
  ASSERT_TRUE(
      store_->add_suppression(make("a@example.com", SuppressionList::bounces, "", "other")));
  ASSERT_TRUE(store_->remove_tenant("acme"));
  EXPECT_TRUE(store_->limit_overrides("acme").empty());
  EXPECT_TRUE(store_->list_suppressions("acme").empty());
  EXPECT_FALSE(store_->find_suppression("acme", "a@example.com"));
  EXPECT_FALSE(store_->get_webhook("acme"));
  // A new tenant of the same name starts clean; the other tenant kept its own.
  add_tenant("acme");
  EXPECT_TRUE(store_->get_tenant("acme")->limits.empty());
  EXPECT_TRUE(store_->list_suppressions("acme").empty());
  EXPECT_FALSE(store_->get_webhook("acme"));
  EXPECT_TRUE(store_->find_suppression("other", "a@example.com"));
}

TEST(PolicyStoreMigration, UpgradesADatabaseAtVersionFour) {
  std::string pattern = (fs::path(testing::TempDir()) / "portcullis-policy-mig-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path root = pattern;
  fs::create_directory(root / "state");
  {
    auto db = Database::open(root / "state" / "state.db").value();
    ASSERT_EQ(apply_migrations(db, state_migrations().first(4)).value(), 4);
    ASSERT_TRUE(db.exec(
        "INSERT INTO tenants (id, plan, port25_mode, abuse_contact, status, status_reason, "
        "created_at, updated_at) VALUES ('old', 'standard', 'block', '', 'active', '', 5, 5)"));
  }
  {
    auto store = Store::open(root / "state");
    EXPECT_EQ(store->schema_version(), static_cast<int>(state_migrations().size()));
    auto old = store->get_tenant("old");
    ASSERT_TRUE(old);
    EXPECT_TRUE(old->limits.empty());
    EXPECT_TRUE(store->set_limit_overrides("old", {.messages_per_minute = 1}));
    EXPECT_TRUE(store->add_suppression(Suppression{.tenant_id = "old",
                                                   .list = SuppressionList::blocks,
                                                   .address = "x@example.com",
                                                   .reason = "",
                                                   .created_at = 0}));
    EXPECT_TRUE(store->set_webhook("old", "https://hooks.example/"));
  }
  {
    // The RCPT lookup, as the store runs it, goes through the address index,
    // not through every suppression of the tenant.
    auto db = Database::open(root / "state" / "state.db").value();
    auto plan =
        db.prepare("EXPLAIN QUERY PLAN " + std::string(detail::kFindSuppressionSql)).value();
    std::string detail;
    while (plan.step().value()) {
      detail += plan.column_text(3) + "\n";
    }
    EXPECT_NE(detail.find("suppressions_by_address"), std::string::npos) << detail;
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace portcullis::store

#include "relay/queue/queue_admin.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>

#include "gateway/core/asio.hpp"
#include "gtest/gtest.h"

namespace portcullis::relay::queue {
namespace {

namespace fs = std::filesystem;
using boost::system::error_code;

constexpr std::int64_t kNow = 1'700'100'000;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("portcullis-admin-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// What the delivery engine would hear, from whichever thread told it.
struct HeardHooks {
  std::mutex mutex;
  std::vector<DueMessage> queued;
  std::vector<std::string> retried;
  std::vector<std::string> removed;

  std::vector<std::string> queued_ids() {
    std::lock_guard lock(mutex);
    std::vector<std::string> ids;
    for (const auto& m : queued) {
      ids.push_back(m.id);
    }
    return ids;
  }
};

class QueueAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = Spool::open(dir_.path());
    SpoolHooks hooks;
    hooks.queued = [this](std::vector<DueMessage> m) {
      std::lock_guard lock(heard_.mutex);
      for (auto& one : m) {
        heard_.queued.push_back(std::move(one));
      }
    };
    hooks.retry_now = [this](std::string id) {
      std::lock_guard lock(heard_.mutex);
      heard_.retried.push_back(std::move(id));
    };
    hooks.removed = [this](std::string id) {
      std::lock_guard lock(heard_.mutex);
      heard_.removed.push_back(std::move(id));
    };
    spool_->set_hooks(hooks);
    AdminSettings settings;
    settings.reporting_host = "relay.test";
    // As the daemon wires it: the engine's retry hook.
    settings.retry_hook = hooks.retry_now;
    auto admin = QueueAdmin::open(*spool_, settings);
    ASSERT_TRUE(admin) << admin.error().message;
    admin_ = std::move(*admin);
  }

  // A message of `tenant` from `from`, received `age` seconds before kNow.
  std::string commit(const std::string& tenant,
                     const std::string& from,
                     std::vector<std::string> recipients,
                     std::int64_t age) {
    Message m;
    m.id = new_message_id();
    m.envelope.tenant_id = tenant;
    m.envelope.listener = "submission";
    m.envelope.client_address = "198.18.1.10";
    m.envelope.helo = "client.example";
    m.envelope.mail_from = from;
    m.envelope.recipients = std::move(recipients);
    m.envelope.body_type = "7BIT";
    m.envelope.received_at = kNow - age;
    m.data = "From: " + from + "\r\nSubject: test " + m.id + "\r\n\r\nbody\r\n";
    error_code result = asio::error::would_block;
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto [ec] = co_await spool_->async_commit(m, asio_nothrow);
          result = ec;
        },
        asio::detached);
    io.run();
    EXPECT_FALSE(result) << result.message();
    std::lock_guard lock(heard_.mutex);
    heard_.queued.clear();  // the commit's own announcement
    return m.id;
  }

  void defer(const std::string& id, std::size_t idx, std::int64_t next_attempt_at) {
    auto m = spool_->get(id);
    ASSERT_TRUE(m);
    auto r = spool_->record_outcomes(id, m->envelope,
                                     {{.idx = idx,
                                       .status = RecipientStatus::deferred,
                                       .next_attempt_at = next_attempt_at,
                                       .reply = "451 4.3.0 later",
                                       .remote = "",
                                       .delay_notified = false}},
                                     kNow - 10);
    ASSERT_TRUE(r) << r.error().message;
  }

  std::vector<std::string> pending_ids() {
    std::vector<std::string> ids;
    for (const auto& m : spool_->load_pending()) {
      ids.push_back(m.id);
    }
    return ids;
  }

  RecipientState recipient(const std::string& id, std::size_t idx) {
    auto all = spool_->recipients(id);
    EXPECT_GT(all.size(), idx);
    return all.size() > idx ? all[idx] : RecipientState{};
  }

  TempDir dir_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<QueueAdmin> admin_;
  HeardHooks heard_;
};

TEST_F(QueueAdminTest, SummaryCountsByDestinationTenantStateAndAge) {
  const auto a1 = commit("acme", "a@acme.example", {"x@Big.Example", "y@big.example"}, 60);
  commit("acme", "a@acme.example", {"z@small.example"}, 700);
  const auto b1 = commit("beta", "b@beta.example", {"w@big.example", "v@small.example"}, 20000);
  defer(a1, 1, kNow + 600);
  ASSERT_TRUE(admin_->hold({.id = b1}, kNow));

  auto shape = admin_->summary(10, kNow);
  ASSERT_TRUE(shape) << shape.error().message;
  EXPECT_EQ(shape->total.messages, 3u);
  EXPECT_EQ(shape->total.recipients, 5u);
  EXPECT_EQ(shape->total.queued, 2u);
  EXPECT_EQ(shape->total.deferred, 1u);
  EXPECT_EQ(shape->total.held, 2u);
  EXPECT_EQ(shape->held_messages, 1u);
  // 60 s: 0-5m; 700 s: 10-20m; 20000 s: 160m+.
  EXPECT_EQ(shape->total.ages, (std::array<std::uint64_t, kAgeBuckets>{2, 0, 1, 0, 0, 0, 2}));

  ASSERT_EQ(shape->destination_count, 2u);
  ASSERT_EQ(shape->destinations.size(), 2u);
  const auto& big = shape->destinations[0];  // the largest first; the domain in lower case
  EXPECT_EQ(big.name, "big.example");
  EXPECT_EQ(big.recipients, 3u);
  EXPECT_EQ(big.messages, 2u);
  EXPECT_EQ(big.queued, 1u);
  EXPECT_EQ(big.deferred, 1u);
  EXPECT_EQ(big.held, 1u);
  EXPECT_EQ(shape->destinations[1].name, "small.example");
  EXPECT_EQ(shape->destinations[1].messages, 2u);

  ASSERT_EQ(shape->tenants.size(), 2u);
  EXPECT_EQ(shape->tenants[0].name, "acme");
  EXPECT_EQ(shape->tenants[0].messages, 2u);
  EXPECT_EQ(shape->tenants[0].recipients, 3u);
  EXPECT_EQ(shape->tenants[1].name, "beta");
  EXPECT_EQ(shape->tenants[1].held, 2u);

  auto top1 = admin_->summary(1, kNow);
  ASSERT_TRUE(top1);
  ASSERT_EQ(top1->destinations.size(), 1u);
  EXPECT_EQ(top1->destination_count, 2u);
  EXPECT_EQ(top1->destinations[0].name, "big.example");
}

TEST_F(QueueAdminTest, HoldKeepsMessagesFromTheEngineAndReleaseGivesThemBack) {
  const auto a1 = commit("acme", "a@acme.example", {"x@big.example", "y@small.example"}, 60);
  const auto a2 = commit("acme", "a@acme.example", {"z@small.example"}, 60);
  const auto b1 = commit("beta", "b@beta.example", {"w@big.example"}, 60);
  defer(a1, 0, kNow + 900);

  auto held = admin_->hold({.tenant = "acme"}, kNow);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held->messages, 2u);
  EXPECT_EQ(held->recipients, 3u);
  EXPECT_EQ(heard_.removed, (std::vector<std::string>{a1, a2}));
  EXPECT_EQ(pending_ids(), std::vector<std::string>{b1});  // a restart would not deliver them
  // Held already: nothing more to hold.
  auto again = admin_->hold({.tenant = "acme"}, kNow);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->messages, 0u);
  // retry-now leaves held mail alone.
  auto retried = admin_->retry_now({}, kNow);
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->messages, 1u);
  EXPECT_EQ(recipient(a1, 0).next_attempt_at, kNow + 900);

  auto released = admin_->release({.destination = "BIG.example"}, kNow);
  ASSERT_TRUE(released) << released.error().message;
  EXPECT_EQ(released->messages, 1u);  // a1 only: a2 has nobody at big.example, b1 is not held
  EXPECT_EQ(released->recipients, 2u);
  {
    std::lock_guard lock(heard_.mutex);
    ASSERT_EQ(heard_.queued.size(), 1u);
    const auto& due = heard_.queued[0];
    EXPECT_EQ(due.id, a1);
    EXPECT_EQ(due.envelope.recipients.size(), 2u);
    ASSERT_EQ(due.recipients.size(), 2u);  // every pending recipient, each with its due time
    EXPECT_EQ(due.recipients[0].status, RecipientStatus::deferred);
    EXPECT_EQ(due.recipients[0].next_attempt_at, kNow + 900);
    EXPECT_EQ(due.recipients[1].status, RecipientStatus::queued);
    EXPECT_EQ(due.recipients[1].next_attempt_at, recipient(a1, 1).next_attempt_at.value_or(0));
    EXPECT_LE(due.recipients[1].next_attempt_at, kNow);  // due already
  }
  auto pending = pending_ids();
  std::sort(pending.begin(), pending.end());
  EXPECT_EQ(pending, (std::vector<std::string>{a1, b1}));
}

TEST_F(QueueAdminTest, RetryNowMakesPendingRecipientsDueAndTellsTheEngine) {
  const auto a1 = commit("acme", "a@acme.example", {"x@big.example", "y@big.example"}, 60);
  const auto a2 = commit("acme", "a@acme.example", {"z@small.example"}, 60);
  defer(a1, 0, kNow + 900);
  defer(a2, 0, kNow + 900);

  auto r = admin_->retry_now({.destination = "big.example"}, kNow);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->messages, 1u);
  EXPECT_EQ(r->recipients, 2u);
  EXPECT_EQ(heard_.retried, std::vector<std::string>{a1});
  EXPECT_EQ(recipient(a1, 0).next_attempt_at, 0);
  EXPECT_EQ(recipient(a2, 0).next_attempt_at, kNow + 900);

  auto all = admin_->retry_now({}, kNow);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->messages, 2u);
  EXPECT_EQ(recipient(a2, 0).next_attempt_at, 0);
}

TEST_F(QueueAdminTest, DeleteByFilterRecordsDeletedEventsInOneGo) {
  const auto a1 = commit("acme", "a@acme.example", {"x@big.example", "y@big.example"}, 60);
  const auto a2 = commit("acme", "Other@Acme.Example", {"z@small.example"}, 60);
  const auto b1 = commit("beta", "", {"w@big.example"}, 60);  // null sender

  auto by_sender = admin_->remove({.sender = "other@acme.example"}, kNow);
  ASSERT_TRUE(by_sender) << by_sender.error().message;
  EXPECT_EQ(by_sender->messages, 1u);
  EXPECT_FALSE(spool_->get(a2));

  auto null_sender = admin_->remove({.sender = ""}, kNow);
  ASSERT_TRUE(null_sender);
  EXPECT_EQ(null_sender->messages, 1u);
  EXPECT_FALSE(spool_->get(b1));

  auto by_tenant = admin_->remove({.tenant = "acme"}, kNow);
  ASSERT_TRUE(by_tenant);
  EXPECT_EQ(by_tenant->messages, 1u);
  EXPECT_EQ(by_tenant->recipients, 2u);
  EXPECT_EQ(spool_->size(), 0u);
  EXPECT_TRUE(spool_->recipients(a1).empty());
  EXPECT_EQ(heard_.removed, (std::vector<std::string>{a2, b1, a1}));

  events::EventFilter filter;
  filter.message_id = a1;
  std::vector<std::string> deleted;
  for (const auto& e : spool_->events(filter)) {
    if (e.type == events::DeliveryEventType::deleted) {
      EXPECT_EQ(e.tenant_id, "acme");
      EXPECT_EQ(e.detail, "deleted by the operator");
      EXPECT_EQ(e.time, kNow);
      deleted.push_back(e.recipient);
    }
  }
  EXPECT_EQ(deleted, (std::vector<std::string>{"x@big.example", "y@big.example"}));
}

TEST_F(QueueAdminTest, FiltersCombineAndNothingMatchesNothing) {
  commit("acme", "a@acme.example", {"x@big.example"}, 60);
  const auto old = commit("acme", "a@acme.example", {"x@big.example"}, 7200);
  commit("beta", "b@beta.example", {"x@big.example"}, 7200);

  auto none = admin_->remove({.tenant = "nobody"}, kNow);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->messages, 0u);
  auto r = admin_->hold({.tenant = "acme", .destination = "big.example", .older_than = 3600}, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->messages, 1u);
  EXPECT_EQ(heard_.removed, std::vector<std::string>{old});
  // Hostile text is a value, never SQL.
  auto odd = admin_->remove({.tenant = "x' OR 1=1 --"}, kNow);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->messages, 0u);
  EXPECT_EQ(spool_->size(), 3u);
}

TEST_F(QueueAdminTest, BounceOlderThanSendsOneDsnPerSender) {
  const auto fresh = commit("acme", "a@acme.example", {"x@big.example"}, 60);
  const auto old = commit("acme", "a@acme.example", {"x@big.example", "y@big.example"}, 7200);
  const auto null = commit("acme", "", {"z@big.example"}, 7200);

  auto r = admin_->bounce({.older_than = 3600}, kNow);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->messages, 2u);
  EXPECT_EQ(r->recipients, 3u);
  EXPECT_FALSE(spool_->get(old));  // every recipient final: gone
  EXPECT_FALSE(spool_->get(null));
  EXPECT_TRUE(spool_->get(fresh));

  events::EventFilter filter;
  filter.message_id = old;
  int bounced = 0;
  for (const auto& e : spool_->events(filter)) {
    if (e.type == events::DeliveryEventType::bounced) {
      EXPECT_EQ(e.detail, "5.0.0 bounced by the operator");
      ++bounced;
    }
  }
  EXPECT_EQ(bounced, 2);

  // One DSN, to the sender of `old` (none for the null sender), from <>, as our own bounce.
  std::vector<MessageSummary> dsns;
  for (auto& m : spool_->list()) {
    if (m.id != fresh) {
      dsns.push_back(std::move(m));
    }
  }
  ASSERT_EQ(dsns.size(), 1u);
  auto dsn = spool_->get(dsns[0].id);
  ASSERT_TRUE(dsn);
  EXPECT_EQ(dsn->envelope.listener, "bounce");
  EXPECT_EQ(dsn->envelope.mail_from, "");
  EXPECT_EQ(dsn->envelope.recipients, std::vector<std::string>{"a@acme.example"});
  EXPECT_NE(dsn->data.find("5.0.0"), std::string::npos);
  EXPECT_NE(dsn->data.find("y@big.example"), std::string::npos);
  EXPECT_NE(dsn->data.find("relay.test"), std::string::npos);
  EXPECT_NE(dsn->data.find("Subject: test " + old), std::string::npos);  // the original headers
  // The engine heard: stop both, then the DSN (from the committer).
  EXPECT_EQ(heard_.removed, (std::vector<std::string>{old, null}));
  EXPECT_EQ(heard_.queued_ids(), std::vector<std::string>{dsns[0].id});
}

TEST_F(QueueAdminTest, BounceByDestinationKeepsTheOtherRecipients) {
  const auto m = commit("acme", "a@acme.example", {"x@big.example", "y@small.example"}, 60);
  auto r = admin_->bounce({.destination = "small.example"}, kNow);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->messages, 1u);
  EXPECT_EQ(r->recipients, 1u);
  EXPECT_EQ(recipient(m, 0).status, RecipientStatus::queued);
  EXPECT_EQ(recipient(m, 1).status, RecipientStatus::bounced);
  // Announced again with what is left, after the engine was told to drop it.
  EXPECT_EQ(heard_.removed, std::vector<std::string>{m});
  std::lock_guard lock(heard_.mutex);
  const auto again = std::find_if(heard_.queued.begin(), heard_.queued.end(),
                                  [&](const DueMessage& d) { return d.id == m; });
  ASSERT_NE(again, heard_.queued.end());
  ASSERT_EQ(again->recipients.size(), 1u);
  EXPECT_EQ(again->recipients[0].address, "x@big.example");
}

TEST_F(QueueAdminTest, LargeSetsGoInChunks) {
  // Small chunks, so 300 messages take several transactions and committer batches.
  AdminSettings small;
  small.reporting_host = "relay.test";
  small.retry_hook = [this](std::string id) {
    std::lock_guard lock(heard_.mutex);
    heard_.retried.push_back(std::move(id));
  };
  small.chunk = 64;
  small.bounce_chunk = 7;
  auto chunked = QueueAdmin::open(*spool_, small);
  ASSERT_TRUE(chunked) << chunked.error().message;
  auto& admin = **chunked;
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(commit(i % 2 == 0 ? "acme" : "beta", "a@acme.example", {"x@big.example"}, 60));
  }
  auto held = admin.hold({}, kNow);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held->messages, 300u);
  EXPECT_EQ(heard_.removed, ids);  // each one, in order
  EXPECT_TRUE(spool_->load_pending().empty());

  auto deleted = admin.remove({.tenant = "beta"}, kNow);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->messages, 150u);
  EXPECT_EQ(spool_->size(), 150u);

  auto released = admin.release({}, kNow);
  ASSERT_TRUE(released);
  EXPECT_EQ(released->messages, 150u);
  EXPECT_EQ(heard_.queued_ids().size(), 150u);
  EXPECT_EQ(spool_->load_pending().size(), 150u);

  auto retried = admin.retry_now({}, kNow);
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->messages, 150u);
  EXPECT_EQ(heard_.retried.size(), 150u);

  auto bounced = admin.bounce({.tenant = "acme"}, kNow);
  ASSERT_TRUE(bounced) << bounced.error().message;
  EXPECT_EQ(bounced->messages, 150u);
  EXPECT_EQ(bounced->recipients, 150u);
  // Only the DSNs are left, one per bounced message.
  for (const auto& m : spool_->list()) {
    EXPECT_EQ(spool_->get(m.id)->envelope.listener, "bounce");
  }
  EXPECT_EQ(spool_->size(), 150u);
}

}  // namespace
}  // namespace portcullis::relay::queue

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gateway/core/store/store.hpp"

namespace portcullis::store {
namespace {

namespace fs = std::filesystem;

class FeedbackStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (fs::path(testing::TempDir()) / "portcullis-feedback-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    store_ = Store::open(root_ / "state");
    Tenant t;
    t.id = "acme";
    t.plan = "standard";
    ASSERT_TRUE(store_->add_tenant(t));
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  fs::path root_;
  std::unique_ptr<Store> store_;
};

TEST_F(FeedbackStoreTest, WebhookCursorStartsUnsetAndSurvivesReopen) {
  EXPECT_FALSE(store_->webhook_cursor("acme").value());
  ASSERT_TRUE(store_->set_webhook_cursor("acme", 5));  // no webhook: nothing to move
  EXPECT_FALSE(store_->webhook_cursor("acme").value());
  ASSERT_TRUE(store_->set_webhook("acme", "https://hooks.example.net/portcullis"));
  EXPECT_FALSE(store_->webhook_cursor("acme").value());
  ASSERT_TRUE(store_->set_webhook_cursor("acme", 42));
  store_.reset();
  store_ = Store::open(root_ / "state");
  EXPECT_EQ(store_->webhook_cursor("acme").value(), 42);
  // A new registration starts again (the dispatcher picks where).
  ASSERT_TRUE(store_->set_webhook("acme", "https://hooks.example.net/v2"));
  EXPECT_FALSE(store_->webhook_cursor("acme").value());
}

TEST_F(FeedbackStoreTest, SoftBouncesCountPerNormalisedAddressUntilCleared) {
  EXPECT_EQ(store_->add_soft_bounce("acme", "Slow@Example.NET").value(), 1u);
  EXPECT_EQ(store_->add_soft_bounce("acme", "slow@example.net").value(), 2u);
  EXPECT_EQ(store_->add_soft_bounce("acme", "other@example.net").value(), 1u);
  ASSERT_TRUE(store_->clear_soft_bounce("acme", "SLOW@example.net"));
  EXPECT_EQ(store_->add_soft_bounce("acme", "slow@example.net").value(), 1u);
  // Removing the tenant removes its counts.
  ASSERT_TRUE(store_->remove_tenant("acme"));
  EXPECT_FALSE(store_->add_soft_bounce("acme", "slow@example.net"));  // no such tenant
}

}  // namespace
}  // namespace portcullis::store

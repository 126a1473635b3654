#include "gateway/core/webhooks/webhook_url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace portcullis::webhooks {
namespace {

struct GoodCase {
  const char* url;
  const char* host;
  std::uint16_t port;
  const char* target;
  bool is_address;
};

TEST(WebhookUrl, ParsesWhatReceiversUse) {
  const GoodCase cases[] = {
      {"https://hooks.example.com", "hooks.example.com", 443, "/", false},
      {"https://hooks.example.com/", "hooks.example.com", 443, "/", false},
      {"HTTPS://Hooks.Example.COM/In/Acme", "hooks.example.com", 443, "/In/Acme", false},
      {"https://hooks.example.com:8443/v1/events?token=abc%2Fdef&x=1", "hooks.example.com", 8443,
       "/v1/events?token=abc%2Fdef&x=1", false},
      {"https://hooks.example.com?token=1", "hooks.example.com", 443, "/?token=1", false},
      {"https://127.0.0.1:9000/hook", "127.0.0.1", 9000, "/hook", true},
      {"https://[::1]:9000/hook", "::1", 9000, "/hook", true},
      {"https://[2001:DB8::1]/", "2001:db8::1", 443, "/", true},
      {"https://a-b.c0.example/p/a:b@c;d=e,f(g)*+!$'~", "a-b.c0.example", 443,
       "/p/a:b@c;d=e,f(g)*+!$'~", false},
      {"https://localhost:1/", "localhost", 1, "/", false},
      {"https://x.example:65535/", "x.example", 65535, "/", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    auto url = parse_webhook_url(c.url);
    ASSERT_TRUE(url) << url.error().message;
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->target, c.target);
    EXPECT_EQ(url->host_is_address, c.is_address);
  }
}

struct BadCase {
  std::string url;
  const char* reason;  // a part of the message
};

TEST(WebhookUrl, RefusesAnythingAmbiguous) {
  const BadCase cases[] = {
      {"", "empty"},
      {"http://hooks.example.com/", "https://"},
      {"ftp://hooks.example.com/", "https://"},
      {"hooks.example.com/", "https://"},
      {"https:/hooks.example.com/", "https://"},
      {"https://", "no host"},
      {"https:///path", "no host"},
      {"https://:443/", "no host"},
      {"https://user@hooks.example.com/", "user name"},
      {"https://user:pass@hooks.example.com/", "user name"},
      {"https://hooks.example.com@evil.example/", "user name"},
      {"https://hooks.example.com/a b", "blanks"},
      {"https://hooks.example.com/a\tb", "blanks"},
      {"https://hooks.example.com/a\r\nX-Injected: 1", "blanks"},
      {std::string("https://hooks.example.com/\0", 27), "blanks"},
      {"https://hooks.example.com/caf\xc3\xa9", "non-ASCII"},
      {"https://hooks.example.com/#frag", "fragment"},
      {"https://hooks.example.com/a\\b", "'\\'"},
      {"https://hooks.example.com/a\"b", "'\"'"},
      {"https://hooks.example.com/a<b>", "'<'"},
      {"https://hooks.example.com/a{b}", "'{'"},
      {"https://hooks.example.com/a|b", "'|'"},
      {"https://hooks.example.com/%zz", "two hex digits"},
      {"https://hooks.example.com/%4", "two hex digits"},
      {"https://hooks.example.com:0/", "port"},
      {"https://hooks.example.com:65536/", "port"},
      {"https://hooks.example.com:/", "port"},
      {"https://hooks.example.com:44a/", "port"},
      {"https://hooks.example.com:443:443/", "port"},
      {"https://hooks.example.com:-1/", "port"},
      {"https://hooks_example.com/", "neither"},
      {"https://-hooks.example.com/", "neither"},
      {"https://hooks..example.com/", "neither"},
      {"https://hooks.example.com./", "neither"},
      {"https://127.1/", "neither"},
      {"https://1.2.3.256/", "neither"},
      {"https://0x7f000001/", "neither"},
      {"https://[::1/", "']'"},
      {"https://[::1]x/", "after the IPv6"},
      {"https://[fe80::1%25eth0]/", "zone"},
      {"https://[not-v6]/", "IPv6"},
      {"https://::1/", "no host"},
      {"https://" + std::string(64, 'a') + ".example/", "neither"},
      {"https://hooks.example.com/" + std::string(2048, 'a'), "longer than"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    auto url = parse_webhook_url(c.url);
    ASSERT_FALSE(url) << "accepted, host " << url->host << " target " << url->target;
    EXPECT_NE(url.error().message.find(c.reason), std::string::npos) << url.error().message;
    // The URL is never echoed: its query may hold the receiver's token.
    if (c.url.size() > 12) {
      EXPECT_EQ(url.error().message.find(c.url), std::string::npos);
    }
  }
}

TEST(WebhookUrl, HostHeaderAndAuthority) {
  auto plain = parse_webhook_url("https://hooks.example.com/x");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host_header(), "hooks.example.com");
  EXPECT_EQ(plain->authority(), "hooks.example.com:443");
  auto v6 = parse_webhook_url("https://[::1]:8443/x");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host_header(), "[::1]:8443");
  EXPECT_EQ(v6->authority(), "[::1]:8443");
}

}  // namespace
}  // namespace portcullis::webhooks

#include "gateway/core/control/router.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace portcullis::control {
namespace {

namespace json = boost::json;

Router make_router() {
  Router router;
  router.add("GET", "/v1/tenants", [](const Request&) {
    return Response{200, json::object{{"route", "list"}}};
  });
  router.add("POST", "/v1/tenants", [](const Request& r) {
    return Response{201, json::object{{"route", "add"}, {"body", r.body}}};
  });
  router.add("GET", "/v1/tenants/{id}", [](const Request& r) {
    return Response{200, json::object{{"route", "get"}, {"id", r.params.at("id")}}};
  });
  router.add("DELETE", "/v1/tenants/{id}", [](const Request& r) {
    return Response{200, json::object{{"route", "delete"}, {"id", r.params.at("id")}}};
  });
  router.add("POST", "/v1/tenants/{id}/credentials", [](const Request& r) {
    return Response{201, json::object{{"route", "cred"}, {"id", r.params.at("id")}}};
  });
  router.add("GET", "/v1/queue", [](const Request& r) {
    json::object query;
    for (const auto& [k, v] : r.query) {
      query[k] = v;
    }
    return Response{200, json::object{{"route", "queue"}, {"query", query}}};
  });
  router.add("GET", "/v1/boom",
             [](const Request&) -> Response { throw std::runtime_error("bug"); });
  return router;
}

std::string route_of(const Response& r) {
  return std::string(r.body.at("route").as_string());
}

TEST(Router, MatchesStaticAndParameterisedRoutes) {
  auto router = make_router();
  auto r = router.route("GET", "/v1/tenants", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(route_of(r), "list");

  r = router.route("GET", "/v1/tenants/acme", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(route_of(r), "get");
  EXPECT_EQ(r.body.at("id").as_string(), "acme");

  r = router.route("POST", "/v1/tenants/acme/credentials", "");
  EXPECT_EQ(route_of(r), "cred");
  EXPECT_EQ(r.body.at("id").as_string(), "acme");

  // A trailing slash names the same resource.
  r = router.route("GET", "/v1/tenants/", "");
  EXPECT_EQ(route_of(r), "list");
}

TEST(Router, DecodesParamsAndQuery) {
  auto router = make_router();
  auto r = router.route("GET", "/v1/tenants/a%2Fb%20c", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("id").as_string(), "a/b c");

  r = router.route("GET", "/v1/queue?limit=5&x=a+b%21&flag", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("query").at("limit").as_string(), "5");
  EXPECT_EQ(r.body.at("query").at("x").as_string(), "a b!");
  EXPECT_EQ(r.body.at("query").at("flag").as_string(), "");
}

TEST(Router, ParsesJsonBody) {
  auto router = make_router();
  auto r = router.route("POST", "/v1/tenants", R"({"id":"acme","subnets":["198.18.1.0/24"]})");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body.at("body").at("id").as_string(), "acme");

  r = router.route("POST", "/v1/tenants", "");
  EXPECT_EQ(r.status, 201);
  EXPECT_TRUE(r.body.at("body").is_null());
}

TEST(Router, UnknownPathIs404) {
  auto router = make_router();
  for (auto target : {"/", "/v1", "/v2/tenants", "/v1/tenants/acme/extra/x", "/v1/tenantsx"}) {
    auto r = router.route("GET", target, "");
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_TRUE(r.body.at("error").is_string()) << target;
  }
}

TEST(Router, WrongMethodIs405) {
  auto router = make_router();
  auto r = router.route("PUT", "/v1/tenants/acme", "");
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(r.body.at("error").is_string());
  EXPECT_EQ(router.route("DELETE", "/v1/tenants", "").status, 405);
  EXPECT_EQ(router.route("BREW", "/v1/queue", "").status, 405);
}

TEST(Router, BadInputIs400NotAHandlerCall) {
  auto router = make_router();
  auto r = router.route("POST", "/v1/tenants", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(std::string(r.body.at("error").as_string()).find("JSON"), std::string::npos);
  EXPECT_EQ(router.route("GET", "/v1/tenants/%zz", "").status, 400);
  EXPECT_EQ(router.route("GET", "/v1/tenants/%4", "").status, 400);
  EXPECT_EQ(router.route("GET", "/v1/queue?limit=%", "").status, 400);
  EXPECT_EQ(router.route("GET", "v1/tenants", "").status, 400);
  EXPECT_EQ(router.route("GET", "", "").status, 400);
}

TEST(Router, HandlerExceptionIs500) {
  auto router = make_router();
  auto r = router.route("GET", "/v1/boom", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.at("error").as_string(), "internal error");
}

TEST(Router, PercentEncodeRoundTrips) {
  const std::string text = "a b/c?d&e=f%g~h.i_j-k\xc3\xa9";
  auto encoded = percent_encode(text);
  EXPECT_EQ(encoded.find_first_of(" /?&="), std::string::npos);
  EXPECT_EQ(percent_decode(encoded, false), text);
}

}  // namespace
}  // namespace portcullis::control

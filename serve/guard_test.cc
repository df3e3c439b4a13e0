// Issue 15, item 3: each refusal, decided from the request alone.
#include "serve/guard.h"

#include <gtest/gtest.h>

namespace runbook::serve {
namespace {

const std::string kToken(64, 'a');

Guard Loopback() { return Guard(kToken, Authorities("127.0.0.1", 8080)); }

Request Get(const std::string& path) {
  Request r;
  r.method = "GET";
  r.path = path;
  r.host = "127.0.0.1:8080";
  return r;
}

TEST(GuardTest, ReadsNeedTheTokenAndTheAddressTokenBecomesACookie) {
  Guard g = Loopback();
  EXPECT_EQ(g.Check(Get("/api/runs")).status, 401);
  Request bad = Get("/");
  bad.query_token = std::string(64, 'b');
  EXPECT_EQ(g.Check(bad).status, 401);
  Request first = Get("/");
  first.query_token = kToken;
  Verdict v = g.Check(first);
  EXPECT_EQ(v.status, 0);
  EXPECT_TRUE(v.set_cookie);
  EXPECT_EQ(g.CookieHeader(kToken), "runbook_token=" + kToken + "; HttpOnly; SameSite=Strict; Path=/");
  EXPECT_EQ(v.who, "");  // serve's own token: nobody in particular
  Request cookie = Get("/runs/x");
  cookie.cookie = "theme=dark; runbook_token=" + kToken;
  EXPECT_EQ(g.Check(cookie).status, 0);
  EXPECT_FALSE(g.Check(cookie).set_cookie);
  Request bearer = Get("/api/runs");
  bearer.authorization = "Bearer " + kToken;
  EXPECT_EQ(g.Check(bearer).status, 0);
  bearer.authorization = "Bearer " + kToken.substr(1);  // a prefix is not the token
  EXPECT_EQ(g.Check(bearer).status, 401);
}

TEST(GuardTest, AForeignHostIsRefusedEvenWithTheToken) {  // DNS rebinding
  Guard g = Loopback();
  for (const char* host : {"evil.example:8080", "127.0.0.1:8081", "127.0.0.1", "", "attacker.127.0.0.1.nip.io:8080"}) {
    Request r = Get("/api/runs");
    r.authorization = "Bearer " + kToken;
    r.host = host;
    EXPECT_EQ(g.Check(r).status, 403) << host;
  }
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST:8080"}) {
    Request r = Get("/api/runs");
    r.authorization = "Bearer " + kToken;
    r.host = host;
    EXPECT_EQ(g.Check(r).status, 0) << host;
  }
}

TEST(GuardTest, AForgedCrossSiteFormAndOtherUnsafePostsAreRefused) {
  Guard g = Loopback();
  Request form;  // what a page on another site can send without asking: a form post with the cookie
  form.method = "POST";
  form.path = "/api/runs/r1/notes";
  form.host = "127.0.0.1:8080";
  form.cookie = "runbook_token=" + kToken;
  form.origin = "http://evil.example";
  form.content_type = "application/x-www-form-urlencoded";
  EXPECT_EQ(g.Check(form).status, 403);
  form.content_type = "text/plain";
  EXPECT_EQ(g.Check(form).status, 403);
  form.content_type = "application/json";  // needs a preflight, never answered; and the Origin is foreign
  EXPECT_EQ(g.Check(form).status, 403);
  form.origin = "";  // by cookie, no Origin: refused
  EXPECT_EQ(g.Check(form).status, 403);
  form.origin = "http://127.0.0.1:8080";
  EXPECT_EQ(g.Check(form).status, 0);
  Request api = form;  // an API client: Bearer, JSON, no Origin
  api.cookie.clear();
  api.origin.clear();
  api.authorization = "Bearer " + kToken;
  EXPECT_EQ(g.Check(api).status, 0);
  api.content_type = "application/x-www-form-urlencoded";
  EXPECT_EQ(g.Check(api).status, 403);
  Request query = form;  // the address's token does not authorize a write
  query.cookie.clear();
  query.query_token = kToken;
  EXPECT_EQ(g.Check(query).status, 403);
}

TEST(GuardTest, APersonsTokenNamesThemAndAnUnknownOneIsRefused) {
  const std::string alice(64, 'c');
  Guard g(kToken, Authorities("127.0.0.1", 8080), [&](const std::string& t) -> std::optional<std::string> {
    if (t == alice) return std::string("alice");
    return std::nullopt;
  });
  Request r = Get("/api/runs");
  r.authorization = "Bearer " + alice;
  Verdict v = g.Check(r);
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.who, "alice");
  r.authorization = "Bearer " + std::string(64, 'd');
  EXPECT_EQ(g.Check(r).status, 401);
  Request first = Get("/");
  first.query_token = alice;
  v = g.Check(first);
  EXPECT_TRUE(v.set_cookie);
  EXPECT_EQ(v.token, alice);  // her cookie carries her token, so what she does is hers
}

TEST(GuardTest, TokensAreLongAndFresh) {
  std::string a = NewToken(), b = NewToken();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
  EXPECT_EQ(Authorities("0.0.0.0", 9000), (std::vector<std::string>{"0.0.0.0:9000"}));
}

// Issue 22: "/%09/127.0.0.1:PORT/...?token=T" redirected to another origin.
TEST(GuardTest, TheTokenRedirectStaysOnThisServer) {
  EXPECT_EQ(SameOriginPath("/runs/20261207-101010-ab12"), "/runs/20261207-101010-ab12");
  EXPECT_EQ(SameOriginPath("/"), "/");
  for (std::string bad : {"//evil.example/x", "/\t/127.0.0.1:8080/", "/\\evil", "/\n/evil", "/%2F/evil",
                          "/ /evil", "", "evil", "/a\rb"})
    EXPECT_EQ(SameOriginPath(bad), "/") << bad;
}

}  // namespace
}  // namespace runbook::serve

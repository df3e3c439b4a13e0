// Who may ask `runbook serve` what (issue 15, item 3), decided before any
// handler runs, from the request alone:
//   - Host must name this server (127.0.0.1:PORT, localhost:PORT, [::1]:PORT,
//     or the --listen address): a page on another site that rebinds its DNS
//     name to 127.0.0.1 sends its own name and is refused (403);
//   - every request, reads included, carries the token: a `token` query
//     parameter (exchanged for an HttpOnly SameSite=Strict cookie), the
//     cookie, or `Authorization: Bearer` (401 without);
//   - a POST must be JSON (a cross-site form cannot send that without a CORS
//     preflight, which is never answered) and, when it carries an Origin,
//     come from this server's own origin; a POST authorized by the cookie
//     must carry one (403).
// No response ever carries a CORS header.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace runbook::serve {

struct Request {
  std::string method, path;
  std::string host, origin, content_type, authorization, cookie;
  std::string query_token;  // ?token=
};

struct Verdict {
  int status = 0;  // 0: allowed; else the HTTP status to answer
  std::string message;
  bool set_cookie = false;  // allowed by ?token=: answer with the cookie (of that token)
  std::string token;        // the token that allowed it
  std::string who;          // a named person's token (runbook token add): their name; "" for serve's own
};

// The person a token belongs to (runbook token add), or nullopt.
using PersonLookup = std::function<std::optional<std::string>(const std::string& token)>;

class Guard {
 public:
  // `token`: the secret printed at start; `authorities`: the host:port forms
  // this server answers to.
  Guard(std::string token, std::vector<std::string> authorities, PersonLookup people = nullptr);
  Verdict Check(const Request& r) const;
  std::string CookieHeader(const std::string& token) const;  // Set-Cookie value for a token
  const std::vector<std::string>& authorities() const { return authorities_; }
  const std::string& token() const { return token_; }

 private:
  // Whether `candidate` is serve's token or a person's (their name in *who).
  bool Known(const std::string& candidate, std::string* who) const;
  std::string token_;
  PersonLookup people_;
  std::vector<std::string> authorities_;
};

// The host:port forms a server listening on `host`:`port` answers to.
std::vector<std::string> Authorities(const std::string& host, int port);

// 32 random bytes from the kernel, as hex.
std::string NewToken();

// Where the token address sends the browser once it has the cookie: the same
// path on this server when it is plainly one ('/', then letters, digits and
// "/._~-", never "//"), else "/". Browsers strip tabs and newlines from a
// Location, so "/\t/evil:80/" would become "//evil:80/": another origin.
std::string SameOriginPath(const std::string& path);

}  // namespace runbook::serve

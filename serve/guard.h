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
  bool set_cookie = false;  // allowed by ?token=: answer with the cookie
};

class Guard {
 public:
  // `token`: the secret printed at start; `authorities`: the host:port forms
  // this server answers to.
  Guard(std::string token, std::vector<std::string> authorities);
  Verdict Check(const Request& r) const;
  std::string CookieHeader() const;  // Set-Cookie value for the token
  const std::vector<std::string>& authorities() const { return authorities_; }
  const std::string& token() const { return token_; }

 private:
  bool TokenMatches(const std::string& candidate) const;
  std::string token_;
  std::vector<std::string> authorities_;
};

// The host:port forms a server listening on `host`:`port` answers to.
std::vector<std::string> Authorities(const std::string& host, int port);

// 32 random bytes from the kernel, as hex.
std::string NewToken();

}  // namespace runbook::serve

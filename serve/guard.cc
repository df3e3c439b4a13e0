#include "serve/guard.h"

#include <cctype>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

namespace runbook::serve {

Guard::Guard(std::string token, std::vector<std::string> authorities, PersonLookup people)
    : token_(std::move(token)), people_(std::move(people)), authorities_(std::move(authorities)) {}

bool Guard::Known(const std::string& candidate, std::string* who) const {
  if (candidate.empty()) return false;
  if (candidate.size() == token_.size() && CRYPTO_memcmp(candidate.data(), token_.data(), token_.size()) == 0) {
    who->clear();
    return true;
  }
  if (!people_ || candidate.size() != token_.size()) return false;
  auto name = people_(candidate);  // by its sha256: the store never holds a token itself
  if (!name) return false;
  *who = *name;
  return true;
}

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The value of cookie `name` in a Cookie header, or "".
std::string CookieValue(const std::string& header, const std::string& name) {
  size_t at = 0;
  while (at < header.size()) {
    size_t end = header.find(';', at);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(at, end - at);
    size_t b = part.find_first_not_of(' ');
    if (b != std::string::npos) part = part.substr(b);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    at = end + 1;
  }
  return "";
}

}  // namespace

Verdict Guard::Check(const Request& r) const {
  Verdict v;
  if (std::find(authorities_.begin(), authorities_.end(), Lower(r.host)) == authorities_.end()) {
    v.status = 403;
    v.message = "refused: Host '" + r.host + "' is not this server (" + authorities_.front() + ")";
    return v;
  }
  std::string cookie = CookieValue(r.cookie, "runbook_token");
  std::string bearer = r.authorization.rfind("Bearer ", 0) == 0 ? r.authorization.substr(7) : "";
  std::string who_cookie, who_bearer, who_query;
  bool by_cookie = Known(cookie, &who_cookie);
  bool by_bearer = Known(bearer, &who_bearer);
  bool by_query = Known(r.query_token, &who_query);
  if (!by_cookie && !by_bearer && !by_query) {
    v.status = 401;
    v.message = "a token is needed: open the address runbook serve printed (…/?token=…), or send Authorization: Bearer";
    return v;
  }
  if (r.method != "GET" && r.method != "HEAD") {
    std::string type = Lower(r.content_type.substr(0, r.content_type.find(';')));
    if (type != "application/json") {
      v.status = 403;
      v.message = "refused: a " + r.method + " must be application/json";
      return v;
    }
    if (!r.origin.empty()) {
      bool own = false;
      for (const auto& a : authorities_) own |= Lower(r.origin) == "http://" + a;
      if (!own) {
        v.status = 403;
        v.message = "refused: Origin '" + r.origin + "' is not this server";
        return v;
      }
    } else if (!by_bearer) {
      v.status = 403;
      v.message = "refused: a " + r.method + " by cookie must carry this server's Origin";
      return v;
    }
    if (by_query && !by_cookie && !by_bearer) {
      v.status = 403;
      v.message = "refused: a token in the address is for opening the page, not for a " + r.method;
      return v;
    }
  }
  v.set_cookie = by_query && !by_cookie;
  v.token = by_bearer ? bearer : by_cookie ? cookie : r.query_token;
  v.who = by_bearer ? who_bearer : by_cookie ? who_cookie : who_query;
  return v;
}

std::string Guard::CookieHeader(const std::string& token) const {
  return "runbook_token=" + token + "; HttpOnly; SameSite=Strict; Path=/";
}

std::vector<std::string> Authorities(const std::string& host, int port) {
  std::string p = ":" + std::to_string(port);
  std::vector<std::string> out;
  std::string h = Lower(host);
  if (h == "127.0.0.1" || h == "localhost" || h == "::1") {
    out = {"127.0.0.1" + p, "localhost" + p, "[::1]" + p};
    if (h == "localhost") std::swap(out[0], out[1]);
    if (h == "::1") std::swap(out[0], out[2]);
  } else {
    out.push_back((h.find(':') != std::string::npos ? "[" + h + "]" : h) + p);
  }
  return out;
}

std::string NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string SameOriginPath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.rfind("//", 0) == 0 || path.size() > 512) return "/";
  for (char c : path)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("/._~-", c)) return "/";
  return path;
}

}  // namespace runbook::serve

// Auth (auth.hpp). Tokens and session ids are compared with constant_time_equal and every
// candidate is looked at, so the time taken tells nothing about how close a guess came.
#include "auth.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace lockstep::admin {

bool constant_time_equal(std::string_view a, std::string_view b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

std::string random_hex(std::size_t n) {
  std::string bytes(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = getrandom(bytes.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(r);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0f]);
  }
  return out;
}

Auth::Auth(std::vector<AdminToken> tokens) : tokens_(std::move(tokens)) {}

std::optional<Principal> Auth::by_token(std::string_view token) const {
  std::optional<Principal> found;
  for (const auto& t : tokens_) {
    if (constant_time_equal(t.token, token) && !token.empty() && !found) found = Principal{t.name, t.role};
  }
  return found;
}

void Auth::expire_locked(std::chrono::steady_clock::time_point now) {
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [now](const Session& s) { return s.expires <= now; }),
                  sessions_.end());
}

std::optional<std::string> Auth::login(std::string_view token) {
  auto who = by_token(token);
  if (!who) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  Session s{random_hex(32), std::move(*who), now + kSessionLifetime};
  std::lock_guard lock(mu_);
  expire_locked(now);
  if (sessions_.size() >= kMaxSessions) {
    // Sessions are appended, so the first is the oldest (closest to expiry).
    sessions_.erase(sessions_.begin());
  }
  sessions_.push_back(s);
  return s.id;
}

std::optional<Principal> Auth::by_session(std::string_view id) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  expire_locked(now);
  std::optional<Principal> found;
  for (const auto& s : sessions_) {
    if (constant_time_equal(s.id, id) && !found) found = s.who;
  }
  return found;
}

void Auth::logout(std::string_view id) {
  std::lock_guard lock(mu_);
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                 [id](const Session& s) { return constant_time_equal(s.id, id); }),
                  sessions_.end());
}

std::size_t Auth::sessions() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace lockstep::admin

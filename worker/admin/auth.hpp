// Who may use the admin API (docs/admin-api.md): named bearer tokens with a role, and the
// console's sessions made from them. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/config.hpp"

namespace lockstep::admin {

struct Principal {
  std::string name;  // the token's name: every action is recorded as done by it
  std::string role;  // "read" | "write"
  bool write() const { return role == "write"; }
};

class Auth {
 public:
  static constexpr std::size_t kMaxSessions = 1000;
  static constexpr std::chrono::hours kSessionLifetime{8};

  explicit Auth(std::vector<AdminToken> tokens);

  // The token's owner; every configured token is compared in constant time.
  std::optional<Principal> by_token(std::string_view token) const;
  // A new session for a valid token: its id (64 hex digits, 256 random bits), or nullopt.
  // At the cap the session closest to expiry makes room.
  std::optional<std::string> login(std::string_view token);
  std::optional<Principal> by_session(std::string_view id);
  void logout(std::string_view id);
  std::size_t sessions() const;

 private:
  struct Session {
    std::string id;
    Principal who;
    std::chrono::steady_clock::time_point expires;
  };
  void expire_locked(std::chrono::steady_clock::time_point now);

  std::vector<AdminToken> tokens_;
  mutable std::mutex mu_;
  std::vector<Session> sessions_;
};

// Equal strings, in time that depends on their lengths only.
bool constant_time_equal(std::string_view a, std::string_view b);
// `n` random bytes from the kernel (getrandom), as hex.
std::string random_hex(std::size_t n);

}  // namespace lockstep::admin

// The admin server's pure parts: token and session checks, cookies, query strings, paths.
#include <gtest/gtest.h>

#include "admin/auth.hpp"
#include "admin/http_util.hpp"

namespace lockstep::admin {
namespace {

Auth two_tokens() {
  return Auth({{"alice", "write", "write-token-0123456789"}, {"rob", "read", "read-token-0123456789"}});
}

TEST(AdminAuth, ConstantTimeEqualComparesWholeStrings) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(AdminAuth, TokensNameTheirOwnerAndRole) {
  const Auth auth = two_tokens();
  auto a = auth.by_token("write-token-0123456789");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "alice");
  EXPECT_TRUE(a->write());
  auto r = auth.by_token("read-token-0123456789");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "rob");
  EXPECT_FALSE(r->write());
  EXPECT_FALSE(auth.by_token("read-token-012345678"));
  EXPECT_FALSE(auth.by_token(""));
}

TEST(AdminAuth, SessionsAreRandomCappedAndEndOnLogout) {
  Auth auth = two_tokens();
  EXPECT_FALSE(auth.login("nope"));
  auto id = auth.login("read-token-0123456789");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->size(), 64u);
  EXPECT_NE(*id, *auth.login("read-token-0123456789"));
  ASSERT_TRUE(auth.by_session(*id));
  EXPECT_EQ(auth.by_session(*id)->name, "rob");
  auth.logout(*id);
  EXPECT_FALSE(auth.by_session(*id));
  for (std::size_t i = 0; i < Auth::kMaxSessions + 10; ++i) auth.login("write-token-0123456789");
  EXPECT_EQ(auth.sessions(), Auth::kMaxSessions);
}

TEST(AdminHttp, CookiesQueriesAndPaths) {
  EXPECT_EQ(cookie_value("a=1; lockstep_session=xyz; b=2", "lockstep_session"), "xyz");
  EXPECT_FALSE(cookie_value("a=1", "lockstep_session"));
  const auto q = parse_query("status=open&reason=version_conflict&aggregate_id=a%2Fb+c&empty");
  EXPECT_EQ(q.at("status"), "open");
  EXPECT_EQ(q.at("aggregate_id"), "a/b c");
  EXPECT_EQ(q.at("empty"), "");
  EXPECT_EQ(path_segments("/aggregates/user/guild%2F1+2/history"),
            (std::vector<std::string>{"aggregates", "user", "guild/1+2", "history"}));
}

}  // namespace
}  // namespace lockstep::admin

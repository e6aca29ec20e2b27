// The admin server in process against a fresh PostgreSQL database and the development
// broker: authentication, the CSRF guard, limits, security headers, and the dead-letter and
// aggregate endpoints end to end (docs/admin-api.md).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "admin/admin_server.hpp"
#include "client.hpp"
#include "lockstep/store.hpp"
#include "lockstep/test/dead_letters.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/store_db.hpp"

namespace lockstep::admin {
namespace {

using test::bearer;
using test::http_request;

const std::string kWrite = "write-token-0123456789abcdef";
const std::string kRead = "read-token-0123456789abcdef";

class AdminApi : public ::testing::Test {
 protected:
  AdminApi() : db(test::Backend::postgresql) {
    log_sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
    previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("admin-test", log_sink));
    producer = std::make_shared<Producer>(kafka.bootstrap(), KafkaProps{});
    AdminConfig cfg{"127.0.0.1:0", {{"alice", "write", kWrite}, {"rob", "read", kRead}}};
    AdminDeps deps;
    deps.open_store = [url = db.url()] { return open_store(url); };
    deps.publish = producer_publish(producer, std::chrono::seconds(10));
    deps.status = [] {
      WorkerStatus s;
      s.group_id = "lockstep";
      s.partitions.push_back({"transitions.bot", 0, 5, ""});
      s.partitions.push_back({"transitions.api", 1, std::nullopt, "database"});
      s.inflight = 2;
      s.not_ready = {"the database cannot be reached"};
      return s;
    };
    server = std::make_unique<AdminServer>(cfg, std::move(deps));
  }
  ~AdminApi() override {
    server.reset();
    spdlog::set_default_logger(previous);
  }

  test::Reply get(const std::string& target, const std::string& token = kRead) {
    return http_request(server->port(), "GET", target, bearer(token));
  }
  test::Reply post(const std::string& target, const Json& body, const std::string& token = kWrite) {
    return http_request(server->port(), "POST", target, bearer(token), body.dump());
  }
  // Dead letters of events evt-1.. on aggregates user/a, user/b, ...: their ids.
  std::vector<int64_t> seed(int n) {
    auto store = open_store(db.url());
    std::vector<DeadLetterRecord> recs;
    for (int i = 1; i <= n; ++i) {
      auto d = test::conflict_dead_letter(test::event("evt-" + std::to_string(i), std::string(1, char('a' + i - 1)),
                                                      "suspend").expected_version(1));
      d.id = 0;
      recs.push_back(d);
    }
    store->import_dead_letters(recs);
    std::vector<int64_t> ids;
    for (const auto& d : store->list_dead_letters({})) ids.push_back(d.id);
    return ids;
  }

  test::TestStoreDb db;
  test::TestKafka kafka;
  std::ostringstream log;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink;
  std::shared_ptr<spdlog::logger> previous;
  std::shared_ptr<Producer> producer;
  std::unique_ptr<AdminServer> server;
};

void expect_security_headers(const test::Reply& r) {
  EXPECT_EQ(r.header("content-security-policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  EXPECT_EQ(r.header("x-frame-options"), "DENY");
  EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(r.header("referrer-policy"), "no-referrer");
  EXPECT_EQ(r.header("cache-control"), "no-store");
}

TEST_F(AdminApi, WithoutValidTokenNothingButUnauthorized) {
  seed(1);
  auto none = http_request(server->port(), "GET", "/api/v1/dead-letters");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer realm=\"lockstep\"");
  EXPECT_EQ(none.json()["error"], "unauthorized");
  EXPECT_FALSE(none.json().contains("items"));
  expect_security_headers(none);
  EXPECT_EQ(get("/api/v1/dead-letters", "not-a-token-0123456789").status, 401);
  EXPECT_EQ(http_request(server->port(), "GET", "/api/v1/whoami", {{"Authorization", kRead}}).status, 401);
  auto me = get("/api/v1/whoami");
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.json(), (Json{{"name", "rob"}, {"role", "read"}}));
  expect_security_headers(me);
  auto page = http_request(server->port(), "GET", "/console/");
  EXPECT_EQ(page.status, 401);
  EXPECT_EQ(page.header("content-type").rfind("text/html", 0), 0u) << page.header("content-type");
  expect_security_headers(page);
  EXPECT_EQ(http_request(server->port(), "GET", "/console/login").status, 200);
  EXPECT_EQ(http_request(server->port(), "GET", "/console/assets/style.css").status, 200);
  EXPECT_EQ(http_request(server->port(), "GET", "/console/assets/app.js").status, 401);
  auto script = get("/console/assets/app.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/console/").status, 200);
}

TEST_F(AdminApi, ReadTokenCannotPost) {
  const auto ids = seed(1);
  auto r = post("/api/v1/dead-letters/discard", {{"ids", ids}, {"note", "x"}}, kRead);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json()["error"], "forbidden");
  EXPECT_EQ(db.scalar("SELECT status FROM dead_letters"), "open");
}

TEST_F(AdminApi, SessionCookieNeedsTheConsoleHeaderToPost) {
  const auto ids = seed(1);
  EXPECT_EQ(http_request(server->port(), "POST", "/api/v1/session", {}, Json{{"token", "wrong"}}.dump()).status, 401);
  auto login = http_request(server->port(), "POST", "/api/v1/session", {}, Json{{"token", kWrite}}.dump());
  ASSERT_EQ(login.status, 204);
  const std::string set_cookie = login.header("set-cookie");
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(set_cookie.find("Path=/"), std::string::npos);
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  auto me = http_request(server->port(), "GET", "/api/v1/whoami", {{"Cookie", cookie}});
  EXPECT_EQ(me.json()["name"], "alice");
  const std::string body = Json{{"ids", ids}, {"note", "spam"}}.dump();
  auto csrf = http_request(server->port(), "POST", "/api/v1/dead-letters/discard", {{"Cookie", cookie}}, body);
  EXPECT_EQ(csrf.status, 403);
  EXPECT_EQ(db.scalar("SELECT status FROM dead_letters"), "open");
  auto ok = http_request(server->port(), "POST", "/api/v1/dead-letters/discard",
                         {{"Cookie", cookie}, {"X-Lockstep-Console", "1"}}, body);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(db.scalar("SELECT resolved_by FROM dead_letters"), "alice");
  EXPECT_EQ(http_request(server->port(), "DELETE", "/api/v1/session", {{"Cookie", cookie}, {"X-Lockstep-Console", "1"}})
                .status, 204);
  EXPECT_EQ(http_request(server->port(), "GET", "/api/v1/whoami", {{"Cookie", cookie}}).status, 401);
}

TEST_F(AdminApi, BodyOverTheLimitIsRefused) {
  const std::string big = Json{{"ids", {1}}, {"note", std::string(70 * 1024, 'x')}}.dump();
  auto r = http_request(server->port(), "POST", "/api/v1/dead-letters/discard", bearer(kWrite), big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.json()["error"], "too_large");
  expect_security_headers(r);
}

TEST_F(AdminApi, ListCountsAndPages) {
  const auto ids = seed(3);
  auto all = get("/api/v1/dead-letters?status=open");
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all.json()["items"].size(), 3u);
  EXPECT_TRUE(all.json()["next_cursor"].is_null());
  EXPECT_EQ(all.json()["items"][0]["reason"], "version_conflict");
  auto first = get("/api/v1/dead-letters?limit=2");
  ASSERT_EQ(first.json()["items"].size(), 2u);
  const std::string cursor = first.json()["next_cursor"];
  auto second = get("/api/v1/dead-letters?limit=2&cursor=" + cursor);
  ASSERT_EQ(second.json()["items"].size(), 1u);
  EXPECT_EQ(second.json()["items"][0]["id"], ids[2]);
  auto counts = get("/api/v1/dead-letters/counts");
  EXPECT_EQ(counts.json(), (Json{{"counts", {{{"reason", "version_conflict"}, {"status", "open"}, {"count", 3}}}},
                                 {"total", 3}}));
  auto bad = get("/api/v1/dead-letters?status=closed");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["field"], "status");
  EXPECT_EQ(get("/api/v1/dead-letters?limit=501").json()["field"], "limit");
  EXPECT_EQ(get("/api/v1/dead-letters/999999").status, 404);
}

TEST_F(AdminApi, ShowReplayWithRebaseAndDiscardWithNote) {
  const auto ids = seed(2);
  auto shown = get("/api/v1/dead-letters/" + std::to_string(ids[0]));
  ASSERT_EQ(shown.status, 200) << shown.body;
  const std::string type = shown.json()["aggregate_type"];
  const std::string id = shown.json()["aggregate_id"];
  EXPECT_TRUE(shown.json()["current"].is_null());
  db.exec("INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, updated_by) VALUES ('" + type +
          "', '" + id + "', 'active', 3, 'bot')");
  auto with_current = get("/api/v1/dead-letters/" + std::to_string(ids[0]));
  EXPECT_EQ(with_current.json()["current"]["version"], 3);
  EXPECT_EQ(with_current.json()["current"]["updated_by"], "bot");

  auto no_note = post("/api/v1/dead-letters/discard", {{"ids", {ids[1]}}});
  EXPECT_EQ(no_note.status, 400);
  EXPECT_EQ(no_note.json()["field"], "note");
  auto blank = post("/api/v1/dead-letters/discard", {{"ids", {ids[1]}}, {"note", "  "}});
  EXPECT_EQ(blank.json()["field"], "note");
  auto discarded = post("/api/v1/dead-letters/discard", {{"ids", {ids[1]}}, {"note", "duplicate"}});
  ASSERT_EQ(discarded.status, 200) << discarded.body;
  EXPECT_EQ(discarded.json()["items"][0]["status"], "discarded");
  EXPECT_EQ(db.scalar("SELECT resolved_by || ':' || note FROM dead_letters WHERE id = " + std::to_string(ids[1])),
            "alice:duplicate");

  const Json replay = {{"ids", {ids[0]}}, {"mode", "rebase"}, {"topic", kafka.bot()}, {"note", "rebased"}};
  Json dry_run = replay;
  dry_run["dry_run"] = true;
  auto dry = post("/api/v1/dead-letters/replay", dry_run);
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(dry.json()["items"][0]["status"], "would_replay");
  auto done = post("/api/v1/dead-letters/replay", replay);
  ASSERT_EQ(done.status, 200) << done.body;
  const Json item = done.json()["items"][0];
  EXPECT_EQ(item["status"], "replayed");
  EXPECT_EQ(item["topic"], kafka.bot());
  EXPECT_TRUE(item.contains("offset"));
  EXPECT_EQ(db.scalar("SELECT status || ':' || resolved_by FROM dead_letters WHERE id = " + std::to_string(ids[0])),
            "replayed:alice");
  auto again = post("/api/v1/dead-letters/replay", replay);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(post("/api/v1/dead-letters/replay", {{"ids", {ids[0]}}, {"mode", "sideways"}}).json()["field"], "mode");
}

TEST_F(AdminApi, AggregateAndHistory) {
  db.exec("INSERT INTO aggregates (aggregate_type, aggregate_id, state, version, data, updated_by) "
          "VALUES ('user', 'g/1', 'suspended', 2, '{\"why\": \"<b>spam</b>\"}', 'api')");
  for (int v = 1; v <= 2; ++v) {
    db.exec("INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state, "
            "from_version, to_version, source) VALUES ('user', 'g/1', 'e" + std::to_string(v) + "', 't', " +
            (v == 1 ? std::string("NULL") : "'active'") + ", 's', " + std::to_string(v - 1) + ", " +
            std::to_string(v) + ", 'api')");
  }
  auto a = get("/api/v1/aggregates/user/g%2F1");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["state"], "suspended");
  EXPECT_EQ(a.json()["version"], 2);
  EXPECT_EQ(a.json()["data"]["why"], "<b>spam</b>");
  EXPECT_EQ(a.json()["updated_by"], "api");
  auto h = get("/api/v1/aggregates/user/g%2F1/history?limit=1");
  ASSERT_EQ(h.status, 200) << h.body;
  ASSERT_EQ(h.json()["items"].size(), 1u);
  EXPECT_TRUE(h.json()["items"][0]["from_state"].is_null());
  auto rest = get("/api/v1/aggregates/user/g%2F1/history?cursor=" + h.json()["next_cursor"].get<std::string>());
  ASSERT_EQ(rest.json()["items"].size(), 1u);
  EXPECT_EQ(rest.json()["items"][0]["to_version"], 2);
  EXPECT_TRUE(rest.json()["next_cursor"].is_null());
  EXPECT_EQ(get("/api/v1/aggregates/user/nobody").status, 404);
}

TEST_F(AdminApi, StatusOpenApiAndTheLog) {
  auto s = get("/api/v1/status");
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.json()["group_id"], "lockstep");
  EXPECT_EQ(s.json()["partitions"][0]["lag"], 5);
  EXPECT_TRUE(s.json()["partitions"][1]["lag"].is_null());
  EXPECT_EQ(s.json()["partitions"][1]["paused"], "database");
  EXPECT_EQ(s.json()["not_ready"][0], "the database cannot be reached");
  auto doc = get("/api/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  EXPECT_EQ(doc.json()["openapi"], "3.0.3");
  EXPECT_TRUE(doc.json()["paths"].contains("/dead-letters/replay"));
  EXPECT_EQ(http_request(server->port(), "GET", "/api/v1/openapi.json").status, 401);
  post("/api/v1/session", {{"token", kRead}}, kRead);
  spdlog::default_logger()->flush();
  const std::string text = log.str();
  EXPECT_NE(text.find("admin GET /api/v1/status 200 rob"), std::string::npos) << text;
  EXPECT_EQ(text.find(kRead), std::string::npos) << text;
  EXPECT_EQ(text.find(kWrite), std::string::npos) << text;
}

TEST_F(AdminApi, UnreachableDatabaseIsUnavailable) {
  AdminDeps deps;
  deps.open_store = []() -> std::unique_ptr<Store> { throw TransientStoreError("connection refused"); };
  AdminServer down(AdminConfig{"127.0.0.1:0", {{"rob", "read", kRead}}}, std::move(deps));
  auto r = http_request(down.port(), "GET", "/api/v1/dead-letters", bearer(kRead));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["error"], "unavailable");
  EXPECT_EQ(http_request(down.port(), "GET", "/api/v1/whoami", bearer(kRead)).status, 200) << "the listener goes on";
}

// Found by the contract test: a NUL (%00) in a filter reached PostgreSQL, which refused it, and the
// API answered 500. Text the database cannot hold is the request's fault: 400 naming the input.
TEST_F(AdminApi, TextTheDatabaseCannotHoldIsABadRequest) {
  const auto ids = seed(1);
  for (const std::string target : {"/api/v1/dead-letters?aggregate_type=a%00b", "/api/v1/dead-letters/counts?aggregate_type=%C3",
                                   "/api/v1/aggregates/user/a%00/history", "/api/v1/aggregates/us%FFer/a"}) {
    const auto r = get(target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    EXPECT_EQ(r.json()["error"], "bad_request") << target;
  }
  EXPECT_EQ(get("/api/v1/dead-letters?aggregate_type=a%00b").json()["field"], "aggregate_type");
  const Json nul_filter = {{"filter", {{"aggregate_type", std::string("a\0b", 3)}}}, {"note", "n"}};
  EXPECT_EQ(post("/api/v1/dead-letters/discard", nul_filter).json()["field"], "aggregate_type");
  const Json nul_note = {{"ids", {ids[0]}}, {"note", std::string("why\0", 4)}};
  const auto r = post("/api/v1/dead-letters/discard", nul_note);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["field"], "note");
  EXPECT_EQ(get("/api/v1/dead-letters/" + std::to_string(ids[0])).json()["status"], "open");
}

}  // namespace
}  // namespace lockstep::admin

// Metrics (docs/metrics.md): families, labels, and the HTTP endpoint.
// GCC 12 warns (-Wtsan) that Asio's std_fenced_block uses atomic_thread_fence, which TSan
// does not model; Asio's scheduler already orders handlers with a mutex, so silence it.
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#include <gtest/gtest.h>

// GCC 12 at -O2 (notably with ASan) reports a false -Wmaybe-uninitialized inside Beast's
// parser (boost::optional content length); keep it out of -Werror for Boost only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/metrics.hpp"
#include "lockstep/test/support.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using lockstep::Metrics;
using lockstep::MetricsServer;
using lockstep::parse_listen;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Value of the sample line starting with `series` (e.g. `name{a="b"}`), or -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::size_t pos = 0;
  while ((pos = text.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const auto start = pos + series.size() + 1;
      return std::stod(text.substr(start, text.find('\n', start) - start));
    }
    pos += series.size();
  }
  return -1;
}

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string content_length;
  std::string allow;
};

// One request on an open connection (plain synchronous Beast).
Reply request(tcp::socket& socket, beast::flat_buffer& buffer, http::verb verb, const std::string& target) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.keep_alive(true);
  req.prepare_payload();
  http::write(socket, req);
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  if (verb == http::verb::head) parser.skip(true);
  http::read(socket, buffer, parser);
  const auto& res = parser.get();
  Reply reply;
  reply.status = res.result_int();
  reply.body = res.body();
  reply.content_type = std::string(res[http::field::content_type]);
  reply.content_length = std::string(res[http::field::content_length]);
  reply.allow = std::string(res[http::field::allow]);
  return reply;
}

tcp::socket connect(asio::io_context& ioc, unsigned short port) {
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

Reply fetch(unsigned short port, const std::string& target, http::verb verb = http::verb::get) {
  asio::io_context ioc;
  auto socket = connect(ioc, port);
  beast::flat_buffer buffer;
  auto reply = request(socket, buffer, verb, target);
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  return reply;
}

// Status of GET `target` on a fresh connection, or 0 when the server closed it instead of answering.
unsigned try_fetch(unsigned short port, const std::string& target) {
  try {
    return fetch(port, target).status;
  } catch (const boost::system::system_error&) {
    return 0;
  }
}

// Number of this process's open file descriptors (the server under test runs in-process).
std::size_t open_fds() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

// Whether the peer has closed `socket` (end of stream or a reset is waiting), without blocking.
bool closed_by_peer(tcp::socket& socket) {
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// ---------------------------------------------------------------- families

TEST(Metrics, EveryFamilyHasItsNameAndType) {
  Metrics m;
  const auto text = m.serialize();
  for (const char* line : {
           "# TYPE lockstep_events_consumed_total counter",
           "# TYPE lockstep_events_total counter",
           "# TYPE lockstep_cas_conflicts_total counter",
           "# TYPE lockstep_cas_retries_total counter",
           "# TYPE lockstep_dead_letters_total counter",
           "# TYPE lockstep_event_duration_seconds histogram",
           "# TYPE lockstep_inflight_events gauge",
           "# TYPE lockstep_oldest_inflight_seconds gauge",
           "# TYPE lockstep_consumer_lag gauge",
           "# TYPE lockstep_ready gauge",
           "# TYPE lockstep_infrastructure_errors_total counter",
       }) {
    EXPECT_TRUE(contains(text, std::string(line) + "\n")) << "missing: " << line << "\n" << text;
  }
  for (const char* help : {"lockstep_events_consumed_total", "lockstep_events_total", "lockstep_cas_conflicts_total",
                           "lockstep_cas_retries_total", "lockstep_dead_letters_total",
                           "lockstep_event_duration_seconds", "lockstep_inflight_events",
                           "lockstep_oldest_inflight_seconds", "lockstep_consumer_lag", "lockstep_ready",
                           "lockstep_infrastructure_errors_total"}) {
    EXPECT_TRUE(contains(text, std::string("# HELP ") + help + " ")) << "no help for " << help;
  }
}

TEST(Metrics, DashboardSeriesStartAtZero) {
  Metrics m;
  const auto text = m.serialize();
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="applied",reason=""})"), 0) << text;
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="duplicate",reason=""})"), 0) << text;
  for (const char* reason :
       {"malformed", "unknown_transition", "version_conflict", "invalid_transition", "retries_exhausted"}) {
    EXPECT_EQ(sample(text, std::string(R"(lockstep_events_total{outcome="dead_lettered",reason=")") + reason +
                               "\"}"),
              0)
        << reason;
    EXPECT_EQ(sample(text, std::string(R"(lockstep_dead_letters_total{reason=")") + reason + "\"}"), 0) << reason;
  }
  EXPECT_EQ(sample(text, R"(lockstep_infrastructure_errors_total{component="database"})"), 0);
  EXPECT_EQ(sample(text, R"(lockstep_infrastructure_errors_total{component="kafka"})"), 0);
  EXPECT_EQ(sample(text, "lockstep_cas_retries_total"), 0);
  EXPECT_EQ(sample(text, "lockstep_inflight_events"), 0);
  EXPECT_EQ(sample(text, "lockstep_oldest_inflight_seconds"), 0);
  EXPECT_EQ(sample(text, "lockstep_event_duration_seconds_count"), 0);
}

TEST(Metrics, CountersAndGaugesMoveWithLabels) {
  Metrics m;
  m.consumed("orders");
  m.consumed("orders");
  m.consumed("payments");
  m.outcome("applied", "");
  m.outcome("applied", "");
  m.outcome("dead_lettered", "version_conflict");
  m.outcome("dead_lettered", "invalid_transition");  // same outcome, another reason: another series
  m.outcome("dead_lettered", "invalid_transition");
  m.cas_conflict("order");
  m.cas_retry();
  m.cas_retry();
  m.cas_retry();
  m.dead_letter("malformed");
  m.event_duration(0.003);
  m.event_duration(12.0);
  m.set_inflight(7);
  m.set_oldest_inflight(1.5);
  m.set_lag("orders", 3, 42);
  m.infra_error("database");
  m.infra_error("kafka");
  m.infra_error("kafka");

  const auto text = m.serialize();
  EXPECT_EQ(sample(text, R"(lockstep_events_consumed_total{topic="orders"})"), 2) << text;
  EXPECT_EQ(sample(text, R"(lockstep_events_consumed_total{topic="payments"})"), 1);
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="applied",reason=""})"), 2);
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="duplicate",reason=""})"), 0);
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="dead_lettered",reason="version_conflict"})"), 1);
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="dead_lettered",reason="invalid_transition"})"), 2);
  EXPECT_EQ(sample(text, R"(lockstep_cas_conflicts_total{aggregate_type="order"})"), 1);
  EXPECT_EQ(sample(text, "lockstep_cas_retries_total"), 3);
  EXPECT_EQ(sample(text, R"(lockstep_dead_letters_total{reason="malformed"})"), 1);
  EXPECT_EQ(sample(text, R"(lockstep_dead_letters_total{reason="retries_exhausted"})"), 0);
  EXPECT_EQ(sample(text, "lockstep_event_duration_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(sample(text, "lockstep_event_duration_seconds_sum"), 12.003);
  EXPECT_EQ(sample(text, R"(lockstep_event_duration_seconds_bucket{le="0.0005"})"), 0);
  EXPECT_EQ(sample(text, R"(lockstep_event_duration_seconds_bucket{le="0.005"})"), 1);
  EXPECT_EQ(sample(text, R"(lockstep_event_duration_seconds_bucket{le="30"})"), 2);
  EXPECT_EQ(sample(text, R"(lockstep_event_duration_seconds_bucket{le="+Inf"})"), 2);
  EXPECT_EQ(sample(text, "lockstep_inflight_events"), 7);
  EXPECT_EQ(sample(text, "lockstep_oldest_inflight_seconds"), 1.5);
  EXPECT_EQ(sample(text, R"(lockstep_consumer_lag{partition="3",topic="orders"})"), 42) << text;
  EXPECT_EQ(sample(text, R"(lockstep_infrastructure_errors_total{component="database"})"), 1);
  EXPECT_EQ(sample(text, R"(lockstep_infrastructure_errors_total{component="kafka"})"), 2);

  m.set_lag("orders", 3, 5);
  m.set_inflight(0);
  const auto later = m.serialize();
  EXPECT_EQ(sample(later, R"(lockstep_consumer_lag{partition="3",topic="orders"})"), 5);
  EXPECT_EQ(sample(later, "lockstep_inflight_events"), 0);
}

TEST(Metrics, ReadinessGaugeAndNoLagForPartitionsGivenAway) {
  Metrics m;
  EXPECT_EQ(sample(m.serialize(), "lockstep_ready"), 0) << "not ready until the worker says so";
  m.set_ready(true);
  EXPECT_EQ(sample(m.serialize(), "lockstep_ready"), 1);
  m.set_ready(false);
  EXPECT_EQ(sample(m.serialize(), "lockstep_ready"), 0);

  m.set_lag("orders", 3, 42);
  m.set_lag("orders", 4, 7);
  m.remove_lag("orders", 3);
  m.remove_lag("orders", 9);  // never reported: nothing to remove
  const auto text = m.serialize();
  EXPECT_FALSE(contains(text, R"(lockstep_consumer_lag{partition="3")")) << "a revoked partition's lag stays stale\n"
                                                                           << text;
  EXPECT_EQ(sample(text, R"(lockstep_consumer_lag{partition="4",topic="orders"})"), 7);
}

TEST(Metrics, ConcurrentUpdatesAreCounted) {
  Metrics m;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        m.consumed("orders");
        m.outcome("applied", "");
        m.set_lag("orders", t, i);
        m.event_duration(0.01);
        if (i % 100 == 0) (void)m.serialize();
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto text = m.serialize();
  EXPECT_EQ(sample(text, R"(lockstep_events_consumed_total{topic="orders"})"), kThreads * kPerThread);
  EXPECT_EQ(sample(text, R"(lockstep_events_total{outcome="applied",reason=""})"), kThreads * kPerThread);
  EXPECT_EQ(sample(text, "lockstep_event_duration_seconds_count"), kThreads * kPerThread);
}

// ---------------------------------------------------------------- parse_listen

TEST(ParseListen, AcceptsHostPortForms) {
  EXPECT_EQ(parse_listen("0.0.0.0:9464"), std::make_pair(std::string("0.0.0.0"), static_cast<unsigned short>(9464)));
  EXPECT_EQ(parse_listen("127.0.0.1:0"), std::make_pair(std::string("127.0.0.1"), static_cast<unsigned short>(0)));
  EXPECT_EQ(parse_listen("localhost:65535"),
            std::make_pair(std::string("localhost"), static_cast<unsigned short>(65535)));
  EXPECT_EQ(parse_listen("metrics-host.example.com:80"),
            std::make_pair(std::string("metrics-host.example.com"), static_cast<unsigned short>(80)));
  EXPECT_EQ(parse_listen("[::1]:9464"), std::make_pair(std::string("::1"), static_cast<unsigned short>(9464)));
  EXPECT_EQ(parse_listen("[::]:1"), std::make_pair(std::string("::"), static_cast<unsigned short>(1)));
}

TEST(ParseListen, RejectsBadInput) {
  for (const char* bad : {"", "9464", "localhost", "host:", ":9464", "host:abc", "host:65536", "host:-1",
                          "host:+1", "host: 1", "host:1 ", "host:99999999999999999999", "::1:9464", "[::1:9464",
                          "[::1]9464", "[::1]:", "[]:1", "[not-v6]:1", "bad host:1", "host/x:1"}) {
    EXPECT_THROW(parse_listen(bad), std::invalid_argument) << "'" << bad << "'";
  }
  try {
    parse_listen("host:abc");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "host:abc")) << e.what();
    EXPECT_TRUE(contains(e.what(), "port")) << e.what();
  }
}

// ---------------------------------------------------------------- HTTP server

TEST(MetricsServer, ServesMetricsHealthAndReadiness) {
  Metrics m;
  m.consumed("orders");
  std::atomic<bool> ready{false};
  MetricsServer server("127.0.0.1:0", m, [&ready] { return ready.load(); });
  ASSERT_NE(server.port(), 0);

  auto metrics = fetch(server.port(), "/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(contains(metrics.body, "# TYPE lockstep_events_total counter"));
  EXPECT_EQ(sample(metrics.body, R"(lockstep_events_consumed_total{topic="orders"})"), 1);

  m.consumed("orders");
  EXPECT_EQ(sample(fetch(server.port(), "/metrics").body, R"(lockstep_events_consumed_total{topic="orders"})"), 2);

  auto health = fetch(server.port(), "/healthz");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, "ok\n");

  auto not_ready = fetch(server.port(), "/readyz");
  EXPECT_EQ(not_ready.status, 503u);
  EXPECT_EQ(not_ready.body, "not ready\n");

  ready = true;
  auto is_ready = fetch(server.port(), "/readyz");
  EXPECT_EQ(is_ready.status, 200u);
  EXPECT_EQ(is_ready.body, "ready\n");

  ready = false;
  EXPECT_EQ(fetch(server.port(), "/readyz").status, 503u);

  auto missing = fetch(server.port(), "/nope");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(fetch(server.port(), "/").status, 404u);
  EXPECT_EQ(fetch(server.port(), "/metrics?x=1").status, 200u);

  auto post = fetch(server.port(), "/metrics", http::verb::post);
  EXPECT_EQ(post.status, 405u);
  EXPECT_EQ(post.allow, "GET, HEAD");
  EXPECT_EQ(fetch(server.port(), "/healthz", http::verb::delete_).status, 405u);

  auto head = fetch(server.port(), "/healthz", http::verb::head);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.content_length, "3");
}

TEST(MetricsServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  Metrics m;
  MetricsServer server("127.0.0.1:0", m, [] { return true; });
  asio::io_context ioc;
  auto socket = connect(ioc, server.port());
  beast::flat_buffer buffer;
  EXPECT_EQ(request(socket, buffer, http::verb::get, "/healthz").body, "ok\n");
  EXPECT_EQ(request(socket, buffer, http::verb::head, "/metrics").status, 200u);
  EXPECT_EQ(request(socket, buffer, http::verb::get, "/readyz").body, "ready\n");
  EXPECT_EQ(request(socket, buffer, http::verb::get, "/metrics").status, 200u);
}

TEST(MetricsServer, IdleConnectionDoesNotBlockOthers) {
  Metrics m;
  MetricsServer server("127.0.0.1:0", m, [] { return true; });
  asio::io_context ioc;
  auto idle = connect(ioc, server.port());
  asio::write(idle, asio::buffer(std::string("GET /metr")));  // half a request, never finished
  EXPECT_EQ(fetch(server.port(), "/healthz").status, 200u);
}

TEST(MetricsServer, ConnectionsBeyondTheCapAreClosedAndDescriptorsStayBounded) {
  using namespace std::chrono_literals;
  Metrics m;
  lockstep::MetricsServerLimits limits;  // the default cap
  // Long enough that the connections held at the cap are still open when descriptors are
  // counted, short enough that they are cut (and the server reachable again) within the test.
  limits.request_timeout = 3s;
  MetricsServer server("127.0.0.1:0", m, [] { return true; }, limits);
  const std::size_t cap = limits.max_connections;
  ASSERT_EQ(cap, 64u);
  constexpr std::size_t kExtra = 50;

  asio::io_context ioc;
  tcp::socket warm_up(ioc);  // makes the client side's reactor descriptors part of the baseline
  warm_up.open(tcp::v4());
  ASSERT_EQ(fetch(server.port(), "/healthz").status, 200u);
  ASSERT_TRUE(lockstep::test::poll_until(5s, [&] { return server.open_connections() == 0; }));
  const auto baseline = open_fds();

  const auto started = std::chrono::steady_clock::now();
  std::vector<tcp::socket> clients;
  for (std::size_t i = 0; i < cap + kExtra; ++i) clients.push_back(connect(ioc, server.port()));
  std::vector<bool> closed(clients.size(), false);
  auto count_closed = [&] {
    std::size_t n = 0;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (!closed[i]) closed[i] = closed_by_peer(clients[i]);
      n += closed[i] ? 1 : 0;
    }
    return n;
  };

  // Every connection beyond the cap is accepted and closed at once (not after the timeout).
  EXPECT_TRUE(lockstep::test::poll_until(2s, [&] { return count_closed() >= kExtra; }))
      << count_closed() << " of " << clients.size() << " idle connections closed by the server";
  EXPECT_LT(std::chrono::steady_clock::now() - started, limits.request_timeout);
  // Once kExtra are closed, the server has accepted all of them: it holds at most `cap`
  // sockets (plus one being rejected right now), we hold one per client.
  const auto fds = open_fds();
  EXPECT_LE(fds, baseline + clients.size() + cap + 1)
      << "baseline " << baseline << ", " << clients.size() << " client sockets, cap " << cap;
  EXPECT_LE(server.open_connections(), cap);
  EXPECT_GE(server.rejected_connections(), kExtra);

  // The idle connections held at the cap are cut after the request timeout; the server then
  // answers again although every client socket is still open on our side.
  EXPECT_TRUE(lockstep::test::poll_until(10s, [&] { return try_fetch(server.port(), "/healthz") == 200u; }));
  EXPECT_TRUE(lockstep::test::poll_until(10s, [&] { return count_closed() == clients.size(); }))
      << count_closed() << " of " << clients.size() << " idle connections closed by the server";

  clients.clear();
  EXPECT_TRUE(lockstep::test::poll_until(5s, [&] { return open_fds() <= baseline; }))
      << "open descriptors: " << open_fds() << ", baseline " << baseline;
  EXPECT_EQ(server.open_connections(), 0u);
}

TEST(MetricsServer, AtTheCapNewConnectionsAreClosedUntilOneEnds) {
  using namespace std::chrono_literals;
  Metrics m;
  lockstep::MetricsServerLimits limits;
  limits.max_connections = 2;
  MetricsServer server("127.0.0.1:0", m, [] { return true; }, limits);

  asio::io_context ioc;
  auto first = connect(ioc, server.port());
  auto second = connect(ioc, server.port());
  ASSERT_TRUE(lockstep::test::poll_until(5s, [&] { return server.open_connections() == 2; }))
      << server.open_connections();

  // At the cap: a new connection is accepted and closed without an answer, and counted.
  EXPECT_EQ(try_fetch(server.port(), "/healthz"), 0u);
  EXPECT_GE(server.rejected_connections(), 1u);
  EXPECT_EQ(server.open_connections(), 2u);

  // One held connection ends: the next one is served (accepting never stopped).
  beast::error_code ignored;
  first.shutdown(tcp::socket::shutdown_both, ignored);
  first.close(ignored);
  EXPECT_TRUE(lockstep::test::poll_until(5s, [&] { return try_fetch(server.port(), "/healthz") == 200u; }));
  beast::flat_buffer buffer;
  EXPECT_EQ(request(second, buffer, http::verb::get, "/healthz").status, 200u);
}

TEST(MetricsServer, IdleAndSlowConnectionsAreClosedAfterTheRequestTimeout) {
  using namespace std::chrono_literals;
  Metrics m;
  lockstep::MetricsServerLimits limits;
  limits.request_timeout = 300ms;
  MetricsServer server("127.0.0.1:0", m, [] { return true; }, limits);

  asio::io_context ioc;
  const auto start = std::chrono::steady_clock::now();
  auto idle = connect(ioc, server.port());  // never sends anything
  auto kept = connect(ioc, server.port());  // one request, then idle in keep-alive
  auto slow = connect(ioc, server.port());  // slowloris: a header that never ends, byte by byte
  beast::flat_buffer buffer;
  ASSERT_EQ(request(kept, buffer, http::verb::get, "/healthz").status, 200u);
  asio::write(slow, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")));

  std::array<tcp::socket*, 3> sockets{&idle, &kept, &slow};
  const std::array<const char*, 3> names{"idle", "kept-alive", "slow"};
  std::array<std::optional<std::chrono::steady_clock::time_point>, 3> closed_at;
  const bool all_closed = lockstep::test::poll_until(5s, [&] {
    // The slow client sends one more byte per poll (every few ms) while its connection is
    // open: a timeout restarted by each byte would never fire.
    if (!closed_at[2]) {
      beast::error_code ec;
      asio::write(slow, asio::buffer("a", 1), ec);
    }
    bool all = true;
    for (std::size_t i = 0; i < sockets.size(); ++i) {
      if (!closed_at[i] && closed_by_peer(*sockets[i])) closed_at[i] = std::chrono::steady_clock::now();
      all = all && closed_at[i].has_value();
    }
    return all;
  });
  EXPECT_TRUE(all_closed);
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    EXPECT_TRUE(closed_at[i].has_value()) << names[i] << " connection still open after 5 s";
    if (closed_at[i]) {
      EXPECT_GE(*closed_at[i] - start, limits.request_timeout) << names[i] << " closed early";
    }
  }
  // The server closed them cleanly: reading gives end of stream.
  for (tcp::socket* s : {&idle, &kept}) {
    if (!closed_by_peer(*s)) continue;  // already reported above
    char byte;
    beast::error_code ec;
    s->read_some(asio::buffer(&byte, 1), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
  }
  EXPECT_TRUE(lockstep::test::poll_until(5s, [&] { return server.open_connections() == 0; }));
  EXPECT_EQ(fetch(server.port(), "/healthz").status, 200u);
}

TEST(MetricsServer, ZeroLimitsAreRejected) {
  Metrics m;
  lockstep::MetricsServerLimits no_connections;
  no_connections.max_connections = 0;
  EXPECT_THROW(MetricsServer("127.0.0.1:0", m, [] { return true; }, no_connections), std::runtime_error);
  lockstep::MetricsServerLimits no_time;
  no_time.request_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(MetricsServer("127.0.0.1:0", m, [] { return true; }, no_time), std::runtime_error);
  lockstep::MetricsServerLimits no_write_time;
  no_write_time.write_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(MetricsServer("127.0.0.1:0", m, [] { return true; }, no_write_time), std::runtime_error);
}

TEST(MetricsServer, SecondServerOnSamePortFails) {
  Metrics m;
  MetricsServer first("127.0.0.1:0", m, [] { return true; });
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  try {
    MetricsServer second(address, m, [] { return true; });
    FAIL() << "second server bound " << address;
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), address)) << e.what();
  }
  EXPECT_EQ(fetch(first.port(), "/healthz").status, 200u);
}

TEST(MetricsServer, BadListenAddressThrows) {
  Metrics m;
  EXPECT_THROW(MetricsServer("nonsense", m, [] { return true; }), std::runtime_error);
  EXPECT_THROW(MetricsServer("127.0.0.1:99999", m, [] { return true; }), std::runtime_error);
}

TEST(MetricsServer, ListensOnWildcardAndLocalhost) {
  Metrics m;
  MetricsServer any("0.0.0.0:0", m, [] { return true; });
  ASSERT_NE(any.port(), 0);
  EXPECT_EQ(fetch(any.port(), "/healthz").status, 200u);

  MetricsServer local("localhost:0", m, [] { return true; });  // 127.0.0.1 or ::1, whichever resolves first
  EXPECT_NE(local.port(), 0);
}

TEST(MetricsServer, ListensOnIpv6Loopback) {
  Metrics m;
  std::unique_ptr<MetricsServer> server;
  try {
    server = std::make_unique<MetricsServer>("[::1]:0", m, [] { return true; });
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("::1"), server->port()));
  beast::flat_buffer buffer;
  EXPECT_EQ(request(socket, buffer, http::verb::get, "/healthz").status, 200u);
}

TEST(MetricsServer, DestroyedWithOpenIdleConnectionReturnsPromptly) {
  Metrics m;
  auto server = std::make_unique<MetricsServer>("127.0.0.1:0", m, [] { return true; });
  asio::io_context ioc;
  auto idle = connect(ioc, server->port());
  auto busy = connect(ioc, server->port());
  beast::flat_buffer buffer;
  // `busy` has completed a request and now sits in keep-alive; `idle` never sent anything.
  EXPECT_EQ(request(busy, buffer, http::verb::get, "/healthz").status, 200u);

  const auto start = std::chrono::steady_clock::now();
  server.reset();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));

  // The server side of both connections is gone: reads end instead of hanging.
  for (tcp::socket* s : {&idle, &busy}) {
    char byte;
    beast::error_code ec;
    s->read_some(asio::buffer(&byte, 1), ec);
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  }
}

TEST(MetricsServer, ReadyCallbackRunsOnServerThread) {
  Metrics m;
  std::atomic<std::thread::id> caller{};
  std::atomic<int> calls{0};
  MetricsServer server("127.0.0.1:0", m, [&] {
    caller = std::this_thread::get_id();
    ++calls;
    return true;
  });
  EXPECT_EQ(fetch(server.port(), "/readyz").status, 200u);
  ASSERT_TRUE(lockstep::test::poll_until(std::chrono::seconds(5), [&] { return calls.load() >= 1; }));
  EXPECT_NE(caller.load(), std::this_thread::get_id());
}

TEST(MetricsServer, ManyServersStartAndStop) {
  Metrics m;
  for (int i = 0; i < 20; ++i) {
    MetricsServer server("127.0.0.1:0", m, [] { return true; });
    if (i % 2 == 0) {
      EXPECT_EQ(fetch(server.port(), "/healthz").status, 200u);
    }
  }
}

}  // namespace

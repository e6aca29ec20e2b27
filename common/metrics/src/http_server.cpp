// MetricsServer (docs/metrics.md): /metrics, /healthz, /readyz over HTTP/1.1 with Boost.Beast,
// served by one io_context on its own thread. The listener shares the process's file
// descriptors with libpq and librdkafka, so it is bounded (MetricsServerLimits): at most
// max_connections sockets at once (one arriving at the cap is accepted and closed at once,
// so the kernel backlog does not fill either), and a connection that has not delivered a
// complete request within request_timeout of its accept or its previous response is closed.
// GCC 12 warns (-Wtsan) that Asio's std_fenced_block uses atomic_thread_fence, which TSan
// does not model; Asio's scheduler already orders handlers with a mutex, so silence it.
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wtsan"
#endif

// GCC 12 at -O2 (notably with ASan) reports a false -Wmaybe-uninitialized inside Beast's
// parser (boost::optional content length); keep it out of -Werror for Boost only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "lockstep/metrics.hpp"

namespace lockstep {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Back-off after an accept error other than cancellation (e.g. out of file descriptors).
constexpr std::chrono::milliseconds kAcceptBackoff{100};

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";

bool parse_port(std::string_view text, unsigned short& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > 65535) return false;
  port = static_cast<unsigned short>(value);
  return true;
}

// What the server thread needs; outlives every session because sessions only run on the
// server thread, which is joined before this is destroyed. The counters are written on the
// server thread only and atomic so that MetricsServer's accessors may read them anywhere.
struct Context {
  const Metrics& metrics;
  std::function<bool()> ready;
  MetricsServerLimits limits;
  std::atomic<std::size_t> open{0};        // live sessions (each owns one socket)
  std::atomic<std::uint64_t> rejected{0};  // connections closed on arrival at the cap
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Context& ctx) : stream_(std::move(socket)), ctx_(ctx) { ++ctx_.open; }
  ~Session() { --ctx_.open; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(64 * 1024);
    // One deadline for the whole request, set once: tcp_stream's expiry is a point in time
    // shared by every read async_read makes, so bytes trickling in do not extend it. This
    // covers a keep-alive connection that sends nothing and a slowloris alike.
    stream_.expires_after(ctx_.limits.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      // end_of_stream: the client closed cleanly; anything else (timeout, reset, garbage): drop it.
      if (ec == http::error::end_of_stream) close();
      return;
    }
    respond(parser_->release());
  }

  void respond(const http::request<http::string_body>& req) {
    const bool head = req.method() == http::verb::head;
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);

    http::status status = http::status::ok;
    std::string body;
    const char* content_type = kTextContentType;
    bool allow_header = false;

    if (req.method() != http::verb::get && !head) {
      status = http::status::method_not_allowed;
      body = "method not allowed\n";
      allow_header = true;
    } else if (target == "/metrics") {
      body = ctx_.metrics.serialize();
      content_type = kMetricsContentType;
    } else if (target == "/healthz") {
      body = "ok\n";
    } else if (target == "/readyz") {
      bool ready = false;
      try {
        ready = ctx_.ready ? ctx_.ready() : true;
      } catch (...) {
        ready = false;
      }
      if (ready) {
        body = "ready\n";
      } else {
        status = http::status::service_unavailable;
        body = "not ready\n";
      }
    } else {
      status = http::status::not_found;
      body = "not found\n";
    }

    auto res = std::make_shared<http::response<http::string_body>>(status, req.version());
    res->set(http::field::server, "lockstep");
    res->set(http::field::content_type, content_type);
    res->set(http::field::cache_control, "no-store");
    if (allow_header) res->set(http::field::allow, "GET, HEAD");
    res->keep_alive(req.keep_alive());
    const auto length = body.size();
    if (!head) res->body() = std::move(body);
    res->content_length(length);  // HEAD: the length GET would send, no body.

    stream_.expires_after(ctx_.limits.write_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code write_ec, std::size_t) {
                        self->on_write(write_ec, res->need_eof());
                      });
  }

  void on_write(beast::error_code ec, bool close_after) {
    if (ec) return;
    if (close_after) {
      close();
      return;
    }
    read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Context& ctx_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

std::pair<std::string, unsigned short> parse_listen(const std::string& listen) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("invalid listen address '" + listen + "': " + why +
                                 " (expected host:port or [ipv6]:port)");
  };
  if (listen.empty()) throw bad("empty");

  std::string host;
  std::string_view port_text;
  if (listen.front() == '[') {
    const auto close = listen.find(']');
    if (close == std::string::npos) throw bad("missing ']'");
    host = listen.substr(1, close - 1);
    if (host.empty()) throw bad("empty IPv6 address");
    if (close + 1 >= listen.size() || listen[close + 1] != ':') throw bad("missing ':port' after ']'");
    port_text = std::string_view(listen).substr(close + 2);
    boost::system::error_code ec;
    asio::ip::make_address_v6(host, ec);
    if (ec) throw bad("'" + host + "' is not an IPv6 address");
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw bad("missing ':port'");
    host = listen.substr(0, colon);
    if (host.empty()) throw bad("empty host");
    if (host.find(':') != std::string::npos) throw bad("IPv6 addresses must be written in brackets");
    for (char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
      if (!ok) throw bad("invalid character in host");
    }
    port_text = std::string_view(listen).substr(colon + 1);
  }
  if (port_text.empty()) throw bad("empty port");
  unsigned short port = 0;
  if (!parse_port(port_text, port)) throw bad("port must be a number from 0 to 65535");
  return {host, port};
}

struct MetricsServer::Impl {
  Impl(const std::string& listen, const Metrics& metrics, std::function<bool()> ready, MetricsServerLimits limits)
      : ctx{metrics, std::move(ready), limits}, acceptor(ioc), backoff(ioc) {
    if (limits.max_connections == 0) throw std::runtime_error("metrics server: max_connections must be at least 1");
    if (limits.request_timeout.count() <= 0 || limits.write_timeout.count() <= 0) {
      throw std::runtime_error("metrics server: request and write timeouts must be positive");
    }
    std::pair<std::string, unsigned short> hp;
    try {
      hp = parse_listen(listen);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string("metrics server: ") + e.what());
    }
    const auto& [host, wanted_port] = hp;

    boost::system::error_code ec;
    tcp::resolver resolver(ioc);
    const auto endpoints =
        resolver.resolve(host, std::to_string(wanted_port), tcp::resolver::numeric_service, ec);
    if (ec) {
      throw std::runtime_error("metrics server: cannot resolve '" + host + "' in '" + listen +
                               "': " + ec.message());
    }
    boost::system::error_code last = asio::error::host_not_found;
    bool bound = false;
    for (const auto& entry : endpoints) {
      const tcp::endpoint endpoint = entry.endpoint();
      boost::system::error_code step;
      acceptor.open(endpoint.protocol(), step);
      if (!step) acceptor.set_option(asio::socket_base::reuse_address(true), step);
      if (!step) acceptor.bind(endpoint, step);
      if (!step) acceptor.listen(asio::socket_base::max_listen_connections, step);
      if (!step) {
        bound = true;
        break;
      }
      last = step;
      boost::system::error_code ignored;
      acceptor.close(ignored);
    }
    if (!bound) {
      throw std::runtime_error("metrics server: cannot listen on " + listen + ": " + last.message());
    }
    bound_port = acceptor.local_endpoint().port();

    accept();
    thread = std::thread([this] { run(); });
  }

  ~Impl() {
    // stop() makes run() return even with pending operations (accept, idle sessions);
    // their handlers are then destroyed, never invoked, when `ioc` is destroyed below.
    ioc.stop();
    if (thread.joinable()) thread.join();
    boost::system::error_code ignored;
    backoff.cancel();
    acceptor.close(ignored);
  }

  void run() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception&) {
        // A handler threw (e.g. bad_alloc while serialising): keep serving.
      } catch (...) {
      }
    }
  }

  void accept() {
    acceptor.async_accept(ioc, [this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        backoff.expires_after(kAcceptBackoff);
        backoff.async_wait([this](boost::system::error_code wait_ec) {
          if (!wait_ec) accept();
        });
        return;
      }
      if (ctx.open.load() >= ctx.limits.max_connections) {
        // At the cap: take the connection off the backlog and close it (the client sees end
        // of stream or a reset) instead of leaving it queued; keep accepting, so service
        // resumes as soon as a session ends.
        ++ctx.rejected;
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(std::move(socket), ctx)->start();
      }
      accept();
    });
  }

  Context ctx;
  // Declared after ctx so every socket, timer and pending handler (which may hold sessions
  // referring to ctx) is destroyed first.
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  unsigned short bound_port = 0;
  std::thread thread;
};

MetricsServer::MetricsServer(const std::string& listen, const Metrics& metrics, std::function<bool()> ready,
                             MetricsServerLimits limits)
    : impl_(std::make_unique<Impl>(listen, metrics, std::move(ready), limits)) {}

MetricsServer::~MetricsServer() = default;

unsigned short MetricsServer::port() const { return impl_->bound_port; }
std::size_t MetricsServer::open_connections() const { return impl_->ctx.open.load(); }
std::uint64_t MetricsServer::rejected_connections() const { return impl_->ctx.rejected.load(); }

}  // namespace lockstep

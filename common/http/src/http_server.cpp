// HttpServer (lockstep/http_server.hpp): Boost.Beast sessions on one io_context thread.
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
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "lockstep/http_server.hpp"

namespace lockstep {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Back-off after an accept error other than cancellation (e.g. out of file descriptors).
constexpr std::chrono::milliseconds kAcceptBackoff{100};

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
// server thread only and atomic so that the accessors may read them anywhere.
struct Context {
  asio::io_context& ioc;
  HttpHandler handler;
  HttpErrorPage error_page;
  HttpLimits limits;
  std::atomic<std::size_t> open{0};        // live sessions (each owns one socket)
  std::atomic<std::uint64_t> rejected{0};  // connections closed on arrival at the cap
};

HttpRequest to_request(const http::request<http::string_body>& req) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& f : req) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  r.body = req.body();
  return r;
}

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
    parser_->header_limit(static_cast<std::uint32_t>(ctx_.limits.header_limit));
    parser_->body_limit(ctx_.limits.body_limit);
    // One deadline for the whole request, set once: tcp_stream's expiry is a point in time
    // shared by every read async_read makes, so bytes trickling in do not extend it. This
    // covers a keep-alive connection that sends nothing and a slowloris alike.
    stream_.expires_after(ctx_.limits.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      refuse(ec == http::error::body_limit ? 413 : 431);
      return;
    }
    if (ec) {
      // end_of_stream: the client closed cleanly; anything else (timeout, reset, garbage): drop it.
      if (ec == http::error::end_of_stream) close();
      return;
    }
    const auto& req = parser_->get();
    head_ = req.method() == http::verb::head;
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    auto once = std::make_shared<std::atomic<bool>>(false);
    ctx_.handler(to_request(req), [self = shared_from_this(), once](HttpResponse res) {
      if (once->exchange(true)) return;
      asio::post(self->ctx_.ioc, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  // Over a limit: answer (the request was not read whole, so the connection cannot go on).
  void refuse(int status) {
    keep_alive_ = false;
    version_ = 11;
    head_ = false;
    HttpResponse res;
    if (ctx_.error_page) {
      res = ctx_.error_page(status);
    } else {
      res.status = status;
      res.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
      res.body = status == 413 ? "request body too large\n" : "request header too large\n";
    }
    write(std::move(res));
  }

  void write(HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version_);
    res->set(http::field::server, "lockstep");
    for (auto& [name, value] : r.headers) res->insert(name, value);
    res->keep_alive(keep_alive_);
    const auto length = r.body.size();
    if (!head_) res->body() = std::move(r.body);
    res->content_length(length);  // HEAD: the length GET would send, no body.
    stream_.expires_after(ctx_.limits.write_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code write_ec, std::size_t) {
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
  bool head_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
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

struct HttpServer::Impl {
  Impl(const std::string& name, const std::string& listen, HttpHandler handler, HttpLimits limits,
       HttpErrorPage error_page)
      : ctx{ioc, std::move(handler), std::move(error_page), limits}, acceptor(ioc), backoff(ioc) {
    if (limits.max_connections == 0) throw std::runtime_error(name + ": max_connections must be at least 1");
    if (limits.request_timeout.count() <= 0 || limits.write_timeout.count() <= 0) {
      throw std::runtime_error(name + ": request and write timeouts must be positive");
    }
    if (limits.header_limit == 0 || limits.body_limit == 0) {
      throw std::runtime_error(name + ": header and body limits must be at least 1");
    }
    std::pair<std::string, unsigned short> hp;
    try {
      hp = parse_listen(listen);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(name + ": " + e.what());
    }
    const auto& [host, wanted_port] = hp;

    boost::system::error_code ec;
    tcp::resolver resolver(ioc);
    const auto endpoints =
        resolver.resolve(host, std::to_string(wanted_port), tcp::resolver::numeric_service, ec);
    if (ec) {
      throw std::runtime_error(name + ": cannot resolve '" + host + "' in '" + listen +
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
      throw std::runtime_error(name + ": cannot listen on " + listen + ": " + last.message());
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

std::string HttpRequest::path() const { return target.substr(0, target.find('?')); }

std::string HttpRequest::query() const {
  const auto q = target.find('?');
  return q == std::string::npos ? std::string() : target.substr(q + 1);
}

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, beast::string_view(name.data(), name.size()))) return v;
  }
  return {};
}

HttpServer::HttpServer(const std::string& name, const std::string& listen, HttpHandler handler, HttpLimits limits,
                       HttpErrorPage error_page)
    : impl_(std::make_unique<Impl>(name, listen, std::move(handler), limits, std::move(error_page))) {}

HttpServer::~HttpServer() = default;

unsigned short HttpServer::port() const { return impl_->bound_port; }
std::size_t HttpServer::open_connections() const { return impl_->ctx.open.load(); }
std::uint64_t HttpServer::rejected_connections() const { return impl_->ctx.rejected.load(); }

}  // namespace lockstep

// MetricsServer (docs/metrics.md): /metrics, /healthz, /readyz on an HttpServer
// (lockstep/http_server.hpp), which bounds connections, time and sizes. Every answer is
// given at once on the server's thread: serialising the registry and asking `ready` are quick.
#include <exception>
#include <string>
#include <utility>

#include "lockstep/http_server.hpp"
#include "lockstep/metrics.hpp"

namespace lockstep {
namespace {

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";

HttpResponse answer(const HttpRequest& req, const Metrics& metrics, const std::function<bool()>& ready) {
  HttpResponse res;
  const char* content_type = kTextContentType;
  const std::string path = req.path();
  if (req.method != "GET" && req.method != "HEAD") {
    res.status = 405;
    res.body = "method not allowed\n";
    res.headers.emplace_back("Allow", "GET, HEAD");
  } else if (path == "/metrics") {
    res.body = metrics.serialize();
    content_type = kMetricsContentType;
  } else if (path == "/healthz") {
    res.body = "ok\n";
  } else if (path == "/readyz") {
    bool is_ready = false;
    try {
      is_ready = ready ? ready() : true;
    } catch (...) {
      is_ready = false;
    }
    res.status = is_ready ? 200 : 503;
    res.body = is_ready ? "ready\n" : "not ready\n";
  } else {
    res.status = 404;
    res.body = "not found\n";
  }
  res.headers.emplace_back("Content-Type", content_type);
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

HttpLimits http_limits(const MetricsServerLimits& l) {
  HttpLimits h;
  h.max_connections = l.max_connections;
  h.request_timeout = l.request_timeout;
  h.write_timeout = l.write_timeout;
  return h;
}

}  // namespace

struct MetricsServer::Impl {
  Impl(const std::string& listen, const Metrics& metrics, std::function<bool()> ready, MetricsServerLimits limits)
      : server("metrics server", listen,
               [&metrics, ready = std::move(ready)](HttpRequest req, HttpResponder respond) {
                 respond(answer(req, metrics, ready));
               },
               http_limits(limits)) {}
  HttpServer server;
};

MetricsServer::MetricsServer(const std::string& listen, const Metrics& metrics, std::function<bool()> ready,
                             MetricsServerLimits limits)
    : impl_(std::make_unique<Impl>(listen, metrics, std::move(ready), limits)) {}

MetricsServer::~MetricsServer() = default;

unsigned short MetricsServer::port() const { return impl_->server.port(); }
std::size_t MetricsServer::open_connections() const { return impl_->server.open_connections(); }
std::uint64_t MetricsServer::rejected_connections() const { return impl_->server.rejected_connections(); }

}  // namespace lockstep

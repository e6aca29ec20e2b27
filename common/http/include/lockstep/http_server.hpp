// HttpServer: the HTTP/1.1 listener (Boost.Beast) the metrics endpoint and the admin API share.
// One io_context on its own thread accepts and reads; each complete request goes to the
// Handler, which answers through its Responder, at once or later from any thread (so a
// handler may hand slow work to other threads without stalling the accept loop).
// The listener shares the process's file descriptors with libpq and librdkafka, so it is
// bounded (HttpLimits): at most max_connections sockets at once (one arriving at the cap is
// accepted and closed at once, so the kernel backlog does not fill either), a connection
// that has not delivered a complete request within request_timeout of its accept or of its
// previous response is closed, and headers and bodies over their limits are refused
// (431 / 413) and the connection closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lockstep {

struct HttpLimits {
  std::size_t max_connections = 64;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 64 * 1024;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // path and query as sent
  HttpHeaders headers;
  std::string body;
  std::string path() const;   // target without the query
  std::string query() const;  // after '?', "" when none
  // The first header named `name` (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Length and Connection are set by the server
  std::string body;
};

// Takes the response; call once. Safe from any thread, also after the connection is gone;
// every responder must be called or dropped before the HttpServer is destroyed.
using HttpResponder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest, HttpResponder)>;
// The response to a request the server refuses itself (413, 431), for the user's headers.
using HttpErrorPage = std::function<HttpResponse(int status)>;

class HttpServer {
 public:
  // `listen` is "host:port" (see parse_listen); `name` starts error messages ("metrics server").
  // Throws std::runtime_error when the address is bad or cannot be bound, or a limit is zero.
  HttpServer(const std::string& name, const std::string& listen, HttpHandler handler, HttpLimits limits = {},
             HttpErrorPage error_page = {});
  ~HttpServer();  // stops and joins; responses not yet given are dropped
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  unsigned short port() const;
  std::size_t open_connections() const;
  std::uint64_t rejected_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "host:port" (IPv4, hostname or [IPv6]); throws std::invalid_argument.
std::pair<std::string, unsigned short> parse_listen(const std::string& listen);

}  // namespace lockstep

// AdminServer (admin_server.hpp): authentication, the CSRF guard, routing, the security
// headers and the access log of every request. Console files, sessions, /whoami, /status
// and /openapi.json are answered on the listener's thread (memory only); dead letters and
// aggregates go to the handler pool.
#include "admin_server.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <string>

#include "api.hpp"
#include "assets.hpp"
#include "auth.hpp"
#include "http_util.hpp"
#include "lockstep/store.hpp"

namespace lockstep::admin {
namespace {

constexpr const char* kCookie = "lockstep_session";

HttpResponse file_response(int status, std::string_view name) {
  HttpResponse res;
  const EmbeddedFile* f = find_console_file(name);
  if (!f) return error_response(404, "not_found", "no such file");
  res.status = status;
  res.headers.emplace_back("Content-Type", content_type_of(name));
  res.body = std::string(f->data);
  return res;
}

HttpResponse unauthorized() {
  HttpResponse res = error_response(401, "unauthorized", "a valid token or session is required");
  res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"lockstep\"");
  return res;
}

HttpResponse redirect(const std::string& to) {
  HttpResponse res;
  res.status = 302;
  res.headers.emplace_back("Location", to);
  return res;
}

// The methods a path answers (the Allow header of a 405).
std::string allowed_methods(const std::string& path) {
  if (path == "/api/v1/session") return "POST, DELETE";
  if (path == "/api/v1/dead-letters/replay" || path == "/api/v1/dead-letters/discard") return "POST";
  return "GET, HEAD";
}

Json status_json(const WorkerStatus& s) {
  Json parts = Json::array();
  for (const auto& p : s.partitions) {
    parts.push_back({{"topic", p.topic},
                     {"partition", p.partition},
                     {"lag", p.lag ? Json(*p.lag) : Json(nullptr)},
                     {"paused", p.paused}});
  }
  return {{"group_id", s.group_id},       {"ready", s.ready},     {"not_ready", s.not_ready},
          {"inflight", s.inflight},       {"oldest_inflight_seconds", s.oldest_inflight_seconds},
          {"partitions", parts}};
}

// What a handler threw, as the answer; the database's connections are dropped when it was lost.
HttpResponse answer_error(const std::string& method, const std::string& path, Connections* conns) {
  try {
    throw;
  } catch (const ApiError& e) {
    return error_response(e);
  } catch (const dlq::InvalidInput& e) {
    return error_response(400, "bad_request", e.what(), e.field());
  } catch (const dlq::NotFound& e) {
    return error_response(404, "not_found", e.what());
  } catch (const dlq::Conflict& e) {
    return error_response(409, "conflict", e.what());
  } catch (const DataStoreError& e) {
    spdlog::warn("admin {} {}: the database refused a value of the request: {}", method, path, e.what());
    return error_response(400, "bad_request", "the database refused a value of the request");
  } catch (const TransientStoreError& e) {
    if (conns) conns->reset();
    spdlog::warn("admin {} {}: the database cannot be reached: {}", method, path, e.what());
    return error_response(503, "unavailable", "the database cannot be reached; try again later");
  } catch (const KafkaError& e) {
    spdlog::warn("admin {} {}: the broker cannot be reached: {}", method, path, e.what());
    return error_response(503, "unavailable", "the broker cannot be reached; try again later");
  } catch (const std::exception& e) {
    spdlog::error("admin {} {}: unexpected error: {}", method, path, e.what());
  } catch (...) {
    spdlog::error("admin {} {}: unexpected error", method, path);
  }
  return error_response(500, "internal", "internal error");
}

}  // namespace

struct AdminServer::Impl {
  Impl(const AdminConfig& cfg, AdminDeps d, const AdminLimits& limits)
      : auth(cfg.tokens), deps(std::move(d)) {
    pool = std::make_unique<HandlerPool>(limits.handler_threads, deps.open_store);
    http = std::make_unique<HttpServer>(
        "admin server", cfg.listen, [this](HttpRequest req, HttpResponder respond) { handle(std::move(req), respond); },
        limits.http, [](int status) {
          HttpResponse res = error_response(status, error_code(status),
                                            status == 413 ? "the request body is too large" : "the request header is too large");
          add_security_headers(res);
          return res;
        });
  }

  struct Credentials {
    std::optional<Principal> who;
    bool by_cookie = false;
  };

  Credentials authenticate(const HttpRequest& req) {
    const std::string authz = req.header("Authorization");
    if (!authz.empty()) {
      if (authz.rfind("Bearer ", 0) != 0) return {};
      return {auth.by_token(std::string_view(authz).substr(7)), false};
    }
    if (auto id = cookie_value(req.header("Cookie"), kCookie)) return {auth.by_session(*id), true};
    return {};
  }

  void handle(HttpRequest req, const HttpResponder& respond) {
    const auto started = std::chrono::steady_clock::now();
    auto who = std::make_shared<std::string>("-");
    const std::string path = req.path();
    HttpResponder done = [respond, started, method = req.method, path, who](HttpResponse res) {
      if (res.status == 405) res.headers.emplace_back("Allow", allowed_methods(path));
      add_security_headers(res);
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
      spdlog::info("admin {} {} {} {} {}ms", method, path, res.status, *who, ms);
      respond(std::move(res));
    };
    try {
      route(req, path, *who, done);
    } catch (...) {
      done(answer_error(req.method, path, nullptr));
    }
  }

  void route(HttpRequest& req, const std::string& path, std::string& who, const HttpResponder& done) {
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (path == "/" || path == "/console") return done(redirect("/console/"));
    if (path == "/console/login" && get) return done(file_response(200, "login.html"));
    if (path == "/api/v1/session") return done(session(req, who));
    if (path.rfind("/console/", 0) != 0 && path.rfind("/api/v1/", 0) != 0) {
      return done(error_response(404, "not_found", "no such page"));
    }
    const bool api = path.rfind("/api/v1/", 0) == 0;
    const std::string asset = path.rfind("/console/assets/", 0) == 0 ? path.substr(16) : "";
    if (asset == "login.js" || asset == "style.css") return done(file_response(200, asset));
    const Credentials c = authenticate(req);
    if (!c.who) return done(api || !asset.empty() ? unauthorized() : file_response(401, "login.html"));
    who = c.who->name;
    if (!get && c.by_cookie && req.header("X-Lockstep-Console") != "1") {
      return done(error_response(403, "forbidden", "a request from the console must carry X-Lockstep-Console: 1"));
    }
    if (!get && !c.who->write()) return done(error_response(403, "forbidden", "this token may only read"));
    if (!api) {
      if (!get) return done(error_response(405, "method_not_allowed", req.method + " is not allowed here"));
      return done(asset.empty() ? (path == "/console/" ? file_response(200, "index.html")
                                                       : error_response(404, "not_found", "no such page"))
                                : file_response(200, asset));
    }
    ApiCall call{*c.who, req.method, path_segments(path.substr(7)), parse_query(req.query()), std::move(req.body)};
    try {  // what the handlers pass on to the database: no NUL, valid UTF-8
      for (const auto& seg : call.segments) dlq::check_text("path", seg);
      for (const auto& [name, value] : call.query) {
        dlq::check_text("query", name);
        dlq::check_text(name, value);
      }
    } catch (const dlq::InvalidInput& e) {
      return done(error_response(400, "bad_request", e.what(), e.field()));
    }
    api_route(std::move(call), path, done);
  }

  void api_route(ApiCall call, const std::string& path, const HttpResponder& done) {
    const auto& seg = call.segments;
    const bool get = call.method == "GET" || call.method == "HEAD";
    if (seg.size() == 1 && (seg[0] == "whoami" || seg[0] == "status" || seg[0] == "openapi.json")) {
      if (!get) return done(error_response(405, "method_not_allowed", call.method + " is not allowed here"));
      if (seg[0] == "whoami") return done(json_response(200, {{"name", call.who.name}, {"role", call.who.role}}));
      if (seg[0] == "openapi.json") return done(json_response(200, openapi_json()));
      if (!deps.status) return done(error_response(503, "unavailable", "no worker runs in this process"));
      return done(json_response(200, status_json(deps.status())));
    }
    if (seg.empty() || (seg[0] != "dead-letters" && seg[0] != "aggregates")) {
      return done(error_response(404, "not_found", "no such endpoint"));
    }
    pool->post([this, call = std::move(call), path, done](Connections& conns) {
      try {
        done(call.segments[0] == "aggregates" ? aggregates_route(call, conns)
                                              : dead_letters_route(call, conns, deps.publish));
      } catch (...) {
        done(answer_error(call.method, path, &conns));
      }
    });
  }

  HttpResponse session(const HttpRequest& req, std::string& who) {
    if (req.method == "DELETE") {
      if (auto id = cookie_value(req.header("Cookie"), kCookie)) {
        if (auto p = auth.by_session(*id)) who = p->name;
        if (req.header("X-Lockstep-Console") != "1") {
          return error_response(403, "forbidden", "a request from the console must carry X-Lockstep-Console: 1");
        }
        auth.logout(*id);
      }
      HttpResponse res;
      res.status = 204;
      res.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
      return res;
    }
    if (req.method != "POST") return error_response(405, "method_not_allowed", req.method + " is not allowed here");
    const Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("token") || !body["token"].is_string()) {
      return error_response(400, "bad_request", "the body must be {\"token\": \"...\"}", "token");
    }
    const std::string token = body["token"].get<std::string>();
    auto id = auth.login(token);
    if (!id) return unauthorized();
    who = auth.by_token(token)->name;
    HttpResponse res;
    res.status = 204;
    res.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=" + *id + "; HttpOnly; SameSite=Strict; Path=/");
    return res;
  }

  Auth auth;
  AdminDeps deps;
  std::unique_ptr<HttpServer> http;   // destroyed after the pool: its tasks hold responders
  std::unique_ptr<HandlerPool> pool;
};

AdminServer::AdminServer(const AdminConfig& cfg, AdminDeps deps, AdminLimits limits)
    : impl_(std::make_unique<Impl>(cfg, std::move(deps), limits)) {}

AdminServer::~AdminServer() {
  impl_->pool.reset();
  impl_->http.reset();
}

unsigned short AdminServer::port() const { return impl_->http->port(); }
std::size_t AdminServer::sessions() const { return impl_->auth.sessions(); }

dlq::Publish producer_publish(std::shared_ptr<Producer> producer, std::chrono::milliseconds timeout) {
  auto mu = std::make_shared<std::mutex>();
  return [producer = std::move(producer), timeout, mu](const OutMessage& m) {
    std::lock_guard lock(*mu);
    const auto ds = producer->send({m}, timeout);
    if (ds.empty() || ds[0].error) {
      throw KafkaError("publishing to " + m.topic + ": " + (ds.empty() ? "no delivery report" : ds[0].error.str()));
    }
    return ds[0];
  };
}

}  // namespace lockstep::admin

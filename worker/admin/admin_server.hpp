// The admin server (docs/admin-api.md): the operators' HTTP API and console on `admin.listen`.
// The listener runs on its own thread (HttpServer); requests that talk to the database run on
// a small pool of handler threads with their own connections, so a slow query stalls
// neither the accept loop nor the console's pages.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "lockstep/config.hpp"
#include "lockstep/dlq_ops.hpp"
#include "lockstep/http_server.hpp"
#include "lockstep/kafka.hpp"
#include "pool.hpp"
#include "runtime/status.hpp"

namespace lockstep::admin {

struct AdminDeps {
  StoreFactory open_store;               // one connection per call (each handler thread opens two)
  dlq::Publish publish;                  // replays
  std::function<WorkerStatus()> status;  // GET /status
};

struct AdminLimits {
  HttpLimits http{32, std::chrono::seconds(10), std::chrono::seconds(10), 8 * 1024, 64 * 1024};
  std::size_t handler_threads = 2;
};

class AdminServer {
 public:
  // Binds cfg.listen at once; throws std::runtime_error when it cannot.
  AdminServer(const AdminConfig& cfg, AdminDeps deps, AdminLimits limits = {});
  ~AdminServer();  // stops serving; waits for the requests being handled
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  unsigned short port() const;
  std::size_t sessions() const;  // console sessions alive

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Publishes over one Producer shared by every handler thread: sends the message and waits
// for its delivery up to `timeout`; throws KafkaError when it is not delivered.
dlq::Publish producer_publish(std::shared_ptr<Producer> producer, std::chrono::milliseconds timeout);

}  // namespace lockstep::admin

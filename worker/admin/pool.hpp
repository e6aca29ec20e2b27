// The admin API's handler threads: requests that talk to the database run here, off the
// listener's thread. Each thread owns its connections (a Store is not thread-safe), opened
// on first use and again after the database was lost.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "lockstep/store.hpp"

namespace lockstep::admin {

using StoreFactory = std::function<std::unique_ptr<Store>()>;

// One handler thread's connections. Two, because a replay reads the aggregate (reader)
// while the dead letter's row is locked (admin).
class Connections {
 public:
  explicit Connections(StoreFactory open) : open_(std::move(open)) {}
  Store& admin();
  Store& reader();
  void reset();  // after TransientStoreError: reconnect on next use

 private:
  StoreFactory open_;
  std::unique_ptr<Store> admin_, reader_;
};

class HandlerPool {
 public:
  using Task = std::function<void(Connections&)>;
  HandlerPool(std::size_t threads, StoreFactory open);
  ~HandlerPool();  // drops the tasks not started, waits for the running ones
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  void post(Task t);

 private:
  void run(Connections& conns);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace lockstep::admin

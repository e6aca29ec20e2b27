// pool.hpp.
#include "pool.hpp"

namespace lockstep::admin {

Store& Connections::admin() {
  if (!admin_) admin_ = open_();
  return *admin_;
}

Store& Connections::reader() {
  if (!reader_) reader_ = open_();
  return *reader_;
}

void Connections::reset() {
  admin_.reset();
  reader_.reset();
}

HandlerPool::HandlerPool(std::size_t threads, StoreFactory open) {
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, open] {
      Connections conns(open);
      run(conns);
    });
  }
}

HandlerPool::~HandlerPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void HandlerPool::post(Task t) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(t));
  }
  cv_.notify_one();
}

void HandlerPool::run(Connections& conns) {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task(conns);  // the task answers its request itself, errors included
  }
}

}  // namespace lockstep::admin

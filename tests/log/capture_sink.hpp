// A spdlog sink that keeps what it is given, for tests: each record's level,
// logger and message, and each formatted line.
#pragma once

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>
#include <vector>

namespace lockstep::test {

struct CapturedRecord {
  spdlog::level::level_enum level;
  std::string logger;
  std::string msg;
};

class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<CapturedRecord> records() {
    std::lock_guard lk(mutex_);
    return records_;
  }
  // What the formatter made of the records, concatenated.
  std::string text() {
    std::lock_guard lk(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    records_.push_back({msg.level, std::string(msg.logger_name.data(), msg.logger_name.size()),
                        std::string(msg.payload.data(), msg.payload.size())});
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::vector<CapturedRecord> records_;
  std::string text_;
};

}  // namespace lockstep::test

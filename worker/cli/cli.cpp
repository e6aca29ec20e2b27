#include "cli.hpp"

#include <pthread.h>
#include <signal.h>

#include <thread>

namespace lockstep::cli {

std::optional<std::string> Args::option(const std::string& name) {
  for (std::size_t i = 0; i < v_.size(); ++i) {
    if (v_[i] == name) {
      if (i + 1 >= v_.size()) throw UsageError(name + " needs a value");
      auto val = v_[i + 1];
      v_.erase(v_.begin() + static_cast<long>(i), v_.begin() + static_cast<long>(i) + 2);
      return val;
    }
    if (v_[i].rfind(name + "=", 0) == 0) {
      auto val = v_[i].substr(name.size() + 1);
      v_.erase(v_.begin() + static_cast<long>(i));
      return val;
    }
  }
  return std::nullopt;
}

bool Args::flag(const std::string& name) {
  for (std::size_t i = 0; i < v_.size(); ++i) {
    if (v_[i] == name) {
      v_.erase(v_.begin() + static_cast<long>(i));
      return true;
    }
  }
  return false;
}

std::vector<std::string> Args::positionals() const {
  std::vector<std::string> out;
  for (const auto& a : v_) {
    if (a.size() > 1 && a[0] == '-' && a != "-") throw UsageError("unknown option " + a);
    out.push_back(a);
  }
  return out;
}

ConfigOverrides run_flags(Args& args) {
  ConfigOverrides o;
  o.brokers = args.option("--brokers");
  o.group_id = args.option("--group");
  o.database_url = args.option("--database-url");
  o.metrics_listen = args.option("--metrics-listen");
  if (args.flag("--naive")) o.naive = true;
  return o;
}

Config load(Args& args, const ConfigOverrides& flags) {
  auto path = args.option("--config");
  return load_config(path, process_env(), flags);
}

void install_stop_signals(std::atomic<bool>& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, &stop]() mutable {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      stop = true;
    }
  }).detach();
}

int parse_int(const std::string& what, const std::string& s, long lo, long hi) {
  try {
    std::size_t pos = 0;
    long v = std::stol(s, &pos);
    if (pos != s.size() || v < lo || v > hi) throw std::out_of_range(s);
    return static_cast<int>(v);
  } catch (const std::exception&) {
    throw UsageError(what + " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) +
                     " (got \"" + s + "\")");
  }
}

}  // namespace lockstep::cli

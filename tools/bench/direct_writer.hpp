// A writer that bypasses Lockstep: it keeps updating one aggregate directly
// in the database, so that the worker's compare-and-set on that key keeps
// losing (the hot-cas mode of lockstep-bench).
#pragma once

#include <atomic>
#include <chrono>
#include <stop_token>
#include <string>

namespace lockstep::bench {

// Until `st` asks it to stop: on a connection of its own to `url`, one
// autocommitted UPDATE of aggregate membership/`aggregate_id` (version + 1,
// updated_at, updated_by 'direct-writer') every `pause`, counting each in
// `updates`.
void write_directly(const std::string& url, const std::string& aggregate_id, std::chrono::milliseconds pause,
                    std::atomic<long long>& updates, std::stop_token st);

}  // namespace lockstep::bench

#include "direct_writer.hpp"

#include <pqxx/pqxx>
#include <thread>

namespace lockstep::bench {

void write_directly(const std::string& url, const std::string& aggregate_id, std::chrono::milliseconds pause,
                    std::atomic<long long>& updates, std::stop_token st) {
  pqxx::connection c(url);
  c.prepare("bump",
            "UPDATE aggregates SET version = version + 1, updated_at = now(), updated_by = 'direct-writer' "
            "WHERE aggregate_type = 'membership' AND aggregate_id = $1");
  while (!st.stop_requested()) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("bump", aggregate_id);
    ++updates;
    std::this_thread::sleep_for(pause);  // the writer's pace, not synchronisation
  }
}

}  // namespace lockstep::bench

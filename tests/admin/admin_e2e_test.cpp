// `lockstep run` with admin.listen: the admin API answers next to the worker, with the
// worker's own status, and the token never reaches the log.
#include <gtest/gtest.h>

#include <csignal>

#include "client.hpp"
#include "lockstep/test/end_to_end.hpp"

namespace lockstep::test {
namespace {

const std::string kToken = "e2e-admin-token-0123456789";

class AdminRun : public EndToEndTest {};

TEST_F(AdminRun, ServesStatusAndDeadLettersBesideTheWorker) {
  const int admin_port = free_port();
  cfg.admin.listen = "127.0.0.1:" + std::to_string(admin_port);
  cfg.admin.tokens = {{"alice", "write", kToken}};
  const std::string config = write_worker_config(cfg);
  auto worker = test::start_worker(config, path("worker.log"));
  const auto port = static_cast<unsigned short>(admin_port);

  Reply status;
  ASSERT_TRUE(poll_until(std::chrono::seconds(60), [&] {
    if (!worker->running()) return true;  // failed to start: reported below
    try {
      status = http_request(port, "GET", "/api/v1/status", bearer(kToken));
    } catch (const std::exception&) {
      return false;  // not listening yet
    }
    return status.status == 200 && status.json()["ready"] == true;
  }, std::chrono::milliseconds(100))) << status.body << read_file(path("worker.log"));
  ASSERT_TRUE(worker->running()) << read_file(path("worker.log"));
  EXPECT_EQ(status.json()["group_id"], cfg.kafka.group_id);
  EXPECT_FALSE(status.json()["partitions"].empty()) << status.body;

  EXPECT_EQ(http_request(port, "GET", "/api/v1/status").status, 401);
  auto list = http_request(port, "GET", "/api/v1/dead-letters", bearer(kToken));
  EXPECT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json()["items"], Json::array());
  auto counts = http_request(port, "GET", "/api/v1/dead-letters/counts", bearer(kToken));
  EXPECT_EQ(counts.json()["total"], 0) << counts.body;

  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_or_kill(std::chrono::seconds(30)), 0);
  const std::string log = read_file(path("worker.log"));
  EXPECT_NE(log.find("admin GET /api/v1/dead-letters 200 alice"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos) << "the token is in the log";
}

}  // namespace
}  // namespace lockstep::test

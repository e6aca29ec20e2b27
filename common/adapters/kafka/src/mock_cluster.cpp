#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "lockstep/kafka.hpp"
#include "lockstep/kafka_log.hpp"

namespace lockstep {

struct MockCluster::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  ~Impl() {
    if (mc) rd_kafka_mock_cluster_destroy(mc);
    if (rk) rd_kafka_destroy(rk);
  }
};

MockCluster::MockCluster(int brokers) : impl_(std::make_unique<Impl>()) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  route_rdkafka_logs(conf);
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!impl_->rk) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("mock cluster: ") + err);
  }
  impl_->mc = rd_kafka_mock_cluster_new(impl_->rk, brokers);
  if (!impl_->mc) throw KafkaError("mock cluster: cannot create");
}

MockCluster::~MockCluster() = default;

std::string MockCluster::bootstraps() const { return rd_kafka_mock_cluster_bootstraps(impl_->mc); }

void MockCluster::create_topic(const std::string& topic, int partitions, int replication) {
  auto err = rd_kafka_mock_topic_create(impl_->mc, topic.c_str(), partitions, replication);
  if (err) throw KafkaError("create topic " + topic + ": " + rd_kafka_err2str(err));
}

void MockCluster::push_request_errors(int api_key, const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> errs;
  for (int e : errors) errs.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(impl_->mc, static_cast<int16_t>(api_key), errs.size(), errs.data());
}

void MockCluster::clear_request_errors(int api_key) {
  rd_kafka_mock_clear_request_errors(impl_->mc, static_cast<int16_t>(api_key));
}

void MockCluster::broker_down(int id) { rd_kafka_mock_broker_set_down(impl_->mc, id); }
void MockCluster::broker_up(int id) { rd_kafka_mock_broker_set_up(impl_->mc, id); }
void MockCluster::set_leader(const std::string& topic, int32_t partition, int id) {
  rd_kafka_mock_partition_set_leader(impl_->mc, topic.c_str(), partition, id);
}

void MockCluster::set_rtt(int id, std::chrono::milliseconds rtt) {
  rd_kafka_mock_broker_set_rtt(impl_->mc, id, static_cast<int>(rtt.count()));
}

}  // namespace lockstep

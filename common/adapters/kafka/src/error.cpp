// KafkaFailure: librdkafka's errors as values, and their classification.
#include <librdkafka/rdkafka.h>

#include <utility>

#include "lockstep/kafka.hpp"

namespace lockstep {

namespace {

// Transient: the same call can succeed once a broker, a leader or the group
// coordinator is back or has moved. Local conditions of librdkafka, then the
// broker codes Kafka's own clients treat as retriable (RetriableException).
bool retriable_code(rd_kafka_resp_err_t e) {
  switch (e) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:     // purged before it was sent: send it again
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:  // likewise, while in flight
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
      return true;
    default:
      return false;
  }
}

// The client cannot go on: librdkafka's fatal error, and this instance fenced
// by a newer one (static group membership, an idempotent or transactional producer).
bool fatal_code(rd_kafka_resp_err_t e) {
  switch (e) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string KafkaFailure::str() const {
  if (!message.empty() || code == 0) return message;
  return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
}

KafkaFailure kafka_failure(int code, std::string message) {
  KafkaFailure f;
  if (code == 0) return f;
  const auto e = static_cast<rd_kafka_resp_err_t>(code);
  f.code = code;
  f.retriable = retriable_code(e);
  f.fatal = fatal_code(e);
  f.message = message.empty() ? rd_kafka_err2str(e) : std::move(message);
  return f;
}

KafkaFailure kafka_failure(const rd_kafka_error_s* error) {
  KafkaFailure f;
  if (error == nullptr || rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR_NO_ERROR) return f;
  f.code = rd_kafka_error_code(error);
  f.retriable = rd_kafka_error_is_retriable(error) != 0;
  f.fatal = rd_kafka_error_is_fatal(error) != 0;
  const char* text = rd_kafka_error_string(error);
  f.message = text != nullptr && *text ? text : rd_kafka_err2str(rd_kafka_error_code(error));
  return f;
}

}  // namespace lockstep

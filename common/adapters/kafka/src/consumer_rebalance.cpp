// The group consumer's rebalance and event callbacks (served by poll()).
#include <spdlog/spdlog.h>

#include "consumer_impl.hpp"

namespace lockstep {
using namespace kafka_detail;

void Consumer::Impl::rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                                  std::vector<RdKafka::TopicPartition*>& partitions) {
  // cooperative-sticky hands over only the partitions that move, and
  // librdkafka refuses assign()/unassign() then: the whole assignment would
  // be dropped and re-fetched on every member at every rebalance.
  const bool cooperative = c->rebalance_protocol() == "COOPERATIVE";
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS)
    assign(c, cooperative, partitions);
  else
    revoke(c, cooperative, partitions);
}

void Consumer::Impl::assign(RdKafka::KafkaConsumer* c, bool cooperative,
                            std::vector<RdKafka::TopicPartition*>& partitions) {
  if (hooks.on_assign) hooks.on_assign(convert(partitions));
  if (cooperative) {
    if (std::unique_ptr<RdKafka::Error> e(c->incremental_assign(partitions)); e)
      report_assignment_error("incremental assign", kafka_failure(*e));
  } else if (const auto e = c->assign(partitions); e != RdKafka::ERR_NO_ERROR) {
    report_assignment_error("assign", kafka_failure(e));
  }
  self->joined_ = true;
}

void Consumer::Impl::revoke(RdKafka::KafkaConsumer* c, bool cooperative,
                            std::vector<RdKafka::TopicPartition*>& partitions) {
  if (hooks.on_revoke) hooks.on_revoke(convert(partitions), c->assignment_lost());
  if (cooperative) {
    if (std::unique_ptr<RdKafka::Error> e(c->incremental_unassign(partitions)); e)
      spdlog::warn("kafka: incremental unassign failed: {}", e->str());
  } else if (const auto e = c->unassign(); e != RdKafka::ERR_NO_ERROR) {
    spdlog::warn("kafka: unassign failed: {}", RdKafka::err2str(e));
  }
  // Still a member of the group while re-joining: readiness follows the
  // next assignment; a revoke alone does not make the worker not-ready.
}

// The member would own partitions it never fetches (they would stall until
// it leaves), so this is fatal: the worker stops and its restart joins the
// group afresh.
void Consumer::Impl::report_assignment_error(const char* what, KafkaFailure err) {
  spdlog::error("kafka: {} failed: {}", what, err.str());
  err.message = std::string(what) + " failed: " + err.str();
  err.fatal = true;
  report(err);
}

void Consumer::Impl::event_cb(RdKafka::Event& e) {
  switch (e.type()) {
    case RdKafka::Event::EVENT_ERROR: {
      auto f = kafka_failure(e.err());
      f.message = RdKafka::err2str(e.err()) + ": " + e.str();
      f.fatal = e.fatal();  // librdkafka's word, whatever the code
      report(f);
      break;
    }
    case RdKafka::Event::EVENT_LOG:
      log.log(e);
      break;
    default:
      break;
  }
}

}  // namespace lockstep

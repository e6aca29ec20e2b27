#include "consume/topic_watch.hpp"

#include <spdlog/spdlog.h>

#include <memory>

#include "lockstep/kafka.hpp"

namespace lockstep::runtime {

std::set<std::string> TopicWatch::missing() const {
  std::lock_guard lk(mu_);
  return reported_;
}

void TopicWatch::loop() {
  const auto wanted = configured_topics(kafka_);
  std::vector<std::string> names;
  for (const auto& w : wanted) names.push_back(w.topic);
  std::unique_ptr<Admin> admin;
  while (!stopping_ && !leaving_) {
    try {
      if (!admin) admin = std::make_unique<Admin>(kafka_.brokers, kafka_.properties);
      const auto described = admin->describe(names, milliseconds(3000));
      bool all = true;
      std::lock_guard lk(mu_);
      for (std::size_t i = 0; i < wanted.size(); ++i) {
        const auto& [topic, role] = wanted[i];
        if (described[i].exists) {
          if (reported_.erase(topic)) spdlog::info("kafka: the {} topic {} exists now", role, topic);
          continue;
        }
        all = false;
        if (!reported_.insert(topic).second) continue;
        spdlog::error("kafka: the {} topic {} does not exist on the cluster: {} until it is created "
                      "(`lockstep topics ensure` creates every configured topic; checked again every 30 s)",
                      role, topic,
                      role == "input"         ? "nothing is consumed from it"
                      : role == "dead-letter" ? "dead letters are kept in the table but not published"
                                              : "outcome messages cannot be published, so events wait");
      }
      if (all) return;
    } catch (const KafkaError& e) {
      spdlog::debug("kafka: configured topics not checked: {}", e.what());
    }
    waker_.wait_for(interval_);
  }
}

}  // namespace lockstep::runtime

// `lockstep topics check|ensure`: the configured topics on the cluster.
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <thread>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli.hpp"
#include "lockstep/kafka.hpp"

namespace lockstep::cli {
namespace {

// What differs between an existing topic and kafka.new_topics ("" when nothing).
std::string differences(Admin& admin, const TopicDescription& d, const NewTopicsConfig& want,
                        std::chrono::milliseconds timeout) {
  std::vector<std::string> diffs;
  if (d.partitions != want.partitions)
    diffs.push_back("partitions " + std::to_string(d.partitions) + " (configured " + std::to_string(want.partitions) +
                    ")");
  if (want.replication_factor > 0 && d.replication_factor != want.replication_factor)
    diffs.push_back("replication factor " + std::to_string(d.replication_factor) + " (configured " +
                    std::to_string(want.replication_factor) + ")");
  if (!want.configs.empty()) {
    try {
      const auto have = admin.configs(d.name, timeout);
      for (const auto& [k, v] : want.configs) {
        const auto it = have.find(k);
        const std::string now = it == have.end() ? "unknown" : it->second.value;
        if (now != v) diffs.push_back(k + " " + now + " (configured " + v + ")");
      }
    } catch (const KafkaError& e) {
      diffs.push_back(std::string("configs not compared: ") + e.what());
    }
  }
  std::string out;
  for (const auto& s : diffs) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string shape(const TopicDescription& d) {
  return std::to_string(d.partitions) + " partition" + (d.partitions == 1 ? "" : "s") + ", replication factor " +
         std::to_string(d.replication_factor);
}

constexpr int kTimeoutMs = 30000;

int cmd_topics(const Connection& conn, bool ensure) {
  const auto timeout = timeout_of(conn, kTimeoutMs);
  Config cfg = load(conn);
  Admin admin(cfg.kafka.brokers, cfg.kafka.properties);
  const auto wanted = configured_topics(cfg.kafka);
  std::vector<std::string> names;
  for (const auto& w : wanted) names.push_back(w.topic);
  auto described = admin.describe(names, timeout);

  std::vector<NewTopic> to_create;
  std::set<std::string> created, failed;
  std::map<std::string, std::string> create_error;
  if (ensure) {
    for (const auto& d : described)
      if (!d.exists)
        to_create.push_back({d.name, cfg.kafka.new_topics.partitions, cfg.kafka.new_topics.replication_factor,
                             cfg.kafka.new_topics.configs});
    const auto errors = admin.create(to_create, timeout);
    for (std::size_t i = 0; i < to_create.size(); ++i) {
      // Another `ensure` may have created it meanwhile: that is success too.
      if (!errors[i] || errors[i].code == RdKafka::ERR_TOPIC_ALREADY_EXISTS) created.insert(to_create[i].name);
      else create_error[to_create[i].name] = errors[i].str();
    }
    if (!to_create.empty()) {
      // The new topics as the cluster now describes them (metadata may lag a moment).
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      for (;;) {
        described = admin.describe(names, timeout);
        bool all = true;
        for (const auto& d : described)
          if (created.count(d.name) && !d.exists) all = false;
        if (all || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the cluster's metadata
      }
    }
  }

  int missing = 0;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const auto& d = described[i];
    std::cout << d.name << " (" << wanted[i].role << "): ";
    if (create_error.count(d.name)) {
      std::cout << "missing; could not create it: " << create_error[d.name] << "\n";
      ++missing;
    } else if (!d.exists) {
      std::cout << (created.count(d.name) ? "created, not visible yet" : "missing") << "\n";
      ++missing;
    } else if (created.count(d.name)) {
      std::cout << "created, " << shape(d) << "\n";
    } else {
      const auto diff = differences(admin, d, cfg.kafka.new_topics, timeout);
      std::cout << "exists, " << shape(d);
      if (!diff.empty()) std::cout << "; differs from kafka.new_topics: " << diff << " (not changed)";
      std::cout << "\n";
    }
  }
  if (missing && !ensure)
    std::cout << missing << " configured topic(s) missing: `lockstep topics ensure` creates them\n";
  return missing ? 1 : 0;
}

}  // namespace

void add_topics(CLI::App& app, Action& action) {
  auto conn = std::make_shared<Connection>();
  auto* cmd = app.add_subcommand("topics", "the configured topics (input, dead-letter, outcome): check|ensure");
  cmd->require_subcommand(1);
  for (const bool ensure : {false, true}) {
    auto* sub = ensure ? cmd->add_subcommand("ensure", "create the missing topics as kafka.new_topics says; never "
                                                      "changes an existing one; exit 1 when one could not be created")
                       : cmd->add_subcommand("check", "whether each configured topic exists, its partitions and "
                                                     "replication factor, what differs from kafka.new_topics; exit 1 "
                                                     "when one is missing");
    add_connection_flags(sub, *conn);
    add_timeout_flag(sub, *conn, kTimeoutMs, "waiting for the cluster");
    sub->callback([&action, conn, ensure] { action = [conn, ensure] { return cmd_topics(*conn, ensure); }; });
  }
}

}  // namespace lockstep::cli

// Both rebalance protocols through the Consumer adapter, on the development
// broker and on the real Kafka node: members join and leave, and after each
// step every partition is owned by exactly one member, what the revoke/assign
// hooks reported is what librdkafka fetches, and a cooperative-sticky member
// keeps the partitions that do not move (an eager one gives up everything).
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <set>
#include <vector>

#include "lockstep/kafka.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;
using test::poll_until;
using Parts = std::set<std::pair<std::string, int32_t>>;

Parts parts_of(const std::vector<TopicPartition>& v) {
  Parts out;
  for (const auto& p : v) out.insert({p.topic, p.partition});
  return out;
}

std::string show(const Parts& p) {
  std::string s;
  for (const auto& [t, n] : p) s += " " + t + "/" + std::to_string(n);
  return s.empty() ? " (none)" : s;
}

// A group member whose hooks keep the assignment they were told about.
struct Member {
  Member(const std::string& name, const std::string& brokers, const std::string& group, const std::string& strategy,
         const std::vector<std::string>& topics)
      : name(name) {
    Consumer::Hooks hooks;
    hooks.on_assign = [this](const std::vector<TopicPartition>& ps) {
      for (const auto& p : parts_of(ps)) held.insert(p);
    };
    hooks.on_revoke = [this](const std::vector<TopicPartition>& ps, bool lost) {
      for (const auto& p : parts_of(ps)) held.erase(p);
      if (held.empty()) ++emptied;
      ++revokes;
      if (lost) ++losses;
    };
    consumer = std::make_unique<Consumer>(
        brokers, group,
        KafkaProps{{"partition.assignment.strategy", strategy},
                   {"session.timeout.ms", test::group_session_timeout_ms()},
                   {"heartbeat.interval.ms", "300"}},
        hooks);
    consumer->subscribe(topics);
  }
  void poll() { (void)consumer->poll(5ms); }

  std::string name;
  Parts held;       // from the hooks
  int emptied = 0;  // revokes after which nothing was held
  int revokes = 0;
  int losses = 0;   // revokes of an assignment the coordinator took away
  std::unique_ptr<Consumer> consumer;
};

class GroupRebalance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    for (const auto& t : {kafka.bot(), kafka.api()})
      for (int p = 0; p < 4; ++p) all.insert({t, p});
  }
  std::unique_ptr<Member> join(const std::string& name) {
    return std::make_unique<Member>(name, kafka.bootstrap(), group, GetParam(), std::vector{kafka.bot(), kafka.api()});
  }
  // Polls every member until they own every partition exactly once, each
  // holds at least one, and librdkafka's assignment matches the hooks'.
  ::testing::AssertionResult settles(const std::vector<Member*>& members) {
    std::string why;
    const bool ok = poll_until(60s, [&] {
      for (auto* m : members) m->poll();
      Parts seen;
      std::size_t total = 0;
      why.clear();
      for (auto* m : members) {
        const auto fetched = parts_of(m->consumer->assignment());
        why += "\n  " + m->name + " hooks:" + show(m->held) + "\n  " + m->name + " fetches:" + show(fetched);
        if (fetched != m->held || m->held.empty()) return false;
        seen.insert(m->held.begin(), m->held.end());
        total += m->held.size();
      }
      return seen == all && total == all.size();
    });
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the members never shared the partitions exactly once:" << why;
  }
  bool cooperative() const { return GetParam() == "cooperative-sticky"; }
  // Closes `leaving` while the others go on polling, as members of a real
  // group do, each in its own process. A member whose rebalance callback
  // waits for a poll cannot rejoin: if the test stopped polling it during a
  // close (which can take seconds while the group rebalances), the
  // coordinator would form the next generation without it, and its next
  // heartbeat would find its assignment lost.
  static void close_while_polling(Member& leaving, const std::vector<Member*>& others) {
    auto closed = std::async(std::launch::async, [&leaving] { leaving.consumer->close(); });
    while (closed.wait_for(0ms) != std::future_status::ready)
      for (auto* m : others) m->poll();
    closed.get();
  }

  test::TestKafka kafka;
  const std::string group = "rebalance-" + test::unique_suffix();
  Parts all;
};

TEST_P(GroupRebalance, MembersJoiningAndLeavingShareEveryPartitionOnce) {
  auto a = join("a");
  ASSERT_TRUE(settles({a.get()}));
  EXPECT_EQ(a->consumer->rebalance_protocol(), cooperative() ? "COOPERATIVE" : "EAGER");

  auto b = join("b");
  ASSERT_TRUE(settles({a.get(), b.get()}));
  auto c = join("c");
  ASSERT_TRUE(settles({a.get(), b.get(), c.get()}));
  if (cooperative()) {
    EXPECT_EQ(a->emptied, 0) << "a cooperative member gave up every partition when others joined (" << a->losses << " of its revokes were losses)";
    EXPECT_GT(a->revokes, 0) << "a gave nothing to the members that joined";
  } else {
    EXPECT_GE(a->emptied, 2) << "an eager member revokes its whole assignment at each rebalance";
  }

  close_while_polling(*b, {a.get(), c.get()});  // leaves: a and c take its partitions
  ASSERT_TRUE(settles({a.get(), c.get()}));
  close_while_polling(*c, {a.get()});
  ASSERT_TRUE(settles({a.get()}));
  if (cooperative()) {
    EXPECT_EQ(a->emptied, 0) << "a gave up partitions that stayed with it (" << a->losses << " of its revokes were losses)";
  }
  EXPECT_EQ(a->losses, 0) << "the coordinator went on without a, and a's assignment was lost";
}

INSTANTIATE_TEST_SUITE_P(Strategies, GroupRebalance, ::testing::Values("range", "roundrobin", "cooperative-sticky"),
                         test::strategy_name);

}  // namespace
}  // namespace lockstep

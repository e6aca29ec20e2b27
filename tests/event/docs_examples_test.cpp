// The events the documentation shows are events Lockstep accepts: every JSON object in a
// fenced block of README.md and docs/ with event_id, aggregate_type and transition parses
// with parse_event (keyed as the docs say, aggregate_type:aggregate_id), and one of the
// built-in machine names a transition the machine has. docs/machines.md shows the
// built-in machine exactly as the worker has it.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "lockstep/config.hpp"
#include "lockstep/event.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

struct Block {
  std::string lang;
  std::string text;
};

std::vector<Block> fenced_blocks(const std::string& markdown) {
  std::vector<Block> out;
  std::istringstream in(markdown);
  std::string line;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      if (open) {
        open = nullptr;
      } else {
        out.push_back({line.substr(3), ""});
        open = &out.back();
      }
    } else if (open) {
      open->text += line + "\n";
    }
  }
  return out;
}

bool is_event(const Json& j) {
  return j.is_object() && j.contains("event_id") && j.contains("aggregate_type") && j.contains("transition");
}

// JSON objects in a block: the whole block, else each line's outermost {...}.
std::vector<std::string> events_in(const Block& b) {
  std::vector<std::string> out;
  const Json whole = Json::parse(b.text, nullptr, false);
  if (is_event(whole)) return {b.text};
  std::istringstream in(b.text);
  std::string line;
  while (std::getline(in, line)) {
    const auto open = line.find('{');
    const auto close = line.rfind('}');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    const std::string text = line.substr(open, close - open + 1);
    if (is_event(Json::parse(text, nullptr, false))) out.push_back(text);
  }
  return out;
}

TEST(DocsExamples, EveryEventShownIsAValidEvent) {
  const MachineSet& machines = builtin_machines();
  int shown = 0;
  for (const char* file : {"README.md", "docs/event.md", "docs/machines.md", "docs/operations.md", "docs/cli.md"}) {
    for (const Block& b : fenced_blocks(test::read_file(test::source_dir() + "/" + file))) {
      for (const std::string& text : events_in(b)) {
        ++shown;
        const Json doc = Json::parse(text);
        const std::string key = doc["aggregate_type"].get<std::string>() + ":" + doc["aggregate_id"].get<std::string>();
        const ParseResult r = parse_event(text, key);
        ASSERT_TRUE(std::holds_alternative<Event>(r))
            << file << " shows an event the parser refuses (" << std::get<Malformed>(r).detail << "):\n" << text;
        const Event& e = std::get<Event>(r);
        const auto m = machines.find(e.aggregate_type);
        if (m == machines.end()) continue;  // a machine the page itself defines (docs/machines.md)
        EXPECT_TRUE(m->second.transitions.count(e.transition))
            << file << " shows transition '" << e.transition << "', which the " << e.aggregate_type
            << " machine does not have:\n" << text;
      }
    }
  }
  EXPECT_GE(shown, 3) << "README.md and docs/ should show example events";
}

TEST(DocsExamples, MachinesPageShowsTheBuiltInMachine) {
  const auto blocks = fenced_blocks(test::read_file(test::source_dir() + "/docs/machines.md"));
  bool found = false;
  for (const Block& b : blocks) {
    if (b.lang != "yaml" || b.text.find("membership:") == std::string::npos || b.text.find("# ...") != std::string::npos)
      continue;
    found = true;
    const Config c = parse_config(b.text, "docs/machines.md");
    ASSERT_EQ(c.machines.size(), 1u);
    const Machine& shown = c.machines.at("membership");
    const Machine& builtin = builtin_machines().at("membership");
    ASSERT_EQ(shown.transitions.size(), builtin.transitions.size());
    for (const auto& [name, t] : builtin.transitions) {
      ASSERT_TRUE(shown.transitions.count(name)) << "docs/machines.md lacks transition " << name;
      EXPECT_EQ(shown.transitions.at(name).from, t.from) << name;
      EXPECT_EQ(shown.transitions.at(name).to, t.to) << name;
    }
  }
  EXPECT_TRUE(found) << "docs/machines.md should show the membership machine as YAML";
}

}  // namespace
}  // namespace lockstep

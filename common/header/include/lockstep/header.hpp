// A Kafka record header, as consumed, stored with a dead letter and published again.
#pragma once

#include <optional>
#include <string>

namespace lockstep {

// The value may be binary, or null (a header without a value).
struct Header {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const Header&) const = default;
};

}  // namespace lockstep

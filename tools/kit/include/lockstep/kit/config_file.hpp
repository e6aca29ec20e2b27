// A configuration built as a lockstep::Config value (by a test, the chaos run),
// written to a file for a process that reads one (`lockstep run --config
// FILE`): every key of the key table (common/config/src/keys.cpp), so
// parse_config() of the text gives the same Config back. The one place the
// tests and tools turn a Config into YAML, instead of patching the shipped text.
#pragma once

#include <string>

#include "lockstep/config.hpp"

namespace lockstep::kit {

// The YAML document of every key of `c` (machines included).
std::string config_yaml(const Config& c);

// Writes config_yaml(c) to `path`; returns `path`.
std::string write_config(const Config& c, const std::string& path);

// The shipped configuration (config/lockstep.yaml) as a value.
Config builtin_config();

}  // namespace lockstep::kit

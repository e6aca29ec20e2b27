// Ports and HTTP for tests, the benchmark and the chaos run.
#pragma once

#include <string>
#include <utility>

namespace lockstep::kit {

// A free TCP port on 127.0.0.1 (bound and released).
int free_port();

// GET http://host:port/target (host an IPv4 address): the status code and the
// body; status 0 when nothing answered within 5 s.
std::pair<int, std::string> http_get(int port, const std::string& target, const std::string& host = "127.0.0.1");

}  // namespace lockstep::kit
